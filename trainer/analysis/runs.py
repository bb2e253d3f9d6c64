"""Read a folder of run folders (a sweep, or ``runs/<name>``) into per-config groups of results.

A run folder is a folder holding ``config.yaml`` (any run) or ``trial.json`` (a sweep trial,
possibly one that failed before writing its config). Runs are grouped by their parent folder
relative to the root: a sweep's ``<label>/seed<k>`` groups by ``<label>``; runs directly under
the root form one group named after the root. Tune's scratch folder ``ray/`` is skipped.

Statuses: ``complete``; ``failed`` (an exception, e.g. ``DivergenceError`` on a NaN loss, or a
crashed worker; ``trial.json`` holds the error); ``diverged`` (complete, but the final
evaluation return is not finite); ``interrupted`` (stopped, resumable); ``unfinished`` (running,
killed, or never started).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.files import read_json
from trainer.sweep.record import TRIAL_FILE, read_record
from configs.loader import read_yaml
from trainer.rundir import RunDir

FAILED = ("failed", "diverged")
SKIPPED_DIRS = {"ray", "checkpoints", "tb"}


@dataclass
class RunResult:
    """What one run folder says about its run."""

    path: Path
    group: str
    seed: int | None
    status: str
    error: str | None = None
    env_steps: int | None = None
    final_return: float | None = None
    best_return: float | None = None
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    transfer: list[dict[str, str]] = field(default_factory=list)
    adaptive_rr: bool = False
    rr_switch_frame: int | None = None

    @property
    def name(self) -> str:
        return f"{self.group}/{self.path.name}"

    def curve(self) -> dict[int, float]:
        """The evaluation curve as agent step -> mean evaluation return."""
        return {int(s): float(v) for s, v in zip(self.curve_steps, self.curve_returns)}


def final_score(steps: np.ndarray, returns: np.ndarray, last: int = 3) -> float:
    """Outcome metric fixed before any comparison: the mean of the last ``last`` evaluations
    (NaN without evaluations)."""
    return float(np.mean(returns[-last:])) if len(returns) else float("nan")


def curve_area(steps: np.ndarray, returns: np.ndarray) -> float:
    """Outcome metric: the area under the evaluation curve (trapezoids) divided by the steps
    it spans, i.e. the curve's average return over training (NaN with < 2 evaluations)."""
    if len(returns) < 2 or steps[-1] == steps[0]:
        return float("nan")
    widths = np.diff(steps).astype(float)
    return float(np.sum(widths * (returns[1:] + returns[:-1]) / 2) / (steps[-1] - steps[0]))


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def is_run_folder(path: Path) -> bool:
    return (path / "config.yaml").exists() or (path / TRIAL_FILE).exists()


def find_runs(root: Path) -> list[Path]:
    """The one run finder: run folders (``is_run_folder``) at or below ``root``, in name order,
    not looking inside a run folder nor into Tune's scratch folder, checkpoints, TensorBoard
    logs or hidden folders; ``[]`` when ``root`` is no folder."""
    if is_run_folder(root):
        return [root]
    if not root.is_dir():
        return []
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name in SKIPPED_DIRS or child.name.startswith("."):
            continue
        found += find_runs(child)
    return found


def group_name(run: Path, root: Path) -> str:
    if run == root or run.parent == root:
        return root.resolve().name
    return run.parent.relative_to(root).as_posix()


def status_of(record: dict | None, summary: dict | None) -> tuple[str, str | None]:
    """``(status, error)`` from ``trial.json`` and ``summary.json`` (either may be missing)."""
    if record and record.get("status") == "failed":
        return "failed", record.get("error")
    if summary and summary.get("status") == "complete":
        final = summary.get("final_eval_return")
        if final is None or not math.isfinite(final):
            return "diverged", f"final evaluation return is {final}"
        return "complete", None
    if summary and summary.get("status") == "interrupted":
        return "interrupted", None
    return "unfinished", None


def read_run(path: Path, root: Path) -> RunResult:
    summary_file = path / "summary.json"
    summary = read_json(summary_file)
    status, error = status_of(read_record(path), summary)
    config = read_yaml(path / "config.yaml") if (path / "config.yaml").exists() else {}
    curve_steps, curve_returns = RunDir(path).eval_curve()
    result = RunResult(path=path, group=group_name(path, root), seed=config.get("seed"),
                       status=status, error=error,
                       curve_steps=curve_steps, curve_returns=curve_returns,
                       transfer=read_csv(path / "transfer.csv"))
    schedule = (config.get("agent") or {}).get("rr_schedule") or {}
    if schedule.get("type") == "adaptive":
        switch = RunDir(path).rr_switch()
        result.adaptive_rr = True
        result.rr_switch_frame = None if switch is None else switch["frames"]
    if summary:
        result.env_steps = summary.get("env_steps")
        result.final_return = summary.get("final_eval_return")
        result.best_return = summary.get("best_eval_return")
    return result


def collect(root: Path) -> dict[str, list[RunResult]]:
    """``{group: runs sorted by seed}`` for every run folder under ``root``."""
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for path in find_runs(root):
        run = read_run(path, root)
        groups[run.group].append(run)
    return {g: sorted(runs, key=lambda r: (r.seed is None, r.seed or 0, r.path.name))
            for g, runs in sorted(groups.items())}
