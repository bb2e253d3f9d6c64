"""Aggregate report of a folder of runs: ``report.md``, ``report.json`` and PNG plots.

Per config (runs that differ only by seed, labelled by name and every key that differs: the
grouping ``python train.py plot`` uses, ``trainer.analysis.runs``): the final and the best
evaluation return over its complete runs as mean, median and IQM with a 95%
percentile-bootstrap interval (``trainer.analysis.stats``), the count of failed runs (exception, NaN loss, non-finite return)
with their errors, learning curves (mean evaluation return over seeds against agent steps, with
a 95% bootstrap band, drawn by ``trainer.analysis.plots``) and, where run folders hold
``transfer.csv``, the zero-shot transfer returns averaged over seeds for every body and policy
(with the bootstrap interval of that mean).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from configs import figure_layout
from trainer.analysis import stats
from trainer.analysis.plots import plot_curves
from trainer.analysis.runs import FAILED, RunResult, collect
from trainer.sweep.spec import SPEC_FILE, grid_points
from configs.loader import ConfigError, read_yaml
from trainer.files import replacing, write_atomic

# transfer.csv columns that are not body parameters (``trainer.posthoc.transfer.TransferRow``)
NOT_BODY = {"policy", "env", "mean_return", "std_return", "min_return", "max_return", "episodes",
            "seed", "returns"}
CURVES_PNG = "learning_curves.png"
TRANSFER_PNG = "transfer.png"


# --- numbers ---------------------------------------------------------------------------------
def learning_curve(runs: list[RunResult]) -> dict[str, list]:
    """Mean evaluation return over seeds at every evaluated step, with its bootstrap band
    (``stats.curves_band``, as ``python train.py plot`` draws it)."""
    band = stats.curves_band([r.curve() for r in runs])
    return {"step": [int(x) for x in band.pop("x")],
            **{k: np.asarray(v).tolist() for k, v in band.items()}}


def transfer_table(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Transfer rows averaged over seeds: one per ``(policy, body)``: the mean over seeds with
    its percentile-bootstrap interval (``mean_ci``, ``stats.bootstrap_ci``), and the std."""
    returns: dict[tuple, list[float]] = defaultdict(list)
    for r in runs:
        for row in r.transfer:
            body = tuple((k, float(v)) for k, v in row.items()
                         if k not in NOT_BODY and v not in (None, ""))
            returns[(row["policy"], body)].append(float(row["mean_return"]))
    table = []
    for (policy, body), values in returns.items():
        a = np.array(values)
        table.append({"policy": policy, **{k: v for k, v in body},
                      "mean_return": float(a.mean()),
                      "mean_ci": list(stats.bootstrap_ci(a, stats.mean)),
                      "std_over_seeds": float(a.std()), "seeds": int(a.size)})
    return sorted(table, key=lambda row: (row["policy"], [row[k] for k in body_keys([row])]))


def body_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The body columns of averaged transfer rows, in first-seen order."""
    return list(dict.fromkeys(k for r in rows for k in r
                              if k not in NOT_BODY | {"mean_ci", "std_over_seeds", "seeds"}))


def summarize_group(runs: list[RunResult]) -> dict[str, Any]:
    complete = [r for r in runs if r.status == "complete"]
    return {
        "runs": [{"path": str(r.path), "seed": r.seed, "status": r.status, "error": r.error,
                  "env_steps": r.env_steps, "final_eval_return": r.final_return,
                  "best_eval_return": r.best_return,
                  **({"rr_switch_frame": r.rr_switch_frame} if r.adaptive_rr else {})}
                 for r in runs],
        "complete": len(complete),
        "failed": sum(r.status in FAILED for r in runs),
        "unfinished": sum(r.status in ("interrupted", "unfinished") for r in runs),
        "final_eval_return": stats.summarize([r.final_return for r in complete]),
        "best_eval_return": stats.summarize([r.best_return for r in complete]),
        "learning_curve": learning_curve(runs),
        "transfer": transfer_table(complete),
    }


def json_safe(value: Any) -> Any:
    """NaN and infinities become null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


# --- markdown --------------------------------------------------------------------------------
def fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def stats_table(groups: dict[str, dict], metric: str) -> list[str]:
    lines = ["| config | complete / runs | failed | mean | median | IQM [95% CI] |",
             "|---|---|---|---|---|---|"]
    for name, g in groups.items():
        s = g[metric]
        ci = f"{fmt(s['iqm'])} [{fmt(s['iqm_ci'][0])}, {fmt(s['iqm_ci'][1])}]"
        lines.append(f"| `{name}` | {g['complete']} / {len(g['runs'])} | {g['failed']} | "
                     f"{fmt(s['mean'])} | {fmt(s['median'])} | {ci} |")
    return lines


