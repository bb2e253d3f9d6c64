"""Cost of PPO's weight metrics (``agent.weight_metrics: true``) against its update.

One PPO agent from ``configs/ncap_swim_ppo.yaml`` (NCAP actor, 2x256 critic, segment 4096,
80 iterations) collects a segment on the 6-link swimmer, makes one update (the weight metrics
included), and then times ``measure`` alone on the same segment (median of ``--repeats``),
all in this thread's CPU time. Prints and writes ``bench/results/ppo_weight_metrics_cost.json``.

    python bench/ppo_weight_metrics_cost.py [--repeats 5]
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
import torch  # noqa: E402

from bench.random_replay import collect_segment  # noqa: E402
from configs.loader import load_config  # noqa: E402
from trainer.api import build  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "configs/ncap_swim_ppo.yaml", ["agent.weight_metrics=true"])
    env, agent, _ = build(cfg)
    collect_segment(agent, env)
    segment = torch.as_tensor(agent.buffer.obs)
    t0 = time.thread_time()
    agent.update()
    update = time.thread_time() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.thread_time()
        agent.measure(segment)
        times.append(time.thread_time() - t0)
    measure = float(np.median(times))
    share = measure / (update - measure)
    print(f"PPO update (segment {cfg.agent.segment}, {cfg.agent.iterations} iterations): "
          f"{update:.2f} s CPU with the weight metrics, of which measure {measure * 1e3:.1f} ms "
          f"= {100 * share:.2f}% of the update without them")
    out = ROOT / "bench/results/ppo_weight_metrics_cost.json"
    out.write_text(json.dumps({"command": "python bench/ppo_weight_metrics_cost.py " + " ".join(
        sys.argv[1:]), "update_s": update, "measure_s": measure, "measure_s_all": times,
        "share": share}, indent=1) + "\n")


if __name__ == "__main__":
    main()
