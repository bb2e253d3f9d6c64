"""Learning benchmarks of issue 8: the circuit with PPO, DDPG and ES; off-policy from states and pixels.

Experiments (each trains presets through the ordinary trainer, ``--seeds`` seeds each, for
``--steps`` agent steps, then reports the evaluation return against agent steps):

* ``swim``: NCAP (4 parameters) and the MLP on swim N = 5 with PPO, DDPG and ES at one equal
  env-step budget (``configs/{ncap,mlp}_swim_{ppo,ddpg,es}.yaml``);
* ``cartpole``: the MLP off-policy agent from states on dmc:cartpole-swingup (target: median
  >= 800 within 100k agent steps);
* ``cheetah``: the same agent from states on dmc:cheetah-run;
* ``pixels``: DrQ-v2 at a CPU size from pixels on cartpole-swingup (target: best evaluation >=
  max(300, 3x its initial return) by 100k frames).

Writes ``bench/results/offpolicy_<experiment>.{json,md,png}``: per run the median over seeds
(min-max) at the first evaluation and at evenly spaced steps, the best evaluation, the first step
at which the median reaches the target, and training speed. Run folders go to
``bench/runs/offpolicy/<experiment>/<run>/seed<k>``; rerunning resumes unfinished runs and
reuses finished ones (a longer ``--steps`` extends them).

    python bench/offpolicy_learning.py swim --steps 100000 --seeds 0 1 2
    python bench/offpolicy_learning.py cartpole --steps 50000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from configs.loader import load_config  # noqa: E402
from trainer.api import train  # noqa: E402
from trainer.rundir import RunDir  # noqa: E402
from bench.outputs import beside  # noqa: E402

C = ROOT / "configs"
# experiment -> (title, x axis unit, target or None, {run name: (preset, overrides)})
EXPERIMENTS = {
    "swim": ("swim N = 5: NCAP (4 params) vs MLP with PPO, DDPG and ES", "agent steps", None, {
        "ncap_ppo": (C / "ncap_swim_ppo.yaml", []), "mlp_ppo": (C / "mlp_swim_ppo.yaml", []),
        "ncap_ddpg": (C / "ncap_swim_ddpg.yaml", []), "mlp_ddpg": (C / "mlp_swim_ddpg.yaml", []),
        # evaluate on the others' 10k grid (mid-generation; evaluation acts with theta)
        "ncap_es": (C / "ncap_swim_es.yaml", ["trainer.eval_every=10000"]),
        "mlp_es": (C / "mlp_swim_es.yaml", ["trainer.eval_every=10000"])}),
    "cartpole": ("dmc:cartpole-swingup from states: off-policy MLP agent", "agent steps", 800.0,
                 {"offpolicy_mlp": (C / "offpolicy_cartpole_swingup.yaml", [])}),
    "cheetah": ("dmc:cheetah-run from states: off-policy MLP agent", "agent steps", None,
                {"offpolicy_mlp": (C / "offpolicy_cheetah_run.yaml", [])}),
    "pixels": ("dmc:cartpole-swingup from 48x48 pixels: DrQ-v2 at CPU size", "frames", None,
               {"drqv2_cpu": (C / "drqv2_cartpole_cpu.yaml", [])}),
}


def summarise(steps: np.ndarray, mat: np.ndarray, target: float | None,
              marks: list[int]) -> dict:
    med = np.median(mat, axis=0)
    at = {int(s): {"median": float(np.median(mat[:, i])),
                   "per_seed": [float(v) for v in mat[:, i]]}
          for i, s in enumerate(steps) if int(s) in marks}
    out = {"at": at, "median_final": float(med[-1]),
           "best_per_seed": [float(v) for v in mat.max(axis=1)],
           "initial_per_seed": [float(v) for v in mat[:, 0]]}
    if target is not None:
        out["first_step_median_reaches_target"] = next(
            (int(s) for s, m in zip(steps, med) if m >= target), None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=list(EXPERIMENTS))
    ap.add_argument("--steps", type=int, required=True, help="agent steps per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--runs", nargs="+", help="a subset of the experiment's runs")
    ap.add_argument("--name", help="results file bench/results/offpolicy_<name>.* and run folders "
                    "bench/runs/offpolicy/<name>/ (default: the experiment)")
    args = ap.parse_args()
    name_tag = args.name or args.experiment
    title, unit, target, runs = EXPERIMENTS[args.experiment]
    names = args.runs or list(runs)

    curves, info = {}, {}
    for name in names:
        preset, extra = runs[name]
        mats, speed, frames_per_step = [], [], 1
        for seed in args.seeds:
            run_dir = ROOT / f"bench/runs/offpolicy/{name_tag}/{name}/seed{seed}"
            cfg = load_config(preset, [*extra, f"steps={args.steps}", f"seed={seed}",
                                       f"run_dir={run_dir}", "trainer.progress=false"])
            t0 = time.perf_counter()
            summary = train(cfg)
            frames_per_step = summary["frames"] // max(summary["env_steps"], 1)
            print(f"{name} seed {seed}: initial {summary['initial_eval_return']:.1f} final "
                  f"{summary['final_eval_return']:.1f} best {summary['best_eval_return']:.1f} "
                  f"({summary['steps_per_second']:.0f} agent steps/s, "
                  f"{time.perf_counter() - t0:.0f} s this session)", flush=True)
            steps, returns = RunDir(run_dir).eval_curve()
            mats.append((steps, returns))
            speed.append(summary["steps_per_second"])
        n = min(len(s) for s, _ in mats)
        steps = mats[0][0][:n]
        curves[name] = (steps, np.stack([r[:n] for _, r in mats]), frames_per_step)
        info[name] = {"preset": str(preset.relative_to(ROOT)), "overrides": extra,
                      "agent_steps_per_second": speed, "frames_per_agent_step": frames_per_step}

    grid = next(iter(curves.values()))[0]  # evaluation steps (every run evaluates on one grid)
    marks = sorted({int(grid[i]) for i in np.linspace(0, len(grid) - 1, min(7, len(grid))).round()
                    .astype(int)})
    result = {"experiment": args.experiment, "steps": args.steps, "seeds": args.seeds,
              "target": target, "runs": {}}
    header = "| run | " + " | ".join(f"{m // 1000}k" for m in marks) + " | best (per seed) |"
    if target is not None:
        header += f" first step median >= {target:.0f} |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, (steps, mat, fps) in curves.items():
        res = summarise(steps, mat, target, marks)
        res.update(info[name])
        result["runs"][name] = res
        cells = [f"{res['at'][m]['median']:.0f} ({min(res['at'][m]['per_seed']):.0f}-"
                 f"{max(res['at'][m]['per_seed']):.0f})" if m in res["at"] else "-" for m in marks]
        row = (f"| {name} | " + " | ".join(cells) + " | "
               + " / ".join(f"{b:.0f}" for b in res["best_per_seed"]) + " |")
        if target is not None:
            reach = res["first_step_median_reaches_target"]
            row += f" {reach if reach is not None else 'not reached'} |"
        lines.append(row)
        x = steps * (fps if unit == "frames" else 1)
        line, = ax.plot(x, np.median(mat, axis=0), label=f"{name} (median of {len(mat)})")
        ax.fill_between(x, mat.min(0), mat.max(0), alpha=0.15, color=line.get_color())
    if target is not None:
        ax.axhline(target, ls="--", c="gray", lw=0.8, label=f"target {target:.0f}")
    ax.set_xlabel(unit)
    ax.set_ylabel("evaluation return")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = ROOT / f"bench/results/offpolicy_{name_tag}"
    fig.savefig(beside(out, ".png"), dpi=120)
    cmd = (f"python bench/offpolicy_learning.py {args.experiment} --steps {args.steps} --seeds "
           + " ".join(map(str, args.seeds)) + (f" --runs {' '.join(names)}" if args.runs else "")
           + (f" --name {args.name}" if args.name else ""))
    table = "\n".join(lines)
    beside(out, ".md").write_text(
        f"Command: `{cmd}`\n\n{title}. Evaluation return (deterministic episodes), median over "
        f"seeds (min-max), columns in agent steps.\n\n{table}\n")
    beside(out, ".json").write_text(json.dumps(result, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
