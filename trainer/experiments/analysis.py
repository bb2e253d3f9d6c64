"""The paired analysis of an experiment: every arm against the control, per seed set and metric.

**Scores** (``run_scores``): a run counts once its ``summary.json`` says ``complete``; its score on
each outcome metric follows the rule the spec fixed (``trainer.experiments.spec``: ``final: k``
the mean of the last ``k`` evaluation returns; ``auc`` the trapezoid area under the evaluation
curve over the steps it spans, ``trainer.analysis.runs.curve_area``; ``{metric, at}`` the last
value logged at a step ``<= at``; ``{table, column, where}`` a cell of a table a post-hoc command
wrote into the run folder). A run that is not complete, or a non-finite score, is left
out of the pairs and listed.

**Seed sets** (``seed_sets``): the spec's seeds; with ``--seeds`` a replication set, reported on
its own, and the two pooled. A set the spec did not declare in advance (``replication:``) is
labelled *post hoc*: pooling after seeing the first set is a choice made with the data.

**Per arm vs control and set** (``trainer.analysis.stats.paired_comparison``): the differences
``arm(seed k) - control(seed k)`` over the seeds both completed, their median with the
percentile-bootstrap 95% interval (seeds resampled as pairs), the ties (exact zeros), the wins,
the IQM of each arm on those seeds and the reading: *separates* when the interval excludes zero
with at least ``MIN_PAIRS`` = 5 pairs, *does not separate at n = N*, or *too few pairs*. Beside
it, each arm's IQM over all its complete seeds of the set.

Written to the experiment folder: ``compare.json`` (all of it), ``compare.md`` (the tables),
``compare.png`` (the forest plot: one row per arm and set, one panel per metric,
``trainer.analysis.forest``) and ``compare_curves.png`` (each arm's mean evaluation-return curve,
and each logged outcome metric's, with the bootstrap band: ``trainer.analysis.plots``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from configs.safe_files import write_atomic
from trainer.analysis import forest, stats
from trainer.analysis.plots import RETURN, plot_panels, read_metric
from trainer.analysis.runs import curve_area, final_score
from trainer.experiments.spec import Experiment, Metric
from trainer.files import read_json
from trainer.rundir import RunDir

JSON, MARKDOWN, FOREST, CURVES = "compare.json", "compare.md", "compare.png", "compare_curves.png"


@dataclass(frozen=True)
class SeedSet:
    label: str          # e.g. "declared, seeds 0-9", "replication, seeds 10-19"
    kind: str           # declared | replication | pooled
    seeds: list[int]


def seed_text(seeds: list[int]) -> str:
    """``0-9`` for a run of consecutive seeds, else ``0, 3, 7``."""
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


def seed_sets(exp: Experiment, extra: list[int] | None) -> list[SeedSet]:
    """The spec's seeds, then with ``extra`` the replication set and the pool of both
    (module docstring: *declared* when ``extra`` is the spec's ``replication:``)."""
    sets = [SeedSet(f"declared, seeds {seed_text(exp.seeds)}", "declared", exp.seeds)]
    if extra:
        declared = exp.replication is not None and sorted(extra) == sorted(exp.replication)
        pooled = sorted({*exp.seeds, *extra})
        sets += [SeedSet(f"replication{' (declared)' if declared else ''}, seeds "
                         f"{seed_text(extra)}", "replication", list(extra)),
                 SeedSet(f"pooled, {'declared in the spec' if declared else 'post hoc'}, "
                         f"seeds {seed_text(pooled)}", "pooled", pooled)]
    return sets


def value_at(curve: dict[int, float], step: int) -> float:
    """The last value of ``curve`` logged at a step ``<= step`` (NaN when none is)."""
    steps = [s for s in curve if s <= step]
    return curve[max(steps)] if steps else float("nan")


def same_value(cell: str, wanted: str | int | float) -> bool:
    """A CSV cell equals a ``where`` value: as floats when both read as numbers, else as text."""
    try:
        return float(cell) == float(wanted)
    except (TypeError, ValueError):
        return cell == str(wanted)


def table_score(run: Path, metric: Metric) -> float:
    """Column ``metric.column`` of the one row of ``<run>/<metric.table>`` that matches every
    ``where`` value; NaN when the table is missing or no row, or more than one, matches."""
    file = run / metric.table
    if not file.is_file():
        return float("nan")
    with open(file, newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if all(same_value(r.get(k, ""), v) for k, v in (metric.where or {}).items())]
    if len(rows) != 1:
        return float("nan")
    try:
        return float(rows[0][metric.column])
    except (KeyError, TypeError, ValueError):
        return float("nan")


def metric_score(run: Path, metric: Metric) -> float:
    """``run``'s score on ``metric`` (module docstring: the rules)."""
    if metric.kind == "at":
        return value_at(read_metric(run, metric.metric), metric.at)
    if metric.kind == "table":
        return table_score(run, metric)
    steps, returns = RunDir(run).eval_curve()
    if metric.kind == "final":
        return final_score(steps, returns, last=metric.k)
    return curve_area(steps, returns)


def run_scores(run: Path, metrics: list[Metric]) -> dict[str, float] | None:
    """``{metric: score}`` of a complete run, None for one that is not (yet) complete."""
    summary = read_json(RunDir(run).summary_file)
    if summary is None or summary.get("status") != "complete":
        return None
    return {m.name: metric_score(run, m) for m in metrics}


def reading(result: dict) -> str:
    """The plain reading of a paired result (``stats.MIN_PAIRS``)."""
    if result["n"] < stats.MIN_PAIRS:
        return f"too few pairs to separate (n = {result['n']} < {stats.MIN_PAIRS})"
    return "separates" if result["separates"] else f"does not separate at n = {result['n']}"


def fmt(x: float | None) -> str:
    """A score or difference for a table: 1 decimal from 100 on, 2 from 1, else 3."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def signed(x: float) -> str:
    return ("+" if x >= 0 else "") + fmt(x)


def analyse(exp: Experiment, sets: list[SeedSet]) -> dict[str, Any]:
    """Scores, paired comparisons and IQMs of every set (module docstring), as plain data."""
    seeds = sorted({s for st in sets for s in st.seeds})
    scores: dict[str, dict[int, dict[str, float]]] = {arm: {} for arm in exp.arms}
    left_out = []
    for arm in exp.arms:
        for seed in seeds:
            got = run_scores(exp.arm_dir(arm, seed), exp.metrics)
            if got is None:
                left_out.append(f"{arm}/seed{seed} (not complete)")
                continue
            bad = [m for m, v in got.items() if not math.isfinite(v)]
            if bad:
                left_out.append(f"{arm}/seed{seed} (no finite {', '.join(bad)})")
            scores[arm][seed] = got
    out_sets = []
    for st in sets:
        def by_seed(arm: str, metric: str) -> dict[int, float]:
            return {k: scores[arm][k][metric] for k in st.seeds if k in scores[arm]}

        iqm = {arm: {m.name: stats.summarize(list(by_seed(arm, m.name).values()))
                     for m in exp.metrics} for arm in exp.arms}
        comparisons: dict[str, dict[str, Any]] = {}
        for arm in exp.arms:
            if arm == exp.control:
                continue
            comparisons[arm] = {}
            for m in exp.metrics:
                try:
                    r = stats.paired_comparison(by_seed(exp.control, m.name), by_seed(arm, m.name))
                except ValueError:
                    r = {"n": 0, "seeds": [], "differences": [], "separates": False}
                comparisons[arm][m.name] = {**r, "reading": "no paired seeds" if r["n"] == 0
                                            else reading(r)}
        out_sets.append({"label": st.label, "kind": st.kind, "seeds": st.seeds, "iqm": iqm,
                         "comparisons": comparisons})
    return {"experiment": exp.name, "spec": str(exp.path), "description": exp.description,
            "control": exp.control, "arms": {a: o for a, o in exp.overrides.items()},
            "presets": {a: p.name for a, p in exp.presets.items() if p != exp.base},
            "metrics": [{"name": m.name, "rule": m.rule()} for m in exp.metrics],
            "scores": {arm: {str(k): v for k, v in s.items()} for arm, s in scores.items()},
            "sets": out_sets, "left_out": left_out}


def arm_text(result: dict[str, Any], arm: str) -> str:
    """``the base``, ``a=1 b=2``, ``mlp_swim_ppo.yaml`` or ``mlp_swim_ppo.yaml + a=1``."""
    preset = result.get("presets", {}).get(arm)
    overrides = " ".join(result["arms"][arm])
    if preset:
        return f"{preset} + {overrides}" if overrides else preset
    return overrides or "the base"


def markdown(result: dict[str, Any]) -> str:
    control = result["control"]
    lines = [f"# Experiment {result['experiment']}", ""]
    if result["description"]:
        lines += [result["description"].strip(), ""]
    lines += [f"Spec: `{result['spec']}`; control: `{control}`; arms: "
              + ", ".join(f"`{a}` ({arm_text(result, a)})" for a in result["arms"]),
              "", "Outcome metrics (fixed in the spec):", ""]
    lines += [f"- **{m['name']}**: {m['rule']}" for m in result["metrics"]]
    for st in result["sets"]:
        lines += ["", f"## {st['label']}"]
        if not st["comparisons"]:
            lines += ["", "One arm: no paired comparison."]
        else:
            lines += ["", f"Paired by seed: arm - {control} (median difference with its "
                      "percentile-bootstrap 95% interval; ties = exact zeros).", "",
                      f"| arm | metric | n | IQM {control} [95% CI] | IQM arm [95% CI] | "
                      f"median difference [95% CI] | ties | arm > {control} | reading |",
                      "|---|---|---|---|---|---|---|---|---|"]
        for arm, by_metric in st["comparisons"].items():
            for metric, r in by_metric.items():
                if r["n"] == 0:
                    lines.append(f"| {arm} | {metric} | 0 | | | | | | {r['reading']} |")
                    continue
                ci = lambda s: f"{fmt(s['iqm'])} [{fmt(s['iqm_ci'][0])}, {fmt(s['iqm_ci'][1])}]"  # noqa: E731
                lo, hi = r["median_ci"]
                lines.append(f"| {arm} | {metric} | {r['n']} | {ci(r['a'])} | {ci(r['b'])} | "
                             f"{signed(r['median_difference'])} [{signed(lo)}, {signed(hi)}] | "
                             f"{r['ties']}/{r['n']} | {r['wins']}/{r['n']} | {r['reading']} |")
        lines += ["", "IQM per arm over its complete seeds of this set [95% CI]:", "",
                  "| arm | " + " | ".join(m["name"] for m in result["metrics"]) + " |",
                  "|---|" + "---|" * len(result["metrics"])]
        for arm, by_metric in st["iqm"].items():
            cells = [f"{fmt(s['iqm'])} [{fmt(s['iqm_ci'][0])}, {fmt(s['iqm_ci'][1])}] (n = "
                     f"{s['n']})" for s in by_metric.values()]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    if result["left_out"]:
        lines += ["", "Left out: " + "; ".join(result["left_out"])]
    lines += ["", f"Figures: `{FOREST}` (paired differences), `{CURVES}` (learning curves)."]
    return "\n".join(lines) + "\n"


def json_safe(value: Any) -> Any:
    """NaN and infinities as null (JSON has none)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def draw_forest(exp: Experiment, result: dict[str, Any], out: Path) -> bool:
    """``compare.png``: one row per arm and seed set with pairs on every metric; False when
    no row has any."""
    cells, names = [], []
    for st in result["sets"]:
        for arm, by_metric in st["comparisons"].items():
            if all(r["n"] > 0 for r in by_metric.values()):
                cells.append({"labels": [exp.control, arm], "results": by_metric})
                names.append(arm if len(result["sets"]) == 1 else f"{arm} ({st['label']})")
    if not cells:
        return False
    forest.plot(cells, names, out, title=f"{exp.name}: paired differences, arm - {exp.control}")
    return True


def draw_curves(exp: Experiment, seeds: list[int], out: Path) -> bool:
    """``compare_curves.png``: per arm, the complete runs' evaluation return (and each logged
    outcome metric) against agent steps, mean with the bootstrap band."""
    names = [RETURN, *dict.fromkeys(m.metric for m in exp.metrics
                                    if m.kind == "at" and m.metric != RETURN)]
    panels: dict[str, dict[str, list]] = {name: {} for name in names}
    for arm in exp.arms:
        runs = [exp.arm_dir(arm, k) for k in seeds
                if run_scores(exp.arm_dir(arm, k), []) is not None]
        for name in names:
            panels[name][arm] = [read_metric(run, name) for run in runs]
    if not any(curves for groups in panels.values() for curves in groups.values()):
        return False
    plot_panels(panels, out, "step", title=f"{exp.name}: mean over seeds, {stats.DEFAULT_LEVEL:.0%}"
                " bootstrap CI")
    return True


def write_analysis(exp: Experiment, sets: list[SeedSet]) -> dict[str, Any]:
    """Write ``compare.json``, ``compare.md``, ``compare.png``, ``compare_curves.png``; the
    result."""
    result = json_safe(analyse(exp, sets))
    exp.run_dir.mkdir(parents=True, exist_ok=True)
    result["figures"] = [name for name, drawn in (
        (FOREST, draw_forest(exp, result, exp.run_dir / FOREST)),
        (CURVES, draw_curves(exp, sorted({s for st in sets for s in st.seeds}),
                             exp.run_dir / CURVES))) if drawn]
    write_atomic(exp.run_dir / JSON, json.dumps(result, indent=2) + "\n")
    write_atomic(exp.run_dir / MARKDOWN, markdown(result))
    return result
