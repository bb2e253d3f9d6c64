"""Learning curves of run folders: grouping by a config key, mean and 95% CI over seeds, plot.

Runs are grouped by a config key (``name``, or any dotted key, e.g. ``agent.actor.signed``), and
each group is drawn as the mean evaluation return over its runs (seeds) with a 95% confidence
band for the mean,

    mean +- t_{0.975, n-1} * s / sqrt(n)        (Student t, n runs with that step, s = sample std)

A folder without eval.csv stands for its sub-folders that have one (``runs/<name>`` ->
``runs/<name>/seed*``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from configs.loader import ConfigError, read_yaml
from trainer.rundir import RunDir

# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30; 1.96 beyond.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    return _T975[df - 1] if df <= len(_T975) else 1.96


def expand_runs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths`` (a folder without eval.csv stands for its sub-folders)."""
    runs: list[Path] = []
    for p in paths:
        if (p / "eval.csv").exists():
            runs.append(p)
            continue
        found = sorted(q.parent for q in p.glob("*/eval.csv"))
        if not found:
            raise ConfigError(f"{p}: no eval.csv in it or in its sub-folders (not a run folder)")
        runs.extend(found)
    return runs


def config_value(run: Path, key: str) -> str:
    """The value of dotted config ``key`` in ``run/config.yaml``, as text."""
    node = read_yaml(run / "config.yaml")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{run}/config.yaml has no key '{key}' to group by")
        node = node[part]
    return str(node)


def read_eval(run: Path, x: str) -> dict[int, float]:
    """``x`` (step or frames) -> mean evaluation return, from ``run/eval.csv``."""
    xs, returns = RunDir(run).eval_curve(x)
    return {int(k): float(v) for k, v in zip(xs, returns)}


def group_curves(runs: list[Path], group_by: str, x: str) -> dict[str, list[dict[int, float]]]:
    groups: dict[str, list[dict[int, float]]] = defaultdict(list)
    for run in runs:
        groups[config_value(run, group_by)].append(read_eval(run, x))
    return dict(groups)


def mean_ci(values) -> tuple[float, float]:
    """``(mean, half-width of its 95% CI)``; the half-width is 0 for a single value."""
    v = np.asarray(values, dtype=float)
    half = t975(len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return float(v.mean()), float(half)


def curve_mean_ci(curves: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, mean, CI half-width)`` at every x any run evaluated at (over the runs that did)."""
    xs = np.array(sorted(set().union(*curves)))
    stats = np.array([mean_ci([c[x] for c in curves if x in c]) for x in xs])
    return xs, stats[:, 0], stats[:, 1]


def plot_curves(groups: dict[str, list[dict[int, float]]], out: Path, x: str,
                title: str = "") -> list[tuple[str, int, float, float]]:
    """Write the PNG; returns ``(group, runs, mean, CI half-width)`` of each run's last
    evaluation, per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    summary = []
    for name, curves in groups.items():
        xs, mean, half = curve_mean_ci(curves)
        line, = ax.plot(xs, mean, label=f"{name} (n={len(curves)})")
        ax.fill_between(xs, mean - half, mean + half, color=line.get_color(), alpha=0.2)
        summary.append((name, len(curves), *mean_ci([c[max(c)] for c in curves])))
    ax.set_xlabel("agent steps" if x == "step" else "simulator frames")
    ax.set_ylabel("evaluation return")
    ax.set_title(title or "mean evaluation return, 95% CI over runs", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return summary
