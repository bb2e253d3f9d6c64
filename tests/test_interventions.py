"""Interventions as plug-ins: a new one is one registered class; counters survive a resume."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from configs import registry
from configs.base import StrictModel
from agents.interventions import (Interventions, ReDo, Reset, check_interventions,
                                  make_interventions, register)
from configs.loader import ConfigError
from configs.schema import OffPolicyConfig, ReDoConfig, ResetConfig


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
