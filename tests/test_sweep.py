"""``train.py sweep``: grid and seed parsing, validation before launch, and tiny sweeps on Ray.

The Ray tests share one embedded Ray session (module-scoped; start-up takes seconds) and train
tiny PPO runs (2048 steps) on two CPUs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

import train as cli
from trainer.sweep.ray_env import ray_environment
from trainer.sweep.spec import (expand, grid_points, parse_grid, parse_seeds, resolve_spec,
                            split_values)
from trainer.sweep.trial import stop_when_flagged
from configs.loader import ConfigError

TINY = ["steps=2048", "agent.segment=512", "agent.iterations=2", "agent.critic_hidden=[32,32]",
        "trainer.eval_every=1024", "trainer.eval_episodes=1", "trainer.checkpoint_every=1024",
        "trainer.tensorboard=false"]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Tune not installed (pip install -e '.[sweep]')")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# --- spec: no Ray needed -------------------------------------------------------------------
def test_grid_values_split_at_top_level_commas_only():
    assert split_values("1e-3,3e-4") == ["1e-3", "3e-4"]
    assert split_values("[64,64],[256,256]") == ["[64,64]", "[256,256]"]
    grid = parse_grid(["agent.actor_lr=1e-3,3e-4", "agent.critic_hidden=[64,64],[32]",
                       "n_joints=5,7"])
    assert grid == {"agent.actor_lr": [0.001, 0.0003], "agent.critic_hidden": [[64, 64], [32]],
                    "env.n_joints": [5, 7]}  # aliases resolve to the dotted key


@pytest.mark.parametrize("item, message", [
    ("agent.actor_lr", "expected key=v1,v2"),
    ("agent.actor_lr=1e-3,,2e-3", "empty value"),
    ("seed=1,2", "use --seeds"),
    ("run_dir=a,b", "sweep folder"),
    ("agent.actor_lr=1e-3,0.001", "given twice"),
])
def test_bad_grid_is_a_one_line_error(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([item])


def test_seeds_are_a_count_from_the_first_seed_or_a_list():
    assert parse_seeds("3", first=0) == [0, 1, 2]
    assert parse_seeds("3", first=10) == [10, 11, 12]
    assert parse_seeds("0,3,7", first=0) == [0, 3, 7]
    for bad in ("0", "-1,2", "x", "1,1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad, first=0)


def test_every_grid_point_and_seed_becomes_a_labelled_run_folder(tmp_path: Path):
    spec = resolve_spec(None, [*TINY, f"run_dir={tmp_path}"], "2",
                        ["agent.actor_lr=1e-3,3e-4", "agent.clip=0.1,0.2"])
    trials = expand(spec)
    assert len(trials) == 8
    assert trials[0].run_dir == tmp_path / "agent.actor_lr=0.001,agent.clip=0.1" / "seed0"
    assert {t.cfg.agent.clip for t in trials} == {0.1, 0.2}
    assert all(t.cfg.torch_threads == 1 and not t.cfg.trainer.progress for t in trials)
    assert [label for label, _ in grid_points({})] == ["base"]


def test_a_sweep_file_gives_base_seeds_and_grid(tmp_path: Path):
    sweep_file = tmp_path / "lr.yaml"
    sweep_file.write_text(yaml.safe_dump({
        "base": "configs/ncap_swim_ppo.yaml", "overrides": TINY, "seeds": [3, 5],
        "grid": {"agent.actor_lr": [1e-3, 3e-4]}, "run_dir": str(tmp_path / "s")}))
    trials = expand(resolve_spec(str(sweep_file), [], None, []))
    assert [(t.label, t.seed) for t in trials] == [
        ("agent.actor_lr=0.001", 3), ("agent.actor_lr=0.001", 5),
        ("agent.actor_lr=0.0003", 3), ("agent.actor_lr=0.0003", 5)]
    assert trials[0].cfg.steps == 2048


@pytest.mark.parametrize("grid, message", [
    (["agent.no_such_key=1,2"], "grid point agent.no_such_key=1: config error: unknown key"),
    (["agent.actor_lr=1e-3,-1"], "grid point agent.actor_lr=-1: config error: agent.actor_lr"),
])
def test_invalid_grid_point_is_refused_before_anything_is_written(tmp_path: Path, capsys, grid,
                                                                  message):
    folder = tmp_path / "sweep"
    argv = ["sweep", "--seeds", "2", *[f"--grid={g}" for g in grid], *TINY, f"run_dir={folder}"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not folder.exists()


def test_missing_ray_says_how_to_install_it_in_one_line(tmp_path: Path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else find_spec(name, *a))
    code, _, err = run_cli(["sweep", *TINY, f"run_dir={tmp_path / 's'}"], capsys)
    assert code == 2
    assert err.startswith("error: sweeps run on Ray Tune") and 'pip install -e ".[sweep]"' in err
    assert err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_a_folder_holding_another_sweep_is_refused(tmp_path: Path, capsys):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "sweep.yaml").write_text(yaml.safe_dump({"grid": {"agent.clip": [0.1]}, "base": {}}))
    code, _, err = run_cli(["sweep", "--grid", "agent.actor_lr=1e-3", *TINY, f"run_dir={folder}"],
                           capsys)
    assert code == 2 and "holds a sweep over ['agent.clip']" in err


def test_stop_flag_makes_the_trial_signal_itself(tmp_path: Path):
    received = []
    flag = tmp_path / ".stop"
    previous = signal.getsignal(signal.SIGTERM)
    with stop_when_flagged(flag):
        signal.signal(signal.SIGTERM, lambda *_: received.append(True))  # as the trainer does
        flag.touch()
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    assert received, "no SIGTERM within 5 s of the stop flag"
    assert signal.getsignal(signal.SIGTERM) is previous, "the signal handlers were not restored"


# --- tiny sweeps on one shared embedded Ray -------------------------------------------------
@pytest.fixture(scope="module")
def ray_session():
    ray_environment(local=True)  # before Ray is imported
    import ray

    from trainer.sweep.ray_tune import connect

    assert connect(address=None), "Ray was already running"  # the sweep command's local Ray
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_sweep(ray_session, tmp_path_factory) -> tuple[Path, list[str], int]:
    """2 learning rates x 2 seeds, run once for the module."""
    folder = tmp_path_factory.mktemp("sweeps") / "lr"
    argv = ["sweep", "configs/ncap_swim_ppo.yaml", "--seeds", "2",
            "--grid", "agent.actor_lr=1e-3,3e-4", *TINY, f"run_dir={folder}"]
    return folder, argv, cli.main(argv)


def summaries(folder: Path) -> dict[str, dict]:
    return {p.parent.relative_to(folder).as_posix(): json.loads(p.read_text())
            for p in sorted(folder.glob("*/seed*/summary.json"))}


@pytest.mark.slow
@needs_ray
def test_tiny_sweep_runs_every_trial_through_ray_and_writes_the_report(tiny_sweep):
    folder, _, code = tiny_sweep
    assert code == 0
    runs = summaries(folder)
    assert sorted(runs) == ["agent.actor_lr=0.0003/seed0", "agent.actor_lr=0.0003/seed1",
                            "agent.actor_lr=0.001/seed0", "agent.actor_lr=0.001/seed1"]
    assert all(s["status"] == "complete" and s["env_steps"] == 2048 for s in runs.values())
    config = yaml.safe_load((folder / "agent.actor_lr=0.001" / "seed1" / "config.yaml").read_text())
    assert (config["seed"], config["agent"]["actor_lr"], config["torch_threads"]) == (1, 1e-3, 1)
    spec = yaml.safe_load((folder / "sweep.yaml").read_text())
    assert spec["seeds"] == [0, 1] and spec["grid"] == {"agent.actor_lr": [0.001, 0.0003]}
    report = json.loads((folder / "report.json").read_text())
    assert list(report["configs"]) == ["ncap_swim_ppo (agent.actor_lr=0.001)",
                                       "ncap_swim_ppo (agent.actor_lr=0.0003)"]
    assert all(g["complete"] == 2 and g["final_eval_return"]["n"] == 2
               for g in report["configs"].values())
    assert "| `ncap_swim_ppo (agent.actor_lr=0.001)` | 2 / 2 | 0 |" in \
        (folder / "report.md").read_text()
    assert (folder / "learning_curves.png").exists()
    assert (folder / "ray" / "tune").is_dir(), "Tune's files belong in the sweep folder"


@pytest.mark.slow
@needs_ray
def test_rerun_skips_finished_trials_and_resumes_the_unfinished(tiny_sweep, capsys):
    folder, argv, _ = tiny_sweep
    deleted = folder / "agent.actor_lr=0.0003" / "seed1"
    interrupted = folder / "agent.actor_lr=0.001" / "seed0"
    shutil.rmtree(deleted)
    summary = json.loads((interrupted / "summary.json").read_text())
    (interrupted / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    untouched = [folder / "agent.actor_lr=0.001" / "seed1",
                 folder / "agent.actor_lr=0.0003" / "seed0"]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes())
              for run in untouched for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()

    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "2 finished earlier, 2 to run" in out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before}
    assert after == before, "a finished trial's files changed on rerun"
    runs = summaries(folder)
    assert runs["agent.actor_lr=0.0003/seed1"]["status"] == "complete"
    assert runs["agent.actor_lr=0.0003/seed1"]["resumed_from_step"] == 0
    assert runs["agent.actor_lr=0.001/seed0"]["status"] == "complete"
    assert runs["agent.actor_lr=0.001/seed0"]["resumed_from_step"] == 2048  # from its checkpoint


@pytest.mark.slow
@needs_ray
def test_failing_trial_is_reported_and_the_others_finish(ray_session, tmp_path: Path, capsys):
    folder = tmp_path / "diverge"
    # critic_lr=1e30 makes the critic loss infinite at the first update -> DivergenceError.
    code, out, err = run_cli(["sweep", "--grid", "agent.critic_lr=1e-3,1e30", *TINY,
                              f"run_dir={folder}"], capsys)
    assert code == 1
    assert "failed      agent.critic_lr=1e+30/seed0: DivergenceError: loss/critic became inf" in out
    assert "1 of 2 trials failed" in err
    assert "Traceback" not in out + err, "Ray's tracebacks should stay out of the console"
    record = json.loads((folder / "agent.critic_lr=1e+30" / "seed0" / "trial.json").read_text())
    assert record["status"] == "failed" and "DivergenceError" in record["traceback"]
    ok = json.loads((folder / "agent.critic_lr=0.001" / "seed0" / "summary.json").read_text())
    assert ok["status"] == "complete"
    md = (folder / "report.md").read_text()
    assert " (agent.critic_lr=1e+30)` | 0 / 1 | 1 |" in md, "the config's label: name (key)"
    assert "DivergenceError: loss/critic became inf at step 512" in md
    assert os.environ.get("RAY_AUTH_TOKEN"), "the embedded Ray's token is passed by environment"
