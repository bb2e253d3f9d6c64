"""Interventions as plug-ins: a new one is one registered class; counters survive a resume;
Shrink & Perturb towards a fresh draw and towards the initial weights, by hand (issue 40)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bench.random_replay import fill_from_env
from configs import registry
from configs.base import StrictModel
from agents.plasticity.interventions import (Interventions, ReDo, Reset, check_interventions,
                                  make_interventions, register)
from agents.common.networks import orthogonal_init
from agents.plasticity.shrink_perturb import shrink_perturb_
from configs.loader import ConfigError, load_config
from configs.schema import OffPolicyConfig, ReDoConfig, ResetConfig
from trainer.api import build
from conftest import STATE_PRESET, tiny_state


class Shrink:
    """A toy intervention under ``agent.shrink``, registered for two tests only."""

    phase = "after"

    def __init__(self, cfg, total_steps=0):
        self.cfg, self.applied = cfg, 0

    @staticmethod
    def check(agent_cfg, cfg):
        if cfg.factor <= 0:
            raise ConfigError("config error: agent.shrink.factor: must be positive")

    def due(self, step, updates):
        return updates % 2 == 0

    def apply(self, agent):
        agent.weight *= self.cfg.factor
        self.applied += 1
        rows = [{"module": "critic", "factor": self.cfg.factor}]
        return rows, {"shrink/weight": agent.weight}

    def summary(self):
        return {"shrinks": self.applied}

    def state_dict(self):
        return {"shrinks": self.applied}

    def load_state_dict(self, state):
        self.applied = state["shrinks"]


class ShrinkConfig(StrictModel):
    factor: float = 0.5
    modules: list[str] = []


@pytest.fixture
def shrink_every_other_update():
    """``Shrink`` registered as the intervention ``shrink`` (implementation by import path, as
    a plug-in registers it), unregistered afterwards; the configs here are plain namespaces,
    so no schema is rebuilt."""
    registry.register("intervention", "shrink", ShrinkConfig, f"{__name__}:Shrink")
    yield Shrink
    registry._REGISTRY["intervention"].pop("shrink")


def agent_config(**sections):
    base = dict(reset=None, redo=None, actor=SimpleNamespace(type="mlp"), feature_dim=8)
    return SimpleNamespace(**(base | sections))


def test_a_registered_class_is_built_from_its_section_and_runs_after_updates(
        shrink_every_other_update):
    cfg = agent_config(shrink=SimpleNamespace(factor=0.5, modules=["critic"]))
    check_interventions(cfg, pixels=False)
    made = make_interventions(cfg, total_steps=100, frames_per_step=2)
    assert list(made.items) == ["shrink"]
    agent = SimpleNamespace(step=7, updates=0, weight=1.0)
    logged = []
    for updates in range(1, 5):
        agent.updates = updates
        made.before_update(agent)
        logged.append(made.after_update(agent))
    assert agent.weight == 0.25
    assert logged == [{}, {"shrink/weight": 0.5}, {}, {"shrink/weight": 0.25}]
    assert made.pop_rows() == [
        {"step": 7, "frame": 14, "update": 2, "kind": "shrink", "module": "critic", "factor": 0.5},
        {"step": 7, "frame": 14, "update": 4, "kind": "shrink", "module": "critic", "factor": 0.5}]
    assert made.summary() == {"shrinks": 2}


def test_a_registered_class_gets_the_module_and_its_own_config_checks(shrink_every_other_update):
    lacking = agent_config(shrink=SimpleNamespace(factor=0.5, modules=["encoder"]))
    with pytest.raises(ConfigError, match=r"agent\.shrink\.modules: encoder: state observations"):
        check_interventions(lacking, pixels=False)
    with pytest.raises(ConfigError, match=r"agent\.shrink\.factor"):
        check_interventions(agent_config(shrink=SimpleNamespace(factor=0, modules=[])), True)


def test_counters_and_unwritten_rows_survive_a_state_dict_round_trip():
    cfg = OffPolicyConfig(reset=ResetConfig(count=3), redo=ReDoConfig(every_steps=10))
    a = make_interventions(cfg, total_steps=400)
    a.items["reset"].done = 2
    assert a.items["redo"].due(35, 1) and a.items["redo"].periods_done == 3
    a.rows.append({"step": 35, "kind": "redo"})
    b = make_interventions(cfg, total_steps=400)
    b.load_state_dict(a.state_dict())
    assert b.items["reset"].done == 2 and b.pop_rows() == [{"step": 35, "kind": "redo"}]
    assert not b.items["redo"].due(39, 2) and b.items["redo"].due(40, 3), \
        "a resumed ReDo must not run again for a multiple it already served"
    assert not b.items["reset"].due(299, 5) and b.items["reset"].due(300, 5)


def test_checkpoints_from_before_the_every_steps_counter_still_load():
    old = {"resets_done": 1, "rows": []}        # written before redo_periods_done existed
    made = Interventions([Reset(ResetConfig(count=2), 90), ReDo(ReDoConfig(every_steps=5))])
    made.load_state_dict(old)
    assert made.items["reset"].done == 1 and made.items["redo"].periods_done == 0


def test_shrink_perturb_fresh_mixes_in_a_new_draw_of_the_initialiser():
    """target fresh (Ash & Adams): theta <- 0.7 theta + 0.4 theta_new, theta_new a new draw of
    the module's initialisation; the same draw by hand: a new Linear (its constructor's
    reset_parameters) then the orthogonal init, from the same RNG state."""
    torch.manual_seed(0)
    layer = nn.Linear(3, 4)
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)
    theta = [p.detach().clone() for p in layer.parameters()]
    torch.manual_seed(7)
    shrink_perturb_([layer], 0.7, 0.4, orthogonal_init)
    torch.manual_seed(7)
    new = nn.Linear(3, 4)
    orthogonal_init(new)
    for p, t, q in zip(layer.parameters(), theta, new.parameters()):
        torch.testing.assert_close(p.detach(), 0.7 * t + 0.4 * q.detach())


def test_shrink_perturb_initial_pulls_towards_the_weights_the_run_started_with():
    """target initial (Plasticine): theta <- 0.8 theta + 0.2 theta(0), theta(0) the critic's
    weights before the first update, kept by the checkpoint."""
    cfg = load_config(STATE_PRESET, [
        *tiny_state(warmup=0, every=None), "agent.shrink_perturb={shrink: 0.8, target: initial, "
        "every_updates: 1000, modules: [critic]}"])
    env, agent, _ = build(cfg)
    theta0 = [p.detach().clone() for p in agent.critic.parameters()]
    fill_from_env(agent, env, 64)
    for _ in range(3):
        agent.update()
    theta = [p.detach().clone() for p in agent.critic.parameters()]
    assert not torch.equal(theta[0], theta0[0]), "the updates moved the critic"
    agent.interventions.apply("shrink_perturb", agent)
    for p, t, t0 in zip(agent.critic.parameters(), theta, theta0):
        torch.testing.assert_close(p.detach(), 0.8 * t + 0.2 * t0)
    env2, other, _ = build(cfg)
    with torch.no_grad():
        for p in other.critic.parameters():
            p.add_(1.0)              # another start: loading must bring theta(0) back
    other.load_state_dict({**agent.state_dict(include_replay=False), "replay": None})
    theta1 = [p.detach().clone() for p in other.critic.parameters()]
    other.interventions.apply("shrink_perturb", other)
    for p, t, t0 in zip(other.critic.parameters(), theta1, theta0):
        torch.testing.assert_close(p.detach(), 0.8 * t + 0.2 * t0)
    env.close()
    env2.close()
