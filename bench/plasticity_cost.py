"""Cost of the plasticity metrics: DrQ-v2-size updates with ``agent.plasticity_metrics`` on vs off.

Two agents built from ``configs/drqv2_cheetah_run.yaml`` (84x84x9 pixels, batch 256, hidden 1024,
feature 50, 6 actions), the same replay contents, updates interleaved (on, off, off, on, ...) so
load on the shared machine hits both sides alike. "On" computes every metric the agent logs
(FAU of encoder, actor and critic; tau-dormant ratios at 0 and 0.025 of actor and critic) and
reads them back every ``--read-every`` updates (the log interval); "off" computes only the critic
FAU the adaptive schedule needs. Times are this thread's CPU time and wall time per update.

    python bench/plasticity_cost.py [--updates 20] [--batch 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from agents import make_agent  # noqa: E402
from agents.common.base import Transition  # noqa: E402
from configs.loader import load_config  # noqa: E402

RESULTS = ROOT / "bench/results"
FILL = 400


def build(metrics: bool, batch: int):
    cfg = load_config(ROOT / "configs/drqv2_cheetah_run.yaml", [
        "device=cpu", f"agent.batch_size={batch}", "agent.replay_capacity=1000",
        "agent.seed_frames=0", f"agent.plasticity_metrics={str(metrics).lower()}"])
    obs_space = gym.spaces.Box(0, 255, (9, 84, 84), np.uint8)
    act_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    torch.manual_seed(0)
    agent = make_agent(cfg, obs_space, act_space, env=None, device="cpu")
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (9, 84, 84), dtype=np.uint8)
    for i in range(FILL):
        nxt = np.concatenate([frame[3:], rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)])
        agent.observe(Transition(frame, rng.uniform(-1, 1, 6).astype(np.float32),
                                 float(rng.uniform()), nxt, False, (i + 1) % 100 == 0))
        frame = nxt
    return agent


def time_update(agent, read: bool) -> tuple[float, float]:
    c0, w0 = time.thread_time(), time.perf_counter()
    agent.update()
    if read:
        agent.pending_metrics()
    return time.thread_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=20, help="timed updates per side")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--read-every", type=int, default=10, help="updates between metric reads")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    agents = {"on": build(True, args.batch), "off": build(False, args.batch)}
    for agent in agents.values():   # warm-up
        time_update(agent, read=True)
    times = {k: {"cpu": [], "wall": []} for k in agents}
    for i in range(args.updates):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for side in order:
            cpu, wall = time_update(agents[side], read=(i + 1) % args.read_every == 0)
            times[side]["cpu"].append(cpu)
            times[side]["wall"].append(wall)
    row = {side: {f"{k}_ms_{stat}": 1e3 * fn(v) for k, v in t.items()
                  for stat, fn in (("median", statistics.median), ("mean", statistics.fmean))}
           for side, t in times.items()}
    overhead = {k: row["on"][f"{k}_ms_median"] / row["off"][f"{k}_ms_median"] - 1
                for k in ("cpu", "wall")}
    result = {"batch": args.batch, "updates_per_side": args.updates, "threads": args.threads,
              "read_every": args.read_every, "sides": row, "overhead_median": overhead,
              "command": " ".join(["python bench/plasticity_cost.py", *sys.argv[1:]])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "plasticity_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ("| metrics | CPU ms/update (median) | wall ms/update (median) |\n|---|---:|---:|\n"
          + "".join(f"| {side} | {r['cpu_ms_median']:.0f} | {r['wall_ms_median']:.0f} |\n"
                    for side, r in row.items())
          + f"\nOverhead of the metrics (median): CPU {100 * overhead['cpu']:+.1f}%, wall "
            f"{100 * overhead['wall']:+.1f}%; batch {args.batch}, 84x84x9, {args.updates} "
            f"interleaved updates per side, {args.threads} thread(s). Command: "
            f"`{result['command']}`\n")
    (args.out / "plasticity_cost.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
