"""Reset's schedule is fixed at the run's start (issue 40, item 3): ``count`` resets at agent
steps ``k * steps // (count + 1)`` of the ``steps`` the run started with; a resumed run given a
larger ``steps`` (an extension) keeps them."""

from __future__ import annotations

import csv
import shutil

import pytest

from agents.plasticity.interventions import Reset, make_interventions
from configs.loader import load_config
from configs.schema import OffPolicyConfig, ResetConfig
from trainer.api import train
from conftest import STATE_PRESET, tiny_state


def test_resets_spread_evenly_inside_the_run():
    # 2 resets over 2000 steps: 2000/3 = 666.7 and 4000/3 = 1333.3, floored
    assert Reset(ResetConfig(count=2), 2000).steps == [666, 1333]
    # 3 over 1000: 250, 500, 750
    assert Reset(ResetConfig(count=3), 1000).steps == [250, 500, 750]


def test_a_resumed_reset_keeps_the_schedule_of_the_run_it_started_as():
    cfg = OffPolicyConfig(reset=ResetConfig(count=2))
    started = make_interventions(cfg, total_steps=2000)           # resets at 666, 1333
    assert started.items["reset"].due(700, 1)
    started.items["reset"].done = 1                               # 666 done
    extended = make_interventions(cfg, total_steps=4000)          # 4000 would say 1333, 2666
    extended.load_state_dict(started.state_dict())
    reset = extended.items["reset"]
    assert reset.steps == [666, 1333]
    assert not reset.due(1332, 5) and reset.due(1333, 5), "the second reset stays at 1333"
    reset.done = 2
    assert not reset.due(2666, 9), "no third reset: count is 2"


def test_checkpoints_from_before_the_stored_schedule_take_the_run_steps():
    old = {"resets_done": 1, "rows": []}
    made = make_interventions(OffPolicyConfig(reset=ResetConfig(count=2)), total_steps=900)
    made.load_state_dict(old)
    assert made.items["reset"].steps == [300, 600] and made.items["reset"].done == 1


def reset_steps(run) -> list[int]:
    with (run / "interventions.csv").open(newline="") as f:
        return sorted({int(r["step"]) for r in csv.DictReader(f) if r["kind"] == "reset"})


@pytest.mark.slow
def test_a_run_interrupted_and_extended_resets_where_it_started_to(tmp_path):
    """2 resets over 1200 steps: 400 and 800. The run stops after its checkpoint at 600 (the
    later checkpoints are removed, as a crash would leave it) and is resumed with steps=1500:
    the second reset stays at 800 (1500 would have put it at 1000)."""
    tiny = [*tiny_state(warmup=100, every=600), "agent.reset.count=2"]
    whole = tmp_path / "whole"
    train(load_config(STATE_PRESET, [*tiny, "steps=1200", f"run_dir={whole}"]))
    assert reset_steps(whole) == [400, 800]
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    (run / "checkpoints/last.pt").unlink()
    (run / "checkpoints/step_0000001200.pt").unlink()
    train(load_config(STATE_PRESET, [*tiny, "steps=1500", f"run_dir={run}",
                                      "trainer.resume_from=step_0000000600.pt"]))
    assert reset_steps(run) == [400, 800]
