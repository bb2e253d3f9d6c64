"""Navigation benchmark (``ncap.md`` section 3): steering circuit vs MLP on the navigate task.

Agents (PPO, ``configs/ncap_navigate_ppo.yaml`` / ``configs/mlp_navigate_ppo.yaml``):

* ``ncap_hardcoded`` - NCAP + speed/turn inputs from the fixed rule (6 parameters);
* ``ncap_learned`` - the same with the learned 2 -> 3 linear brain (15 parameters), starting
  from ``nn.Linear``'s default init as the authors' code does;
* ``ncap_learned_rule`` - the learned brain starting from the hard-coded steering rule
  (``agent.actor.brain_init=steering_rule``; the only start before this option existed);
* ``mlp`` - 2x256 tanh MLP on the same observation.

Each is trained ``--steps`` env steps per seed, then its final policy (``last.pt``) runs
``--episodes`` evaluation episodes on N = 5 (mean actions, seeds 10000 + i): mean return and
success rate (the nose within 0.1 m of the target at the episode's last step). The circuits
(body-independent) also run zero-shot on ``--transfer-joints``. The untrained circuits are
reported too (step 0). Writes ``bench/results/navigation.{json,md}``; runs go to
``bench/runs/navigation/``.

    python bench/navigation.py --steps 60000 --seeds 0 1 2 --episodes 10
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

from agents.common.base import begin_episode  # noqa: E402
from configs.loader import load_config  # noqa: E402
from envs.navigate import reached  # noqa: E402
from trainer.api import build, load_policy, train  # noqa: E402
from bench.outputs import beside  # noqa: E402

NCAP = ROOT / "configs/ncap_navigate_ppo.yaml"
AGENTS = {"ncap_hardcoded": (NCAP, ["agent.actor.steering=hardcoded"]),
          "ncap_learned": (NCAP, []),
          "ncap_learned_rule": (NCAP, ["agent.actor.brain_init=steering_rule"]),
          "mlp": (ROOT / "configs/mlp_navigate_ppo.yaml", [])}
SEED_BASE = 10_000


def episodes(agent, env, n: int) -> tuple[float, float]:
    """Mean return and success rate of ``n`` mean-action episodes from seeds 10000 + i."""
    returns, success = [], []
    for i in range(n):
        obs, _ = env.reset(seed=SEED_BASE + i)
        begin_episode(agent, explore=False)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, explore=False))
            total += reward
            done = terminated or truncated
        returns.append(total)
        success.append(reached(env.physics))
    return float(np.mean(returns)), float(np.mean(success))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--transfer-joints", type=int, nargs="*", default=[3, 9])
    ap.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    ap.add_argument("--out", default=str(ROOT / "bench/results/navigation"))
    args = ap.parse_args()

    result: dict = {"steps": args.steps, "seeds": args.seeds, "episodes": args.episodes,
                    "untrained": {}, "trained": {}}
    for name in args.agents:
        preset, extra = AGENTS[name]
        if name.startswith("ncap"):
            env, agent, _ = build(load_config(preset, extra))
            result["untrained"][name] = dict(zip(("return", "success"),
                                                 episodes(agent, env, args.episodes)))
        per_seed = []
        for seed in args.seeds:
            run_dir = ROOT / f"bench/runs/navigation/{name}/seed{seed}"
            t0 = time.perf_counter()
            train(load_config(preset, [*extra, f"steps={args.steps}", f"seed={seed}",
                                       f"run_dir={run_dir}", "trainer.progress=false"]))
            last = run_dir / "checkpoints" / "last.pt"
            cfg, agent, env = load_policy(last)
            row = {"parameters": agent.trainable_parameters()["policy"]}
            row["return"], row["success"] = episodes(agent, env, args.episodes)
            if name.startswith("ncap"):
                for n in args.transfer_joints:
                    _, a, e = load_policy(last, [f"env.n_joints={n}"])
                    row[f"N={n}"] = dict(zip(("return", "success"), episodes(a, e, args.episodes)))
            per_seed.append(row)
            print(f"{name} seed {seed}: {row} ({time.perf_counter() - t0:.0f} s)", flush=True)
        result["trained"][name] = per_seed

    cols = ["N=5", *[f"N={n}" for n in args.transfer_joints]]
    lines = [f"navigate, trained {args.steps} steps, {len(args.seeds)} seeds, {args.episodes} "
             "episodes per cell: mean return / success rate (median over seeds [min-max])", "",
             "| agent | params | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]

    def cell(rows: list[dict], key: str) -> str:
        if key != "N=5" and key not in rows[0]:
            return "-"
        vals = [(r if key == "N=5" else r[key]) for r in rows]
        ret = np.array([v["return"] for v in vals])
        suc = np.array([v["success"] for v in vals])
        return (f"{np.median(ret):.0f} [{ret.min():.0f}-{ret.max():.0f}] / "
                f"{np.median(suc):.2f} [{suc.min():.2f}-{suc.max():.2f}]")

    for name in args.agents:
        if name in result["untrained"]:
            u = result["untrained"][name]
            lines.append(f"| {name} (untrained) | - | {u['return']:.0f} / {u['success']:.2f} | "
                         + " | ".join("-" for _ in args.transfer_joints) + " |")
        rows = result["trained"][name]
        lines.append(f"| {name} | {rows[0]['parameters']} | "
                     + " | ".join(cell(rows, c) for c in cols) + " |")
    out = Path(args.out)
    beside(out, ".json").write_text(json.dumps(result, indent=2) + "\n")
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    beside(out, ".md").write_text(f"Command: `{cmd}`\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
