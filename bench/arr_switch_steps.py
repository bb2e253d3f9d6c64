"""Switch steps of finished Adaptive RR runs, and how many fell in the early FAU trough (issue 22).

For the arms of one experiment on the same seeds (``train.py compare``'s
``<run_dir>/<arm>/seed<k>``): each adaptive arm's switch step per seed (``rr_switch_step`` of the
run's ``summary.json``; none if it never switched) against the RR 0.5 arm's run of that seed.
Before its switch an adaptive run is that RR 0.5 run exactly (the schedule draws no random
number), so the RR 0.5 run's critic FAU is the stream the rule saw. The trough is the logged step
of that run's lowest ``fau/critic`` (``metrics.csv``, one row per ``log_every`` steps); a switch
at or before it is "in the trough": the rule saw FAU level off on the way down.

    python bench/arr_switch_steps.py bench/runs/rr_cartpole_fastsigma --base rr0.5 \\
        --adaptive arr arr_w5 --seeds 0 1 2 3 4 5 6 7 8 9 --out bench/results/rr_cartpole_fastsigma_switches
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.analysis.plots import read_metric  # noqa: E402
from bench.outputs import beside  # noqa: E402


def trough_step(run: Path, metric: str = "fau/critic") -> int:
    """The logged step of the run's lowest ``metric`` (the first, on ties)."""
    series = read_metric(run, metric)
    if not series:
        raise ValueError(f"{run}: no {metric} logged")
    return min(series, key=lambda step: (series[step], step))


def switch_rows(runs: Path, base: str, arm: str, seeds: list[int]) -> list[dict]:
    """One row per seed where both the adaptive and the base run finished."""
    out = []
    for seed in seeds:
        run, ref = runs / arm / f"seed{seed}", runs / base / f"seed{seed}"
        if not ((run / "summary.json").exists() and (ref / "summary.json").exists()):
            continue
        switch = json.loads((run / "summary.json").read_text()).get("rr_switch_step")
        trough = trough_step(ref)
        out.append({"seed": seed, "switch_step": switch, "trough_step": trough,
                    "in_trough": None if switch is None else switch <= trough})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, help="an experiment folder of train.py compare")
    ap.add_argument("--base", default="rr0.5", help="the fixed RR 0.5 arm")
    ap.add_argument("--adaptive", nargs="+", required=True, help="adaptive arms")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    args = ap.parse_args(argv)
    for arm in [args.base, *args.adaptive]:
        if not (args.runs / arm).is_dir():
            print(f"error: {args.runs / arm}: no such arm folder", file=sys.stderr)
            return 2
    result = {arm: switch_rows(args.runs, args.base, arm, args.seeds) for arm in args.adaptive}
    lines = [f"Switch steps against the {args.base} run of each seed (trough: its lowest logged "
             "critic FAU)", "",
             "| arm | n | never switched | median switch step (runs that switched) | in the trough | "
             "switch step per seed | trough step per seed |", "|---|---:|---:|---:|---:|---|---|"]
    for arm, rows in result.items():
        steps = [r["switch_step"] for r in rows if r["switch_step"] is not None]
        med = f"{statistics.median(steps):.0f}" if steps else "-"
        per_seed = " ".join("-" if r["switch_step"] is None else str(r["switch_step"]) for r in rows)
        troughs = " ".join(str(r["trough_step"]) for r in rows)
        lines.append(f"| {arm} | {len(rows)} | {len(rows) - len(steps)}/{len(rows)} | {med} | "
                     f"{sum(bool(r['in_trough']) for r in rows)}/{len(rows)} | {per_seed} | {troughs} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        beside(args.out, ".md").write_text(text + "\n")
        beside(args.out, ".json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
