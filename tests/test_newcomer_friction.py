"""What a new user's second trial hit (issue 34): long names, missing folders, section hints,
warnings before errors, the body on a video's text, restarts and progress, Ray's start-up.

Refusals are one line on stderr, exit code 2, nothing written; the progress tests drive
``trainer.logger.Progress`` with a hand-set clock and compare with the ETA computed by hand.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import train as cli
from conftest import TINY_PPO, assert_one_line_refusal, run_cli

ROOT = Path(__file__).resolve().parent.parent
CARTPOLE = str(ROOT / "configs/offpolicy_cartpole_swingup.yaml")


# --- 1. a name longer than the file system allows ------------------------------------------
def test_a_name_longer_than_the_file_system_allows_is_refused_at_load(tmp_path, monkeypatch,
                                                                       capsys, caplog):
    monkeypatch.chdir(tmp_path)
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    code, _, err = run_cli([*TINY_PPO, "steps=10", f"name={'a' * (limit + 1)}"], capsys)
    assert_one_line_refusal(code, err, "config error: name:", f"{limit + 1} bytes", str(limit))
    assert "no update will run" not in err + caplog.text, "validate first, warn after"
    assert list(tmp_path.iterdir()) == [], "a refused run writes nothing"


def test_a_name_at_the_limit_loads_and_is_a_folder_the_file_system_takes(tmp_path, monkeypatch):
    from configs.loader import ConfigError, load_config

    monkeypatch.chdir(tmp_path)
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    cfg = load_config(None, [f"name={'a' * limit}"])
    (tmp_path / cfg.name).mkdir()  # what the validator lets through, the file system takes
    with pytest.raises(ConfigError, match="bytes long"):  # é is 2 bytes in UTF-8
        load_config(None, [f"name={'é' * (limit // 2 + 1)}"])


# --- 3. one message for a missing run folder ------------------------------------------------
@pytest.mark.parametrize("command, extra", [
    ("evaluate", []), ("render", ["--out", "{tmp}/x.mp4"]), ("transfer", []),
    ("activity", ["--out", "{tmp}/a.png"]), ("report", []), ("plot", ["--out", "{tmp}/p.png"]),
])
def test_every_command_says_the_same_of_a_missing_run_folder(command, extra, tmp_path, capsys):
    nope = tmp_path / "runs" / "nope"
    code, _, err = run_cli([command, str(nope), *(e.format(tmp=tmp_path) for e in extra)],
                           capsys)
    assert_one_line_refusal(code, err)
    assert err == f"error: no run folder or preset at {nope}\n"
    assert list(tmp_path.iterdir()) == []


# --- 4. a section of another agent gets the same hint as a flat key ---------------------------
@pytest.mark.parametrize("override, key", [("agent.reset={count: 1}", "agent.reset"),
                                           ("agent.redo.every_steps=500", "agent.redo"),
                                           ("agent.batch_size=32", "agent.batch_size")])
def test_a_section_of_another_agent_says_which_agent_has_it(override, key, capsys):
    code, _, err = run_cli([override, "steps=10"], capsys)  # the default preset: PPO
    assert_one_line_refusal(code, err, f"unknown key '{key}'", "(a key of agent.name=offpolicy",
                            "agent.name=drqv2")


def test_an_unknown_section_of_no_agent_gets_no_agent_hint():
    from configs.loader import ConfigError, load_config

    with pytest.raises(ConfigError) as e:
        load_config(None, ["agent.frobnicate={a: 1}"])
    assert "a key of" not in str(e.value)


# --- 5. warnings come after the checks -------------------------------------------------------
def test_a_body_error_is_not_preceded_by_the_no_update_warning(tmp_path, capsys, caplog):
    # PPO with steps below one segment warns; cart-pole refuses friction when the env is built
    code, _, err = run_cli([*TINY_PPO, "steps=10", "env.id=dmc:cartpole-swingup",
                            "env.body.friction=2", f"run_dir={tmp_path / 'run'}"], capsys)
    assert_one_line_refusal(code, err, "env.body.friction")
    assert "no update will run" not in err + caplog.text
    assert not (tmp_path / "run").exists()


# --- 8. the body on render --text ------------------------------------------------------------
@pytest.mark.parametrize("preset, overrides, label", [
    (None, ["env.length_scale=1.5"], "N=5 length_scale=1.5"),
    (None, ["env.n_joints=7", "env.viscosity=0.1"], "N=7 viscosity=0.1"),
    (None, [], "N=5"),
    (CARTPOLE, ["env.body.length=1.2"], "dmc:cartpole-swingup length=1.2"),
    (CARTPOLE, ["env.body.length=1.2", "env.body.mass=2"], "dmc:cartpole-swingup length=1.2 mass=2"),
])
def test_the_text_line_names_every_changed_body_parameter(preset, overrides, label):
    from cli.render_cmd import body_label
    from configs.loader import load_config

    assert body_label(load_config(preset, overrides).env) == label


def test_render_text_writes_the_changed_body(tmp_path, monkeypatch, capsys):
    import trainer.posthoc.video as video

    seen = {}

    def no_video(*args, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop before any frame is drawn

    monkeypatch.setattr(video, "write_video", no_video)
    run_cli(["render", CARTPOLE, "--out", str(tmp_path / "x.mp4"), "--text",
             "env.body.length=1.2"], capsys)
    assert seen["label"] == "dmc:cartpole-swingup length=1.2" and seen["text"]


# --- 2. plot_runs takes strings ----------------------------------------------------------------
def test_plot_runs_takes_string_paths_and_a_string_out(tmp_path):
    from configs.loader import dump_config, load_config
    from trainer.analysis.plots import plot_runs

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(load_config(None, [])))
    (run / "eval.csv").write_text("step,frames,mean_return\n0,0,10.0\n500,500,30.0\n")
    out = tmp_path / "curves.png"
    summary, _ = plot_runs([str(run)], ["return"], str(out))
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert [row[3] for row in summary] == [30.0]  # the one run's final return


# --- 9. a rerun of a run killed before its first checkpoint says so ------------------------------
@pytest.mark.parametrize("killed_early", [True, False])
def test_a_rerun_without_a_checkpoint_says_it_starts_from_step_0(killed_early, tmp_path,
                                                                 monkeypatch, caplog):
    from configs.loader import dump_config, load_config
    from trainer import api

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(api.Trainer, "run", lambda self: {"interrupted": False})  # no training
    cfg = load_config(None, [*TINY_PPO, "steps=512", f"run_dir={tmp_path / 'run'}"])
    if killed_early:  # what a run killed before its first checkpoint leaves
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "config.yaml").write_text(dump_config(cfg))
    api.train(cfg)
    said = "no checkpoint yet: starting from step 0" in caplog.text
    assert said == killed_early, caplog.text


# --- 7. progress ----------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    import trainer.logger as logger

    c = Clock()
    monkeypatch.setattr(logger.time, "perf_counter", c)
    return c


def remaining(progress) -> str:
    """The ``<remaining`` part of the bar's text: ``[elapsed<remaining...``."""
    text = str(progress.tqdm)
    return text.split("<", 1)[1].split(",")[0].split("]")[0]


