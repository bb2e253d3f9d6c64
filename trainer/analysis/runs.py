"""Read a folder of run folders (a sweep, or ``runs/<name>``) into per-config groups of results.

A run folder is a folder holding ``config.yaml`` (any run) or ``trial.json`` (a sweep trial,
possibly one that failed before writing its config). Tune's scratch folder ``ray/`` is skipped.

**Groups** (the one rule, for ``report`` and ``plot``): runs whose ``config.yaml`` agree on
every key but ``NOT_GROUPED`` (the seed, the run folder, the checkpoint a run resumed from)
form a group, wherever their folders are; a run folder without ``config.yaml`` is a group of its
own, named ``<folder> (no config.yaml)``. **Labels** (``config_labels``): the config's ``name``
and ``(key=value, ...)`` of every key whose value differs between the runs of that name, in the
run's config order. A section that is null in some runs and set in others (an intervention:
``agent.shrink_perturb``, ``agent.redo``, ``agent.reset``, ``agent.plasticity_injection``, or a
``trigger``) differs as a whole: every key set in it is shown where it is set (its null keys
only where they differ). Keys only some runs have for another reason (the sub-keys of one
``type``, e.g. ``agent.rr_schedule.window`` of adaptive runs beside fixed ones) are shown only
when needed to tell configs apart. Labels never read ``key=None`` for a key the run lacks, and
two configs never share a label.

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
NOT_GROUPED = ("seed", "run_dir", "trainer.resume_from")  # keys that do not split a group
NULL = str(None)  # a null key or section in ``flat_config``


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


def flat_config(run: Path) -> dict[str, str]:
    """``run/config.yaml`` as dotted key -> value text (a null or empty section is one key),
    without ``NOT_GROUPED`` keys, in config order."""
    flat: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            elif f"{prefix}{k}" not in NOT_GROUPED:
                flat[f"{prefix}{k}"] = str(v)

    walk(read_yaml(run / "config.yaml"), "")
    return flat


def config_labels(runs: list[Path]) -> dict[Path, str]:
    """Each run's group label (module docstring: groups and labels); runs share a label exactly
    when their configs agree on every key but ``NOT_GROUPED``."""
    flats = {run: flat_config(run) for run in runs}
    by_name: dict[str, list[Path]] = defaultdict(list)
    for run, flat in flats.items():
        by_name[flat.get("name", "run")].append(run)
    labels = {}
    for name, same in by_name.items():
        values: dict[str, set[str]] = defaultdict(set)
        count: dict[str, int] = defaultdict(int)
        for r in same:
            for k, v in flats[r].items():
                values[k].add(v)
                count[k] += 1
        varied = {k for k, v in values.items() if len(v) > 1}
        partial = {k for k, n in count.items() if n < len(same)}
        toggled = [k for k in values if NULL in values[k]
                   and any(j.startswith(f"{k}.") for j in values)]
        in_toggled = {j for j in values for k in toggled if j.startswith(f"{k}.")}

        def label(run: Path, everything: bool) -> str:
            pairs = ", ".join(f"{k}={v}" for k, v in flats[run].items()
                              if k in varied or (k in in_toggled and v != NULL)
                              or (everything and k in partial))
            return f"{name} ({pairs})" if pairs else name

        configs = {tuple(sorted(flats[r].items())) for r in same}
        everything = len({label(r, False) for r in same}) != len(configs)
        for run in same:
            labels[run] = label(run, everything)
    return labels


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


def read_run(path: Path, group: str) -> RunResult:
    """What ``path`` says about its run, as a member of group ``group``."""
    summary_file = path / "summary.json"
    summary = read_json(summary_file)
    status, error = status_of(read_record(path), summary)
    config = read_yaml(path / "config.yaml") if (path / "config.yaml").exists() else {}
    curve_steps, curve_returns = RunDir(path).eval_curve()
    result = RunResult(path=path, group=group, seed=config.get("seed"),
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
    """``{group label: runs sorted by seed}`` for every run folder under ``root`` (module
    docstring: the one grouping rule, shared with ``plot``)."""
    paths = find_runs(root)
    labels = config_labels([p for p in paths if (p / "config.yaml").exists()])
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for path in paths:
        where = path.relative_to(root).as_posix() if path != root else root.resolve().name
        run = read_run(path, labels.get(path, f"{where} (no config.yaml)"))
        groups[run.group].append(run)
    return {g: sorted(runs, key=lambda r: (r.seed is None, r.seed or 0, r.path.name))
            for g, runs in sorted(groups.items())}
