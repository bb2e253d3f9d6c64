"""Our off-policy agent against a plainly written DrQ-v2 (``tests/drqv2_reference.py``).

Both start from the same weights and see the same data: the agent stores real episodes in its
own replay and samples its batches; the reference rebuilds each sampled transition (frame
stack, n-step return and discount, next observation) from the raw episode steps by the
paper's definitions, and both take the same random shifts and the same standard-normal
exploration draws. After several updates every parameter (encoder, actor, critic, target
critic) and every loss must agree up to float rounding, in this process, on this machine:
nothing is compared with numbers recorded elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.common.base import Transition
from agents.offpolicy.agent import OffPolicyAgent
from configs.schema import OffPolicyConfig
from drqv2_reference import (Episode, ReferenceDrQV2, n_step_transition, observation,
                             reference_names)

SIZE, STACK, STATE_DIM, ACTIONS = 24, 3, 5, 2
BATCH, PAD, SIGMA0, SIGMA1, SIGMA_STEPS = 8, 4, 1.0, 0.1, 40
COMMON = dict(batch_size=BATCH, feature_dim=8, hidden_dim=16, replay_capacity=200, n_step=3,
              gamma=0.9, lr=1e-3, critic_tau=0.05, std_clip=0.3, explore_steps=0, seed_frames=0,
              std_schedule=f"linear({SIGMA0},{SIGMA1},{SIGMA_STEPS})")
# (length, how it ends): a time limit (bootstraps), a terminal state (does not), still running
EPISODES = ((7, "truncated"), (9, "terminated"), (30, "open"))
FIRST_UPDATE, EVERY = 10, 4   # transitions stored before the first update, between updates


class FakeEnv:
    frames_per_step = 2


@dataclass
class Stream:
    """Pre-drawn random numbers handed out in order, to the agent and the reference alike."""

    values: torch.Tensor
    used: int = 0

    def take(self, n: int) -> torch.Tensor:
        out = self.values[self.used:self.used + n]
        assert len(out) == n, "the agent drew more random numbers than DrQ-v2's update does"
        self.used += n
        return out


def make_agent(pixels: bool) -> OffPolicyAgent:
    act = gym.spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)
    if pixels:
        cfg = OffPolicyConfig(**COMMON, conv_channels=4, augment_pad=PAD)
        obs = gym.spaces.Box(0, 255, (3 * STACK, SIZE, SIZE), np.uint8)
        return OffPolicyAgent(cfg, obs, act, env=FakeEnv(), seed=3)
    cfg = OffPolicyConfig(**COMMON)
    obs = gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32)
    return OffPolicyAgent(cfg, obs, act, env=FakeEnv(), seed=3)


def make_episodes(rng: np.random.Generator, pixels: bool) -> list[Episode]:
    """Random images (or states), actions in [-1, 1] (all distinct) and rewards."""
    episodes = []
    for length, end in EPISODES:
        frame = ((lambda: rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)) if pixels
                 else (lambda: rng.normal(size=STATE_DIM).astype(np.float32)))
        episodes.append(Episode(frames=[frame() for _ in range(length + 1)],
                                actions=[rng.uniform(-1, 1, ACTIONS).astype(np.float32)
                                         for _ in range(length)],
                                rewards=[float(rng.normal()) for _ in range(length)],
                                terminal=end == "terminated"))
    return episodes


def steps_in_order(episodes: list[Episode]) -> list[tuple[int, int, Transition]]:
    """``(episode, k, transition)`` of every step, as the loop hands them to ``observe``."""
    out = []
    for e, (ep, (length, end)) in enumerate(zip(episodes, EPISODES)):
        stack = STACK if ep.frames[0].dtype == np.uint8 else 1
        for k in range(length):
            last = k == length - 1
            out.append((e, k, Transition(observation(ep, k, stack), ep.actions[k], ep.rewards[k],
                                         observation(ep, k + 1, stack),
                                         last and end == "terminated",
                                         last and end == "truncated")))
    return out


def sigma(step: int) -> float:
    """DrQ-v2's linear(init, final, duration) schedule in agent steps."""
    return SIGMA0 + min(step / SIGMA_STEPS, 1.0) * (SIGMA1 - SIGMA0)


