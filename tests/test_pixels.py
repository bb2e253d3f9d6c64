"""Pixel envs: dm_control-identical standard pixels, action repeat, frame stack, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
from dm_control import suite
from dm_control.suite.wrappers import pixels

from configs.loader import ConfigError
from configs.schema import EnvConfig, PixelConfig
from envs import make_env
from envs.gl_backend import RenderBackendError, preflight
from envs.pixels import PixelEnv, default_camera
from envs.render import doctor_line, gl_info


def pixel_env(env_id: str, seed: int = 0, **pixel_kwargs) -> PixelEnv:
    return make_env(EnvConfig(id=env_id, pixels=PixelConfig(**pixel_kwargs)), seed=seed)


@pytest.mark.slow
def test_standard_pixels_equal_dm_control_pixel_wrapper_with_repeat_and_stack():
    size, seed = 48, 3
    ours = pixel_env("dmc:cartpole-swingup", seed, size=size, profile="standard")
    theirs = pixels.Wrapper(suite.load("cartpole", "swingup", task_kwargs={"random": seed}),
                            pixels_only=True,
                            render_kwargs={"height": size, "width": size, "camera_id": 0})
    obs, _ = ours.reset(seed=seed)
    first = theirs.reset().observation["pixels"].transpose(2, 0, 1)
    assert obs.shape == (9, size, size) and obs.dtype == np.uint8
    for k in range(3):
        np.testing.assert_array_equal(obs[3 * k:3 * k + 3], first, "reset must repeat frame 0")
    rng = np.random.default_rng(0)
    for step in range(6):
        action = rng.uniform(-1, 1, 1)
        prev = obs
        obs, reward, terminated, truncated, _ = ours.step(action)
        ts = [theirs.step(action) for _ in range(2)]  # action repeat 2, rewards summed
        assert reward == pytest.approx(sum(t.reward for t in ts), abs=1e-12)
        np.testing.assert_array_equal(obs[6:], ts[-1].observation["pixels"].transpose(2, 0, 1),
                                      f"step {step}: pixels differ from dm_control's wrapper")
        np.testing.assert_array_equal(obs[:6], prev[3:], "the stack must shift by one frame")
        assert not (terminated or truncated)
    assert ours.frames_per_step == 2


@pytest.mark.slow
def test_episode_is_500_agent_steps_of_1000_frames():
    env = pixel_env("dmc:cartpole-swingup", size=16, profile="fast")
    assert env.episode_steps == 500
    env.reset(seed=0)
    for step in range(1, 501):
        _, _, terminated, truncated, _ = env.step(np.zeros(1))
    assert truncated and not terminated, "the 1000-frame time limit is a truncation at step 500"


@pytest.mark.slow
@pytest.mark.parametrize("env_id, profile",
                         [("swim", "fast"), ("dmc:cartpole-swingup", "standard")])
def test_get_state_set_state_continues_identically_in_a_fresh_env(env_id, profile):
    env = pixel_env(env_id, seed=1, size=32, profile=profile)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (10, env.action_space.shape[0]))
    for a in actions[:5]:
        env.step(a)
    state = env.get_state()
    expected = [env.step(a)[:2] for a in actions[5:]]
    fresh = pixel_env(env_id, seed=1, size=32, profile=profile)
    fresh.reset(seed=7)
    fresh.set_state(state)
    for t, (a, (obs, reward)) in enumerate(zip(actions[5:], expected)):
        obs2, reward2 = fresh.step(a)[:2]
        np.testing.assert_array_equal(obs2, obs, f"observation differs {t + 1} steps after restore")
        assert reward2 == reward


@pytest.mark.slow
def test_fast_profile_is_explicit_and_changes_pixels():
    std = pixel_env("dmc:walker-walk", size=32, profile="standard")
    fast = pixel_env("dmc:walker-walk", size=32, profile="fast")
    a, b = std.reset(seed=0)[0], fast.reset(seed=0)[0]
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert (std.render_report["profile"], fast.render_report["profile"]) == ("standard", "fast")
    assert fast.render().shape == (32, 32, 3)


@pytest.mark.slow
def test_default_cameras_follow_drqv2_and_the_swimmer():
    assert default_camera("dmc:quadruped-run") == 2
    assert default_camera("dmc:cheetah-run") == 0
    assert default_camera("swim") == "tracking1"
    env = pixel_env("swim", size=16, profile="fast")
    assert env.camera == env.physics.model.name2id("tracking1", "camera")


def test_bad_camera_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"camera 'nope' not in this model"):
        pixel_env("dmc:cartpole-swingup", size=16, profile="fast", camera="nope")
    with pytest.raises(ConfigError, match=r"camera 9 out of range"):
        pixel_env("dmc:cartpole-swingup", size=16, profile="fast", camera=9)


def test_state_envs_have_no_frames_per_step_and_pixel_envs_do():
    state = make_env(EnvConfig(id="dmc:cartpole-swingup"), seed=0)
    assert getattr(state, "frames_per_step", 1) == 1
    assert pixel_env("dmc:cartpole-swingup", size=16, profile="fast",
                     action_repeat=4).frames_per_step == 4


def test_render_doctor_reports_backend_and_renderer():
    info = gl_info()
    assert info["backend"] == "egl" and info["renderer"]
    line = doctor_line(info, fps=123.4, what="fast 84x84")
    assert line.startswith("render: MUJOCO_GL=egl") and "123 renders/s" in line


def test_unusable_backend_fails_with_what_to_install(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    with pytest.raises(RenderBackendError, match="libosmesa6"):
        preflight()
    monkeypatch.setenv("MUJOCO_GL", "vulkan")
    with pytest.raises(RenderBackendError, match="not a backend"):
        preflight()


def test_pixel_env_passes_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(pixel_env("dmc:cartpole-swingup", size=16, profile="fast"), skip_render_check=True)


# --- several render contexts in one process -----------------------------------------------
# Every GL context must be made current before it draws: a context that believes it is still
# current while another library switched the thread's context draws into the wrong framebuffer.
_PLAIN_ROLLOUT = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from tests.test_pixels import agent_and_video_frames
out = {{}}
for profile in ("standard", "fast"):
    out["agent_" + profile], _ = agent_and_video_frames(profile, None)
    _, out["video_" + profile] = agent_and_video_frames(None, profile)
np.savez({path!r}, **out)
"""


