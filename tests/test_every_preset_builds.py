"""Every preset in configs/ builds its env and its agent, as `train.py PRESET` would first do.

Loading validates a preset's keys; building is the second half of "this preset runs": the env's
spaces meet the agent's own checks (e.g. the off-policy agent's actions in [-1, 1], which
drqv2_quadruped_run.yaml and its ten arr/ variants failed until env.unit_actions). Experiment
specs and sweeps are not presets (tests/test_compare.py, tests/test_sweep*.py load them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.loader import load_config
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml")
                 if not {"experiments", "sweeps"} & set(p.parts))


def test_the_preset_list_is_the_whole_configs_folder():
    assert "configs/ncap_swim_ppo.yaml" in PRESETS and "configs/drqv2_quadruped_run.yaml" in PRESETS
    assert any(p.startswith("configs/arr/") for p in PRESETS)
    assert len(PRESETS) >= 70


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_builds_its_env_and_agent(preset):
    cfg = load_config(ROOT / preset, ["device=cpu"])
    env, agent, _ = build(cfg, acting_only=True)
    try:
        obs, _ = env.reset(seed=0)
        action = agent.act(obs, explore=False)
        assert env.action_space.contains(action.astype(env.action_space.dtype)), preset
    finally:
        env.close()