@pytest.mark.parametrize("pixels", [True, False], ids=["pixels", "states"])
def test_agent_updates_match_a_plainly_written_drqv2(pixels, monkeypatch):
    torch.manual_seed(3)   # initial weights where Q1 and Q2 cross on the batches
    agent = make_agent(pixels)
    stack = STACK if pixels else 1
    params = {part: reference_names(part, getattr(agent, part).named_parameters())
              for part in ("encoder", "actor", "critic")}
    ref = ReferenceDrQV2(params["encoder"] if pixels else None, params["actor"],
                         params["critic"], lr=COMMON["lr"], tau=COMMON["critic_tau"],
                         clip=COMMON["std_clip"], pad=PAD)
    start = {part: {k: v.clone() for k, v in getattr(ref, part).items()}
             for part in ("actor", "critic")}

    episodes = make_episodes(np.random.default_rng(1), pixels)
    steps = steps_in_order(episodes)
    where = {tr.action.tobytes(): (e, k) for e, k, tr in steps}
    n_updates = (len(steps) - FIRST_UPDATE) // EVERY + 1
    # the update's random numbers, drawn once: shifts of obs and next_obs, then the noise of
    # the target action a' and of the actor's action
    g = torch.Generator().manual_seed(2)
    shifts = Stream(torch.randint(0, 2 * PAD + 1, (n_updates * 2 * BATCH, 2), generator=g))
    noise = Stream(torch.randn(n_updates * 2 * BATCH * ACTIONS, generator=g))
    monkeypatch.setattr(torch, "randn_like",
                        lambda t, **kw: noise.take(t.numel()).reshape(t.shape).to(t.dtype))
    if pixels:
        shift = agent.aug
        agent.aug = lambda x: shift(x, shift=shifts.take(x.shape[0]))
    batches = []
    sample = agent.replay.sample
    agent.replay.sample = lambda *a, **kw: batches.append(sample(*a, **kw)) or batches[-1]

    stored = [0] * len(episodes)
    ours, theirs = [], []
    for i, (e, _, tr) in enumerate(steps):
        agent.observe(tr)
        stored[e] += 1
        if i + 1 < FIRST_UPDATE or (i + 1 - FIRST_UPDATE) % EVERY:
            continue
        agent.update()
        sampled = [where[a.tobytes()] for a in batches[-1]["action"]]
        rows = [n_step_transition(episodes[e], k, stored[e], COMMON["n_step"], COMMON["gamma"],
                                  stack) for e, k in sampled]
        obs, action, ret, discount, next_obs = (
            torch.as_tensor(np.stack(column), dtype=torch.float32) for column in zip(*rows))
        u = len(theirs)
        theirs.append(ref.update(
            obs, action, ret[:, None], discount[:, None], next_obs, sigma(agent.step),
            noise.values[(2 * u) * BATCH * ACTIONS:(2 * u + 1) * BATCH * ACTIONS].view(BATCH, -1),
            noise.values[(2 * u + 1) * BATCH * ACTIONS:(2 * u + 2) * BATCH * ACTIONS].view(
                BATCH, -1),
            shifts.values[2 * u * BATCH:(2 * u + 1) * BATCH],
            shifts.values[(2 * u + 1) * BATCH:(2 * u + 2) * BATCH]))
        metrics = agent.pending_metrics()
        ours.append({"critic_loss": metrics["loss/critic"][-1],
                     "actor_loss": metrics["loss/actor"][-1]})

    assert len(theirs) == n_updates >= 9
    for use, picks in ref.min_picks.items():
        assert min(picks) > 0, (f"min(Q1, Q2) in the {use} always took one head {picks}: "
                                "pick a seed where the heads cross, or the min goes untested")
    assert noise.used == len(noise.values), "the agent drew fewer noise samples than DrQ-v2"
    if pixels:
        assert shifts.used == len(shifts.values), "the agent shifted fewer images than DrQ-v2"
    sampled_steps = {where[a.tobytes()] for b in batches for a in b["action"]}
    for episode, cut in ((0, {5, 6}), (1, {7, 8})):
        assert {k for e, k in sampled_steps if e == episode} & cut, \
            f"the batches should reach n-step windows cut by episode {episode}'s end"
    for u, (a, b) in enumerate(zip(ours, theirs)):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), f"update {u}: {key}"
    parts = ["actor", "critic", "critic_target"] + (["encoder"] if pixels else [])
    for part in parts:
        mine = reference_names(part, getattr(agent, part).named_parameters())
        for name, value in getattr(ref, part).items():
            torch.testing.assert_close(mine[name], value.detach(), atol=1e-5, rtol=0,
                                       msg=lambda m: f"{part}.{name} differs: {m}")
    # the comparison is not vacuous: the updates moved the weights well past the tolerance
    for part in ("actor", "critic"):
        moved = max((getattr(ref, part)[k].detach() - v).abs().max().item()
                    for k, v in start[part].items())
        assert moved > 1e-3, f"{part} barely moved ({moved:.2e})"