def problems_table(groups: dict[str, dict]) -> list[str]:
    rows = [(name, r) for name, g in groups.items() for r in g["runs"]
            if r["status"] != "complete"]
    if not rows:
        return []
    lines = ["", "## Failed and unfinished runs", "", "| run | status | steps | error |",
             "|---|---|---|---|"]
    for name, r in rows:
        error = (r["error"] or "").replace("|", "\\|")
        lines.append(f"| `{r['path']}` ({name}) | {r['status']} | "
                     f"{r['env_steps'] if r['env_steps'] is not None else 'n/a'} | {error} |")
    lines += ["", "Failed: an exception (e.g. `DivergenceError` on a NaN loss) or a crashed "
              "worker; diverged: a non-finite final return. Interrupted or unfinished runs "
              "resume when the sweep command runs again."]
    return lines


def switch_table(groups: dict[str, dict]) -> list[str]:
    """Per adaptive-RR run, the frame of its switch to the high replay ratio."""
    rows = [(name, r) for name, g in groups.items() for r in g["runs"] if "rr_switch_frame" in r]
    if not rows:
        return []
    lines = ["", "## Adaptive replay ratio: switch frame", "", "| config | seed | status | "
             "switch frame |", "|---|---|---|---|"]
    for name, r in rows:
        frame = "no switch" if r["rr_switch_frame"] is None else f"{r['rr_switch_frame']:,}"
        lines.append(f"| `{name}` | {r['seed']} | {r['status']} | {frame} |")
    return lines + ["", "From each run's `rr_checks.csv` (every FAU check, its change and "
                    "decision); the paper's quadruped_run switches: 0.55M-1.2M frames."]


def transfer_section(groups: dict[str, dict]) -> list[str]:
    lines: list[str] = []
    for name, g in groups.items():
        rows = g["transfer"]
        if not rows:
            continue
        policies = list(dict.fromkeys(r["policy"] for r in rows))
        keys = body_keys(rows)
        bodies = list(dict.fromkeys(tuple(r.get(k) for k in keys) for r in rows))
        cell = {(r["policy"], tuple(r.get(k) for k in keys)): r for r in rows}
        lines += ["", f"### `{name}`", "", "| " + " | ".join(keys + policies) + " |",
                  "|" + "---|" * (len(keys) + len(policies))]
        for body in bodies:
            cells = [transfer_cell(cell[p, body]) if (p, body) in cell else "n/a"
                     for p in policies]
            lines.append("| " + " | ".join([f"{v:g}" for v in body] + cells) + " |")
    if lines:
        lines = ["", "## Zero-shot transfer", "",
                 "Mean over the seeds' `transfer.csv` of each row's mean return [95% "
                 "percentile-bootstrap interval of that mean over seeds] (n seeds); complete "
                 "runs only.", f"![transfer]({TRANSFER_PNG})", *lines]
    return lines


def transfer_cell(row: dict[str, Any]) -> str:
    low, high = row["mean_ci"]
    return f"{row['mean_return']:.1f} [{fmt(low)}, {fmt(high)}] (n={row['seeds']})"


def markdown(root: Path, groups: dict[str, dict], spec: dict | None, plots: list[str]) -> str:
    runs = sum(len(g["runs"]) for g in groups.values())
    complete = sum(g["complete"] for g in groups.values())
    failed = sum(g["failed"] for g in groups.values())
    lines = [f"# Report: {root}", "",
             f"{runs} runs in {len(groups)} configs: {complete} complete, {failed} failed, "
             f"{runs - complete - failed} unfinished."]
    if spec:
        grid = ", ".join(f"`{k}` ∈ {v}" for k, v in (spec.get("grid") or {}).items())
        lines.append(f"Sweep: seeds {spec.get('seeds')}" + (f"; grid {grid}." if grid else "."))
    lines += ["", "Over the complete runs' seeds: mean, median and IQM (interquartile mean, the "
              "25% trimmed mean) with its 95% percentile-bootstrap confidence interval "
              f"({stats.DEFAULT_BOOTSTRAP} resamples of the seeds). Returns are deterministic "
              "evaluation returns (`eval.csv`).", "", "## Final evaluation return", "",
              *stats_table(groups, "final_eval_return"), "", "## Best evaluation return", "",
              *stats_table(groups, "best_eval_return")]
    if CURVES_PNG in plots:
        lines += ["", "## Learning curves", "", f"![learning curves]({CURVES_PNG})", "",
                  "Mean evaluation return over seeds against agent steps; band: 95% bootstrap "
                  "interval of the mean (each step over the seeds that reached it)."]
    lines += switch_table(groups) + problems_table(groups) + transfer_section(groups)
    return "\n".join(lines) + "\n"


