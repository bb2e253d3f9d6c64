"""State-based off-policy update throughput: ``agents/offpolicy.py`` vs stable-baselines3 TD3.

Identical sizes, side by side in one process, alternating repeats: observation 17 and 6 actions
(cheetah-run), actor and twin critics 2x256 ReLU on ``(obs, action)``, batch 256, Adam lr 1e-3,
Polyak 0.005, target-policy noise 0.2 clipped at 0.5, one actor step per critic step (SB3
``policy_delay=1``), a replay of 10k identical random transitions, one torch thread. One update
= sample a batch, critic step, actor step, target update. Our actor loss reads ``min(Q1, Q2)``
(both heads), SB3's reads ``Q1`` only, so ours does slightly more work.

    python bench/offpolicy_update.py [--updates 500] [--repeats 3]
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
from stable_baselines3 import TD3  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from agents.base import Transition  # noqa: E402
from agents.offpolicy import OffPolicyAgent  # noqa: E402
from configs.schema import FixedRRConfig, OffPolicyConfig  # noqa: E402

OBS, ACT, FILL, BATCH = 17, 6, 10_000, 256


class _Spaces(gym.Env):
    """Spaces only: SB3 needs an env to build TD3; no step is ever taken."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (ACT,), np.float32)


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(FILL + 1, OBS)).astype(np.float32)
    act = rng.uniform(-1, 1, (FILL, ACT)).astype(np.float32)
    rew = rng.normal(size=FILL).astype(np.float32)
    return obs, act, rew


def ours(**overrides):
    """Our agent's ``update`` at the TD3 sizes (``overrides``: other ``OffPolicyConfig`` keys)."""
    keys = dict(batch_size=BATCH, n_step=1, lr=1e-3, feature_dim=None, hidden_dim=256,
                replay_capacity=FILL + 10, critic_tau=0.005, std_schedule="0.2", std_clip=0.5,
                explore_steps=0, seed_frames=0, double_q=True, target_actor=True,
                noisy_updates=True, rr_schedule=FixedRRConfig(rr=1))
    cfg = OffPolicyConfig(**{**keys, **overrides})
    agent = OffPolicyAgent(cfg, _Spaces.observation_space, _Spaces.action_space)
    obs, act, rew = data()
    for i in range(FILL):
        agent.observe(Transition(obs[i], act[i], float(rew[i]), obs[i + 1], False,
                                 i % 1000 == 999))
    return agent.update


def sb3():
    model = TD3("MlpPolicy", _Spaces(), batch_size=BATCH, learning_rate=1e-3, tau=0.005,
                policy_delay=1, target_policy_noise=0.2, target_noise_clip=0.5,
                buffer_size=FILL + 10, learning_starts=0, device="cpu",
                policy_kwargs={"net_arch": [256, 256]}, seed=0)
    model.set_logger(configure(None, []))
    obs, act, rew = data()
    for i in range(FILL):
        model.replay_buffer.add(obs[i][None], obs[i + 1][None], act[i][None], rew[i:i + 1],
                                np.array([False]), [{}])
    return lambda: model.train(gradient_steps=1, batch_size=BATCH)


def rate(update, n: int) -> float:
    update()  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        update()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    impls = {"ours": ours(), "sb3_td3": sb3()}
    rates: dict[str, list[float]] = {k: [] for k in impls}
    for r in range(args.repeats):
        for name, update in impls.items():
            rates[name].append(rate(update, args.updates))
        print(f"repeat {r}: " + ", ".join(f"{k} {v[-1]:.0f} updates/s" for k, v in rates.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = med["ours"] / med["sb3_td3"]
    result = {"updates_per_repeat": args.updates, "repeats": args.repeats, "batch": BATCH,
              "hidden": [256, 256], "obs_dim": OBS, "act_dim": ACT, "torch_threads": 1,
              "updates_per_second": rates, "median": med, "ratio_ours_over_sb3": ratio}
    out = ROOT / "bench/results/offpolicy_update"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    table = ("| implementation | updates/s (median of {r}) |\n|---|---|\n"
             "| ours (`agents/offpolicy.py`) | {o:.0f} |\n| stable-baselines3 TD3 | {s:.0f} |\n"
             "| **ratio** | **{x:.2f}x** |\n").format(r=args.repeats, o=med["ours"],
                                                   s=med["sb3_td3"], x=ratio)
    cmd = f"python bench/offpolicy_update.py --updates {args.updates} --repeats {args.repeats}"
    out.with_suffix(".md").write_text(f"Command: `{cmd}`\n\n{table}")
    print(table)


if __name__ == "__main__":
    main()
