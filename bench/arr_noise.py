"""Single-episode critic-FAU noise of a fixed-RR run against the ARR threshold, from its logs.

Per-episode mean critic FAU from ``metrics.csv``: with ``trainer.log_every`` dividing the episode
length and a constant RR, every log window of an episode holds the same number of updates, so
the episode mean is the mean of its windows' ``fau/critic``. Prints the consecutive-episode
changes, the changes the adaptive rule would see with a check every ``--interval`` episodes, and
which of those are <= the threshold (a "switch" the paper's rule would make there).

    python bench/arr_noise.py bench/results/arr_cpu_partial/rr0.5 --episode 1000 --interval 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.rundir import RunDir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--episode", type=int, default=1000, help="agent steps per episode")
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=1e-3)
    args = ap.parse_args()
    rows = RunDir.read_table(args.run / "metrics.csv")
    windows: dict[int, list[float]] = {}
    per_episode = args.episode // (int(rows[1]["step"]) - int(rows[0]["step"]))
    for r in rows:
        if r.get("fau/critic"):
            windows.setdefault((int(r["step"]) - 1) // args.episode + 1, []).append(
                float(r["fau/critic"]))
    means = {e: float(np.mean(v)) for e, v in sorted(windows.items()) if len(v) == per_episode}
    episodes = list(means)
    fau = np.array(list(means.values()))
    change = np.abs(np.diff(fau))
    checks = [(e, means[e] - means[e - args.interval]) for e in episodes
              if e % args.interval == 0 and e - args.interval in means]
    out = {"run": str(args.run), "episodes": episodes, "episode_fau": fau.round(5).tolist(),
           "consecutive_abs_change": {"median": float(np.median(change)),
                                      "mean": float(change.mean()), "max": float(change.max()),
                                      "share_le_threshold": float(np.mean(change <=
                                                                          args.threshold))},
           "checks": [{"episode": e, "change": round(c, 5), "switch": abs(c) <= args.threshold}
                      for e, c in checks],
           "lowest_fau_episode": episodes[int(fau.argmin())]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
