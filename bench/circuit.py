"""Circuit benchmark: NCAP+ (``circuits/ncap_plus.py``) against NCAP on the swim task.

Three parts, each optional:

* ``--start``: the untrained return on N = 5 of NCAP and of each NCAP+ switch alone (at its
  initial value) and all together (5 episodes, mean actions, seeds 10000 + i): what each switch
  does to the prior before any learning;
* training (``--seeds``): ``configs/ncap_plus_swim_ppo_full.yaml`` (every switch on; PPO with
  exploration std 0.3 and actor lr 1e-3) through the ordinary trainer for ``--steps`` env
  steps per seed, evaluated under our protocol (5 episodes every 10k steps, mean actions, fixed
  seeds, from step 0), so its curve is comparable with ``bench/results/learning.json``;
* ``--ablate``: leave-one-out ablation during learning: the full preset with one switch
  turned off (``ABLATIONS``), trained like the full circuit for ``--steps`` on
  ``--ablate-seeds``; what each switch buys is the full circuit's return minus the ablated one's;
* ``--variants``: named variants of the full preset (``VARIANTS``: a per-parameter learning
  rate that lets the period learn, and velocity + leak without muscle tone), each trained on
  ``--variant-seeds`` like the full circuit and transferred zero-shot to N = 2..13 when
  ``--transfer`` is given;
* ``--transfer``: zero-shot return on N = 2..13 (``--episodes`` episodes each, mean actions,
  seeds 10000 + i) of every trained NCAP+ seed and of the trained NCAP runs given by
  ``--reference`` (run folders; their final ``last.pt``).

Writes ``bench/results/circuit.{json,md,png}``; runs go to ``bench/runs/circuit/``; rerunning
reuses finished runs.

    python train.py compare configs/experiments/learning_ncap_mlp.yaml   # its arm ncap_tuned
    python bench/circuit.py --start --steps 300000 --seeds 0 1 2 --transfer --episodes 2 \\
        --reference bench/runs/learning/ncap_tuned/seed0 bench/runs/learning/ncap_tuned/seed1 \\
        bench/runs/learning/ncap_tuned/seed2
    python bench/circuit.py --steps 300000 --seeds --ablate --ablate-seeds 0
    python bench/circuit.py --steps 300000 --seeds --variants --variant-seeds 0 1 2 --transfer \
        --out bench/results/circuit_variants
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
from trainer.api import build, load_policy, train  # noqa: E402
from trainer.evaluation import evaluate  # noqa: E402
from trainer.rundir import RunDir  # noqa: E402
from bench.outputs import beside  # noqa: E402

BASE = ROOT / "configs/ncap_plus_swim_ppo.yaml"
FULL = ROOT / "configs/ncap_plus_swim_ppo_full.yaml"
SWITCHES = {  # name -> overrides on the all-off base (= NCAP)
    "NCAP (all off)": [],
    "smooth oscillator": ["agent.actor.oscillator=smooth"],
    "muscle tone 0.5": ["agent.actor.muscle_tone=0.5"],
    "leak 0.01": ["agent.actor.leak=0.01"],
    "velocity 0.5": ["agent.actor.velocity=0.5"],
    "gain profile (3)": ["agent.actor.gain_profile=3"],
    "tone + velocity": ["agent.actor.muscle_tone=0.5", "agent.actor.velocity=0.5"],
}
ABLATIONS = {  # run folder -> (row name, overrides on the full preset that switch one idea off)
    "minus_smooth_wave": ("- smooth wave (square, fixed timing)",
                          ["agent.actor.oscillator=square", "agent.actor.learn_period=false",
                           "agent.actor.learn_duty=false"]),
    "minus_learned_period_and_duty": ("- learned period and duty",
                                      ["agent.actor.learn_period=false",
                                       "agent.actor.learn_duty=false"]),
    "minus_muscle_tone": ("- muscle tone", ["agent.actor.muscle_tone=null"]),
    "minus_leak": ("- leak", ["agent.actor.leak=0.0"]),
    "minus_velocity": ("- velocity", ["agent.actor.velocity=null"]),
    "minus_gain_profile": ("- gain profile", ["agent.actor.gain_profile=0"]),
}
VARIANTS = {  # run folder -> (row name, overrides on the full preset)
    "timing_lr_x10": ("full, period and duty at 10x the actor lr",
                      ["agent.actor.timing_lr_scale=10"]),
    "velocity_leak": ("velocity + leak, no tone (square wave, fixed timing, no gain profile)",
                      ["agent.actor.oscillator=square", "agent.actor.learn_period=false",
                       "agent.actor.learn_duty=false", "agent.actor.muscle_tone=null",
                       "agent.actor.gain_profile=0"]),
    "no_tone_timing_lr_x10": ("full without tone, period and duty at 10x the actor lr",
                              ["agent.actor.muscle_tone=null", "agent.actor.timing_lr_scale=10"]),
}
SEED_BASE = 10_000
JOINTS = list(range(2, 14))


def untrained_return(preset: Path, overrides: list[str], episodes: int) -> float:
    env, agent, _ = build(load_config(preset, overrides))
    return float(evaluate(agent, env, episodes, SEED_BASE).mean())


def transfer_row(policy: Path, episodes: int) -> dict[str, float]:
    """``{"N": return}`` of ``policy`` on every body in ``JOINTS``."""
    out = {}
    for n in JOINTS:
        _, agent, env = load_policy(policy, [f"env.n_joints={n}"])
        out[str(n)] = float(evaluate(agent, env, episodes, SEED_BASE).mean())
    return out


def train_full(steps: int, seed: int, folder: str, overrides: list[str]) -> Path:
    """Train the full preset (plus ``overrides``) into ``bench/runs/circuit/<folder>/seed<seed>``."""
    run_dir = ROOT / f"bench/runs/circuit/{folder}/seed{seed}"
    cfg = load_config(FULL, [*overrides, f"steps={steps}", f"seed={seed}", f"run_dir={run_dir}",
                             "trainer.progress=false"])
    t0 = time.perf_counter()
    summary = train(cfg)
    print(f"ncap_plus {folder} seed {seed}: initial {summary['initial_eval_return']:.1f} final "
          f"{summary['final_eval_return']:.1f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return run_dir


def ablation_row(run_dirs: list[Path]) -> dict:
    """Start, 100k and final evaluation return (mean over ``run_dirs``) and final parameters."""
    curves = [RunDir(r).eval_curve() for r in run_dirs]
    steps = list(curves[0][0])
    at = {"start": float(np.mean([c[1][0] for c in curves])),
          "final": float(np.mean([c[1][-1] for c in curves]))}
    if 100_000 in steps:
        at["100k"] = float(np.mean([c[1][steps.index(100_000)] for c in curves]))
    at["parameters"] = load_policy(run_dirs[0] / "checkpoints" / "last.pt")[1] \
        .actor.circuit.readable()
    return at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", action="store_true", help="untrained return of each switch")
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--ablate", action="store_true", help="leave-one-out switch ablation")
    ap.add_argument("--ablate-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variants", action="store_true", help="train the VARIANTS")
    ap.add_argument("--variant-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--transfer", action="store_true", help="zero-shot N = 2..13")
    ap.add_argument("--episodes", type=int, default=2, help="episodes per transfer cell")
    ap.add_argument("--reference", nargs="*", default=[], help="trained NCAP run folders")
    ap.add_argument("--out", default=str(ROOT / "bench/results/circuit"))
    args = ap.parse_args()
    out = Path(args.out)
    previous = beside(out, ".json")
    result: dict = json.loads(previous.read_text()) if previous.exists() else {}
    lines: list[str] = []

    if args.start:
        start = {name: untrained_return(BASE, ov, 5) for name, ov in SWITCHES.items()}
        start["all switches (full preset)"] = untrained_return(FULL, [], 5)
        result["start"] = start
        print(json.dumps(start, indent=1), flush=True)

    runs = [train_full(args.steps, seed, "full", []) for seed in args.seeds]
    if runs:
        curves = [RunDir(r).eval_curve() for r in runs]
        steps = curves[0][0]
        mat = np.stack([c[1][: len(steps)] for c in curves])
        _, agent, _ = load_policy(runs[0] / "checkpoints" / "last.pt")
        result["training"] = {
            "steps": args.steps, "seeds": args.seeds,
            "curve_steps": [int(s) for s in steps],
            "per_seed": mat.tolist(), "median": np.median(mat, 0).tolist(),
            "parameters": agent.trainable_parameters()["policy"],
            "final_parameters": {f"seed{s}": load_policy(r / "checkpoints" / "last.pt")[1]
                                 .actor.circuit.readable() for s, r in zip(args.seeds, runs)}}
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.plot(steps, np.median(mat, 0), label=f"NCAP+ full (median of {len(runs)})")
        ax.fill_between(steps, mat.min(0), mat.max(0), alpha=0.2)
        learning = ROOT / "bench/results/learning.json"
        if learning.exists():
            ref = json.loads(learning.read_text())["agents"]
            for name in ("ncap", "ncap_tuned", "mlp"):
                if name in ref:
                    pts = sorted((int(k), v["median"]) for k, v in ref[name]["at"].items())
                    ax.plot(*zip(*pts), "o--", label=f"{name}-PPO (learning.json median)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return (5 episodes)")
        ax.set_title("swim, N = 5: NCAP+ (12 params) vs NCAP and MLP")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(beside(out, ".png"), dpi=120)
        plt.close(fig)

    if args.ablate:
        ablation = {"steps": args.steps, "seeds": args.ablate_seeds, "rows": {}}
        ablation["rows"]["full"] = ablation_row(
            [train_full(args.steps, s, "full", []) for s in args.ablate_seeds])
        for folder, (name, overrides) in ABLATIONS.items():
            ablation["rows"][name] = ablation_row(
                [train_full(args.steps, s, folder, overrides) for s in args.ablate_seeds])
        result["ablation"] = ablation

    if args.variants:
        variants = {"steps": args.steps, "seeds": args.variant_seeds, "rows": {}}
        for folder, (name, overrides) in VARIANTS.items():
            dirs = [train_full(args.steps, s, folder, overrides) for s in args.variant_seeds]
            curves = [RunDir(r).eval_curve() for r in dirs]
            n = min(len(c[0]) for c in curves)
            row = {"folder": folder, "curve_steps": [int(x) for x in curves[0][0][:n]],
                   "per_seed": [c[1][:n].tolist() for c in curves],
                   "final_parameters": {f"seed{s}": load_policy(r / "checkpoints" / "last.pt")[1]
                                        .actor.circuit.readable()
                                        for s, r in zip(args.variant_seeds, dirs)}}
            if args.transfer:
                row["transfer"] = {f"seed{s}": transfer_row(r / "checkpoints" / "last.pt",
                                                            args.episodes)
                                   for s, r in zip(args.variant_seeds, dirs)}
            variants["rows"][name] = row
        result["variants"] = variants

    if args.transfer and runs:
        rows = {f"ncap_plus/seed{s}": transfer_row(r / "checkpoints" / "last.pt", args.episodes)
                for s, r in zip(args.seeds, runs)}
        for ref in map(Path, args.reference):
            rows[f"ncap:{ref.parent.name}/{ref.name}"] = transfer_row(
                ref / "checkpoints" / "last.pt", args.episodes)
        result["transfer"] = {"episodes": args.episodes, "rows": rows}

    if "start" in result:
        lines += ["Untrained return, N = 5 (5 episodes, mean actions):", "",
                  "| circuit | return |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in result["start"].items()]
        lines.append("")
    if "training" in result:
        tr = result["training"]
        marks = [s for s in tr["curve_steps"] if s in (0, 10_000, 50_000, 100_000, 200_000,
                                                       300_000) or s == tr["steps"]]
        mat = np.array(tr["per_seed"])
        lines += [f"NCAP+ full, {len(tr['seeds'])} seeds, {tr['steps']} steps "
                  f"({tr['parameters']} parameters): median (min-max)", "",
                  "| " + " | ".join(f"{s // 1000}k" for s in marks) + " |",
                  "|" + "---|" * len(marks)]
        cols = [tr["curve_steps"].index(s) for s in marks]
        lines.append("| " + " | ".join(f"{np.median(mat[:, c]):.0f} ({mat[:, c].min():.0f}-"
                                       f"{mat[:, c].max():.0f})" for c in cols) + " |")
        lines.append("")
    if "ablation" in result:
        ab = result["ablation"]
        full = ab["rows"]["full"]
        lines += [f"Leave-one-out ablation, {ab['steps']} steps, seeds {ab['seeds']} (mean): "
                  "what a switch buys = full - ablated", "",
                  "| circuit | start | 100k | final | full - this (final) |",
                  "|---|---:|---:|---:|---:|"]
        for name, row in ab["rows"].items():
            lines.append(f"| {name} | {row['start']:.0f} | {row.get('100k', float('nan')):.0f} | "
                         f"{row['final']:.0f} | {full['final'] - row['final']:+.0f} |")
        lines.append("")
    if "variants" in result:
        va = result["variants"]
        lines += [f"Variants, {va['steps']} steps, seeds {va['seeds']}: median (min-max)", "",
                  "| variant | start | 100k | final | period (per seed) | transfer median N=2..13 |",
                  "|---|---|---|---|---|---|"]
        for name, row in va["rows"].items():
            mat = np.array(row["per_seed"])

            def cell(c: int) -> str:
                return f"{np.median(mat[:, c]):.0f} ({mat[:, c].min():.0f}-{mat[:, c].max():.0f})"
            at100 = row["curve_steps"].index(100_000) if 100_000 in row["curve_steps"] else None
            periods = " / ".join(f"{p.get('T', float('nan')):.1f}"
                                 for p in row["final_parameters"].values())
            tr = ""
            if "transfer" in row:
                tmat = np.array([[seed_row[str(n)] for n in JOINTS]
                                 for seed_row in row["transfer"].values()])
                tr = " ".join(f"{v:.0f}" for v in np.median(tmat, 0))
            lines.append(f"| {name} | {cell(0)} | {cell(at100) if at100 is not None else '-'} | "
                         f"{cell(-1)} | {periods} | {tr} |")
        lines.append("")
    if "transfer" in result:
        rows = result["transfer"]["rows"]
        lines += [f"Zero-shot transfer ({result['transfer']['episodes']} episodes per cell):", "",
                  "| policy | " + " | ".join(f"N={n}" for n in JOINTS) + " |",
                  "|---|" + "---|" * len(JOINTS)]
        for name, row in rows.items():
            lines.append(f"| {name} | " + " | ".join(f"{row[str(n)]:.0f}" for n in JOINTS) + " |")
    beside(out, ".json").write_text(json.dumps(result, indent=2) + "\n")
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    beside(out, ".md").write_text(f"Command: `{cmd}`\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