# --- plots -----------------------------------------------------------------------------------
def plot_transfer(groups: dict[str, dict], path: Path) -> None:
    """Return against the first varied body parameter (``n_joints`` for swimmers) per config
    and policy, one panel per setting of the other parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows_all = [r for g in groups.values() for r in g["transfer"]]
    keys = body_keys(rows_all)
    varied = [k for k in keys if len({r.get(k) for r in rows_all}) > 1] or keys[:1]
    x_key = "n_joints" if "n_joints" in varied else varied[0]
    others = [k for k in keys if k != x_key]
    settings = list(dict.fromkeys(tuple(r.get(k) for k in others) for r in rows_all))
    fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 3.8), squeeze=False)
    lines_of = list(dict.fromkeys((name, r["policy"]) for name, g in groups.items()
                                  for r in g["transfer"]))
    colours = dict(zip(lines_of, figure_layout.colours(len(lines_of))))
    for ax, setting in zip(axes[0], settings):
        for name, g in groups.items():
            lines: dict[str, list[dict]] = defaultdict(list)
            for r in g["transfer"]:
                if tuple(r.get(k) for k in others) == setting:
                    lines[r["policy"]].append(r)
            for policy, rows in lines.items():
                rows.sort(key=lambda r: r[x_key])
                n = [r[x_key] for r in rows]
                mean = np.array([r["mean_return"] for r in rows])
                low, high = np.array([r["mean_ci"] for r in rows], dtype=float).T
                ax.plot(n, mean, "o-", ms=3, label=f"{name}: {policy}",
                        color=colours[name, policy])
                ax.fill_between(n, low, high, color=colours[name, policy], alpha=0.15)
        ax.set_title(", ".join(f"{k} {v:g}" for k, v in zip(others, setting) if v is not None),
                     fontsize=8)
        ax.set_xlabel("joints N" if x_key == "n_joints" else x_key)
        ax.set_ylabel("return (mean over seeds, 95% bootstrap CI)")
        ax.grid(alpha=0.3)
    figure_layout.finish(fig, *figure_layout.handles_and_labels(axes[0]))
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


# --- entry point -----------------------------------------------------------------------------
def write_report(root: str | Path) -> dict[str, Any]:
    """Write ``report.md``, ``report.json`` and the plots into ``root``; returns the JSON data."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"no such folder: {root}")
    results = collect(root)
    if not results:
        raise ConfigError(f"{root} holds no run folders (folders with config.yaml)")
    spec = read_yaml(root / SPEC_FILE) if (root / SPEC_FILE).exists() else None
    order = [label for label, _ in grid_points(spec.get("grid") or {})] if spec else []

    def grid_rank(name: str) -> tuple[int, str]:
        """A sweep's configs in ``--grid`` order (their trials' ``<label>/seed<k>`` folders)."""
        folders = {r.path.parent.relative_to(root).as_posix() for r in results[name]
                   if r.path != root}
        return min([order.index(f) for f in folders if f in order], default=len(order)), name

    names = sorted(results, key=grid_rank)
    groups = {name: summarize_group(results[name]) for name in names}
    plots = []
    if any(g["learning_curve"]["step"] for g in groups.values()):
        plot_curves({name: [r.curve() for r in results[name]] for name in names},
                    root / CURVES_PNG, "step")
        plots.append(CURVES_PNG)
    if any(g["transfer"] for g in groups.values()):
        plot_transfer(groups, root / TRANSFER_PNG)
        plots.append(TRANSFER_PNG)
    data = json_safe({"root": str(root.resolve()), "configs": groups, "plots": plots,
                      "statistics": {"bootstrap_resamples": stats.DEFAULT_BOOTSTRAP,
                                     "confidence": stats.DEFAULT_LEVEL,
                                     "iqm": "25% trimmed mean"}})
    write_atomic(root / "report.json", json.dumps(data, indent=2) + "\n")
    write_atomic(root / "report.md", markdown(root, groups, spec, plots))
    return data