def test_the_eta_ignores_a_slow_first_step(clock):
    from trainer.logger import WARMUP_SECONDS, Progress
    from tqdm import tqdm

    p = Progress(2000, 0, enabled=True, file=Terminal())
    clock.t += 60.0  # the first step of a pixel run: a GL context, compilation, evaluation
    p.update()
    assert remaining(p) == "?", "no ETA from the first step"
    steps, rate = 0, 20.0
    while clock.t - 1060.0 < WARMUP_SECONDS + 5:  # then 20 steps/s
        clock.t += 1 / rate
        p.update()
        steps += 1
    expected = (2000 - 1 - steps) / rate  # by hand: steps left at 20 steps/s
    assert remaining(p) == tqdm.format_interval(expected)
    p.close()


def test_no_eta_during_the_warm_up(clock):
    from trainer.logger import Progress

    p = Progress(2000, 0, enabled=True, file=Terminal())
    for _ in range(10):
        clock.t += 0.1
        p.update()
    assert remaining(p) == "?"
    p.close()


def test_a_resumed_run_counts_only_its_own_steps_in_the_eta(clock):
    from trainer.logger import Progress
    from tqdm import tqdm

    p = Progress(20_480, 20_000, enabled=True, file=Terminal())
    clock.t += 1.0
    p.update()
    for _ in range(100):  # 10 steps/s after the first
        clock.t += 0.1
        p.update()
    assert remaining(p) == tqdm.format_interval((20_480 - 20_101) / 10.0)
    p.close()


