"""The trainer loop: run folder outputs, exact resume, divergence handling, checkpoint rotation."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agents.ppo.agent import PPOAgent
from configs.loader import load_config
from trainer.api import train
from trainer.checkpoint import load_checkpoint
from trainer.loop import DivergenceError

ROOT = Path(__file__).resolve().parent.parent
TIMING_COLUMNS = {"steps_per_second", "train_seconds", "seconds"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    sa = load_checkpoint(a / "checkpoints" / "last.pt")
    sb = load_checkpoint(b / "checkpoints" / "last.pt")
    assert sa["step"] == sb["step"]
    for part in ("actor", "critic", "head", "normalizer"):
        for key, value in sa["agent"][part].items():
            assert torch.equal(value, sb["agent"][part][key]), f"{part}.{key} differs after resume"
    adam_a, adam_b = sa["agent"]["optimizer"]["state"], sb["agent"]["optimizer"]["state"]
    assert adam_a.keys() == adam_b.keys()
    for i in adam_a:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(adam_a[i][key], adam_b[i][key]), f"Adam {key} of param {i} differs"
    assert read_csv(a / "metrics.csv") == read_csv(b / "metrics.csv"), "metrics.csv differs"
    assert read_csv(a / "eval.csv") == read_csv(b / "eval.csv"), "eval.csv differs"


@pytest.mark.slow
def test_run_folder_holds_config_logs_checkpoints_and_summary(tmp_path, tiny_ppo):
    cfg = load_config(None, [*tiny_ppo, "steps=1000", f"run_dir={tmp_path}"])
    summary = train(cfg)
    for name in ("config.yaml", "versions.json", "git.txt", "metrics.csv", "eval.csv",
                 "checkpoints/last.pt", "checkpoints/best.pt", "summary.json"):
        assert (tmp_path / name).exists(), name
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    for key in ("initial_eval_return", "final_eval_return", "env_steps", "steps_per_second"):
        assert on_disk[key] is not None, key
    assert on_disk["env_steps"] == 1000 and on_disk["status"] == "complete"
    assert 700 < on_disk["initial_eval_return"] < 900  # untrained NCAP on N=5 swims
    evals = read_csv(tmp_path / "eval.csv")
    assert [int(r["step"]) for r in evals] == [0, 500, 1000]
    # the summary's returns are eval.csv's: first, last and best of the logged means
    means = [float(r["mean_return"]) for r in evals]
    assert on_disk["initial_eval_return"] == pytest.approx(means[0], rel=1e-9)
    assert on_disk["final_eval_return"] == pytest.approx(means[-1], rel=1e-9)
    assert on_disk["best_eval_return"] == pytest.approx(max(means), rel=1e-9)
    versions = json.loads((tmp_path / "versions.json").read_text())
    assert versions["mujoco"].startswith("3.") and "torch" in versions
    assert load_config(tmp_path / "config.yaml") == cfg


@pytest.mark.slow
def test_resume_is_identical_to_an_uninterrupted_run(tmp_path, tiny_ppo):
    """One run of 2k steps vs 1k + stop + resume to 2k: identical parameters and metrics."""
    mlp = ["configs/mlp_swim_ppo.yaml"]  # learned std and obs normaliser in the actor path
    straight = load_config(ROOT / mlp[0], [*tiny_ppo, "steps=2000", f"run_dir={tmp_path / 'a'}"])
    train(straight)
    first = load_config(ROOT / mlp[0], [*tiny_ppo, "steps=1000", f"run_dir={tmp_path / 'b'}"])
    train(first)
    resumed = load_config(ROOT / mlp[0], [*tiny_ppo, "steps=2000", f"run_dir={tmp_path / 'b'}"])
    summary = train(resumed)
    assert summary["resumed_from_step"] == 1000
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.slow
def test_interrupted_process_resumes_exactly_with_the_same_command(tmp_path, tiny_ppo):
    """SIGINT at an arbitrary step (mid-episode, mid-segment), then the same command again."""
    args = [*tiny_ppo, "steps=3000", "trainer.checkpoint_every=100000"]
    train(load_config(None, [*args, f"run_dir={tmp_path / 'a'}"]))
    cmd = [sys.executable, str(ROOT / "train.py"), *args, f"run_dir={tmp_path / 'b'}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (tmp_path / "b" / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-500:]
    stopped_at = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["step"]
    assert 0 < stopped_at < 3000
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.slow
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tiny_ppo, monkeypatch):
    cfg = load_config(None, [*tiny_ppo, "steps=2000", f"run_dir={tmp_path}"])
    real_update = PPOAgent.update

    def update(self):
        metrics = real_update(self)
        if self.updates == 2:  # the second segment ends at step 1024, after the step-1000 checkpoint
            metrics["loss/critic"] = float("nan")
        return metrics

    monkeypatch.setattr(PPOAgent, "update", update)
    with pytest.raises(DivergenceError, match=r"loss/critic became nan at step 1024"):
        train(cfg)
    last = tmp_path / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["step"] == 1000
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


@pytest.mark.slow
def test_only_the_newest_checkpoints_are_kept(tmp_path, tiny_ppo):
    cfg = load_config(None, [*tiny_ppo, "steps=2000", "trainer.keep_checkpoints=2",
                             f"run_dir={tmp_path}"])
    train(cfg)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step_0000001500.pt", "step_0000002000.pt"]
    assert os.path.samefile(tmp_path / "checkpoints/last.pt", tmp_path / "checkpoints/step_0000002000.pt")


@pytest.mark.slow
def test_finished_run_rerun_does_not_train_again(tmp_path, tiny_ppo):
    cfg = load_config(None, [*tiny_ppo, "steps=500", f"run_dir={tmp_path}"])
    train(cfg)
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    summary = train(cfg)
    assert summary["status"] == "complete" and summary["env_steps"] == 500
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before


def test_run_folder_written_before_a_new_config_key_still_resumes(tmp_path):
    """A key added to the schema after a run was written takes its default: the run resumes;
    a real difference is still refused."""
    import yaml

    from configs.loader import ConfigError, dump_config
    from trainer.rundir import RunDir

    cfg = load_config(ROOT / "configs" / "ncap_swim_ppo.yaml")
    old = yaml.safe_load(dump_config(cfg))
    del old["env"]["body"], old["trainer"]["eval_actions"]  # keys newer than the folder
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    RunDir(tmp_path).check_same_config(cfg)
    old["agent"]["actor"]["sigma"] = 0.3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError, match="agent.actor.sigma: 0.3 there, 0.1 now"):
        RunDir(tmp_path).check_same_config(cfg)


def test_resume_on_other_code_keeps_every_sessions_provenance(tmp_path, tiny_ppo, monkeypatch):
    """The first session's git.txt / git.diff / versions.json stay; a resume on another commit
    appends its block and diff; the same code again adds nothing; reopening a finished run
    (nothing left to train) records nothing."""
    from trainer import rundir

    cfg = load_config(None, [*tiny_ppo, "steps=1000", f"run_dir={tmp_path}"])
    code = {"summary": "commit: aaa\ndirty: True\n", "diff": "first diff\n",
            "versions": {"torch": "2.13.0"}}
    monkeypatch.setattr(rundir, "git_state", lambda: (code["summary"], code["diff"]))
    monkeypatch.setattr(rundir, "versions", lambda: dict(code["versions"]))
    run = rundir.RunDir(tmp_path)
    run.prepare(cfg)
    assert (tmp_path / "git.txt").read_text() == "commit: aaa\ndirty: True\n"

    code.update(summary="commit: bbb\ndirty: False\n", diff="")
    run.prepare(cfg, resumed_at=400)
    assert (tmp_path / "git.txt").read_text() == (
        "commit: aaa\ndirty: True\n\nresumed at step 400:\ncommit: bbb\ndirty: False\n")
    assert (tmp_path / "git.diff").read_text() == "first diff\n"
    assert (tmp_path / "git.resumed_400.diff").read_text() == ""
    assert not (tmp_path / "versions.resumed_400.json").exists()

    run.prepare(cfg, resumed_at=600)            # the same code as the last session: no block
    assert (tmp_path / "git.txt").read_text().count("resumed at step") == 1
    code["versions"] = {"torch": "2.14.0"}      # a moved version is recorded on its own
    run.prepare(cfg, resumed_at=800)
    assert (tmp_path / "git.txt").read_text().count("resumed at step") == 1
    assert json.loads((tmp_path / "versions.resumed_800.json").read_text()) == {"torch": "2.14.0"}
    assert json.loads((tmp_path / "versions.json").read_text()) == {"torch": "2.13.0"}

    code.update(summary="commit: ccc\ndirty: False\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    run.prepare(cfg, resumed_at=1000)           # finished: steps == 1000, nothing to train
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert "ccc" not in (tmp_path / "git.txt").read_text()

    # a second resume from step 400 discards the steps every session from 400 on trained:
    # their blocks and files go, and this session is recorded at 400 in their place
    run.prepare(cfg, resumed_at=400)
    assert (tmp_path / "git.txt").read_text() == (
        "commit: aaa\ndirty: True\n\nresumed at step 400:\ncommit: ccc\ndirty: False\n")
    assert not (tmp_path / "versions.resumed_800.json").exists()
    assert json.loads((tmp_path / "versions.resumed_400.json").read_text()) == {"torch": "2.14.0"}
    code.update(summary="commit: aaa\ndirty: True\n", diff="first diff\n",
                versions={"torch": "2.13.0"})
    run.prepare(cfg, resumed_at=200)            # back on the first session's code: no block left
    assert (tmp_path / "git.txt").read_text() == "commit: aaa\ndirty: True\n"
    assert not list(tmp_path.glob("*.resumed_*"))
