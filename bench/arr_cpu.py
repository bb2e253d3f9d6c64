"""Replay ratio on CPU: fixed RR 0.5 vs fixed RR 2 vs Adaptive RR, state-based off-policy agent.

``--variants rr2_reset rr2_redo`` add RR 2 with Reset (10 resets of the actor and critic heads
over the run) and with ReDo (tau 0.025 every 1000 updates).

The cheapest setting where the RR matters: ``configs/offpolicy_cartpole_swingup.yaml`` (states,
2x256 MLPs, batch 256, 1000 agent steps per episode) for ``--steps`` agent steps per run, with
updates from step 2000 (``agent.seed_frames=2000 agent.explore_steps=2000``). The adaptive runs
check the critic FAU every ``--interval`` episodes (default 2: **not the paper's 50**, which a
budget of ~15 episodes would never reach); threshold 0.001, RR 0.5 -> 2 as in the paper.

Writes ``bench/results/arr_cpu.{json,md,png}`` (return, critic FAU and RR against agent steps in
one figure, the switch marked) and measures, from the adaptive runs' ``fau_episodes.csv``, the
single-episode FAU noise (the change between consecutive episodes' mean critic FAU) against the
0.001 threshold, and whether the switch fell in the early FAU trough (at or before the episode
of the lowest per-episode FAU so far). Run folders go to ``bench/runs/arr_cpu/``; rerunning
resumes unfinished runs and reuses finished ones. One process, run it niced:

    python bench/arr_cpu.py --steps 15000 --seeds 0 1 2
    python bench/arr_cpu.py --steps 30000 --seeds 0 1 2 --variants rr0.5 arr \\
        --runs bench/runs/arr_cpu_30k --name arr_cpu_30k
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

import numpy as np  # noqa: E402

from configs.loader import load_config  # noqa: E402
from trainer.api import train  # noqa: E402
from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.analysis.plots import group_curves, plot_panels  # noqa: E402
from trainer.analysis.runs import read_csv  # noqa: E402

PRESET = ROOT / "configs/offpolicy_cartpole_swingup.yaml"
THRESHOLD = 1e-3
VARIANTS = {"rr0.5": ["agent.rr_schedule.type=fixed", "agent.rr_schedule.rr=0.5"],
            "rr2": ["agent.rr_schedule.type=fixed", "agent.rr_schedule.rr=2"],
            "arr": ["agent.rr_schedule.type=adaptive"],
            "rr2_reset": ["agent.rr_schedule.type=fixed", "agent.rr_schedule.rr=2",
                          "agent.reset.count=10"],
            "rr2_redo": ["agent.rr_schedule.type=fixed", "agent.rr_schedule.rr=2",
                         "agent.redo.every_updates=1000", "agent.redo.tau=0.025"]}


def fau_noise(run: Path) -> dict:
    """Consecutive-episode changes of the mean critic FAU, before any switch, and the trough."""
    episodes = read_csv(run / "fau_episodes.csv")
    checks = read_csv(run / "rr_checks.csv")
    switch = next((c for c in checks if c["decision"] == "switch"), None)
    before = [e for e in episodes if switch is None or int(e["episode"]) <= int(switch["episode"])]
    fau = np.array([float(e["fau"]) for e in before])
    deltas = np.abs(np.diff(fau))
    out = {"episodes": len(fau), "median_abs_change": float(np.median(deltas)) if deltas.size
           else None, "std_change": float(np.std(np.diff(fau))) if deltas.size > 1 else None,
           "share_within_threshold": float(np.mean(deltas <= THRESHOLD)) if deltas.size else None,
           "checks": [{k: c[k] for k in ("episode", "step", "fau", "change", "decision")}
                      for c in checks]}
    all_fau = np.array([float(e["fau"]) for e in episodes])
    if switch is not None and all_fau.size:
        k = [int(e["episode"]) for e in episodes].index(int(switch["episode"]))
        out.update(switch_episode=int(switch["episode"]), switch_step=int(switch["step"]),
                   fau_at_switch=float(all_fau[k]), lowest_fau_before=float(all_fau[:k + 1].min()),
                   lowest_fau_episode=int(episodes[int(all_fau.argmin())]["episode"]),
                   in_trough=bool(k <= int(all_fau.argmin())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--interval", type=int, default=2, help="adaptive check interval (episodes)")
    ap.add_argument("--variants", nargs="+", default=["rr0.5", "rr2", "arr"],
                    choices=list(VARIANTS), help="rr2_reset / rr2_redo: the interventions")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results")
    ap.add_argument("--runs", type=Path, default=ROOT / "bench/runs/arr_cpu",
                    help="folder of the run folders (one per budget: runs resume)")
    ap.add_argument("--name", default="arr_cpu", help="results file name: <out>/<name>.*")
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs: dict[str, list[Path]] = {v: [] for v in args.variants}
    results = []
    for seed in args.seeds:
        for variant in args.variants:
            run = args.runs / variant / f"seed{seed}"
            extra = VARIANTS[variant] + ([f"agent.rr_schedule.interval={args.interval}"]
                                         if variant == "arr" else [])
            cfg = load_config(PRESET, [
                *extra, f"name=arr_cpu_{variant}", f"steps={args.steps}", f"seed={seed}",
                f"run_dir={run}", "agent.seed_frames=2000", "agent.explore_steps=2000",
                "trainer.eval_every=2500", "trainer.eval_episodes=3", "trainer.log_every=500",
                f"trainer.checkpoint_every={args.steps}", "trainer.progress=false",
                "trainer.tensorboard=false", "torch_threads=1"])
            summary = train(cfg)
            print(f"{variant} seed {seed}: final {summary['final_eval_return']:.1f}, "
                  f"{summary['train_seconds']:.0f} s", flush=True)
            updates = load_checkpoint(run / "checkpoints/last.pt")["agent"]["updates"]
            results.append({"variant": variant, "seed": seed, "run_dir": str(run),
                            "final_return": summary["final_eval_return"],
                            "best_return": summary["best_eval_return"],
                            "train_seconds": summary["train_seconds"],
                            "updates": updates,
                            **({"noise": fau_noise(run)} if variant == "arr" else {})})
            runs[variant].append(run)
    panels = {m: {v: group_curves(rs, "name", "step", m)[f"arr_cpu_{v}"] for v, rs in runs.items()}
              for m in ("return", "fau/critic", "rr")}
    switches = {v: [r["noise"].get("switch_step") for r in results if r["variant"] == v]
                for v in runs if v == "arr"}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_panels(panels, args.out / f"{args.name}.png", "step",
                f"cartpole_swingup (states), {len(args.seeds)} seeds: fixed RR vs adaptive "
                f"(check every {args.interval} episodes)", switches)
    minutes = (time.perf_counter() - t0) / 60
    command = " ".join(["python bench/arr_cpu.py", *sys.argv[1:]])
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "steps": args.steps, "seeds": args.seeds,
         "interval": args.interval, "threshold": THRESHOLD, "wall_minutes": minutes,
         "runs": results}, indent=2) + "\n")
    lines = ["| variant | seed | final return | best return | updates | train s | "
             "switch step |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        sw = r.get("noise", {}).get("switch_step", "none" if r["variant"] == "arr" else "")
        lines.append(f"| {r['variant']} | {r['seed']} | {r['final_return']:.1f} | "
                     f"{r['best_return']:.1f} | {r['updates']:,} | "
                     f"{r['train_seconds']:.0f} | {sw} |")
    noise = ["", "| adaptive seed | episodes before switch | median abs change between "
             "consecutive episodes | share <= 0.001 | switch episode | lowest-FAU episode | "
             "in trough |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if r["variant"] != "arr":
            continue
        n = r["noise"]
        med = "n/a" if n["median_abs_change"] is None else f"{n['median_abs_change']:.4f}"
        share = "n/a" if n["share_within_threshold"] is None else \
            f"{n['share_within_threshold']:.2f}"
        noise.append(f"| {r['seed']} | {n['episodes']} | {med} | {share} | "
                     f"{n.get('switch_episode', 'none')} | {n.get('lowest_fau_episode', 'n/a')} "
                     f"| {n.get('in_trough', 'n/a')} |")
    md = ("\n".join(lines + noise) + f"\n\n{args.steps:,} agent steps per run, seeds "
          f"{' '.join(map(str, args.seeds))}, adaptive check every {args.interval} episodes "
          f"(paper: 50), {minutes:.1f} min wall. Command: `{command}`\n")
    (args.out / f"{args.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
