"""Regenerative L2-init inside the off-policy agent (issue 21): the logged penalty is
lambda * ||theta - theta(0)||^2 by hand, theta(0) survives a checkpoint, bad input is one line."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

import train as cli
from bench.random_replay import fill_from_env
from configs.loader import load_config
from trainer.api import build
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY = [*tiny_state(warmup=0, every=None), "agent.l2_init={coef: 0.01, modules: [actor, critic]}"]


def filled(cfg):
    env, agent, _ = build(cfg)
    fill_from_env(agent, env, 64)
    return env, agent


def test_logged_penalty_is_lambda_times_the_squared_distance_from_init():
    env, agent = filled(load_config(STATE, TINY))
    with torch.no_grad():   # move every weight by a known amount away from theta(0)
        for module in (agent.actor, agent.critic):
            for p in module.parameters():
                p.add_(0.05)
    n = {m: sum(p.numel() for p in getattr(agent, m).parameters()) for m in ("actor", "critic")}
    agent.update()
    logged = agent.pending_metrics()
    # the penalty is computed before this update's step: 0.01 * n * 0.05^2
    assert math.isclose(logged["l2_init/critic"][0], 0.01 * n["critic"] * 0.05 ** 2, rel_tol=1e-4)
    assert math.isclose(logged["l2_init/actor"][0], 0.01 * n["actor"] * 0.05 ** 2, rel_tol=1e-4)
    env.close()


def test_initial_weights_travel_with_the_checkpoint():
    cfg = load_config(STATE, TINY)
    env, agent = filled(cfg)
    for _ in range(3):
        agent.update()
    state = agent.state_dict(include_replay=False)
    env2, other, _ = build(cfg)
    with torch.no_grad():            # a different theta(0): loading must replace it
        for m in ("actor", "critic"):
            for buf in other.l2_init[m].buffers():
                buf.add_(1.0)
    other.load_state_dict({**state, "replay": None})
    for m in ("actor", "critic"):
        for key, value in agent.l2_init[m].state_dict().items():
            assert torch.equal(other.l2_init[m].state_dict()[key], value)
    env.close()
    env2.close()


def test_a_reset_moves_the_anchor_of_the_reset_module_to_its_fresh_weights():
    """Reset of the critic only: afterwards the critic's anchor is the critic's new weights
    (penalty 0); the actor, not reset, keeps its theta(0)."""
    env, agent = filled(load_config(STATE, [*TINY, "agent.reset={count: 1, modules: [critic]}"]))
    actor0 = [p.detach().clone() for p in agent.actor.parameters()]
    for _ in range(3):
        agent.update()
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    agent.interventions.apply("reset", agent)
    critic = [p.detach() for p in agent.critic.parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(critic, critic_before) if a.dim() == 2)
    anchors = list(agent.l2_init["critic"].buffers())
    assert len(anchors) == len(critic)
    assert all(torch.equal(a, p) for a, p in zip(anchors, critic)), "anchor = new weights"
    assert agent.l2_init["critic"]().item() == 0.0
    assert all(torch.equal(a, p) for a, p in zip(agent.l2_init["actor"].buffers(), actor0))
    env.close()


@pytest.mark.parametrize("section, message", [
    ({"coef": 0.0}, "agent.l2_init.coef"),
    ({"coef": 0.01, "modules": ["encoder"]}, "agent.l2_init.modules: encoder"),
])
def test_bad_l2_init_exits_2_with_one_line(tmp_path, capsys, section, message):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {"l2_init": section}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()
