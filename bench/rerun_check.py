"""Reproduction check of issue 35: an experiment rerun from its spec against the numbers the
removed runner recorded.

* ``ablations``: ``python train.py compare configs/experiments/ablations.yaml`` against
  ``bench/results/ablations.json`` (``bench/ablations.py``: initial and final evaluation return
  per cell and seed);
* ``learning``: ``python train.py compare configs/experiments/learning_ncap_mlp.yaml`` against
  ``bench/results/learning.json`` (``bench/learning.py``: the evaluation return of every arm and
  seed at 0, 10k, 50k, 100k, 200k and 300k steps).

Prints, per value, both numbers and whether they are bit-identical, and writes the same to
``bench/results/<experiment>_rerun_check.md``.

    python train.py compare configs/experiments/ablations.yaml
    python bench/rerun_check.py ablations
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"ablations": "ablations", "learning": "learning_ncap_mlp"}


def eval_returns(run: Path) -> dict[int, float]:
    with open(run / "eval.csv", newline="") as f:
        return {int(r["step"]): float(r["mean_return"]) for r in csv.DictReader(f)}


def ablation_values(recorded: dict, runs: Path):
    """``(arm, seed, what, spec rerun, recorded)`` for the initial and final return."""
    for row in recorded["rows"]:
        for i, seed in enumerate(recorded["seeds"]):
            curve = eval_returns(runs / row["config"] / f"seed{seed}")
            steps = sorted(curve)
            yield row["config"], seed, "initial", curve[steps[0]], row["initial"][i]
            yield row["config"], seed, "final", curve[steps[-1]], row["final"][i]


def learning_values(recorded: dict, runs: Path):
    """``(arm, seed, step, spec rerun, recorded)`` at every step the runner recorded."""
    for arm, result in recorded["agents"].items():
        for step, cell in result["at"].items():
            for i, seed in enumerate(recorded["seeds"]):
                yield arm, seed, f"step {step}", eval_returns(runs / arm / f"seed{seed}")[int(step)], \
                    cell["per_seed"][i]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("experiment", choices=sorted(SPECS))
    ap.add_argument("--runs", type=Path, default=None, help="the experiment folder (default: "
                    "runs/experiments/<spec name>)")
    args = ap.parse_args()
    name = SPECS[args.experiment]
    runs = args.runs or ROOT / "runs" / "experiments" / name
    recorded = json.loads((ROOT / "bench" / "results" / f"{args.experiment}.json").read_text())
    values = ablation_values if args.experiment == "ablations" else learning_values
    lines = ["| arm | seed | value | spec rerun | recorded | identical |", "|---|---|---|---|---|---|"]
    same = total = 0
    worst = 0.0
    for arm, seed, what, ours, theirs in values(recorded, runs):
        total += 1
        same += ours == theirs
        worst = max(worst, abs(ours - theirs))
        lines.append(f"| {arm} | {seed} | {what} | {ours!r} | {theirs!r} | "
                     f"{'yes' if ours == theirs else f'no ({ours - theirs:+.3g})'} |")
    summary = f"{same}/{total} values bit-identical; the largest difference is {worst:.3g}."
    text = "\n".join([f"# {args.experiment}: the spec's rerun against the recorded runner", "",
                      f"`python train.py compare configs/experiments/{name}.yaml`, then "
                      f"`python bench/rerun_check.py {args.experiment}`", "", summary, "",
                      *lines]) + "\n"
    (ROOT / "bench" / "results" / f"{args.experiment}_rerun_check.md").write_text(text)
    print(summary)


if __name__ == "__main__":
    main()
