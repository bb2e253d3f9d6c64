"""Interventions fired by a logged metric instead of a schedule (issue 21): where the rule says,
never inside the cool-down, rows in intervention_checks.csv, resumable, bad input refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

import train as cli
from configs.loader import load_config
from trainer.api import train
from trainer.checkpoint import load_checkpoint
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY = tiny_state(every=2000, log_every=500)
# the critic FAU is always above 0: the trigger fires at every check outside its cool-down
ALWAYS = "agent.reset={trigger: {metric: fau/critic, condition: above, threshold: 0.0, " \
         "cooldown: 1500}}"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_reset_fires_on_the_metric_outside_its_cooldown_and_resumes_identically(tmp_path):
    a = tmp_path / "a"
    train(load_config(STATE, [*TINY, ALWAYS, "steps=4000", f"run_dir={a}"]))
    checks = rows(a / "intervention_checks.csv")
    # checks at the ends of episodes 1-3 (steps 1000, 2000, 3000): fire at 1000; 2000 is
    # inside 1000 + 1500; fire at 3000
    assert [(c["step"], c["decision"]) for c in checks[:3]] == [
        ("1000", "fire"), ("2000", "cooldown"), ("3000", "fire")]
    assert all(c["kind"] == "reset" and c["metric"] == "fau/critic" for c in checks)
    resets = [(r["step"], r["module"]) for r in rows(a / "interventions.csv")]
    # the reset runs at the next update: the same agent step (updates follow the episode end)
    assert resets == [("1000", "actor"), ("1000", "critic"), ("3000", "actor"),
                      ("3000", "critic")]
    summary = json.loads((a / "summary.json").read_text())
    assert summary["resets"] == 2 and summary["reset_fired_steps"][:2] == [1000, 3000]
    b = tmp_path / "b"
    train(load_config(STATE, [*TINY, ALWAYS, "steps=2000", f"run_dir={b}"]))
    train(load_config(STATE, [*TINY, ALWAYS, "steps=4000", f"run_dir={b}"]))
    sa = load_checkpoint(a / "checkpoints/last.pt")["agent"]
    sb = load_checkpoint(b / "checkpoints/last.pt")["agent"]
    for part in ("actor", "critic", "critic_target"):
        for (k, x), (_, y) in zip(sorted(sa[part].items()), sorted(sb[part].items())):
            assert torch.equal(x, y), f"{part}.{k} differs after resume"
    assert rows(b / "intervention_checks.csv") == checks
    assert rows(b / "interventions.csv") == rows(a / "interventions.csv")


@pytest.mark.parametrize("section, message", [
    ({"reset": {"trigger": {"metric": "dormant/nothing", "condition": "above",
                            "threshold": 0.3}}},
     "agent.reset.trigger.metric: 'dormant/nothing' is never logged per update"),
    ({"reset": {"count": 3, "trigger": {"metric": "fau/critic", "condition": "above",
                                        "threshold": 0.3}}}, "set either count or trigger"),
    ({"redo": {"every_updates": 10, "trigger": {"metric": "fau/critic", "condition": "below",
                                                "threshold": 0.3}}},
     "set exactly one of every_steps, every_updates, trigger"),
    ({"shrink_perturb": {"shrink": 0.9, "trigger": {"metric": "fau/critic",
                                                    "condition": "levelled",
                                                    "threshold": 0.0}}},
     "levelled needs threshold > 0"),
])
def test_bad_triggers_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, section, message):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": section}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()