def test_without_a_terminal_a_plain_line_every_n_seconds(clock):
    from trainer.logger import Progress

    out = io.StringIO()  # nohup, a pipe: not a terminal
    p = Progress(1000, 0, enabled=True, every_seconds=30.0, file=out)
    for _ in range(100):  # 100 s at one step per second
        clock.t += 1.0
        p.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 100 // 30, lines  # at 30, 60 and 90 s
    assert lines[0].startswith("progress: step 30/1,000 (3%)"), lines[0]
    assert "\r" not in out.getvalue()
    p.set_postfix({"steps/s": "1"})
    p.close()
    assert out.getvalue().splitlines()[-1].startswith("progress: step 100/1,000")
    assert out.getvalue().splitlines()[-1].endswith("steps/s=1")


def test_progress_off_prints_nothing(clock):
    from trainer.logger import Progress

    for file in (io.StringIO(), Terminal()):
        p = Progress(100, 0, enabled=False, every_seconds=1.0, file=file)
        for _ in range(10):
            clock.t += 1.0
            p.update()
        p.close()
        assert file.getvalue() == ""


# --- 10. Ray's start-up is announced with its time ----------------------------------------------
def test_starting_ray_is_announced_with_its_time(monkeypatch, capsys):
    pytest.importorskip("ray")
    from trainer.sweep import ray_tune

    monkeypatch.setattr(ray_tune.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_tune.ray, "init", lambda **kwargs: None)
    assert ray_tune.connect(None)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("starting Ray (local, ") and err[1].startswith("Ray started in ")


# --- 6. the Python API renders headless as the command line does ---------------------------------
@pytest.mark.slow
def test_importing_the_python_api_chooses_the_headless_backend():
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY",
                                                            "WAYLAND_DISPLAY")}
    code = ("import envs.bodies, trainer.api, os; print(os.environ['MUJOCO_GL'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "egl"
    assert "GLFW" not in done.stderr and "DISPLAY" not in done.stderr, done.stderr


# --- 7. a finished run, and the rate after a resume -------------------------------------------------
@pytest.mark.slow
def test_reopening_a_finished_run_says_there_is_nothing_to_do(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    argv = [*TINY_PPO, "steps=512", f"run_dir={tmp_path / 'run'}"]
    assert run_cli(argv, capsys)[0] == 0
    caplog.clear()
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert f"{tmp_path / 'run'} already finished at step 512: nothing to do" in caplog.text
    assert "resuming" not in caplog.text


class Rows:
    """A logger that keeps the rows the loop writes."""

    def __init__(self):
        self.train = []

    def log_train(self, row):
        self.train.append(row)

    def log_eval(self, row):
        pass

    def log_records(self, table, rows):
        pass

    def advance(self, n=1):
        pass


@pytest.mark.slow
def test_after_a_resume_the_rate_counts_only_this_process(tmp_path):
    from configs.loader import load_config
    from envs import make_env
    from trainer.api import build
    from trainer.loop import Trainer
    from trainer.rundir import RunDir

    cfg = load_config(None, [*TINY_PPO, "steps=520", "trainer.eval_at_start=false"])
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)

    def trainer():
        env, agent, _ = build(cfg)
        t = Trainer(cfg, run, env, make_env(cfg.env, seed=1), agent, seed=cfg.seed)
        t.log = Rows()
        return t

    first = trainer()
    first.obs, _ = first.env.reset(seed=0)
    ckpt = first._snapshot(include_replay=False)
    # the earlier process: 500 steps in 1000 s of training, 10 of them in an unlogged window
    ckpt["trainer"].update(step=500, train_seconds=980.0, window_steps=10, window_seconds=20.0)
    second = trainer()
    second.restore(ckpt)
    second.run()  # steps 501..520: one row at 520
    row = second.log.train[-1]
    own_seconds = row["train_seconds"] - 1000.0  # this process's training time, by the row
    assert row["train_seconds"] >= 1000.0, "the earlier window's time is kept"
    assert row["steps_per_second"] == pytest.approx(20 / own_seconds)
    assert second.session_rate() == pytest.approx(20 / own_seconds)
