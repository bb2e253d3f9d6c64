"""Reproduction check of issue 35: the ablations spec rerun against the recorded runner results.

Reads every run of ``python train.py compare configs/experiments/ablations.yaml`` (default folder
``runs/experiments/ablations``) and the numbers ``bench/ablations.py`` recorded in
``bench/results/ablations.json`` (initial and final evaluation return per cell and seed), and
prints, per run, both values and whether they are bit-identical; writes the same to
``bench/results/ablations_rerun_check.md``.

    python train.py compare configs/experiments/ablations.yaml
    python bench/ablations_rerun_check.py
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "experiments" / "ablations")
    ap.add_argument("--recorded", type=Path, default=ROOT / "bench" / "results" / "ablations.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ablations_rerun_check.md")
    args = ap.parse_args()
    recorded = json.loads(args.recorded.read_text())
    lines = ["| cell | seed | value | spec rerun | recorded | identical |", "|---|---|---|---|---|---|"]
    same = total = 0
    worst = 0.0
    for row in recorded["rows"]:
        for i, seed in enumerate(recorded["seeds"]):
            with open(args.runs / row["config"] / f"seed{seed}" / "eval.csv", newline="") as f:
                evals = list(csv.DictReader(f))
            ours = {"initial": float(evals[0]["mean_return"]), "final": float(evals[-1]["mean_return"])}
            for name in ("initial", "final"):
                theirs = row[name][i]
                total += 1
                same += ours[name] == theirs
                worst = max(worst, abs(ours[name] - theirs))
                lines.append(f"| {row['config']} | {seed} | {name} | {ours[name]!r} | {theirs!r} | "
                             f"{'yes' if ours[name] == theirs else f'no ({ours[name] - theirs:+.3g})'} |")
    summary = (f"{same}/{total} values bit-identical; the largest difference is {worst:.3g} "
               f"(returns of 0 to 804).")
    text = "\n".join(["# Ablations: the spec's rerun against the recorded runner", "",
                      "`python train.py compare configs/experiments/ablations.yaml`, then "
                      "`python bench/ablations_rerun_check.py`", "", summary, "", *lines]) + "\n"
    args.out.write_text(text)
    print(summary)


if __name__ == "__main__":
    main()
