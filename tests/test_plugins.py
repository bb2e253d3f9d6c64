"""A replay-ratio schedule and an auxiliary loss defined in a file outside the packages
(``tests/plugins/toy_plugin.py``), selected by a YAML preset, train through ``train.py``.
A plug-in a file names loads with ``--trust-plugins`` (``tests/test_security_plugins.py``)."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import train as cli

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugins" / "toy_plugin.py"
SWITCH = 150   # the toy schedule's switch step: RR 0.5 before it, 2.0 from it on


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def write_preset(folder: Path) -> Path:
    """The tiny off-policy agent from states (cartpole), with the plug-in's components."""
    preset = folder / "toy.yaml"
    preset.write_text(f"""
base: {ROOT / 'configs' / 'offpolicy_cartpole_swingup.yaml'}
plugins: [{os.path.relpath(PLUGIN, folder)}]     # relative to this preset's folder
steps: 300
agent:
  hidden_dim: 32
  batch_size: 16
  replay_capacity: 1000
  explore_steps: 50
  seed_frames: 50
  rr_schedule: {{type: toy_step, early: 0.5, late: 2.0, switch_step: {SWITCH}}}
  aux: {{losses: [{{type: toy_norm, target: 1.0}}]}}
  toy_scale: {{factor: 0.5, every_updates: 100}}
trainer: {{eval_every: 1000, eval_at_start: false, eval_episodes: 1, log_every: 50,
          checkpoint_every: 300, progress: false, tensorboard: false}}
""")
    return preset


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugin")
    out = folder / "run"
    result = run_cli(str(write_preset(folder)), f"run_dir={out}", "--trust-plugins")
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.slow
def test_plugin_schedule_sets_the_replay_ratio_of_the_run(run):
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    rr = {int(r["step"]): float(r["rr"]) for r in rows if r.get("rr")}
    assert rr, "no update logged its replay ratio"
    assert {s: v for s, v in rr.items() if s <= 100} and \
        all(v == 0.5 for s, v in rr.items() if s <= 100), rr
    assert all(v == 2.0 for s, v in rr.items() if s > SWITCH + 50), rr
    switch = list(csv.DictReader((run / "toy_rr_switch.csv").open()))
    assert [(int(r["step"]), float(r["rr"])) for r in switch] == [(SWITCH, 2.0)]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["toy_rr_final"] == 2.0


@pytest.mark.slow
def test_plugin_intervention_ran_on_its_period_and_was_logged(run):
    """``agent.toy_scale``: a section the schema gained from the plug-in's registration alone;
    it ran after updates 100, 200, 300 (of ~352) and wrote its rows and summary key."""
    with (run / "interventions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["update"], r["module"]) for r in rows] == [
        ("toy_scale", str(u), "critic") for u in (100, 200, 300)]
    assert json.loads((run / "summary.json").read_text())["toy_scales"] == 3


def test_plugin_schedule_ran_the_updates_it_made_due(run):
    """Hand count: updates start once seed_frames (50) transitions are stored; credit 0.5 per
    agent step before step 150, 2 per step from it: about 50 + 302 updates."""
    import torch

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["agent"]
    assert abs(state["updates"] - (0.5 * (SWITCH - 50) + 2.0 * (300 - SWITCH + 1))) <= 2


@pytest.mark.slow
def test_plugin_aux_loss_is_trained_and_logged(run):
    rows = [r for r in csv.DictReader((run / "metrics.csv").open()) if r.get("loss/aux_toy_norm")]
    assert len(rows) >= 4
    for row in rows:
        square = float(row["aux/toy_norm/z_square"])
        assert math.isfinite(float(row["loss/aux_toy_norm"])) and square > 0
        # the loss is (mean z^2 - 1)^2 per update, so the row mean is at least the square
        # of the row's mean deviation (Jensen)
        assert float(row["loss/aux_toy_norm"]) >= (square - 1.0) ** 2 - 1e-6
    config = (run / "config.yaml").read_text()
    assert str(PLUGIN) in config, "config.yaml keeps the plug-in's absolute path"


@pytest.mark.slow
def test_run_folder_with_plugins_evaluates_from_another_folder(run, tmp_path):
    """``evaluate --trust-plugins`` reads config.yaml, which loads the plug-in again by its
    absolute path."""
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "evaluate", str(run),
                             "--episodes", "1", "--trust-plugins"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("plugins, message", [
    ("[missing_plugin.py]", "config error: plugins: missing_plugin.py not found"),
    ("[no_such_plugin_module]", "config error: plugins: no module named 'no_such_plugin_module'"),
    ("3", "config error: plugins: must be a list"),
])
def test_bad_plugin_is_a_one_line_error(plugins, message, capsys):
    assert cli.main(["configs/offpolicy_cartpole_swingup.yaml", f"plugins={plugins}"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"error: {message}"), err


def test_plugin_that_fails_to_import_is_a_one_line_error(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written plug-in')\n")
    assert cli.main(["configs/offpolicy_cartpole_swingup.yaml", f"plugins=[{broken}]",
                     f"run_dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: config error: plugins: {broken}: "
                                               "RuntimeError: half-written plug-in")
    assert not (tmp_path / "run").exists(), "nothing half-written"


@pytest.mark.slow
def test_own_plugin_run_resumes_with_the_same_command_and_the_flag(run):
    """Without ``--trust-plugins`` the command stops naming the preset and the flag; with it,
    the same command reopens the finished run (its stored config names the same plug-in)."""
    preset = run.parent / "toy.yaml"
    refused = run_cli(str(preset), f"run_dir={run}")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert str(preset) in refused.stderr and "add --trust-plugins" in refused.stderr
    resumed = run_cli(str(preset), f"run_dir={run}", "--trust-plugins")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "already finished at step 300" in resumed.stderr, resumed.stderr[-2000:]
