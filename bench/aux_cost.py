"""Cost of each auxiliary loss: DrQ-v2 update time at equal batch size with and without it, and
the cost of the representation metrics at their default interval.

Every arm is an ``OffPolicyAgent`` (pixels) at DrQ-v2's network sizes (feature 50, hidden 1024, 32 conv
channels, 6 actions as cheetah) on the same synthetic replay, at a reduced image size (default
64x64x9); the arms' updates are timed interleaved, in rotating order, so all see the same machine
load; the fastest of ``--reps`` is kept per arm (CPU time of this thread, the fair measure on a
shared machine). Representation metrics: the time of one measurement (latents of the default
probe set + every metric) against the training time of one default interval (25,000 agent steps
at RR 0.5: 12,500 no-aux updates plus 25,000 env steps, the env step time measured while the
probe set is collected on ``--task`` with the standard render profile); the one-off probe
collection is reported separately. ``--probe-episodes n`` below the default 10 collects ``n``
episodes, scales the collection time by ``10 / n`` and times the measurement on the default
number of states by repeating the collected ones (the cost does not depend on the content); the
output says so. ``--metrics-only`` times just one measurement, on the default number of random
pixel states (the cost does not depend on the content), without the update table or an env.

    python bench/aux_cost.py [--size 64] [--batch 128] [--reps 7] [--no-probe] [--device cpu]
    python bench/aux_cost.py --metrics-only [--size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from agents.offpolicy.agent import OffPolicyAgent  # noqa: E402
from agents.plasticity.representation import collect_probe_set, representation_metrics  # noqa: E402
from bench.random_replay import fill_random_frames  # noqa: E402
from configs.schema import OffPolicyConfig, RepresentationConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
STACK, ACTIONS, FILL, EPISODE = 3, 6, 1200, 500
ARMS = {
    "none": [],
    "A one_step": [{"type": "one_step"}],
    "B rollout K=5": [{"type": "rollout", "k": 5}],
    "C-faithful": [{"type": "horizon_faithful"}],
    "C-stabilised": [{"type": "horizon_stabilised"}],
    "D contrastive K=3": [{"type": "contrastive", "k": 3}],
    "E reward": [{"type": "reward"}],
    "N negatives": [{"type": "negatives"}],
}


def make_agent(losses, size: int, batch: int, device: str = "cpu") -> OffPolicyAgent:
    torch.manual_seed(0)
    cfg = OffPolicyConfig(batch_size=batch, replay_capacity=FILL + 10, std_schedule="0.5",
                      aux={"losses": losses})
    obs_space = gym.spaces.Box(0, 255, (3 * STACK, size, size), np.uint8)
    act_space = gym.spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)
    agent = OffPolicyAgent(cfg, obs_space, act_space, device=device, seed=0)
    fill_random_frames(agent, FILL - 1, size, STACK, ACTIONS, episode=EPISODE)
    return agent


def timed(fn, device: str = "cpu") -> tuple[float, float]:
    """``(wall, CPU seconds of this thread)`` of ``fn()`` (CUDA: synchronised)."""
    if device == "cuda":
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.thread_time()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.thread_time() - c0


def update_costs(size: int, batch: int, reps: int, device: str) -> list[dict]:
    agents = {name: make_agent(losses, size, batch, device) for name, losses in ARMS.items()}
    for agent in agents.values():
        agent.update()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in agents}
    names = list(agents)
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            times[name].append(timed(agents[name].update, device))
    base_wall, base_cpu = (min(t[i] for t in times["none"]) for i in (0, 1))
    rows = []
    for name in names:
        wall, cpu = (min(t[i] for t in times[name]) for i in (0, 1))
        rows.append({"arm": name, "cpu_ms": 1e3 * cpu, "wall_ms": 1e3 * wall,
                     "added_cpu": cpu / base_cpu - 1.0, "added_wall": wall / base_wall - 1.0})
    return rows


def probe_cost(task: str, size: int, update_cpu_s: float, episodes: int) -> dict:
    from agents.plasticity.representation import ProbeSet
    from envs.factory import make_state_env
    from envs.pixels import PixelEnv

    cfg = RepresentationConfig()
    env = PixelEnv(make_state_env(task, seed=cfg.probe_seed), size=size, profile="standard")
    w0, c0 = time.perf_counter(), time.process_time()
    probe = collect_probe_set(env, episodes, cfg.probe_stride, cfg.probe_seed)
    scale = cfg.probe_episodes / episodes
    collect_wall = scale * (time.perf_counter() - w0)
    collect_cpu = scale * (time.process_time() - c0)
    steps = cfg.probe_episodes * env.episode_steps
    env.close()
    if episodes < cfg.probe_episodes:
        reps = int(np.ceil(scale))
        n = len(probe.obs) * cfg.probe_episodes // episodes
        probe = ProbeSet(*(np.concatenate([a] * reps)[:n] for a in
                           (probe.obs, probe.qpos, probe.qvel)),
                         np.arange(n) * cfg.probe_episodes // n, probe.meta)
    agent = make_agent([], size, 32)
    wall, cpu = timed(lambda: representation_metrics(agent.latents(probe.obs), probe, cfg.ridge))
    env_step_cpu = collect_cpu / steps
    interval_cpu = cfg.every * (env_step_cpu + 0.5 * update_cpu_s)
    return {"task": task, "probe_states": len(probe.obs), "probe_steps": steps,
            "collected_episodes": episodes, "collection_scaled_by": scale,
            "collect_cpu_s": collect_cpu, "collect_wall_s": collect_wall,
            "env_step_cpu_ms": 1e3 * env_step_cpu, "measure_cpu_s": cpu, "measure_wall_s": wall,
            "interval_steps": cfg.every, "interval_train_cpu_s": interval_cpu,
            "measure_fraction": cpu / interval_cpu,
            "collect_fraction_of_first_interval": collect_cpu / interval_cpu}


def metrics_only(size: int) -> dict:
    """CPU time of one measurement on the default probe size of random ``size`` px states."""
    from agents.plasticity.representation import ProbeSet

    cfg = RepresentationConfig()
    n = cfg.probe_episodes * 500 // cfg.probe_stride   # DMC: 500 agent steps per episode
    rng = np.random.default_rng(0)
    probe = ProbeSet(rng.integers(0, 256, (n, 3 * STACK, size, size), dtype=np.uint8),
                     rng.normal(size=(n, 9)), rng.normal(size=(n, 9)),
                     np.arange(n) * cfg.probe_episodes // n, {})
    agent = make_agent([], size, 32)
    wall, cpu = timed(lambda: representation_metrics(agent.latents(probe.obs), probe, cfg.ridge))
    return {"probe_states": n, "measure_cpu_s": cpu, "measure_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image size (DrQ-v2: 84)")
    parser.add_argument("--batch", type=int, default=128, help="replay batch (DrQ-v2: 256)")
    parser.add_argument("--reps", type=int, default=7, help="timed updates per arm")
    parser.add_argument("--task", default="dmc:cheetah-run", help="env of the probe-set timing")
    parser.add_argument("--no-probe", action="store_true", help="skip the metrics' cost")
    parser.add_argument("--probe-episodes", type=int, default=10,
                        help="episodes actually collected for the probe timing (default 10)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default=str(RESULTS), help="folder for aux_cost.json/.md")
    parser.add_argument("--metrics-only", action="store_true",
                        help="time one representation measurement only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.metrics_only:
        m = metrics_only(args.size)
        print(f"one representation measurement on {m['probe_states']} states at "
              f"{args.size}x{args.size}x9: {m['measure_cpu_s']:.2f} s CPU "
              f"({m['measure_wall_s']:.1f} s wall)")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "aux_metrics_cost.json").write_text(json.dumps({"size": args.size, **m}) + "\n")
        return

    rows = update_costs(args.size, args.batch, args.reps, args.device)
    lines = [f"Update time with each auxiliary loss, {args.size}x{args.size}x9, batch "
             f"{args.batch}, feature 50, hidden 1024, {args.device}, 1 thread, best of {args.reps} "
             f"interleaved (CPU = this thread's CPU time)", "",
             "| arm | CPU ms | added vs none (CPU) | wall ms | added vs none (wall) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['arm']} | {r['cpu_ms']:.0f} | {100 * r['added_cpu']:+.0f}% | "
              f"{r['wall_ms']:.0f} | {100 * r['added_wall']:+.0f}% |" for r in rows]
    result = {"size": args.size, "batch": args.batch, "reps": args.reps, "device": args.device,
              "rows": rows,
              "torch": torch.__version__}
    if not args.no_probe:
        p = probe_cost(args.task, args.size, rows[0]["cpu_ms"] / 1e3, args.probe_episodes)
        result["representation"] = p
        lines += ["", f"Representation metrics ({p['task']}, {args.size}x{args.size}, standard "
                  f"profile): one measurement on {p['probe_states']} probe states takes "
                  f"{p['measure_cpu_s']:.2f} s CPU = {100 * p['measure_fraction']:.2f}% of the "
                  f"{p['interval_train_cpu_s']:.0f} s CPU of training between two measurements "
                  f"({p['interval_steps']} agent steps: env step {p['env_step_cpu_ms']:.1f} ms, "
                  f"update {rows[0]['cpu_ms']:.0f} ms at RR 0.5); the one-off probe collection "
                  f"({p['probe_steps']} env steps) takes {p['collect_cpu_s']:.0f} s CPU = "
                  f"{100 * p['collect_fraction_of_first_interval']:.1f}% of the first interval"
                  + (f" (measured on {p['collected_episodes']} episodes, scaled by "
                     f"{p['collection_scaled_by']:g}; the measurement ran on the collected "
                     f"states repeated to the default count)."
                     if p["collection_scaled_by"] != 1 else ".")]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "aux_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "aux_cost.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
