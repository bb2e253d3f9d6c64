"""Train named arms of one preset on the same seeds, then compare each arm with the first, paired.

An arm is a name and a list of config overrides (``NAME:KEY=VALUE,KEY=VALUE``; ``NAME:`` is the
preset unchanged). Every (arm, seed) run goes to ``bench/runs/<name>/<arm>/seed<k>`` through the
ordinary trainer, so rerunning the command resumes unfinished runs and reuses finished ones, and
each folder reproduces its run. The comparison uses the outcome metrics fixed before any run
(``bench/paired.py``: final = mean of the last three evaluations, auc = area under the evaluation
curve per step) and prints, per arm, the paired differences to the first arm with a bootstrap 95%
interval and a plain reading. Writes ``bench/results/<name>.{json,md}``.

``--trace METRIC ... --at STEP ...`` adds a table of each arm's mean over seeds of the metrics
(``return`` or any ``metrics.csv`` column, e.g. ``fau/critic``) at those steps.

Runs are taken in seed order (all arms of seed 0, then seed 1, ...) so a budget cut short still
leaves complete pairs. ``--only-seeds`` trains a subset (e.g. one half in each of two processes)
while the comparison reads every finished seed of ``--seeds``.

    # bf16 vs fp32, state cartpole preset, 3 seeds (issue 19)
    python bench/arms.py configs/offpolicy_cartpole_swingup.yaml --name bf16_parity_states \\
        --seeds 0 1 2 --arm fp32: --arm bf16:agent.precision=bf16 --set steps=30000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

from bench.paired import METRICS, arm_scores, reading  # noqa: E402
from trainer.analysis.stats import paired_comparison  # noqa: E402
from bench.outputs import beside  # noqa: E402

QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]


def parse_arm(text: str) -> tuple[str, list[str]]:
    """``NAME:K=V,K=V`` -> (NAME, [K=V, ...]); a value may not contain a comma."""
    name, sep, rest = text.partition(":")
    if not sep or not name or "/" in name:
        raise SystemExit(f"error: --arm {text!r}: expected NAME:KEY=VALUE,... (NAME: alone for "
                         "the preset unchanged)")
    return name, [item for item in rest.split(",") if item]


def train_run(preset: Path, run: Path, seed: int, overrides: list[str]) -> None:
    """One run through ``train.py`` in its own process (one core), resuming if unfinished."""
    if (run / "summary.json").exists():
        return
    run.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "train.py"), str(preset), *QUIET, f"seed={seed}",
           f"run_dir={run}", *overrides]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    status = "done" if proc.returncode == 0 else f"FAILED rc {proc.returncode}: " + (
        proc.stderr.strip().splitlines() or ["?"])[-1]
    print(f"{run.relative_to(ROOT)}: {status} ({time.perf_counter() - t0:.0f} s)", flush=True)


def logged(run: Path, metric: str) -> dict[int, float]:
    """``{step: value}`` of ``metric`` in one finished run: the evaluation's mean return
    (``return``, ``eval.csv``) or a ``metrics.csv`` column (rows where it was logged)."""
    path, column = ((run / "eval.csv", "mean_return") if metric == "return"
                    else (run / "metrics.csv", metric))
    with path.open(newline="") as f:
        return {int(r["step"]): float(r[column]) for r in csv.DictReader(f)
                if r.get(column) not in (None, "")}


def trace(root: Path, metric: str, steps: list[int]) -> tuple[int, list[float | None]]:
    """Seeds with a ``summary.json`` under ``root`` and the mean over them of ``metric`` at
    each of ``steps`` (``None`` where no run logged it)."""
    runs = sorted(p.parent for p in root.glob("seed*/summary.json"))
    values = [logged(run, metric) for run in runs]
    means = []
    for step in steps:
        at = [v[step] for v in values if step in v]
        means.append(sum(at) / len(at) if at else None)
    return len(runs), means


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", type=Path)
    ap.add_argument("--name", required=True, help="bench/runs/<name>/, bench/results/<name>.*")
    ap.add_argument("--arm", action="append", required=True, metavar="NAME:K=V,...",
                    help="an arm (repeat); the first is the baseline of the comparison")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--only-seeds", type=int, nargs="+", help="train only these seeds now")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="overrides for every arm (stated in the results)")
    ap.add_argument("--no-train", action="store_true", help="only compare finished runs")
    ap.add_argument("--trace", nargs="*", default=[], metavar="METRIC",
                    help="also tabulate these metrics over training per arm (mean over finished "
                         "seeds at each --at step): 'return' (eval.csv) or a metrics.csv column")
    ap.add_argument("--at", type=int, nargs="*", default=[], metavar="STEP",
                    help="agent steps of the --trace table (logged steps of the runs)")
    args = ap.parse_args(argv)
    if not args.preset.is_file():
        print(f"error: {args.preset}: no such preset", file=sys.stderr)
        return 2
    arms = dict(parse_arm(a) for a in args.arm)
    runs = ROOT / "bench" / "runs" / args.name
    if not args.no_train:
        for seed in args.only_seeds or args.seeds:
            for arm, overrides in arms.items():
                train_run(args.preset.resolve(), runs / arm / f"seed{seed}", seed,
                          [*args.set, *overrides])
    base, *others = arms
    base_scores, _ = arm_scores(runs / base) if (runs / base).is_dir() else ({}, [])
    command = "python bench/arms.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [f"`{command}` (commit {commit}); paired by seed, difference = arm - {base}", "",
             f"| arm | metric | n | IQM {base} [95% CI] | IQM arm [95% CI] | "
             "median difference [95% CI] | reading |", "|---|---|---|---|---|---|---|"]
    result: dict = {"command": command, "commit": commit, "preset": str(args.preset),
                    "set": args.set, "arms": arms, "seeds": args.seeds, "comparisons": {}}
    for arm in others:
        if not (runs / arm).is_dir() or not base_scores:
            continue
        scores, skipped = arm_scores(runs / arm)
        result["comparisons"][arm] = {"skipped": skipped}
        for metric in METRICS:
            try:
                r = paired_comparison(base_scores[metric], scores[metric])
            except ValueError as err:
                lines.append(f"| {arm} | {metric} | - | - | - | - | {err} |")
                continue
            result["comparisons"][arm][metric] = r
            ci = lambda s: f"{s['iqm']:.1f} [{s['iqm_ci'][0]:.1f}, {s['iqm_ci'][1]:.1f}]"  # noqa
            lo, hi = r["median_ci"]
            lines.append(f"| {arm} | {metric} | {r['n']} | {ci(r['a'])} | {ci(r['b'])} | "
                         f"{r['median_difference']:+.1f} [{lo:+.1f}, {hi:+.1f}] | {reading(r)} |")
    if args.trace:
        lines += ["", "Mean over finished seeds at agent step (`--trace`):", "",
                  "| arm | metric | n | " + " | ".join(str(s) for s in args.at) + " |",
                  "|---|---|---|" + "---:|" * len(args.at)]
        result["traces"] = {}
        for arm in arms:
            for metric in args.trace:
                n, means = trace(runs / arm, metric, args.at)
                result["traces"].setdefault(arm, {})[metric] = means
                cells = " | ".join("-" if v is None else f"{v:.4g}" for v in means)
                lines.append(f"| {arm} | {metric} | {n} | {cells} |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results" / args.name
    beside(out, ".md").write_text(table + "\n")
    beside(out, ".json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
