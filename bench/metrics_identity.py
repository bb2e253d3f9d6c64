"""Same results before and after a refactor: fixed-seed runs of each preset family, in-process.

Issue 20 (architecture) moves code without changing behaviour. This script trains one short,
fixed-seed run of each preset family and records every logged number that does not depend on
the clock (``metrics.csv`` and ``eval.csv``, minus the speed and time columns) and the final
policy parameters:

* ``ppo_ncap``: ``configs/ncap_swim_ppo.yaml`` (PPO, the 4-weight NCAP circuit);
* ``offpolicy_states``: ``configs/offpolicy_cartpole_swingup.yaml`` (the off-policy agent from
  states), with a short seed phase so updates run;
* ``drqv2_tiny_arr_aux``: ``configs/drqv2_tiny.yaml`` with the adaptive replay ratio and the
  one-step predictive loss (pixels, tiny sizes);
* ``es``: ``configs/ncap_swim_es.yaml`` (evolution strategies).

``--write FILE`` records them; ``--compare FILE`` reruns and reports, per family, the largest
absolute difference of any recorded number (0 expected: same machine, same thread count, same
code path) and exits 1 if any differs. The file is specific to this machine (CPUs pick different
kernels), so it is not committed and no test reads it.

    python bench/metrics_identity.py --write /tmp/before.json     # on the old commit
    python bench/metrics_identity.py --compare /tmp/before.json   # on the new one
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

CLOCK_COLUMNS = {"steps_per_second", "train_seconds", "seconds", "wall_seconds", "fps",
                 "updates_per_second", "time"}
COMMON = ["trainer.progress=false", "trainer.tensorboard=false", "torch_threads=1", "device=cpu"]
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "ppo_ncap": ("configs/ncap_swim_ppo.yaml",
                 ["steps=4096", "trainer.eval_every=2048", "trainer.eval_episodes=1"]),
    "offpolicy_states": ("configs/offpolicy_cartpole_swingup.yaml",
                         ["steps=1500", "agent.explore_steps=500", "agent.seed_frames=500",
                          "trainer.eval_every=1000", "trainer.eval_episodes=1",
                          "trainer.log_every=250"]),
    "drqv2_tiny_arr_aux": ("configs/drqv2_tiny.yaml",
                           ["steps=1200", "agent.explore_steps=300", "agent.seed_frames=600",
                            "agent.rr_schedule={type: adaptive, low: 0.5, high: 2, interval: 1,"
                            " threshold: 0.001}",
                            "agent.aux.losses=[{type: one_step}]",
                            "trainer.eval_every=600", "trainer.eval_episodes=1",
                            "trainer.log_every=200"]),
    "es": ("configs/ncap_swim_es.yaml",
           ["steps=16000", "trainer.eval_every=8000", "trainer.eval_episodes=1"]),
}


def read_rows(path: Path) -> list[dict[str, float]]:
    """The numeric, clock-free cells of a CSV, row by row."""
    if not path.exists():
        return []
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows.append({k: float(v) for k, v in row.items()
                         if k not in CLOCK_COLUMNS and v not in ("", None)
                         and _is_number(v)})
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def run_family(name: str, folder: Path) -> dict:
    """Train one family's fixed-seed run and return its recorded numbers."""
    import torch

    from configs.loader import load_config
    from trainer.api import train

    preset, overrides = FAMILIES[name]
    run = folder / name
    cfg = load_config(ROOT / preset, [*COMMON, *overrides, "seed=3", f"run_dir={run}"])
    train(cfg)
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    params = {}
    for key, value in _tensors(state):
        params[key] = value.detach().double().flatten().tolist()
    return {"metrics": read_rows(run / "metrics.csv"), "eval": read_rows(run / "eval.csv"),
            "params": params}


def _tensors(obj, prefix: str = ""):
    """Every floating tensor in a (nested) checkpoint, with a dotted key."""
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}.{i}")


def max_difference(a: dict, b: dict) -> tuple[float, str]:
    """Largest absolute difference between two recordings of one family, and where."""
    worst, where = 0.0, ""
    for part in ("metrics", "eval"):
        if len(a[part]) != len(b[part]):
            return math.inf, f"{part}: {len(a[part])} vs {len(b[part])} rows"
        for i, (ra, rb) in enumerate(zip(a[part], b[part])):
            if set(ra) != set(rb):
                return math.inf, f"{part} row {i}: columns differ {sorted(set(ra) ^ set(rb))}"
            for k in ra:
                d = abs(ra[k] - rb[k]) if not (math.isnan(ra[k]) and math.isnan(rb[k])) else 0.0
                if d > worst:
                    worst, where = d, f"{part} row {i} {k}"
    pa, pb = a["params"], b["params"]
    if sorted(map(len, pa.values())) != sorted(map(len, pb.values())):
        return math.inf, "parameter shapes differ"
    # Keys may be renamed by a refactor; compare the multiset of tensors in key order of size.
    for va, vb in zip(sorted(pa.values(), key=lambda v: (len(v), v)),
                      sorted(pb.values(), key=lambda v: (len(v), v))):
        d = max((abs(x - y) for x, y in zip(va, vb)), default=0.0)
        if d > worst:
            worst, where = d, "parameters"
    return worst, where


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="record the numbers to this JSON file")
    mode.add_argument("--compare", type=Path, help="rerun and compare with this JSON file")
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        now = {name: run_family(name, Path(tmp)) for name in args.families}
    if args.write:
        args.write.write_text(json.dumps(now))
        print(f"recorded {', '.join(now)} -> {args.write}")
        return 0
    before = json.loads(args.compare.read_text())
    failed = False
    for name, rec in now.items():
        if name not in before:
            print(f"{name}: not in {args.compare}")
            failed = True
            continue
        worst, where = max_difference(before[name], rec)
        rows = len(rec["metrics"]) + len(rec["eval"])
        print(f"{name}: {rows} rows, {sum(map(len, rec['params'].values()))} parameters, "
              f"max |difference| {worst:.3g}" + (f" ({where})" if worst else ""))
        failed |= worst != 0.0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
