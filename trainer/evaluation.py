"""Deterministic evaluation episodes on a separately seeded env."""

from __future__ import annotations

from typing import Callable

import numpy as np


def run_episode(policy: Callable[[np.ndarray], np.ndarray], env, seed: int,
                max_steps: int | None = None) -> float:
    """Total reward of one episode started with ``env.reset(seed=seed)``."""
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += reward
        steps += 1
        if terminated or truncated or (max_steps is not None and steps >= max_steps):
            return total


def evaluate(agent, env, episodes: int, seed_base: int) -> np.ndarray:
    """Returns of ``episodes`` deterministic episodes with seeds ``seed_base + i``.

    The same seeds are used at every evaluation of a run (common random numbers), so changes
    between evaluations reflect the policy, not the draw of initial states.
    """
    policy = lambda obs: agent.act(obs, explore=False)  # noqa: E731
    return np.array([run_episode(policy, env, seed_base + i) for i in range(episodes)])
