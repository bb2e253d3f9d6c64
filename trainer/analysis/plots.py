"""Curves of any logged metric of one or several run folders, grouped by a config key.

A metric is ``return`` (the deterministic evaluation return, ``eval.csv``'s ``mean_return``),
``eval/<column>`` (any ``eval.csv`` column) or any ``metrics.csv`` column (``fau/critic``,
``rr``, ``loss/critic``, ``episode_return``, ...). Runs are grouped by their resolved config
without the seed and the run folder (so runs that differ only by seed form a group; a group is
labelled by its ``name`` and every config key that differs between runs of that name, e.g.
``ncap_swim_ppo (agent.actor_lr=0.001)``: ``trainer.analysis.runs``, the one rule ``report``
uses too), or by one config key (``group_by``, any dotted key, e.g.
``agent.rr_schedule.type``), and each group is drawn as the mean over its runs with the 95%
percentile-bootstrap interval of that mean at each x (``trainer.analysis.stats.curves_band``,
over the runs that logged that x: resample the runs with replacement 2000 times, take the 2.5%
and 97.5% quantiles of the resampled means), the same interval ``python train.py report`` draws
and tabulates, against agent steps or simulator frames; one panel per metric, stacked. A
step-like metric (``rr``: a mean of 0.5 and 2 is an RR no run had) is drawn as one thin step
line per run instead (each logged value held over the logging window it ends). The final-value
table (``plot_panels``' rows) gives each group's mean of its runs' last values with the same
bootstrap interval.
Adaptive-RR runs get a dashed vertical line at their switch (``rr_checks.csv``), in their
group's colour.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from configs import figure_layout
from configs.loader import ConfigError, read_yaml
from trainer.analysis import stats
from trainer.analysis.runs import config_labels, find_runs
from trainer.files import replacing
from trainer.rundir import RunDir

log = logging.getLogger(__name__)

RETURN = "return"
PER_RUN = ("rr",)  # metrics drawn one line per run, not as a mean with a band
Curve = stats.Curve
BAND = f"{stats.DEFAULT_LEVEL:.0%} bootstrap CI"  # what the band and the table's interval are


GROUP_BY_CONFIG = "config"  # group_by value: the whole config but runs.NOT_GROUPED


def logged_runs(paths: list[Path]) -> list[Path]:
    """The run folders (``trainer.analysis.runs.find_runs``) at or below ``paths`` that have
    logged an evaluation (``eval.csv``); a path with none is skipped with a warning (a sweep's
    ``ray/`` among ``SWEEP/*/``) unless no path holds any."""
    found = {p: [run for run in find_runs(p) if (run / "eval.csv").exists()] for p in paths}
    empty = [p for p, runs in found.items() if not runs]
    if len(empty) == len(paths):
        raise ConfigError(f"{empty[0]}: no eval.csv in it or in its sub-folders (not a run "
                          "folder)")
    for p in empty:
        log.warning("plot: skipped %s (no run folder in it)", p)
    return list(dict.fromkeys(run for runs in found.values() for run in runs))


def run_labels(runs: list[Path], group_by: str) -> dict[Path, str]:
    """Each run's group: by config (``GROUP_BY_CONFIG``: ``trainer.analysis.runs``'
    ``config_labels``, the grouping and labels ``report`` uses) or by one dotted config key."""
    if group_by == GROUP_BY_CONFIG:
        return config_labels(runs)
    return {run: config_value(run, group_by) for run in runs}


def config_value(run: Path, key: str) -> str:
    """The value of dotted config ``key`` in ``run/config.yaml``, as text."""
    node = read_yaml(run / "config.yaml")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{run}/config.yaml has no key '{key}' to group by")
        node = node[part]
    return str(node)


def config_value_or_none(run: Path, key: str) -> str | None:
    """``config_value``, or None when the run's config has no such key."""
    try:
        return config_value(run, key)
    except ConfigError:
        return None


def read_metric(run: Path, metric: str, x: str = "step") -> Curve:
    """``x`` (``step`` or ``frames``) -> value of ``metric`` (module docstring) in ``run``."""
    rd = RunDir(run)
    if metric == RETURN:
        xs, values = rd.eval_curve(x)
        return {int(k): float(v) for k, v in zip(xs, values)}
    table, column = ((rd.eval_csv, metric[len("eval/"):]) if metric.startswith("eval/")
                     else (rd.metrics_csv, metric))
    rows = rd.read_table(table)
    if rows and column not in rows[0]:
        raise ConfigError(f"{table} has no column '{column}' (metric '{metric}'; columns: "
                          f"{', '.join(k for k in rows[0] if k not in ('step', 'frames'))})")
    return {int(float(r[x])): float(r[column]) for r in rows if r.get(column)}


def group_curves(runs: list[Path], group_by: str, x: str,
                 metric: str = RETURN) -> dict[str, list[Curve]]:
    groups: dict[str, list[Curve]] = defaultdict(list)
    for run, label in run_labels(runs, group_by).items():
        groups[label].append(read_metric(run, metric, x))
    return dict(groups)


def group_switches(runs: list[Path], group_by: str, x: str) -> dict[str, list[int | None]]:
    """Per group, each adaptive-RR run's switch (``x`` units; None: no switch yet); groups
    without adaptive runs are left out."""
    out: dict[str, list[int | None]] = defaultdict(list)
    for run, label in run_labels(runs, group_by).items():
        if config_value_or_none(run, "agent.rr_schedule.type") == "adaptive":
            switch = RunDir(run).rr_switch()
            out[label].append(None if switch is None else switch[x])
    return dict(out)


def final_values_ci(curves: list[Curve]) -> tuple[float, float, float]:
    """``(mean, low, high)`` over the runs of each run's last value, with the percentile
    bootstrap interval of the mean (``stats.bootstrap_ci``)."""
    lasts = stats.finite([c[max(c)] for c in curves])
    if lasts.size == 0:
        return float("nan"), float("nan"), float("nan")
    return (float(lasts.mean()), *stats.bootstrap_ci(lasts, stats.mean))


def plot_panels(panels: dict[str, dict[str, list[Curve]]], out: Path, x: str, title: str = "",
                switches: dict[str, list[int | None]] | None = None
                ) -> list[tuple[str, str, int, float, float, float]]:
    """Write one figure with a panel per metric; returns ``(metric, group, runs, mean, CI low,
    CI high)`` of each run's last value, per metric and group (module docstring: the interval).
    One colour per group in every panel, its key entry ``name (n=runs)`` once below the panels;
    the layout (key, title, markers on short series) is ``configs.figure_layout``'s."""
    out = figure_layout.check_figure_path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 1.2 + 3.0 * len(panels)), sharex=True,
                             squeeze=False)
    runs = defaultdict(int)  # each group's run count (a panel's band: the runs that logged it)
    for groups in panels.values():
        for name, curves in groups.items():
            runs[name] = max(runs[name], len(curves))
    colours = dict(zip(runs, figure_layout.colours(len(runs))))
    summary = []
    for ax, (metric, groups) in zip(axes[:, 0], panels.items()):
        for name, curves in groups.items():
            curves = [c for c in curves if c]
            if not curves:
                continue
            if metric in PER_RUN:
                for i, c in enumerate(curves):
                    keys = sorted(c)
                    # a step function: each logged value holds over the window it ends
                    ax.plot(keys, [c[k] for k in keys], color=colours[name], lw=1, alpha=0.8,
                            drawstyle="steps-pre", **figure_layout.markers(len(keys)),
                            label=f"{name} (n={runs[name]})" if i == 0 else None)
            else:
                band = stats.curves_band(curves)
                ax.plot(band["x"], band["mean"], color=colours[name],
                        **figure_layout.markers(len(band["x"])), label=f"{name} (n={runs[name]})")
                ax.fill_between(band["x"], band["low"], band["high"], color=colours[name],
                                alpha=0.2)
            summary.append((metric, name, len(curves), *final_values_ci(curves)))
        for name, points in (switches or {}).items():
            for i, point in enumerate(p for p in points if p is not None):
                ax.axvline(point, color=colours.get(name, "k"), ls="--", lw=0.8, alpha=0.7,
                           label=f"{name}: RR switch" if i == 0 and ax is axes[0, 0] else None)
        ax.set_ylabel("evaluation return" if metric == RETURN else metric)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("agent steps" if x == "step" else "simulator frames")
    figure_layout.finish(fig, *figure_layout.handles_and_labels(axes[:, 0]),
                         title=title or f"mean over runs, {BAND}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return summary


def plot_curves(groups: dict[str, list[Curve]], out: Path, x: str,
                title: str = "") -> list[tuple[str, int, float, float, float]]:
    """Evaluation-return curves only (one panel); ``(group, runs, mean, CI low, CI high)``
    rows."""
    rows = plot_panels({RETURN: groups}, out, x,
                       title or f"mean evaluation return over runs, {BAND}")
    return [row[1:] for row in rows]


def plot_runs(paths: Sequence[str | os.PathLike], metrics: list[str], out: str | os.PathLike,
              x: str = "step", group_by: str = GROUP_BY_CONFIG, title: str = ""):
    """Everything ``python train.py plot`` draws: ``(summary rows, switches per group)``.
    ``paths`` and ``out`` may be strings or paths."""
    paths, out = [Path(p) for p in paths], Path(out)
    runs = logged_runs(paths)
    panels = {m: group_curves(runs, group_by, x, m) for m in metrics}
    switches = group_switches(runs, group_by, x)
    return plot_panels(panels, out, x, title, switches), switches
