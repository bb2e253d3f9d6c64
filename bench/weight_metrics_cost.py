"""Cost of the weight metrics (``agent.weight_metrics_every``) at the state update size.

Two agents built from ``configs/offpolicy_cartpole_swingup.yaml`` (2x256 MLPs, batch 256), the
same random replay contents, updates interleaved in blocks (on, off, off, on, ...) so load on
the shared machine hits both sides alike. "On" computes the weight metrics after **every**
update (``weight_metrics_every=1``, the worst case; the metric is meant for every N >> 1 updates)
and "off" does not. Reports this thread's CPU time per update of each and the ratio.

    python bench/weight_metrics_cost.py [--blocks 10] [--block 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.random_replay import fill_from_env  # noqa: E402
from configs.loader import load_config  # noqa: E402
from trainer.api import build  # noqa: E402


def agent(every: int | None):
    cfg = load_config(ROOT / "configs/offpolicy_cartpole_swingup.yaml", [
        "device=cpu", "agent.seed_frames=0", "agent.explore_steps=0",
        f"agent.weight_metrics_every={'null' if every is None else every}"])
    env, a, _ = build(cfg)
    fill_from_env(a, env, 600)
    env.close()
    return a


def block(a, n: int) -> float:
    t0 = time.thread_time()
    for _ in range(n):
        a.update()
    a.pending_metrics()
    return (time.thread_time() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--block", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    on, off = agent(1), agent(None)
    block(on, 5), block(off, 5)   # warm-up
    times = {"on": [], "off": []}
    for i in range(args.blocks):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for side in order:
            times[side].append(block(on if side == "on" else off, args.block))
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = med["on"] / med["off"]
    print(f"CPU s per update: weight metrics every update {med['on'] * 1e3:.2f} ms, off "
          f"{med['off'] * 1e3:.2f} ms: +{100 * (ratio - 1):.1f}% "
          f"({args.blocks} blocks of {args.block} updates per side, interleaved)")
    out = ROOT / "bench/results/weight_metrics_cost.json"
    out.write_text(json.dumps({"command": "python bench/weight_metrics_cost.py " + " ".join(
        sys.argv[1:]), "ms_per_update": {k: v * 1e3 for k, v in med.items()},
        "overhead": ratio - 1, "blocks": times}, indent=1) + "\n")


if __name__ == "__main__":
    main()
