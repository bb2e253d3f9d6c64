"""Sweep overhead: what Ray Tune (start-up, scheduling, tear-down) costs on top of the training.

Runs ``python train.py sweep`` with 2 learning rates x 2 seeds of the default preset (NCAP + PPO,
swim N=5) as a subprocess on the local machine, then reads each trial's ``trial.json``:

* ``W``      wall time of the whole sweep command (process start to exit: Python imports,
             Ray start, the trials, Ray shutdown, the report);
* ``t_i``    each trial's own training time: the wall time of its ``train(cfg)`` call inside the
             Ray worker (config, env and agent build, training, evaluations, checkpoints);
* ``ideal``  the makespan of the trials on the sweep's parallel slots (``min(cores, trials)``)
             with no overhead at all: longest-processing-time-first schedule of the ``t_i``
             (for equal trials, ``sum(t_i) / slots``);
* overhead ``(W - ideal) / W``: the share of the sweep's wall time not spent training. Target:
  under 15% for ~1-minute trials on 2 cores.

Ray's worker start-up (importing torch and MuJoCo in a fresh process) counts as overhead. With
``--baseline`` the same trials also run as plain ``python train.py`` processes, two at a time
(a hand-made process pool), for comparison. The machine may be shared: the load average is
recorded. Writes ``bench/results/sweep_overhead.{json,md}``; sweep folders go to a temp dir.

    python bench/sweep_overhead.py --steps 65536 --baseline
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GRID = "agent.actor_lr=1e-3,3e-4"
SEEDS = 2
TARGET = 0.15


def makespan(durations: list[float], slots: int) -> float:
    """Longest-processing-time-first schedule length of ``durations`` on ``slots`` workers."""
    finish = [0.0] * slots
    for d in sorted(durations, reverse=True):
        heapq.heappush(finish, heapq.heappop(finish) + d)
    return max(finish)


def trial_overrides(steps: int) -> list[str]:
    return [f"steps={steps}", "trainer.eval_every=8192", "trainer.eval_episodes=2",
            "trainer.checkpoint_every=8192", "trainer.tensorboard=false"]


def run_sweep(folder: Path, steps: int) -> dict:
    cmd = [sys.executable, "train.py", "sweep", "configs/ncap_swim_ppo.yaml", "--seeds",
           str(SEEDS), "--grid", GRID, *trial_overrides(steps), f"run_dir={folder}"]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    t1 = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*/seed*/trial.json"))]
    seconds = [r["seconds"] for r in records]
    starts = [r["started_at"] for r in records]
    ends = [r["started_at"] + r["seconds"] for r in records]
    slots = min(len(os.sched_getaffinity(0)), len(records))
    wall = t1 - t0
    ideal = makespan(seconds, slots)
    return {"command": " ".join(cmd[1:]), "wall_s": wall, "trials": len(records),
            "slots": slots, "trial_seconds": seconds, "sum_trial_s": sum(seconds),
            "ideal_s": ideal, "overhead_s": wall - ideal,
            "overhead_fraction": (wall - ideal) / wall,
            "until_first_trial_s": min(starts) - t0, "after_last_trial_s": t1 - max(ends)}


def run_pool(folder: Path, steps: int, parallel: int) -> dict:
    """The same trials as plain ``train.py`` processes, ``parallel`` at a time."""
    jobs = [[sys.executable, "train.py", "configs/ncap_swim_ppo.yaml", f"agent.actor_lr={lr}",
             f"seed={seed}", "trainer.progress=false", *trial_overrides(steps),
             f"run_dir={folder / f'lr{lr}' / f'seed{seed}'}"]
            for lr in GRID.split("=")[1].split(",") for seed in range(SEEDS)]
    t0 = time.time()
    running: list[subprocess.Popen] = []
    for job in jobs:
        if len(running) == parallel:
            running.pop(0).wait()
        running.append(subprocess.Popen(job, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
    for p in running:
        p.wait()
    return {"wall_s": time.time() - t0, "parallel": parallel}


def table(result: dict) -> str:
    s = result["sweep"]
    rows = [("trials x slots", f"{s['trials']} x {s['slots']}"),
            ("trial train(cfg) times (s)", ", ".join(f"{t:.1f}" for t in s["trial_seconds"])),
            ("sum of trial times (s)", f"{s['sum_trial_s']:.1f}"),
            ("ideal parallel time (s)", f"{s['ideal_s']:.1f}"),
            ("sweep wall time W (s)", f"{s['wall_s']:.1f}"),
            ("  until the first trial starts (s)", f"{s['until_first_trial_s']:.1f}"),
            ("  after the last trial ends (s)", f"{s['after_last_trial_s']:.1f}"),
            ("overhead (W - ideal) / W", f"{100 * s['overhead_fraction']:.1f}% "
             f"(target < {100 * TARGET:.0f}%)")]
    if "pool" in result:
        rows.append(("plain train.py processes, 2 at a time (s)",
                     f"{result['pool']['wall_s']:.1f}"))
    rows.append(("load average before / after", " / ".join(
        f"{a:.1f}" for a in (result["load_before"][0], result["load_after"][0]))))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=65536,
                        help="env steps per trial (default: about 1 minute on 2 cores)")
    parser.add_argument("--baseline", action="store_true",
                        help="also run the trials as plain processes, two at a time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sweep_overhead_"))
    try:
        result = {"steps_per_trial": args.steps, "cpus": len(os.sched_getaffinity(0)),
                  "load_before": os.getloadavg()}
        result["sweep"] = run_sweep(work / "sweep", args.steps)
        if args.baseline:
            result["pool"] = run_pool(work / "pool", args.steps, result["sweep"]["slots"])
        result["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sweep_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "sweep_overhead.md").write_text(
        f"# Sweep overhead\n\n`python bench/sweep_overhead.py --steps {args.steps}"
        f"{' --baseline' if args.baseline else ''}`\n\n```\n{text}\n```\n")


if __name__ == "__main__":
    main()
