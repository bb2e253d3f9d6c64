"""A tiny CPU comparison of auxiliary losses: none vs A vs B vs C-stabilised on return and on
the representation metrics. Far too short (one seed, a few thousand steps, tiny networks, the
``fast`` render profile) to rank the losses; it shows that each arm trains and what its
metrics look like, and is labelled so in its output.

Each arm is ``configs/drqv2_tiny.yaml`` (cartpole_swingup, 48x48 fast profile) with the same
seed and one ``agent.aux.losses`` value; all arms share one probe set (drawn once before the
first arm, so its rendering is not in any arm's training time, and copied into every run
folder: every arm is measured on the same states).

    python bench/aux_compare.py [--steps 5000] [--seed 0] [--every 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.plasticity.representation import load_or_collect  # noqa: E402
from configs.loader import load_config  # noqa: E402
from envs import make_env  # noqa: E402
from trainer.api import train  # noqa: E402
from trainer.analysis.runs import read_csv  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PRESET = ROOT / "configs" / "drqv2_tiny.yaml"
ARMS = {"none": "[]",
        "A one_step": "[{type: one_step}]",
        "B rollout K=3": "[{type: rollout, k: 3}]",
        "C-stabilised": "[{type: horizon_stabilised, gamma: 0.5}]"}
METRICS = ("repr/srank", "repr/participation_ratio", "repr/pairwise_cos", "repr/probe_r2_qpos",
           "repr/probe_r2_qvel")


def plot(runs: dict[str, Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(METRICS), figsize=(4 * (1 + len(METRICS)), 3.2))
    for arm, run in runs.items():
        ev = read_csv(run / "eval.csv")
        axes[0].plot([int(r["frames"]) for r in ev], [float(r["mean_return"]) for r in ev],
                     label=arm)
        rows = [r for r in read_csv(run / "metrics.csv") if r.get("repr/srank")]
        for ax, key in zip(axes[1:], METRICS):
            ax.plot([int(r["frames"]) for r in rows], [float(r[key]) for r in rows], label=arm)
    axes[0].set_title("eval return (1 seed: not conclusive)")
    for ax, key in zip(axes[1:], METRICS):
        ax.set_title(key)
    for ax in axes:
        ax.set_xlabel("frames")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="agent steps per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=1000, help="representation metric interval")
    parser.add_argument("--runs", default="/tmp/aux_compare", help="folder of the run folders")
    parser.add_argument("--out", default=str(RESULTS), help="folder for aux_compare.*")
    args = parser.parse_args()
    common = [f"steps={args.steps}", f"seed={args.seed}", "trainer.progress=false",
              "trainer.tensorboard=false", f"agent.representation.every={args.every}",
              "trainer.eval_episodes=5", "trainer.checkpoint_every=1000000"]
    root, runs, rows = Path(args.runs), {}, []
    root.mkdir(parents=True, exist_ok=True)
    cfg = load_config(PRESET, common)
    r = cfg.agent.representation
    load_or_collect(root, lambda seed: make_env(cfg.env, seed=seed), r.probe_episodes,
                    r.probe_stride, r.probe_seed)
    for arm, losses in ARMS.items():
        run = root / arm.split()[0]
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        shutil.copy(root / "probe.npz", run / "probe.npz")
        s = train(load_config(PRESET, [*common, f"agent.aux.losses={losses}", f"run_dir={run}"]))
        runs[arm] = run
        last = [r for r in read_csv(run / "metrics.csv") if r.get("repr/srank")][-1]
        rows.append({"arm": arm, "final_return": s["final_eval_return"],
                     "best_return": s["best_eval_return"], "train_seconds": s["train_seconds"],
                     **{k: float(last[k]) for k in METRICS}})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [f"TOO SHORT TO CONCLUDE: cartpole_swingup, 48x48 fast profile, drqv2_tiny networks, "
             f"{args.steps} agent steps ({2 * args.steps} frames), 1 seed ({args.seed}), commit "
             f"{commit}; representation metrics at the last measurement", "",
             "| arm | final return | best return | train s | " +
             " | ".join(k[len("repr/"):] for k in METRICS) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(METRICS)]
    lines += [f"| {r['arm']} | {r['final_return']:.1f} | {r['best_return']:.1f} | "
              f"{r['train_seconds']:.0f} | " + " | ".join(f"{r[k]:.3g}" for k in METRICS) + " |"
              for r in rows]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(runs, out / "aux_compare.png")
    (out / "aux_compare.md").write_text(table + "\n")
    (out / "aux_compare.json").write_text(json.dumps({"commit": commit, "steps": args.steps,
                                                      "seed": args.seed, "rows": rows},
                                                     indent=2) + "\n")


if __name__ == "__main__":
    main()
