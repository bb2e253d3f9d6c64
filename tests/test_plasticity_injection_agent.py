"""Plasticity injection inside the off-policy agent (issue 21): at the moment of injection the
critic's Q values and its target's are exactly unchanged and the trainable parameter count is
the same; afterwards only the fresh heads (and the trunk) learn, the target follows by Polyak
averaging; the structure survives a resume bit-identically; bad settings are one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml

import train as cli
from bench.random_replay import fill_from_env
from configs.loader import load_config
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY_STATE = tiny_state()
INJECT = "agent.plasticity_injection={at_step: 600}"


def filled(overrides: list[str]):
    """A tiny state agent whose replay holds 64 real cartpole transitions (random actions)."""
    cfg = load_config(STATE, [*TINY_STATE, "agent.seed_frames=0", "agent.explore_steps=0",
                              *overrides])
    env, agent, _ = build(cfg)
    fill_from_env(agent, env, 64)
    env.close()
    return agent


def q_values(agent, h: torch.Tensor, a: torch.Tensor):
    with torch.no_grad():
        return [q.clone() for net in (agent.critic, agent.critic_target) for q in net(h, a)[:2]]


def test_q_and_target_q_are_exactly_unchanged_at_injection_and_trainable_count_is_the_same():
    agent = filled([INJECT])
    for _ in range(3):
        agent.update()
    with torch.no_grad():
        h = agent.encoder(torch.as_tensor(agent.replay.sample(40)["obs"]).float())
    a = torch.rand(40, 1) * 2 - 1
    before = q_values(agent, h, a)
    trainable = agent.trainable_parameters()["critic"]
    agent.interventions.apply("plasticity_injection", agent)
    for x, y in zip(before, q_values(agent, h, a)):
        assert torch.equal(x, y)
    assert agent.trainable_parameters()["critic"] == trainable
    # the optimiser steps the trunk and the fresh heads only
    stepped = {id(p) for g in agent.critic_opt.param_groups for p in g["params"]}
    wanted = {id(p) for p in agent.critic.trunk.parameters()} | {
        id(p) for head in (agent.critic.q1, agent.critic.q2) for p in head.fresh.parameters()}
    assert stepped == wanted
    (row,) = agent.interventions.pop_rows()
    assert row["kind"] == "plasticity_injection" and row["module"] == "critic"
    assert row["parameters"] == sum(p.numel() for head in (agent.critic.q1, agent.critic.q2)
                                    for p in head.fresh.parameters())


def test_after_injection_only_the_fresh_heads_learn_and_the_target_follows_by_polyak():
    agent = filled([INJECT])
    agent.update()
    agent.interventions.apply("plasticity_injection", agent)
    q1, t1 = agent.critic.q1, agent.critic_target.q1
    frozen = [p.detach().clone() for p in q1.frozen.parameters()]
    twin = [p.detach().clone() for p in q1.twin.parameters()]
    fresh = [p.detach().clone() for p in q1.fresh.parameters()]
    target_fresh = [p.detach().clone() for p in t1.fresh.parameters()]
    target_frozen = [p.detach().clone() for p in t1.frozen.parameters()]
    agent.update()
    assert all(torch.equal(p, q) for p, q in zip(q1.frozen.parameters(), frozen))
    assert all(torch.equal(p, q) for p, q in zip(q1.twin.parameters(), twin))
    assert not any(torch.equal(p, q) for p, q in zip(q1.fresh.parameters(), fresh))
    tau = agent.cfg.critic_tau
    # theta_bar <- theta_bar + tau (theta - theta_bar), written out by hand
    for tb, before, online in zip(t1.fresh.parameters(), target_fresh, q1.fresh.parameters()):
        torch.testing.assert_close(tb, before + tau * (online.detach() - before),
                                   atol=1e-7, rtol=1e-6)
    for tb, before, online in zip(t1.frozen.parameters(), target_frozen, q1.frozen.parameters()):
        torch.testing.assert_close(tb, before + tau * (online.detach() - before),
                                   atol=1e-7, rtol=1e-6)
    # the update's gradient reached the fresh heads and nothing of the frozen ones or twins
    for head in (q1, agent.critic.q2):
        assert all(p.grad is None for p in [*head.frozen.parameters(), *head.twin.parameters()])
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.fresh.parameters())


def test_grad_norm_after_injection_counts_only_the_parameters_that_train():
    """The frozen heads keep no gradient from before the injection: the logged critic norm is
    that of the gradients of the parameters its optimiser steps (trunk and fresh heads)."""
    agent = filled([INJECT, "agent.weight_metrics_every=1"])
    agent.update()                                # every head gets a gradient
    agent.interventions.apply("plasticity_injection", agent)
    agent.update()
    stepped = [p for g in agent.critic_opt.param_groups for p in g["params"]]
    assert all(p.grad is not None for p in stepped)
    by_hand = np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in stepped))
    logged = agent.pending_metrics()["grad_norm/critic"][-1]
    assert np.isclose(logged, by_hand, rtol=1e-4), (logged, by_hand)


def test_weight_change_of_a_fresh_head_counts_from_its_value_at_injection():
    agent = filled([INJECT, "agent.weight_metrics_every=1"])
    agent.update()
    init = {id(p): t.clone() for p, t in zip(agent.critic.parameters(),
                                             agent.weight_metrics.init["critic"])}
    agent.interventions.apply("plasticity_injection", agent)
    at_injection = {id(p): p.detach().clone() for p in agent.critic.parameters()}
    agent.update()
    params = list(agent.critic.parameters())
    n = sum(p.numel() for p in params)   # RMS over every parameter, frozen ones too
    by_hand = torch.sqrt(sum(((p.detach() - init.get(id(p), at_injection[id(p)])) ** 2).sum()
                             for p in params) / n)
    logged = agent.pending_metrics()["weight_change/critic"][-1]
    assert np.isclose(logged, float(by_hand), rtol=1e-4)


@pytest.mark.slow
def test_injected_at_its_step_logged_and_resumed_bit_identically(tmp_path):
    args = [*TINY_STATE, INJECT, "trainer.checkpoint_every=1000"]
    a = tmp_path / "a"
    train(load_config(STATE, [*args, "steps=2000", f"run_dir={a}"]))
    with (a / "interventions.csv").open(newline="") as f:
        touched = list(csv.DictReader(f))
    assert [(r["step"], r["kind"], r["module"]) for r in touched] == [
        ("600", "plasticity_injection", "critic")]
    assert json.loads((a / "summary.json").read_text())["injections"] == 1
    b = tmp_path / "b"
    train(load_config(STATE, [*args, "steps=1000", f"run_dir={b}"]))
    train(load_config(STATE, [*args, "steps=2000", f"run_dir={b}"]))
    sa = load_checkpoint(a / "checkpoints/last.pt")["agent"]
    sb = load_checkpoint(b / "checkpoints/last.pt")["agent"]
    for part in ("critic", "critic_target", "actor", "critic_opt"):
        xa, xb = sa[part], sb[part]
        if part == "critic_opt":
            xa, xb = ({k: v for k, s in x["state"].items() for k, v in
                       [(f"{k}.{n}", t) for n, t in s.items()]} for x in (xa, xb))
        assert sorted(xa) == sorted(xb)
        for k in xa:
            assert torch.equal(xa[k], xb[k]), f"{part}.{k} differs after resume"
    assert any(k.startswith("q1.fresh.") for k in sa["critic"])


@pytest.mark.parametrize("section, message", [
    ({}, "set exactly one of at_step, trigger"),
    ({"at_step": 0}, "agent.plasticity_injection.at_step"),
    ({"at_step": 10, "modules": ["actor"]}, "agent.plasticity_injection.modules"),
])
def test_bad_settings_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, section, message):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE),
                                      "agent": {"plasticity_injection": section}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()


@pytest.mark.parametrize("other", ["reset: {count: 2}",
                                   "shrink_perturb: {shrink: 0.5, every_updates: 10}",
                                   "l2_init: {coef: 0.01}"])
def test_an_intervention_rewriting_the_critic_beside_injection_is_one_line(tmp_path, capsys,
                                                                          other):
    key = other.split(":")[0]
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {
        "plasticity_injection": {"at_step": 10}, **yaml.safe_load(other)}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"agent.{key}" in err, err
    assert not run.exists()


def test_redo_after_injection_treats_the_fresh_heads_units():
    """ReDo reads the hidden maps of the units that train (the fresh copies) and re-initialises
    dormant ones there; the frozen head and its twin stay as they were."""
    agent = filled([INJECT, "agent.redo={every_updates: 1, tau: 0.99}"])
    agent.update()
    agent.interventions.apply("plasticity_injection", agent)
    q1 = agent.critic.q1
    frozen = [p.detach().clone() for p in [*q1.frozen.parameters(), *q1.twin.parameters()]]
    agent.update()   # ReDo at tau 0.99: most units score below it and are re-initialised
    assert agent.pending_metrics()["redo/critic_units"][-1] > 0
    assert all(torch.equal(p, q) for p, q in zip(
        [*q1.frozen.parameters(), *q1.twin.parameters()], frozen))


def test_a_second_injection_nests_and_again_changes_nothing_at_its_moment():
    agent = filled([INJECT])
    with torch.no_grad():
        h = agent.encoder(torch.as_tensor(agent.replay.sample(40)["obs"]).float())
    a = torch.rand(40, 1) * 2 - 1
    trainable = agent.trainable_parameters()["critic"]
    for _ in range(2):
        agent.update()
        before = q_values(agent, h, a)
        agent.interventions.apply("plasticity_injection", agent)
        for x, y in zip(before, q_values(agent, h, a)):
            assert torch.equal(x, y)
        assert agent.trainable_parameters()["critic"] == trainable
    agent.update()
    q1 = agent.critic.q1
    assert isinstance(q1.frozen.frozen, type(q1.fresh))
    assert agent.interventions.summary()["injections"] == 2
    # the optimiser steps the trunk and the newest fresh heads only; nothing nested holds a
    # gradient
    stepped = {id(p) for g in agent.critic_opt.param_groups for p in g["params"]}
    assert stepped == {id(p) for p in agent.critic.trunk.parameters()} | {
        id(p) for head in (q1, agent.critic.q2) for p in head.fresh.parameters()}
    for head in (q1, agent.critic.q2):
        assert all(p.grad is None for p in [*head.frozen.parameters(), *head.twin.parameters()])
