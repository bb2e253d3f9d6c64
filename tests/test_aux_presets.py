"""The auxiliary-loss presets and the capacity sweep spec: each arm differs only in its loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.sweep.spec import expand, resolve_spec
from configs.loader import config_to_dict, load_config
from trainer.rundir import flatten_keys

ROOT = Path(__file__).resolve().parent.parent
ARMS = {"none": [], "one_step": ["one_step"], "rollout": ["rollout"],
        "horizon_stabilised": ["horizon_stabilised"], "contrastive": ["contrastive"]}


@pytest.mark.parametrize("task", ["cheetah_run", "walker_walk"])
def test_aux_presets_differ_from_the_drqv2_preset_only_in_the_aux_section(task):
    base = flatten_keys(config_to_dict(load_config(ROOT / f"configs/drqv2_{task}.yaml")))
    for arm, types in ARMS.items():
        cfg = load_config(ROOT / f"configs/aux/{task}_{arm}.yaml")
        assert [loss.type for loss in cfg.agent.aux.losses] == types, arm
        flat = flatten_keys(config_to_dict(cfg))
        differ = {k for k in base.keys() | flat.keys() if base.get(k) != flat.get(k)}
        assert differ <= {"name", "agent.aux.losses"}, f"{arm}: {sorted(differ)}"


def test_capacity_sweep_spec_crosses_feature_dims_with_the_arms():
    spec = resolve_spec(str(ROOT / "configs/sweeps/aux_capacity_cheetah_run.yaml"), [], None, [])
    trials = expand(spec)
    assert len(trials) == 3 * 3 * 5
    cells = {(t.cfg.agent.feature_dim, tuple(loss.type for loss in t.cfg.agent.aux.losses))
             for t in trials}
    assert cells == {(d, arm) for d in (8, 16, 50)
                     for arm in ((), ("one_step",), ("horizon_stabilised",))}
    assert {t.cfg.env.id for t in trials} == {"dmc:cheetah-run"}
