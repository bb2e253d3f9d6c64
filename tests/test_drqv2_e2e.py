"""DrQ-v2 from pixels through the one trainer loop: evaluates, checkpoints, resumes exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from configs.loader import load_config
from trainer.api import train
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # every test here trains or runs processes (pytest -m "not slow")
PRESET = ROOT / "configs" / "drqv2_tiny.yaml"
TIMING_COLUMNS = {"steps_per_second", "train_seconds", "seconds"}
# 600 agent steps cross one episode end (500); updates start at agent step 100 (RR 0.5)
TINY = ["env.pixels.size=32", "agent.batch_size=16", "agent.replay_capacity=2000",
        "agent.explore_steps=100", "agent.seed_frames=200", "trainer.eval_every=300",
        "trainer.eval_episodes=1", "trainer.log_every=100", "trainer.checkpoint_every=300",
        "trainer.progress=false", "trainer.tensorboard=false"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(f)]


def test_pixel_run_resumes_bitwise_identically_with_its_replay(tmp_path):
    """One run of 600 steps vs 300 + resume to 600: identical weights, replay and logs."""
    train(load_config(PRESET, [*TINY, "steps=600", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(PRESET, [*TINY, "steps=300", f"run_dir={tmp_path / 'b'}"]))
    half = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert half["agent"]["replay"]["size"] == 301, "300 transitions + 1 reset frame"
    summary = train(load_config(PRESET, [*TINY, "steps=600", f"run_dir={tmp_path / 'b'}"]))
    assert summary["resumed_from_step"] == 300 and summary["frames"] == 1200

    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["agent"]
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["agent"]
    assert a["updates"] == b["updates"] == 250, "RR 0.5 from agent step 100 to 600"
    for part in ("encoder", "actor", "critic", "critic_target"):
        for name, value in a[part].items():
            assert torch.equal(value, b[part][name]), f"{part}.{name} differs after resume"
    for name in ("frames", "actions", "rewards", "index", "terminal", "episode_end"):
        assert torch.equal(a["replay"][name], b["replay"][name]), f"replay {name} differs"
    assert a["replay"]["rng"] == b["replay"]["rng"]
    rows_a = read_csv(tmp_path / "a" / "metrics.csv")
    assert rows_a == read_csv(tmp_path / "b" / "metrics.csv"), "metrics.csv differs"
    assert {"loss/critic", "loss/actor", "fau/critic"} <= set(rows_a[-1])
    assert 0 < float(rows_a[-1]["fau/critic"]) < 1
    evals = read_csv(tmp_path / "a" / "eval.csv")
    assert evals == read_csv(tmp_path / "b" / "eval.csv"), "eval.csv differs"
    assert [int(r["step"]) for r in evals] == [0, 300, 600]
    assert [int(r["frames"]) for r in evals] == [0, 600, 1200]


def test_resume_without_saved_replay_refills_before_updating(tmp_path):
    run = tmp_path / "r"
    args = [*TINY, "trainer.save_replay=false", f"run_dir={run}"]
    train(load_config(PRESET, [*args, "steps=300"]))
    assert load_checkpoint(run / "checkpoints" / "last.pt")["agent"]["replay"] is None
    summary = train(load_config(PRESET, [*args, "steps=600"]))
    assert summary["status"] == "complete"
    agent = load_checkpoint(run / "checkpoints" / "last.pt")["agent"]
    # steps 100-300: 100 updates (credit 0.5 carried); steps 301-399 refill 100 transitions
    # without updates; steps 400-600: 201 x 0.5 + 0.5 = 101 updates
    assert agent["updates"] == 100 + 101
    assert np.isfinite(summary["final_eval_return"])
