"""Shrink & Perturb inside the off-policy agent (issue 21): registered as an intervention, it
moves the named modules by its formula, logs to interventions.csv on its period, survives a
resume bit-identically, and refuses bad settings with one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

import train as cli
from configs.loader import load_config
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY_STATE = tiny_state()


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_zero_perturb_halves_exactly_the_named_modules_and_nothing_else():
    """shrink 0.5 with perturb 0: theta <- 0.5 theta, whatever the fresh init; the actor, the
    critic's target and the optimiser state are untouched."""
    cfg = load_config(STATE, [*TINY_STATE, "agent.shrink_perturb={shrink: 0.5, perturb: 0.0, "
                                           "every_updates: 10, modules: [critic]}"])
    env, agent, _ = build(cfg)
    critic = [p.detach().clone() for p in agent.critic.parameters()]
    actor = [p.detach().clone() for p in agent.actor.parameters()]
    target = [p.detach().clone() for p in agent.critic_target.parameters()]
    agent.interventions.apply("shrink_perturb", agent)
    assert all(torch.equal(p, 0.5 * q) for p, q in zip(agent.critic.parameters(), critic))
    assert all(torch.equal(p, q) for p, q in zip(agent.actor.parameters(), actor))
    assert all(torch.equal(p, q) for p, q in zip(agent.critic_target.parameters(), target))
    (row,) = agent.interventions.pop_rows()
    assert row["kind"] == "shrink_perturb" and row["module"] == "critic"
    assert row["parameters"] == sum(p.numel() for p in agent.critic.parameters())
    env.close()


def test_default_perturb_mixes_in_a_fresh_init_with_weight_one_minus_shrink():
    """perturb null = 1 - shrink: the result minus shrink * theta is (1 - shrink) times a fresh
    orthogonal init, so it is not theta's direction and its scale is the init's."""
    cfg = load_config(STATE, [*TINY_STATE, "agent.shrink_perturb={shrink: 0.8, "
                                           "every_updates: 10, modules: [actor]}"])
    env, agent, _ = build(cfg)
    before = [p.detach().clone() for p in agent.actor.parameters()]
    agent.interventions.apply("shrink_perturb", agent)
    after = list(agent.actor.parameters())
    fresh = [(a.detach() - 0.8 * b) / 0.2 for a, b in zip(after, before)]
    weights = [f for f, b in zip(fresh, before) if f.dim() == 2]
    assert all(not torch.allclose(f, b) for f, b in zip(weights, [b for b in before
                                                                   if b.dim() == 2]))
    # orthogonal rows (or columns) of the fresh weights: W W^T = I for a wide matrix
    w = weights[1]
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    torch.testing.assert_close(gram, torch.eye(gram.shape[0]), atol=1e-4, rtol=0)
    env.close()


@pytest.mark.slow
def test_logged_on_its_period_and_resumed_bit_identically(tmp_path):
    args = [*TINY_STATE, "agent.shrink_perturb={shrink: 0.9, every_updates: 250}",
            "trainer.checkpoint_every=1000"]
    a = tmp_path / "a"
    train(load_config(STATE, [*args, "steps=2000", f"run_dir={a}"]))
    touched = rows(a / "interventions.csv")
    updates = 1800   # RR 1 from step 201
    assert [(r["update"], r["module"]) for r in touched] == [
        (str(u), m) for u in range(250, updates + 1, 250) for m in ("actor", "critic")]
    assert json.loads((a / "summary.json").read_text())["shrink_perturbs"] == updates // 250
    b = tmp_path / "b"
    train(load_config(STATE, [*args, "steps=1000", f"run_dir={b}"]))
    train(load_config(STATE, [*args, "steps=2000", f"run_dir={b}"]))
    sa = load_checkpoint(a / "checkpoints/last.pt")["agent"]
    sb = load_checkpoint(b / "checkpoints/last.pt")["agent"]
    for part in ("actor", "critic", "critic_target"):
        for (k, x), (_, y) in zip(sorted(sa[part].items()), sorted(sb[part].items())):
            assert torch.equal(x, y), f"{part}.{k} differs after resume"
    assert rows(b / "interventions.csv") == touched


@pytest.mark.parametrize("section, message", [
    ({"shrink": 0.0, "every_updates": 10}, "agent.shrink_perturb.shrink"),
    ({"shrink": 1.5, "every_updates": 10}, "agent.shrink_perturb.shrink"),
    ({"shrink": 0.5}, "set exactly one of every_steps"),
    ({"shrink": 0.5, "every_updates": 10, "modules": ["encoder"]},
     "agent.shrink_perturb.modules: encoder"),
])
def test_bad_settings_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, section, message):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {"shrink_perturb": section}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()