def agent_and_video_frames(agent_profile: str | None, video_profile: str | None,
                           steps: int = 4) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A pixel env's observations and a video renderer's frames of one seeded rollout, the two
    drawn in turn (either may be None: not drawn)."""
    from envs.render import Renderer

    env = pixel_env("dmc:cartpole-swingup", 0, size=16, frame_stack=1,
                    profile=agent_profile or "fast")
    video = Renderer(env.physics, 24, 32, 0, video_profile) if video_profile else None
    obs, frames = [env.reset(seed=1)[0]], []
    for t in range(steps):
        if video is not None:
            frames.append(video())
        obs.append(env.step(np.full(1, 0.5 - 0.3 * t))[0])
    if video is not None:
        video.close()
    env.close()
    return (np.stack(obs) if agent_profile else None), (np.stack(frames) if video else None)


@pytest.mark.slow
def test_agent_view_and_video_are_identical_to_a_fresh_process_whatever_the_other_profile(
        tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    path = tmp_path / "plain.npz"
    subprocess.run([sys.executable, "-c", _PLAIN_ROLLOUT.format(root=root, path=str(path))],
                   check=True, timeout=300)
    plain = np.load(path)
    for agent_profile in ("standard", "fast"):
        for video_profile in ("fast", "standard"):
            obs, frames = agent_and_video_frames(agent_profile, video_profile)
            np.testing.assert_array_equal(
                obs, plain[f"agent_{agent_profile}"],
                f"{agent_profile} agent images change when a {video_profile} video renders")
            np.testing.assert_array_equal(
                frames, plain[f"video_{video_profile}"],
                f"{video_profile} video frames change when a {agent_profile} agent renders")
