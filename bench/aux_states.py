"""Predictive auxiliary losses from states, several seeds: none vs A vs B vs C-stabilised (and
C-faithful on request, arm ``Cf``), and a capacity sweep (``agent.feature_dim``), on the CPU.

The pixel agent is too slow on these CPUs for more than one short seed
(``bench/aux_compare.py``). From states the same losses act on the same latent: ``z = g(o)``,
``g`` = the critic's trunk (Linear -> LayerNorm -> tanh, ``feature_dim`` wide), with the EMA
target trunk as the prediction target (``agents/auxiliary``). This runs
``configs/offpolicy_cartpole_swingup.yaml`` (2x256 MLPs, batch 256, RR 1) with one
``agent.aux.losses`` value per arm, for each ``--feature-dims`` value and seed. All runs share one
probe set (10 random-action episodes, every 5th state), copied into every run folder, so the
representation metrics of every arm are measured on the same states.

Writes ``bench/results/<name>.{json,md,png}``: per arm and feature_dim the median over seeds
(min-max) of the final and best evaluation return and of the representation metrics at the last
measurement, and the same-seed difference aux - none (the capacity claim: it should grow as
``feature_dim`` falls). Run folders go to ``bench/runs/aux_states/``; rerunning reuses finished
runs.

    python bench/aux_states.py --steps 15000 --seeds 0 1 2 --arms none A B C
    python bench/aux_states.py --steps 15000 --seeds 0 1 2 --arms none A --feature-dims 8 16 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from agents.plasticity.representation import load_or_collect  # noqa: E402
from configs.loader import load_config  # noqa: E402
from envs import make_env  # noqa: E402
from trainer.api import train  # noqa: E402
from trainer.analysis.runs import read_csv  # noqa: E402
from bench.outputs import beside  # noqa: E402

PRESET = ROOT / "configs" / "offpolicy_cartpole_swingup.yaml"
RUNS = ROOT / "bench" / "runs" / "aux_states"
ARMS = {"none": "[]",
        "A": "[{type: one_step}]",
        "B": "[{type: rollout, k: 3}]",
        "C": "[{type: horizon_stabilised, gamma: 0.5}]",
        "Cf": "[{type: horizon_faithful, gamma: 0.5}]"}
LABELS = {"none": "none", "A": "A one-step", "B": "B rollout K=3", "C": "C-stabilised",
          "Cf": "C-faithful"}
PLOTTED = ("repr/srank", "repr/pairwise_cos", "repr/probe_r2_qvel")
METRICS = ("repr/srank", "repr/participation_ratio", "repr/pairwise_cos", "repr/probe_r2_qpos",
           "repr/probe_r2_qvel")


def run_arm(arm: str, feature_dim: int, seed: int, common: list[str]) -> dict:
    """Train one arm (reusing a finished run) and read its returns and last metrics."""
    run = RUNS / f"fd{feature_dim}" / arm / f"seed{seed}"
    if not (run / "summary.json").exists():
        run.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNS / "probe.npz", run / "probe.npz")
    t0 = time.perf_counter()
    s = train(load_config(PRESET, [*common, f"seed={seed}", f"agent.feature_dim={feature_dim}",
                                   f"agent.aux.losses={ARMS[arm]}", f"run_dir={run}"]))
    rows = [r for r in read_csv(run / "metrics.csv") if r.get("repr/srank")]
    ev = read_csv(run / "eval.csv")
    print(f"fd {feature_dim} {arm} seed {seed}: final {s['final_eval_return']:.1f} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"arm": arm, "feature_dim": feature_dim, "seed": seed,
            "final_return": s["final_eval_return"], "best_return": s["best_eval_return"],
            "train_seconds": s["train_seconds"],
            "curve": [[int(r["step"]), float(r["mean_return"])] for r in ev],
            "repr_curves": {k: [[int(r["step"]), float(r[k])] for r in rows] for k in PLOTTED},
            **{k: float(rows[-1][k]) for k in METRICS}}


def spread(values: list[float], fmt: str = ".0f") -> str:
    v = np.asarray(values, dtype=float)
    return f"{np.median(v):{fmt}} ({v.min():{fmt}}-{v.max():{fmt}})"


def median_band(ax, curves: list[list[list[float]]], label: str) -> None:
    """Median over runs of ``[[x, y], ...]`` curves (cut to the shortest), min-max band."""
    n = min(len(c) for c in curves)
    xs = [c[0] for c in curves[0][:n]]
    mat = np.array([[p[1] for p in c[:n]] for c in curves])
    line, = ax.plot(xs, np.median(mat, 0), label=label)
    ax.fill_between(xs, mat.min(0), mat.max(0), alpha=0.15, color=line.get_color())


def plot(results: list[dict], out: Path, dims: list[int]) -> None:
    """One row per feature_dim: the return and the plotted representation metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 + len(PLOTTED)
    fig, axes = plt.subplots(len(dims), cols, figsize=(4.2 * cols, 3.3 * len(dims)),
                             squeeze=False)
    for row, fd in zip(axes, dims):
        for arm in ARMS:
            rs = [r for r in results if r["arm"] == arm and r["feature_dim"] == fd]
            if not rs:
                continue
            label = f"{LABELS[arm]} (median of {len(rs)})"
            median_band(row[0], [r["curve"] for r in rs], label)
            for ax, key in zip(row[1:], PLOTTED):
                median_band(ax, [r["repr_curves"][key] for r in rs], label)
        row[0].set_ylabel(f"feature_dim {fd}\neval return")
        for ax, key in zip(row[1:], PLOTTED):
            ax.set_title(key[len("repr/"):], fontsize=9)
        for ax in row:
            ax.set_xlabel("agent steps")
        row[0].legend(fontsize=7)
    fig.suptitle("cartpole_swingup from states: auxiliary losses (median, min-max band)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15000, help="agent steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["none", "A", "B", "C"], choices=list(ARMS),
                        help="none, A, B, C (C-stabilised) and Cf (C-faithful, not by default)")
    parser.add_argument("--feature-dims", type=int, nargs="+", default=[50])
    parser.add_argument("--every", type=int, default=2500, help="representation metric interval")
    parser.add_argument("--name", default="aux_states", help="bench/results/<name>.*")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra config overrides for every run (stated in the output)")
    args = parser.parse_args()
    common = [f"steps={args.steps}", "trainer.progress=false", "trainer.tensorboard=false",
              f"agent.representation.every={args.every}", "trainer.eval_every=2500",
              "trainer.eval_episodes=5", f"trainer.checkpoint_every={args.steps}",
              "torch_threads=1", *args.set]
    cfg = load_config(PRESET, common)
    r = cfg.agent.representation
    RUNS.mkdir(parents=True, exist_ok=True)
    load_or_collect(RUNS, lambda seed: make_env(cfg.env, seed=seed), r.probe_episodes,
                    r.probe_stride, r.probe_seed)
    t0 = time.perf_counter()
    results = [run_arm(arm, fd, seed, common) for fd in args.feature_dims for seed in args.seeds
               for arm in args.arms]
    by = {(x["arm"], x["feature_dim"], x["seed"]): x for x in results}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    command = "python bench/aux_states.py " + " ".join(sys.argv[1:])
    lines = [f"cartpole_swingup from states, {args.steps} agent steps per run, seeds "
             f"{' '.join(map(str, args.seeds))}, commit {commit}; median over seeds (min-max); "
             "representation metrics at the last measurement (step "
             f"{args.steps // args.every * args.every}). Command: `{command}`", "",
             "| feature_dim | arm | final return | best return | aux - none (final, same seed) "
             "| train s | " + " | ".join(k[len("repr/"):] for k in METRICS) + " |",
             "|---:|---|---:|---:|---:|---:|" + "---:|" * len(METRICS)]
    for fd in args.feature_dims:
        for arm in args.arms:
            rs = [by[(arm, fd, s)] for s in args.seeds]
            diff = "" if arm == "none" or ("none", fd, args.seeds[0]) not in by else spread(
                [by[(arm, fd, s)]["final_return"] - by[("none", fd, s)]["final_return"]
                 for s in args.seeds], "+.0f")
            lines.append(
                f"| {fd} | {LABELS[arm]} | {spread([x['final_return'] for x in rs])} | "
                f"{spread([x['best_return'] for x in rs])} | {diff} | "
                f"{np.median([x['train_seconds'] for x in rs]):.0f} | "
                + " | ".join(spread([x[k] for x in rs], ".3g") for k in METRICS) + " |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results" / args.name
    plot(results, beside(out, ".png"), args.feature_dims)
    beside(out, ".md").write_text(table + "\n")
    beside(out, ".json").write_text(json.dumps(
        {"command": command, "commit": commit, "steps": args.steps, "seeds": args.seeds,
         "feature_dims": args.feature_dims,
         "wall_minutes_this_invocation": (time.perf_counter() - t0) / 60,
         "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
