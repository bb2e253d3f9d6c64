"""DrQ-v2 update time vs batch size: ``agents/offpolicy/agent.py`` on pixels against a plain
reference update.

The reference below is a minimal copy of the public DrQ-v2 update (facebookresearch/drqv2,
``drqv2.py`` + ``utils.py``) at the same sizes: random shift rebuilt per call and applied to obs
and next_obs separately, ``torch.distributions`` truncated normal, Python-loop soft update, one
host sync per metric, replay of stacked observations (``obs[i]``, ``obs[i + n]``). Both timings
include sampling a batch from an in-memory replay, augmentation, critic, actor and target update.
Sizes are DrQ-v2's: 84x84x9 input, feature 50, hidden 1024, 6 actions (cheetah).

    python bench/drqv2_update.py [--batches 32 64 128] [--reps 5] [--threads 1] [--device cpu]

``--bf16`` adds our agent with ``agent.precision: bf16`` (autocast update, fp32 weights) to the
interleaved timings and reports its time and the fp32 / bf16 ratio (writes
``drqv2_update_bf16.json/.md``); ``--compile`` likewise with ``agent.compile: true`` (and the
first update's time, which compiles; writes ``drqv2_update_compile.json/.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import distributions as pyd  # noqa: E402
from torch import nn  # noqa: E402

from agents.offpolicy.agent import OffPolicyAgent  # noqa: E402
from bench.random_replay import fill_random_frames  # noqa: E402
from configs.schema import OffPolicyConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZE, STACK, ACTIONS, FILL = 84, 3, 6, 600


# --- reference DrQ-v2 (minimal, as published) ----------------------------------------------
def weight_init(m):
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight.data)
        m.bias.data.fill_(0.0)
    elif isinstance(m, nn.Conv2d):
        nn.init.orthogonal_(m.weight.data, nn.init.calculate_gain("relu"))
        m.bias.data.fill_(0.0)


class RandomShiftsAug(nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        n, c, h, w = x.size()
        x = F.pad(x, tuple([self.pad] * 4), "replicate")
        eps = 1.0 / (h + 2 * self.pad)
        arange = torch.linspace(-1.0 + eps, 1.0 - eps, h + 2 * self.pad, device=x.device)[:h]
        arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
        base_grid = torch.cat([arange, arange.transpose(1, 0)], dim=2)
        base_grid = base_grid.unsqueeze(0).repeat(n, 1, 1, 1)
        shift = torch.randint(0, 2 * self.pad + 1, size=(n, 1, 1, 2), device=x.device,
                              dtype=x.dtype)
        shift *= 2.0 / (h + 2 * self.pad)
        return F.grid_sample(x, base_grid + shift, padding_mode="zeros", align_corners=False)


class TruncatedNormal(pyd.Normal):
    def __init__(self, loc, scale, low=-1.0, high=1.0, eps=1e-6):
        super().__init__(loc, scale, validate_args=False)
        self.low, self.high, self.eps = low, high, eps

    def _clamp(self, x):
        clamped_x = torch.clamp(x, self.low + self.eps, self.high - self.eps)
        return x - x.detach() + clamped_x.detach()

    def sample(self, clip=None, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device) * self.scale
        if clip is not None:
            eps = torch.clamp(eps, -clip, clip)
        return self._clamp(self.loc + eps)


class RefEncoder(nn.Module):
    def __init__(self, obs_shape):
        super().__init__()
        self.repr_dim = 32 * 35 * 35
        self.convnet = nn.Sequential(nn.Conv2d(obs_shape[0], 32, 3, stride=2), nn.ReLU(),
                                     nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
                                     nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
                                     nn.Conv2d(32, 32, 3, stride=1), nn.ReLU())
        self.apply(weight_init)

    def forward(self, obs):
        h = self.convnet(obs / 255.0 - 0.5)
        return h.view(h.shape[0], -1)


class RefActor(nn.Module):
    def __init__(self, repr_dim, action_dim, feature_dim, hidden_dim):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim),
                                   nn.Tanh())
        self.policy = nn.Sequential(nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True),
                                    nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True),
                                    nn.Linear(hidden_dim, action_dim))
        self.apply(weight_init)

    def forward(self, obs, std):
        mu = torch.tanh(self.policy(self.trunk(obs)))
        return TruncatedNormal(mu, torch.ones_like(mu) * std)


class RefCritic(nn.Module):
    def __init__(self, repr_dim, action_dim, feature_dim, hidden_dim):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim),
                                   nn.Tanh())

        def head():
            return nn.Sequential(nn.Linear(feature_dim + action_dim, hidden_dim),
                                 nn.ReLU(inplace=True), nn.Linear(hidden_dim, hidden_dim),
                                 nn.ReLU(inplace=True), nn.Linear(hidden_dim, 1))

        self.Q1, self.Q2 = head(), head()
        self.apply(weight_init)

    def forward(self, obs, action):
        h_action = torch.cat([self.trunk(obs), action], dim=-1)
        return self.Q1(h_action), self.Q2(h_action)


class ReferenceDrQV2:
    """DrQ-v2's agent update with its replay replaced by in-memory stacked observations."""

    def __init__(self, batch_size, device, n_step=3, gamma=0.99):
        shape = (3 * STACK, SIZE, SIZE)
        self.encoder = RefEncoder(shape).to(device)
        dims = (self.encoder.repr_dim, ACTIONS, 50, 1024)
        self.actor = RefActor(*dims).to(device)
        self.critic = RefCritic(*dims).to(device)
        self.critic_target = RefCritic(*dims).to(device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=1e-4)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=1e-4)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=1e-4)
        self.aug = RandomShiftsAug(pad=4)
        self.device, self.batch_size, self.n_step, self.gamma = device, batch_size, n_step, gamma
        rng = np.random.default_rng(0)
        self.obs = rng.integers(0, 256, (FILL, *shape), dtype=np.uint8)
        self.act = rng.uniform(-1, 1, (FILL, ACTIONS)).astype(np.float32)
        self.rew = rng.normal(size=(FILL, 1)).astype(np.float32)
        self.rng = rng

    def sample(self):
        idx = self.rng.integers(0, FILL - self.n_step, self.batch_size)
        reward = sum(self.gamma ** i * self.rew[idx + i] for i in range(self.n_step))
        discount = np.full((self.batch_size, 1), self.gamma ** self.n_step, np.float32)
        return tuple(torch.as_tensor(x, device=self.device) for x in
                     (self.obs[idx], self.act[idx], reward, discount, self.obs[idx + self.n_step]))

    def update_critic(self, obs, action, reward, discount, next_obs, stddev):
        with torch.no_grad():
            next_action = self.actor(next_obs, stddev).sample(clip=0.3)
            target_Q1, target_Q2 = self.critic_target(next_obs, next_action)
            target_Q = reward + (discount * torch.min(target_Q1, target_Q2))
        Q1, Q2 = self.critic(obs, action)
        critic_loss = F.mse_loss(Q1, target_Q) + F.mse_loss(Q2, target_Q)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.encoder_opt.step()
        return {"critic_loss": critic_loss.item(), "critic_q1": Q1.mean().item()}

    def update_actor(self, obs, stddev):
        dist = self.actor(obs, stddev)
        action = dist.sample(clip=0.3)
        Q1, Q2 = self.critic(obs, action)
        actor_loss = -torch.min(Q1, Q2).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        return {"actor_loss": actor_loss.item()}

    def update(self):
        obs, action, reward, discount, next_obs = self.sample()
        obs, next_obs = self.aug(obs.float()), self.aug(next_obs.float())
        obs = self.encoder(obs)
        with torch.no_grad():
            next_obs = self.encoder(next_obs)
        metrics = self.update_critic(obs, action, reward, discount, next_obs, 0.5)
        metrics.update(self.update_actor(obs.detach(), 0.5))
        for param, target_param in zip(self.critic.parameters(), self.critic_target.parameters()):
            target_param.data.copy_(0.01 * param.data + 0.99 * target_param.data)
        return metrics


