"""State-based off-policy update throughput: ``agents/offpolicy/agent.py`` vs stable-baselines3 TD3.

Identical sizes, side by side in one process, alternating repeats: observation 17 and 6 actions
(cheetah-run), actor and twin critics 2x256 ReLU on ``(obs, action)``, batch 256, Adam lr 1e-3,
Polyak 0.005, target-policy noise 0.2 clipped at 0.5, one actor step per critic step (SB3
``policy_delay=1``), a replay of 10k identical random transitions, one torch thread. One update
= sample a batch, critic step, actor step, target update. Our default actor loss reads
``min(Q1, Q2)`` of a noisy action (DrQ-v2: both heads), SB3's reads ``Q1(s, mu(s))`` only; the
``ours_td3`` variant runs our agent with ``actor_loss: td3`` (TD3's rule: like with like).
Variants (``--variants``) run interleaved, in alternating order; a ratio to SB3 is the median
over repeats of the ratio within each repeat (the same machine load), for wall time and for this
thread's CPU time (with one torch thread all work runs on the calling thread, so on a shared
machine the CPU-time ratio is the fairer one):

* ``ours``: default rule, plasticity metrics on (FAU and dormant ratios of critic and actor);
* ``ours_td3``: ``actor_loss: td3``, plasticity metrics on;
* ``ours_td3_nometrics``: ``actor_loss: td3``, ``plasticity_metrics: false`` (the critic FAU
  stays: the adaptive RR's input);
* ``ours_td3_nofau``: as ``ours_td3_nometrics`` and ``critic_fau: false``: no per-update
  plasticity metric at all, like SB3;
* ``ours_bf16`` / ``ours_td3_bf16``: as ``ours`` / ``ours_td3`` with ``precision: bf16``;
* ``ours_compile`` / ``ours_td3_compile``: as ``ours`` / ``ours_td3`` with ``compile: true``
  (compiled in the warm-up update, whose time is reported apart);
* ``sb3_td3``: stable-baselines3's TD3 ``train(gradient_steps=1)``;
* ``plain_td3``: a minimal TD3 update written below (numpy batch, ``nn.Sequential`` nets, fused
  Adam, foreach Polyak, no metrics): the arithmetic floor at these sizes.

    python bench/offpolicy_update.py [--updates 500] [--repeats 3] [--variants ours sb3_td3]
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

from agents.common.base import Transition  # noqa: E402
from agents.offpolicy.agent import OffPolicyAgent  # noqa: E402
from configs.schema import FixedRRConfig, OffPolicyConfig  # noqa: E402
from bench.outputs import beside  # noqa: E402

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


VARIANTS = {"ours": {}, "ours_td3": {"actor_loss": "td3"},
            "ours_td3_nometrics": {"actor_loss": "td3", "plasticity_metrics": False},
            "ours_td3_nofau": {"actor_loss": "td3", "plasticity_metrics": False,
                               "critic_fau": False},
            "ours_bf16": {"precision": "bf16"},
            "ours_td3_bf16": {"actor_loss": "td3", "precision": "bf16"},
            "ours_compile": {"compile": True},
            "ours_td3_compile": {"actor_loss": "td3", "compile": True}}


def mlp(inp: int, out: int) -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(nn.Linear(inp, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, out))


def plain_td3():
    """TD3 (Fujimoto et al. 2018) with ``policy_delay = 1``, as few operations as it takes."""
    actor, critics = mlp(OBS, ACT), [mlp(OBS + ACT, 1) for _ in range(2)]
    actor_t, critics_t = mlp(OBS, ACT), [mlp(OBS + ACT, 1) for _ in range(2)]
    actor_t.load_state_dict(actor.state_dict())
    for c, ct in zip(critics, critics_t):
        ct.load_state_dict(c.state_dict())
    critic_params = [p for c in critics for p in c.parameters()]
    actor_opt = torch.optim.Adam(actor.parameters(), lr=1e-3, fused=True)
    critic_opt = torch.optim.Adam(critic_params, lr=1e-3, fused=True)
    online = [*critic_params, *actor.parameters()]
    target = [*(p for c in critics_t for p in c.parameters()), *actor_t.parameters()]
    obs, act, rew = data()
    rng = np.random.default_rng(0)

    def update():
        i = rng.integers(0, FILL, BATCH)
        s, a = torch.from_numpy(obs[i]), torch.from_numpy(act[i])
        r, s2 = torch.from_numpy(rew[i])[:, None], torch.from_numpy(obs[i + 1])
        with torch.no_grad():
            noise = (torch.randn_like(a) * 0.2).clamp(-0.5, 0.5)
            a2 = (torch.tanh(actor_t(s2)) + noise).clamp(-1, 1)
            x2 = torch.cat([s2, a2], 1)
            y = r + 0.99 * torch.min(critics_t[0](x2), critics_t[1](x2))
        x = torch.cat([s, a], 1)
        loss = sum(torch.nn.functional.mse_loss(c(x), y) for c in critics)
        critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        critic_opt.step()
        actor_loss = -critics[0](torch.cat([s, torch.tanh(actor(s))], 1)).mean()
        actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=list(actor.parameters()))
        actor_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(target, online, 0.005)
    return update


def drain(update):
    """The update, with our agent's device metrics read every 100 updates (as the loop's
    logging does), so they do not pile up over a benchmark."""
    agent = getattr(update, "__self__", None)
    if agent is None:
        return update
    count = [0]

    def step():
        update()
        count[0] += 1
        if count[0] % 100 == 0:
            agent.pending_metrics()
    return step


def rate(update, n: int) -> tuple[float, float]:
    """``(updates per wall second, updates per CPU second of this thread)``: with one torch
    thread all the work runs on the calling thread, so on a shared machine the CPU rate is the
    fairer measure (other processes' load lengthens wall time, not this thread's CPU time)."""
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        update()
    return n / (time.perf_counter() - w0), n / (time.thread_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=["ours", "ours_td3", "sb3_td3"],
                    choices=[*VARIANTS, "sb3_td3", "plain_td3"])
    ap.add_argument("--out", default="offpolicy_update", help="result name in bench/results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    impls, warmup = {}, {}
    for name in args.variants:
        torch.manual_seed(0)
        update = drain({"sb3_td3": sb3, "plain_td3": plain_td3}.get(
            name, lambda: ours(**VARIANTS[name]))())
        t0 = time.perf_counter()
        update()  # warm-up (and compilation)
        warmup[name] = time.perf_counter() - t0
        impls[name] = update
    rates: dict[str, list[float]] = {k: [] for k in impls}
    cpu_rates: dict[str, list[float]] = {k: [] for k in impls}
    for r in range(args.repeats):
        order = list(impls) if r % 2 == 0 else list(impls)[::-1]
        for name in order:
            wall, cpu = rate(impls[name], args.updates)
            rates[name].append(wall)
            cpu_rates[name].append(cpu)
        print(f"repeat {r}: " + ", ".join(f"{k} {rates[k][-1]:.0f} (CPU {cpu_rates[k][-1]:.0f})"
                                          for k in impls) + " updates/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu_rates.items()}
    # paired: the ratio within each repeat (same machine load), then the median over repeats
    ratios = {k: statistics.median(a / b for a, b in zip(rates[k], rates["sb3_td3"]))
              for k in impls} if "sb3_td3" in impls else {}
    cpu_ratios = {k: statistics.median(a / b for a, b in zip(cpu_rates[k], cpu_rates["sb3_td3"]))
                  for k in impls} if "sb3_td3" in impls else {}
    result = {"updates_per_repeat": args.updates, "repeats": args.repeats, "batch": BATCH,
              "hidden": [256, 256], "obs_dim": OBS, "act_dim": ACT, "torch_threads": 1,
              "torch": torch.__version__, "variants": {k: VARIANTS.get(k, {}) for k in impls},
              "warmup_seconds": warmup, "updates_per_second": rates, "median": med,
              "ratio_over_sb3": ratios, "updates_per_cpu_second": cpu_rates,
              "cpu_median": cpu_med, "cpu_ratio_over_sb3": cpu_ratios}
    out = ROOT / "bench/results" / args.out
    beside(out, ".json").write_text(json.dumps(result, indent=2) + "\n")
    nan = float("nan")
    lines = [f"| variant | updates/s wall (median of {args.repeats}) | / SB3 TD3 (wall) | updates "
             "per CPU s (median) | / SB3 TD3 (CPU) | first update s |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| `{k}` | {med[k]:.0f} | {ratios.get(k, nan):.2f}x | {cpu_med[k]:.0f} | "
              f"{cpu_ratios.get(k, nan):.2f}x | {warmup[k]:.2f} |" for k in impls]
    table = "\n".join(lines) + "\n"
    cmd = " ".join(["python bench/offpolicy_update.py"] + sys.argv[1:])
    beside(out, ".md").write_text(f"Command: `{cmd}`\n\n{table}")
    print(table)


if __name__ == "__main__":
    main()
