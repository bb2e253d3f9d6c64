"""Module boundaries: dependencies point one way, analysis runs without torch, one helper a job."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from agents.common.device import resolve_device
from agents.common.polyak import polyak_, polyak_pairs, polyak_update
from cli.errors import error_line
from configs.loader import ConfigError
from trainer.analysis.plots import logged_runs
from trainer.analysis.runs import find_runs

ROOT = Path(__file__).resolve().parent.parent
LOWER = ("agents", "envs", "circuits", "configs")  # packages the trainer builds on


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import``/``from ... import`` statement in ``path`` names (any depth)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_nothing_below_the_trainer_imports_the_trainer_or_the_cli():
    offenders = [f"{path.relative_to(ROOT)} imports {name}"
                 for package in LOWER for path in sorted((ROOT / package).rglob("*.py"))
                 for name in imported_modules(path)
                 if name.split(".")[0] in ("trainer", "cli", "train")]
    assert not offenders, "lower packages must not import trainer/ or cli/: " + "; ".join(offenders)


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fake_run(folder: Path, seed: int, returns: list[float]) -> None:
    """A finished run folder as ``train`` leaves it (config, logs, summary), written by hand."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "seed": seed, "steps": 100, "run_dir": str(folder),
         "agent": {"name": "ppo"}}))
    write_rows(folder / "eval.csv", [{"step": 50 * i, "frames": 50 * i, "mean_return": r}
                                     for i, r in enumerate(returns)])
    write_rows(folder / "metrics.csv", [{"step": 50 * i, "frames": 50 * i, "loss/critic": 1.0}
                                        for i in range(len(returns))])
    (folder / "summary.json").write_text(json.dumps(
        {"status": "complete", "env_steps": 100, "final_eval_return": returns[-1],
         "best_eval_return": max(returns)}))


TORCH_FREE = """
import sys
sys.modules["torch"] = None          # any `import torch` now raises ImportError
try:
    import configs.loader
except ImportError as e:
    print("SKIP config loading imports torch:", e)
    raise SystemExit(0)
import train
codes = [train.main(["--help"]),
         train.main(["plot", {runs!r}, "--out", {png!r}, "--metric", "return",
                     "--metric", "loss/critic"]),
         train.main(["report", {runs!r}])]
heavy = sorted(m for m in ("torch", "mujoco", "dm_control", "ray") if sys.modules.get(m))
print("CODES", codes, "HEAVY", heavy)
"""


def test_plot_report_and_help_run_without_torch(tmp_path):
    for seed, returns in enumerate(([0.0, 10.0, 20.0], [0.0, 30.0, 40.0])):
        fake_run(tmp_path / "runs" / f"seed{seed}", seed, returns)
    png = tmp_path / "curves.png"
    script = TORCH_FREE.format(runs=str(tmp_path / "runs"), png=str(png))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if "SKIP" in done.stdout:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CODES [0, 0, 0] HEAVY []" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert png.stat().st_size > 1000
    assert (tmp_path / "runs" / "report.md").exists()
    assert (tmp_path / "runs" / "report.json").exists()
    assert "| return | tiny | 2 | 30 [" in done.stdout, "final value: mean of 20 and 40 with its CI"


def test_one_run_finder_for_plot_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    fake_run(sweep / "lr=0.1" / "seed0", 0, [0.0, 1.0])
    fake_run(sweep / "lr=0.1" / "seed1", 1, [0.0, 2.0])
    failed = sweep / "lr=1.0" / "seed0"   # a trial that failed before writing its config
    failed.mkdir(parents=True)
    (failed / "trial.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    (sweep / "ray" / "trial_1").mkdir(parents=True)                 # Tune's scratch folder
    (sweep / "ray" / "trial_1" / "config.yaml").write_text("{}")
    (sweep / ".hidden" / "x").mkdir(parents=True)
    (sweep / ".hidden" / "x" / "config.yaml").write_text("{}")
    (sweep / "lr=0.1" / "seed0" / "videos").mkdir()                # inside a run: not searched
    (sweep / "lr=0.1" / "seed0" / "videos" / "config.yaml").write_text("{}")
    assert find_runs(sweep) == [sweep / "lr=0.1" / "seed0", sweep / "lr=0.1" / "seed1", failed]
    assert find_runs(tmp_path / "missing") == []
    assert logged_runs([sweep]) == [sweep / "lr=0.1" / "seed0", sweep / "lr=0.1" / "seed1"], \
        "plot draws the runs that logged an evaluation"
    with pytest.raises(ConfigError, match="no eval.csv"):
        logged_runs([sweep / "lr=1.0"])


def test_polyak_is_the_lerp_equation_and_matches_a_per_tensor_loop():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    online(torch.randn(8, 3))  # moves the online batch-norm statistics (buffers)
    reference = [t.detach().clone() for t in target.parameters()]
    tau = 0.01
    for t, o in zip(reference, online.parameters()):   # theta_bar + tau (theta - theta_bar)
        t.copy_(torch.lerp(t, o.detach(), tau))
    polyak_update(target, online, tau)
    for got, want in zip(target.parameters(), reference):
        assert torch.equal(got, want), "Polyak step differs from a per-tensor lerp"
    for got, want in zip(target.buffers(), online.buffers()):
        assert torch.equal(got, want), "buffers are copied, not averaged"
    a, b = [torch.zeros(2)], [torch.ones(2)]
    polyak_(a, b, 0.25)
    assert a[0].tolist() == [0.25, 0.25], "0 + 0.25 (1 - 0) = 0.25"
    targets, onlines = polyak_pairs((target, online))
    assert len(targets) == len(list(online.parameters()))
    assert all(t is p for t, p in zip(onlines, online.parameters())), "the tensors themselves"


def test_device_is_resolved_in_one_place(monkeypatch):
    # both machines, whichever this one is: auto -> cuda with a device, cpu without
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [resolve_device(d) for d in ("auto", "cpu", "cuda")] == ["cuda", "cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [resolve_device(d) for d in ("auto", "cpu")] == ["cpu", "cpu"]
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_error_line_is_one_line_naming_the_file():
    assert error_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == \
        "error: /x/y: No such file or directory"
    assert error_line(ConfigError("error: bad key\nmore")) == "error: bad key"
    assert error_line(RuntimeError()) == "error: RuntimeError"
