"""Presets that compose: ``base:`` chains merged and validated as one config, variant switches,
one-line errors for cycles and missing bases, and adaptive-RR config validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import train as cli
from configs.loader import ConfigError, config_to_dict, load_config, merge, resolve_preset

ROOT = Path(__file__).resolve().parent.parent
NCAP = ROOT / "configs/ncap_swim_ppo.yaml"
DRQ_TINY = ROOT / "configs/drqv2_tiny.yaml"


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_preset_with_a_base_overrides_only_what_it_names(tmp_path):
    child = write(tmp_path / "child.yaml", {"base": str(NCAP), "name": "child",
                                            "agent": {"clip": 0.1, "critic_hidden": [64]}})
    grandchild = write(tmp_path / "grand.yaml", {"base": "child.yaml", "steps": 7})
    got, base = config_to_dict(load_config(grandchild)), config_to_dict(load_config(NCAP))
    assert (got["name"], got["steps"], got["agent"]["clip"]) == ("child", 7, 0.1)
    assert got["agent"]["critic_hidden"] == [64], "lists replace, they do not merge"
    for k in ("name", "steps"):
        got.pop(k), base.pop(k)
    for k in ("clip", "critic_hidden"):
        got["agent"].pop(k), base["agent"].pop(k)
    assert got == base
    assert "base" not in resolve_preset(grandchild)


def test_a_section_naming_another_variant_replaces_the_base_section():
    assert merge({"s": {"type": "fixed", "rr": 0.5}}, {"s": {"type": "adaptive", "low": 1}}) \
        == {"s": {"type": "adaptive", "low": 1}}
    assert merge({"s": {"type": "fixed", "rr": 0.5}}, {"s": {"rr": 2}}) == \
        {"s": {"type": "fixed", "rr": 2}}
    assert merge({"name": "a", "x": 1}, {"name": "b"}) == {"name": "b", "x": 1}, \
        "the run's own name is not a variant tag"


def test_adaptive_preset_over_a_fixed_base_validates(tmp_path):
    arr = write(tmp_path / "arr.yaml", {"base": str(DRQ_TINY),
                                        "agent": {"rr_schedule": {"type": "adaptive",
                                                                  "interval": 5}}})
    schedule = load_config(arr).agent.rr_schedule
    assert (schedule.type, schedule.low, schedule.high, schedule.interval, schedule.threshold,
            schedule.trough_guard) == ("adaptive", 0.5, 2.0, 5, 1e-3, False)


def test_cycles_and_missing_bases_are_one_line_errors(tmp_path, capsys):
    write(tmp_path / "a.yaml", {"base": "b.yaml"})
    write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match=r"base: presets form a cycle \(a.yaml -> b.yaml -> "
                                          r"a.yaml\)"):
        load_config(tmp_path / "a.yaml")
    missing = write(tmp_path / "m.yaml", {"base": "nope.yaml"})
    run_dir = tmp_path / "run"
    assert cli.main([str(missing), f"run_dir={run_dir}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config error: base: nope.yaml not found" in err
    assert not run_dir.exists()


@pytest.mark.parametrize("override, message", [
    ("agent.rr_schedule.low=0", "agent.rr_schedule.low: Input should be greater than 0"),
    ("agent.rr_schedule.high=-2", "agent.rr_schedule.high: Input should be greater than 0"),
    ("agent.rr_schedule.interval=0",
     "agent.rr_schedule.interval: Input should be greater than or equal to 1"),
    ("agent.rr_schedule.threshold=1.5", "agent.rr_schedule.threshold: Input should be less than 1"),
    ("agent.rr_schedule.threshold=0", "agent.rr_schedule.threshold: Input should be greater"),
])
def test_bad_adaptive_rr_keys_exit_2_with_one_line_and_no_run_folder(tmp_path, capsys, override,
                                                                      message):
    run_dir = tmp_path / "run"
    code = cli.main([str(DRQ_TINY), "agent.rr_schedule.type=adaptive", override,
                     f"run_dir={run_dir}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"config error: {message}" in err, err
    assert not run_dir.exists()


@pytest.mark.slow
def test_run_folder_config_of_a_composed_preset_is_fully_resolved(tmp_path, tiny_ppo):
    from trainer.api import train

    child = write(tmp_path / "child.yaml", {"base": str(NCAP), "name": "child",
                                            "agent": {"clip": 0.1}})
    run_dir = tmp_path / "run"
    train(load_config(child, [*tiny_ppo, "steps=10", "trainer.eval_at_start=false",
                              f"run_dir={run_dir}"]))
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert "base" not in written and written["agent"]["clip"] == 0.1
    assert written == config_to_dict(load_config(run_dir / "config.yaml"))
    assert set(written) == set(config_to_dict(load_config(NCAP)))


def test_a_sweep_over_a_composed_preset_sweeps_the_resolved_config(tmp_path):
    from trainer.sweep.spec import expand, resolve_spec

    preset = ROOT / "configs/ablations/ncap_swim_ppo_s000.yaml"
    trials = expand(resolve_spec(str(preset), [f"run_dir={tmp_path / 's'}"], "2", []))
    assert [t.seed for t in trials] == [0, 1]
    assert all(t.cfg.name == "ncap_swim_ppo_s000" and not t.cfg.agent.actor.shared
               and t.cfg.steps == 100_000 for t in trials)
