"""NCAP ablation grid: weight sharing x sign constraints x constant init, trained with PPO.

The paper's claim (Bhattasali et al. 2022): sign-constrained excitation/inhibition is what makes
learning work, while the initialisation mainly sets the starting performance. Each of the eight
presets ``configs/ablations/ncap_swim_ppo_s{shared}{signed}{constant}.yaml`` (``111`` = default)
is trained through the ordinary trainer for ``--steps`` agent steps per seed on the N = 5 swim
task; the initial return (the evaluation at step 0: 5 deterministic episodes, eval seeds
``seed + 10000 + i``) and the final return are reported as mean +- std over seeds, with the
change and the number of seeds that improved (gained more than 1 return). Writes
``bench/results/ablations.{md,json,png}``.
Run folders go to ``bench/runs/ablations/``; rerunning reuses finished runs.

    python bench/ablations.py --steps 32768 --seeds 0 1 2 --workers 2    # ~8-10 min on 2 cores

A small budget: NCAP-PPO with the paper's learning rate moves its weights slowly (the default
circuit gains ~25 return in 100k steps), so this checks the direction of each effect, not
asymptotes (the paper trains for millions of steps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from trainer.analysis.plots import group_curves, plot_curves  # noqa: E402
from bench.outputs import beside  # noqa: E402

BITS = [f"{s}{g}{c}" for s in "10" for g in "10" for c in "10"]  # 111 (default) first
IMPROVED = 1.0  # return gain that counts a seed as improved (evaluations reuse the same seeds)
CONFIG = str(ROOT / "configs/ablations/ncap_swim_ppo_s{bits}.yaml")


def train_one(bits: str, seed: int, steps: int, eval_every: int, runs: Path,
              overrides: list[str]) -> dict:
    """Train one (config, seed) in this process; returns its initial and final eval return."""
    from configs.loader import load_config
    from trainer.api import train

    run_dir = runs / f"s{bits}" / f"seed{seed}"
    cfg = load_config(CONFIG.format(bits=bits), [
        f"steps={steps}", f"seed={seed}", f"run_dir={run_dir}", f"trainer.eval_every={eval_every}",
        f"trainer.checkpoint_every={steps}", "trainer.progress=false",
        "trainer.tensorboard=false", "torch_threads=1", *overrides])
    summary = train(cfg)
    return {"bits": bits, "seed": seed, "run_dir": str(run_dir),
            "initial": summary["initial_eval_return"], "final": summary["final_eval_return"],
            "policy_parameters": summary["parameters"]["policy"],
            "train_seconds": summary["train_seconds"]}


def summarise(results: list[dict]) -> list[dict]:
    rows = []
    for bits in BITS:
        rs = [r for r in results if r["bits"] == bits]
        init, final = np.array([r["initial"] for r in rs]), np.array([r["final"] for r in rs])
        rows.append({"config": f"s{bits}", "shared": bits[0] == "1", "signed": bits[1] == "1",
                     "constant_init": bits[2] == "1",
                     "policy_parameters": rs[0]["policy_parameters"],
                     "seeds": len(rs), "initial_mean": float(init.mean()),
                     "initial_std": float(init.std()), "final_mean": float(final.mean()),
                     "final_std": float(final.std()), "change_mean": float((final - init).mean()),
                     "improved": int((final - init > IMPROVED).sum()),
                     "initial": init.tolist(), "final": final.tolist()})
    return rows


def markdown(rows: list[dict], steps: int, seeds: list[int], minutes: float,
             overrides: list[str]) -> str:
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    lines = ["| config | sharing | signs | const. init | params | initial return | "
             f"return after {steps // 1000}k steps | change | seeds improved (> +1) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['config']} | {yes(r['shared'])} | {yes(r['signed'])} | "
            f"{yes(r['constant_init'])} | {r['policy_parameters']} | "
            f"{r['initial_mean']:.1f} ± {r['initial_std']:.1f} | "
            f"{r['final_mean']:.1f} ± {r['final_std']:.1f} | {r['change_mean']:+.1f} | "
            f"{r['improved']}/{r['seeds']} |")
    return ("# NCAP ablations (swim, N = 5, PPO)\n\n" + "\n".join(lines) + "\n\n"
            f"Mean ± std over seeds {', '.join(map(str, seeds))}; each return is the mean of 5 "
            f"deterministic evaluation episodes. Budget {steps:,} agent steps per run "
            f"({len(rows) * len(seeds)} runs, {minutes:.1f} min wall). Command: "
            f"`python bench/ablations.py --steps {steps} --seeds {' '.join(map(str, seeds))}"
            f"{''.join(' ' + o for o in overrides)}`\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=32_768, help="agent steps per run (32768)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eval-every", type=int, default=8_192)
    ap.add_argument("--workers", type=int, default=2, help="parallel processes (at most 2 here)")
    ap.add_argument("--runs", type=Path, default=ROOT / "bench/runs/ablations")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/ablations")
    ap.add_argument("overrides", nargs="*", help="key=value overrides for every run, e.g. "
                    "agent.actor_lr=3e-3 (default: the presets' paper settings)")
    args = ap.parse_args()

    jobs = [(bits, seed) for bits in BITS for seed in args.seeds]
    t0 = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(train_one, bits, seed, args.steps, args.eval_every, args.runs,
                               args.overrides) for bits, seed in jobs]
        for i, future in enumerate(futures, start=1):
            r = future.result()
            results.append(r)
            print(f"[{i}/{len(jobs)}] s{r['bits']} seed {r['seed']}: initial {r['initial']:.1f}"
                  f" -> final {r['final']:.1f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    minutes = (time.perf_counter() - t0) / 60
    rows = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    md = markdown(rows, args.steps, args.seeds, minutes, args.overrides)
    beside(args.out, ".md").write_text(md)
    beside(args.out, ".json").write_text(json.dumps(
        {"steps": args.steps, "seeds": args.seeds, "overrides": args.overrides,
         "wall_minutes": minutes, "rows": rows,
         "runs": results}, indent=2) + "\n")
    run_dirs = [Path(r["run_dir"]) for r in results]
    plot_curves(group_curves(run_dirs, "name", "step"), beside(args.out, ".png"), "step",
                "NCAP ablations: evaluation return, mean and 95% bootstrap CI over seeds")
    print(md)
    print(f"wrote {args.out}.md, .json, .png")


if __name__ == "__main__":
    main()
