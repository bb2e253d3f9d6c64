"""Deterministic evaluation episodes on a separately seeded env."""

from __future__ import annotations

from typing import Callable

import numpy as np

from agents.base import begin_episode
from trainer.rollout import rollout


def run_episode(policy: Callable[[np.ndarray], np.ndarray], env, seed: int,
                max_steps: int | None = None,
                on_reset: Callable[[], None] | None = None) -> float:
    """Total reward of one episode started with ``env.reset(seed=seed)``; ``on_reset`` runs
    right after the reset (an agent's ``begin_episode`` hook, ``agents/base.py``)."""
    total = 0.0
    for step in rollout(policy, env, seed, max_steps, on_reset):
        total = step.episode_return
    return total


def evaluate(agent, env, episodes: int, seed_base: int) -> np.ndarray:
    """Returns of ``episodes`` deterministic episodes with seeds ``seed_base + i``.

    The same seeds are used at every evaluation of a run (common random numbers), so changes
    between evaluations reflect the policy, not the draw of initial states.
    """
    policy = lambda obs: agent.act(obs, explore=False)  # noqa: E731
    start = lambda: begin_episode(agent, explore=False)  # noqa: E731
    return np.array([run_episode(policy, env, seed_base + i, on_reset=start)
                     for i in range(episodes)])