# --- ours -----------------------------------------------------------------------------------
def our_agent(batch_size: int, device: str, precision: str = "fp32",
              compile: bool = False) -> OffPolicyAgent:
    cfg = OffPolicyConfig(batch_size=batch_size, replay_capacity=FILL + 10, std_schedule="0.5",
                          precision=precision, compile=compile)
    obs_space = gym.spaces.Box(0, 255, (3 * STACK, SIZE, SIZE), np.uint8)
    act_space = gym.spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)
    agent = OffPolicyAgent(cfg, obs_space, act_space, device=device, seed=0)
    fill_random_frames(agent, FILL - 1, SIZE, STACK, ACTIONS)
    return agent


def time_update(update, device: str) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this thread)`` of one update; on a shared machine the CPU
    time is the fair measure (torch runs on the calling thread when ``--threads 1``)."""
    if device == "cuda":
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.thread_time()
    update()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.thread_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--reps", type=int, default=7, help="timed updates per batch and side; "
                        "the fastest is kept (the least disturbed by other processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default=str(RESULTS), help="folder for drqv2_update.json/.md")
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--bf16", action="store_true", help="also time our agent with "
                         "agent.precision=bf16 (module docstring)")
    variant.add_argument("--compile", action="store_true", help="also time our agent with "
                         "agent.compile=true (module docstring)")
    args = parser.parse_args()
    extra = "bf16" if args.bf16 else "compile" if args.compile else None
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for batch in args.batches:
        ours, ref = our_agent(batch, args.device), ReferenceDrQV2(batch, args.device)
        if extra:
            sides = [ours, ref, our_agent(batch, args.device, "bf16" if args.bf16 else "fp32",
                                          compile=args.compile)]
        else:
            sides = [ours, ref]
        first = []
        for agent in sides:
            first.append(time_update(agent.update, args.device)[0])  # warm-up (and compile)
        times: list[list[tuple[float, float]]] = [[] for _ in sides]
        for rep in range(args.reps):  # interleaved, alternating order: same machine load
            order = list(range(len(sides)))[::1 if rep % 2 == 0 else -1]
            for i in order:
                times[i].append(time_update(sides[i].update, args.device))
        best = [[1e3 * min(t[i] for t in ts) for i in (0, 1)] for ts in times]
        (wall_ours, cpu_ours), (wall_ref, cpu_ref) = best[:2]
        rows.append({"batch": batch, "ours_wall_ms": wall_ours, "reference_wall_ms": wall_ref,
                     "ours_cpu_ms": cpu_ours, "reference_cpu_ms": cpu_ref,
                     "speedup_cpu": cpu_ref / cpu_ours, "speedup_wall": wall_ref / wall_ours})
        if extra:
            wall_x, cpu_x = best[2]
            rows[-1].update({f"ours_{extra}_wall_ms": wall_x, f"ours_{extra}_cpu_ms": cpu_x,
                             f"{extra}_speedup_cpu": cpu_ours / cpu_x,
                             f"{extra}_speedup_wall": wall_ours / wall_x,
                             f"ours_{extra}_first_update_s": first[2],
                             "ours_first_update_s": first[0]})
        del ours, ref, sides

    header = (f"DrQ-v2 update time (sample + augment + critic + actor + target), 84x84x9, "
              f"feature 50, hidden 1024, {args.device}, {args.threads} thread(s), "
              f"best of {args.reps} interleaved (CPU = this thread's CPU time)")
    lines = [header, "", "| batch | ours CPU ms | reference CPU ms | reference / ours (CPU) "
             "| ours wall ms | reference wall ms | reference / ours (wall) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {r['ours_cpu_ms']:.0f} | {r['reference_cpu_ms']:.0f} | "
              f"{r['speedup_cpu']:.2f}x | {r['ours_wall_ms']:.0f} | {r['reference_wall_ms']:.0f} | "
              f"{r['speedup_wall']:.2f}x |" for r in rows]
    if extra:
        key = {"bf16": "`agent.precision: bf16`", "compile": "`agent.compile: true`"}[extra]
        x = extra
        lines += ["", f"Ours with {key} (same interleaved timings; first update = warm-up):",
                  "", f"| batch | ours CPU ms | {x} CPU ms | ours / {x} (CPU) | ours wall ms | "
                  f"{x} wall ms | ours / {x} (wall) | first update s: ours, {x} |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['batch']} | {r['ours_cpu_ms']:.0f} | {r[f'ours_{x}_cpu_ms']:.0f} | "
                  f"{r[f'{x}_speedup_cpu']:.2f}x | {r['ours_wall_ms']:.0f} | "
                  f"{r[f'ours_{x}_wall_ms']:.0f} | {r[f'{x}_speedup_wall']:.2f}x | "
                  f"{r['ours_first_update_s']:.1f}, {r[f'ours_{x}_first_update_s']:.1f} |"
                  for r in rows]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"device": args.device, "threads": args.threads, "reps": args.reps,
            "torch": torch.__version__}
    name = f"drqv2_update_{extra}" if extra else "drqv2_update"
    (out / f"{name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    (out / f"{name}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
