"""Paired multi-seed comparison of two arms (issue 22): B - A on the same seeds.

Each arm is a folder of run folders (found at any depth, e.g. ``bench/runs/aux_states/fd8/none``
holding ``seed0 ... seed9``); runs are paired by their config's ``seed``. The outcome metrics are
fixed before any run: **final** = the mean of the last three evaluations, and **auc** = the area
under the evaluation curve divided by the steps it spans (``trainer/analysis/runs.py``). For each,
the per-seed differences, their median with a percentile-bootstrap 95% interval (seeds resampled
as pairs) and, beside it, the count of exact ties (B = A: with many, ``+0.0 [+0.0, +0.0]`` says
"most seeds tie", not "measured precisely"), the IQM of each arm, and a plain reading: "separates"
when the interval excludes zero, otherwise "does not separate at n = ...", and "too few pairs to
separate" below 5 pairs (``trainer.analysis.stats``: ``MIN_PAIRS``).

Runs that are not complete (failed, diverged, unfinished) are left out and listed. A seed present
in only one arm is left out of the pairs and listed.

    python bench/paired.py bench/runs/aux_states/fd8/none bench/runs/aux_states/fd8/A \\
        --labels none A --out bench/results/aux_fd8_paired10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.analysis.runs import collect, curve_area, final_score  # noqa: E402
from trainer.analysis.stats import MIN_PAIRS, paired_comparison  # noqa: E402
from bench.outputs import beside  # noqa: E402

METRICS = {"final": final_score, "auc": curve_area}


def arm_scores(root: Path) -> tuple[dict[str, dict[int, float]], list[str]]:
    """``{metric: {seed: score}}`` over the complete runs under ``root``; the skipped runs."""
    scores: dict[str, dict[int, float]] = {m: {} for m in METRICS}
    skipped = []
    for runs in collect(root).values():
        for run in runs:
            if run.status != "complete" or run.seed is None:
                skipped.append(f"{run.path} ({run.status})")
                continue
            if run.seed in scores["final"]:
                raise SystemExit(f"error: {root}: two runs with seed {run.seed}; give one arm "
                                 "per folder")
            for name, fn in METRICS.items():
                scores[name][run.seed] = fn(run.curve_steps, run.curve_returns)
    return scores, skipped


def reading(result: dict) -> str:
    """The plain reading of a paired result (``trainer.analysis.stats``: ``MIN_PAIRS``)."""
    if result["n"] < MIN_PAIRS:
        return f"too few pairs to separate (n = {result['n']} < {MIN_PAIRS})"
    return "separates" if result["separates"] else f"does not separate at n = {result['n']}"


def difference_cell(result: dict) -> str:
    """``median [low, high] | ties/n``: the median difference, its interval and, beside them,
    the count of exact ties (two table cells)."""
    low, high = result["median_ci"]
    return (f"{result['median_difference']:+.1f} [{low:+.1f}, {high:+.1f}] | "
            f"{result['ties']}/{result['n']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path, help="folder of arm A's run folders (the baseline)")
    ap.add_argument("b", type=Path, help="folder of arm B's run folders")
    ap.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"))
    ap.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    args = ap.parse_args(argv)
    for root in (args.a, args.b):
        if not root.is_dir():
            print(f"error: {root} is not a folder", file=sys.stderr)
            return 2
    labels = args.labels or [args.a.name, args.b.name]
    (a, skipped_a), (b, skipped_b) = arm_scores(args.a), arm_scores(args.b)
    unpaired = sorted(set(a["final"]) ^ set(b["final"]))
    try:
        results = {m: paired_comparison(a[m], b[m]) for m in METRICS}
    except ValueError as err:
        print(f"error: {labels[0]} vs {labels[1]}: {err}", file=sys.stderr)
        return 2
    a_name, b_name = labels
    lines = [f"{b_name} - {a_name} (paired by seed)", "",
             f"| metric | n | IQM {a_name} [95% CI] | IQM {b_name} [95% CI] | "
             f"median difference [95% CI] | ties ({b_name} = {a_name}) | {b_name} > {a_name} | "
             "reading |", "|---|---|---|---|---|---|---|---|"]
    for m, r in results.items():
        ci = lambda s: f"{s['iqm']:.1f} [{s['iqm_ci'][0]:.1f}, {s['iqm_ci'][1]:.1f}]"  # noqa: E731
        lines.append(f"| {m} | {r['n']} | {ci(r['a'])} | {ci(r['b'])} | {difference_cell(r)} | "
                     f"{r['wins']}/{r['n']} | {reading(r)} |")
    notes = [f"left out (not complete): {s}" for s in skipped_a + skipped_b]
    notes += [f"seeds in one arm only: {unpaired}"] if unpaired else []
    text = "\n".join(lines + ([""] + notes if notes else []))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        beside(args.out, ".json").write_text(json.dumps(
            {"a": str(args.a), "b": str(args.b), "labels": labels, "results": results,
             "skipped": skipped_a + skipped_b, "unpaired_seeds": unpaired}, indent=2) + "\n")
        beside(args.out, ".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
