"""Pool paired comparisons of the same two arms run on disjoint seeds (issue 22), e.g. a first
batch and its replication on fresh seeds, into one comparison of the per-seed differences.

Each input is a JSON written by ``bench/paired.py --out``; all must compare the same two labels
on seeds no other input has, for every outcome metric. For each metric the pooled differences
``b - a`` (as ``paired.py`` recorded them, not recomputed) get their median with a
percentile-bootstrap 95% interval (``trainer.analysis.stats.difference_summary``, seeds
resampled), the count of exact ties beside it, the count of seeds where B wins and the plain
reading (``paired.reading``). The per-arm IQM is not pooled: ``paired.py`` keeps only each arm's
summary. A non-finite difference in an input is refused (one line naming the file, exit 2).

    python bench/paired_pool.py bench/results/rr_cartpole_fastsigma_rr2_vs_rr0.5.json \\
        bench/results/rr_cartpole_fastsigma_rep_rr2_vs_rr0.5.json \\
        --out bench/results/rr_cartpole_fastsigma_pooled_rr2_vs_rr0.5
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.analysis.stats import difference_summary  # noqa: E402
from bench.outputs import beside  # noqa: E402
from bench.paired import difference_cell, reading  # noqa: E402
from bench.paired_plot import load_cells  # noqa: E402


def pool(results: list[dict], names: list[str] | None = None) -> dict:
    """``{metric: pooled}`` of ``paired.py`` results; ValueError (naming the input, ``names[i]``)
    on mixed labels or metrics, a seed in two inputs for any metric, or a non-finite difference."""
    names = names or [f"input {i + 1}" for i in range(len(results))]
    labels = results[0]["labels"]
    metrics = list(results[0]["results"])
    seen: dict[str, set[int]] = {m: set() for m in metrics}
    for name, r in zip(names, results):
        if r["labels"] != labels:
            raise ValueError(f"{name}: mixed comparisons: {r['labels']} vs {labels}")
        if list(r["results"]) != metrics:
            raise ValueError(f"{name}: mixed metrics: {list(r['results'])} vs {metrics}")
        for m in metrics:
            seeds = set(r["results"][m]["seeds"])
            if seeds & seen[m]:
                raise ValueError(f"{name}: {m} seeds {sorted(seeds & seen[m])} are in two "
                                 "inputs; pooling needs disjoint seeds")
            seen[m] |= seeds
            bad = [s for s, d in zip(r["results"][m]["seeds"], r["results"][m]["differences"])
                   if not math.isfinite(d)]
            if bad:
                raise ValueError(f"{name}: {m} differences are not finite at seeds {bad}")
    pooled = {m: difference_summary([s for r in results for s in r["results"][m]["seeds"]],
                                    [x for r in results for x in r["results"][m]["differences"]])
              for m in metrics}
    return {"labels": labels, "results": pooled}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+", help="bench/paired.py JSON files")
    ap.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    args = ap.parse_args(argv)
    try:
        inputs = load_cells(args.results)
        out = pool(inputs, [str(p) for p in args.results])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    a_name, b_name = out["labels"]
    lines = [f"{b_name} - {a_name}, pooled over {len(inputs)} comparisons on disjoint seeds", "",
             f"| metric | n | median difference [95% CI] | ties ({b_name} = {a_name}) | "
             f"{b_name} > {a_name} | reading |", "|---|---|---|---|---|---|"]
    for m, r in out["results"].items():
        lines.append(f"| {m} | {r['n']} | {difference_cell(r)} | {r['wins']}/{r['n']} | "
                     f"{reading(r)} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        beside(args.out, ".json").write_text(json.dumps(
            {"inputs": [str(p) for p in args.results], **out}, indent=2) + "\n")
        beside(args.out, ".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
