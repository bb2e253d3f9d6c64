"""The eight ablation presets: the default preset with only its three switches (and name)
changed, written as overrides of it (``base:``) and checked resolved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from configs.loader import config_to_dict, load_config, resolve_preset
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "configs/ncap_swim_ppo.yaml"
SWITCHES = ("shared", "signed", "constant_init")


@pytest.mark.parametrize("bits", [f"{a}{b}{c}" for a in "01" for b in "01" for c in "01"])
def test_ablation_preset_is_the_default_with_its_three_bits(bits):
    path = ROOT / f"configs/ablations/ncap_swim_ppo_s{bits}.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw.pop("base") == "../ncap_swim_ppo.yaml"
    assert raw == {"name": f"ncap_swim_ppo_s{bits}",
                   "agent": {"actor": {k: b == "1" for k, b in zip(SWITCHES, bits)}}}, \
        f"{path.name} should override only name and agent.actor.{SWITCHES}"
    preset, base = config_to_dict(load_config(path)), config_to_dict(load_config(BASE))
    assert preset.pop("name") == f"ncap_swim_ppo_s{bits}"
    base.pop("name")
    actor = preset["agent"]["actor"]
    assert [actor.pop(k) for k in SWITCHES] == [b == "1" for b in bits]
    for k in SWITCHES:
        base["agent"]["actor"].pop(k)
    assert preset == base, f"{path.name} resolves to more than {BASE.name} with its 3 bits"
    assert resolve_preset(path)["steps"] == yaml.safe_load(BASE.read_text())["steps"]
    _, agent, _ = build(load_config(path, ["seed=0"]))
    assert agent.trainable_parameters()["policy"] == (4 if bits[0] == "1" else 6 * 5)
