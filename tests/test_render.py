"""Rendering rollouts headless: video files decode with the right frame count and size."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import train as cli
from circuits.panel import activity_panel
from envs.render import Renderer
from trainer.rollout import record_rollout
from configs.loader import load_config
from trainer.api import load_policy, train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ncap_run(tmp_path_factory) -> Path:
    from conftest import TINY_PPO

    run = tmp_path_factory.mktemp("render") / "ncap"
    train(load_config(None, [*TINY_PPO, "steps=500", f"run_dir={run}"]))
    return run


@pytest.mark.slow
def test_render_run_folder_on_seven_joints_writes_a_100_frame_mp4(ncap_run, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    code = cli.main(["render", str(ncap_run), "--out", str(out), "--joints", "7",
                     "--steps", "100"])
    stdout = capsys.readouterr().out
    assert code == 0
    frames = iio.imread(out)
    assert frames.shape == (100, 240, 320, 3), f"decoded video has shape {frames.shape}"
    assert frames.std() > 5, "frames are not blank"
    assert "MUJOCO_GL=egl" in stdout and "GL renderer" in stdout and "renders/s" in stdout


@pytest.mark.slow
def test_gif_text_and_activity_panel_widen_frames_and_match_the_mp4(ncap_run, tmp_path, capsys):
    out = tmp_path / "swim.mp4"
    png = tmp_path / "activity.png"
    code = cli.main(["render", str(ncap_run), "--out", str(out), "--steps", "12",
                     "--size", "160x120", "--fps", "20", "--gif", "--text", "--activity",
                     "--activity-png", str(png), "--profile", "standard"])
    assert code == 0, capsys.readouterr().err
    mp4, gif = iio.imread(out), iio.imread(out.with_suffix(".gif"))
    panel = 2 * (int(120 * 0.9) // 2)
    assert mp4.shape == (12, 120, 160 + panel, 3)
    assert gif.shape[:3] == (12, 120, 160 + panel)
    assert png.stat().st_size > 20_000


def test_activity_panel_lights_the_head_neurons_the_oscillator_drives():
    _, agent, env = load_policy(ROOT / "configs/ncap_swim_ppo.yaml", ["env.n_joints=4"])
    rollout = record_rollout(agent, env, seed=0, steps=3)
    step0 = {k: v[0] for k, v in rollout.activity.items()}
    assert step0["oscillator_d"] == 1 and step0["b_d"][0] == 1 and step0["b_v"][0] == 0
    assert np.allclose(rollout.actions, rollout.activity["action"], atol=1e-6), \
        "recorded activity must be the activity that produced the actions"
    img = activity_panel(step0, height=120, width=108, caption="o=+1.00")
    assert img.shape == (120, 108, 3) and img.dtype == np.uint8


def test_fast_profile_keeps_the_image_size_and_differs_from_standard():
    _, _, env = load_policy(ROOT / "configs/ncap_swim_ppo.yaml", [])
    env.reset(seed=0)
    standard = Renderer(env.physics, 48, 64, "tracking1", "standard")()
    fast_renderer = Renderer(env.physics, 48, 64, "tracking1", "fast")
    fast = fast_renderer()
    fast_renderer.close()
    assert standard.shape == fast.shape == (48, 64, 3)
    assert np.abs(standard.astype(int) - fast.astype(int)).mean() > 1, "profiles draw the same"


def test_render_refuses_activity_panel_for_an_mlp_with_one_line(tmp_path, capsys):
    code = cli.main(["render", str(ROOT / "configs/mlp_swim_ppo.yaml"), "--out",
                     str(tmp_path / "m.mp4"), "--steps", "2", "--activity"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "need an NCAP circuit policy" in err


def test_render_without_a_working_gl_backend_says_what_to_install(tmp_path):
    env = {**os.environ, "MUJOCO_GL": "osmesa-typo"}
    proc = subprocess.run([sys.executable, "train.py", "render", "configs/ncap_swim_ppo.yaml",
                           "--out", str(tmp_path / "x.mp4"), "--steps", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "MUJOCO_GL=egl" in proc.stderr
    assert "libosmesa6" in proc.stderr and not (tmp_path / "x.mp4").exists()


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    from conftest import TINY_PPO

    run = tmp_path_factory.mktemp("render") / "cartpole"
    train(load_config(ROOT / "configs/mlp_swim_ppo.yaml",
                      [*TINY_PPO, "env.id=dmc:cartpole-swingup", "steps=500", f"run_dir={run}"]))
    return run


@pytest.mark.slow
def test_render_dm_control_run_writes_the_requested_frames_and_size(cartpole_run, tmp_path,
                                                                    capsys):
    out = tmp_path / "cartpole.mp4"
    code = cli.main(["render", str(cartpole_run), "--out", str(out), "--steps", "15",
                     "--size", "96x64", "--text", "--camera", "lookatcart"])
    assert code == 0, capsys.readouterr().err
    frames = iio.imread(out)
    assert frames.shape == (15, 64, 96, 3), f"decoded video has shape {frames.shape}"
    assert frames.std() > 5, "frames are not blank"


def test_render_pixel_agent_shows_its_own_view_beside_the_camera(tmp_path, capsys, caplog):
    out = tmp_path / "drq.mp4"
    caplog.set_level(logging.INFO)
    code = cli.main(["render", str(ROOT / "configs/drqv2_tiny.yaml"), "--out", str(out),
                     "--steps", "4", "--size", "64x48", "--agent-view", "env.pixels.size=24"])
    assert code == 0, capsys.readouterr().err
    assert not [r.message for r in caplog.records if "replay" in r.message], \
        "a policy loaded to act allocates and reports no replay buffer"
    frames = iio.imread(out)
    assert frames.shape == (4, 48, 64 + 48, 3), "camera view + the agent's 24 px view at 48 px"
    view = frames[:, :, 64:].astype(int)
    # nearest-neighbour upscaling x2: neighbouring pixel pairs are equal (up to video coding)
    assert np.abs(view[:, ::2] - view[:, 1::2]).mean() < np.abs(view[:, 1:-1:2] -
                                                                view[:, 2::2]).mean() + 1


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--camera", "nope"], "camera 'nope' not in this model"),
    (["--camera", "7"], "camera 7 out of range"),
    (["--joints", "6"], "--joints applies to the swim task"),
    (["--agent-view"], "the agent view needs a pixel agent"),
])
def test_render_bad_request_is_one_line_and_writes_nothing(cartpole_run, tmp_path, capsys, args,
                                                           message):
    out = tmp_path / "bad.mp4"
    code = cli.main(["render", str(cartpole_run), "--out", str(out), "--steps", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("agent_profile", ["standard", "fast"])
def test_agent_view_rollout_is_the_same_whatever_profile_draws_the_video(agent_profile, tmp_path,
                                                                         capsys):
    views, returns = [], []
    for video_profile in ("fast", "standard"):
        out = tmp_path / f"{video_profile}.mp4"
        code = cli.main(["render", str(ROOT / "configs/drqv2_tiny.yaml"), "--out", str(out),
                         "--steps", "6", "--size", "48x48", "--agent-view", "--text",
                         "--profile", video_profile, "env.pixels.size=24",
                         f"env.pixels.profile={agent_profile}"])
        stdout, err = capsys.readouterr()
        assert code == 0, err
        returns.append(stdout.split("return ")[1].split(":")[0])
        views.append(iio.imread(out)[:, :, 48:].astype(float))
    difference = np.abs(views[0] - views[1]).mean()
    assert difference < 4, (f"the {agent_profile} agent's view beside a fast and a standard "
                            f"video differs by {difference:.1f} grey levels on average")
    assert returns[0] == returns[1], f"the same seeded rollout returns {returns}"
