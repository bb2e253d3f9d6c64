"""Evaluation episodes on a separately seeded env: mean or sampled actions, two seeding schemes.

* ``actions="mean"`` (default): the deterministic action ``agent.act(obs, explore=False)``.
  ``actions="sampled"``: the exploration action ``agent.act(obs, explore=True)``, as tonic tests
  PPO policies (an agent that explores with uniform actions early in training, such as
  DrQ-v2, does so here too). The noise of episode ``k`` is drawn under forked global RNGs (python, numpy,
  torch) seeded with ``noise_seed(k)``, so it is reproducible and leaves every training RNG
  exactly where it was.
* ``seeding="fixed"`` (default): every evaluation runs episodes ``i = 0..n-1`` from
  ``env.reset(seed=seed_base + i)`` (common random numbers: differences between evaluations
  reflect the policy, not the draw of initial states); sampled noise seed ``seed_base + i``.
  ``seeding="continuing"`` (tonic): one env seeded ``seed_base`` at its first reset and never
  reseeded, so its episode starts keep running across evaluations; the noise of the ``k``-th
  evaluation episode of the run is seeded ``seed_base + k``. The ``Evaluator``'s state (episode
  count and the env's state) goes into checkpoints, so a resumed run sees the same episodes.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from agents.common.base import begin_episode
from trainer.rollout import rollout

EVAL_ACTIONS = ("mean", "sampled")
EVAL_SEEDINGS = ("fixed", "continuing")


def run_episode(policy: Callable[[np.ndarray], np.ndarray], env, seed: int | None,
                max_steps: int | None = None,
                on_reset: Callable[[], None] | None = None) -> float:
    """Total reward of one episode started with ``env.reset(seed=seed)``; ``on_reset`` runs
    right after the reset (an agent's ``begin_episode`` hook, ``agents/common/base.py``)."""
    total = 0.0
    for step in rollout(policy, env, seed, max_steps, on_reset):
        total = step.episode_return
    return total


@contextmanager
def forked_rngs(seed: int) -> Iterator[None]:
    """Run the block with python, numpy and torch global RNGs seeded ``seed``; restore all three
    (and CUDA's) afterwards, so the block draws reproducibly without moving any outside stream."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())
                               if torch.cuda.is_initialized() else []):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def episode_return(agent, env, env_seed: int | None, sampled: bool, noise_seed: int) -> float:
    """One evaluation episode's return with mean or seeded sampled actions."""
    policy = lambda obs: agent.act(obs, explore=sampled)  # noqa: E731
    start = lambda: begin_episode(agent, explore=sampled)  # noqa: E731
    if not sampled:
        return run_episode(policy, env, env_seed, on_reset=start)
    with forked_rngs(noise_seed):
        return run_episode(policy, env, env_seed, on_reset=start)


def evaluate(agent, env, episodes: int, seed_base: int, actions: str = "mean",
             progress: bool = False) -> np.ndarray:
    """Returns of ``episodes`` episodes with env seeds ``seed_base + i`` (``seeding="fixed"``);
    ``progress`` shows a bar with an estimate on a terminal."""
    seeds = range(seed_base, seed_base + episodes)
    if progress:
        seeds = tqdm(seeds, desc="evaluate", unit="episode", leave=False, disable=None)
    return np.array([episode_return(agent, env, s, actions == "sampled", s) for s in seeds])


class Evaluator:
    """The trainer's evaluation: ``episodes`` per call, actions and seeding as configured."""

    def __init__(self, env, episodes: int, seed_base: int, actions: str = "mean",
                 seeding: str = "fixed"):
        if actions not in EVAL_ACTIONS:
            raise ValueError(f"actions must be one of {EVAL_ACTIONS} (got {actions!r})")
        if seeding not in EVAL_SEEDINGS:
            raise ValueError(f"seeding must be one of {EVAL_SEEDINGS} (got {seeding!r})")
        self.env = env
        self.episodes = episodes
        self.seed_base = seed_base
        self.sampled = actions == "sampled"
        self.seeding = seeding
        self.episodes_run = 0  # evaluation episodes so far in this run (continuing seeding)

    def __call__(self, agent) -> np.ndarray:
        if self.seeding == "fixed":
            return evaluate(agent, self.env, self.episodes, self.seed_base,
                            "sampled" if self.sampled else "mean")
        returns = []
        for _ in range(self.episodes):
            env_seed = self.seed_base if self.episodes_run == 0 else None
            returns.append(episode_return(agent, self.env, env_seed, self.sampled,
                                          self.seed_base + self.episodes_run))
            self.episodes_run += 1
        return np.array(returns)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to see the same evaluation episodes (continuing seeding)."""
        running = self.seeding == "continuing" and self.episodes_run > 0
        return {"episodes_run": self.episodes_run,
                "env": self.env.get_state() if running else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes_run = state["episodes_run"]
        if state["env"] is not None:
            self.env.set_state(state["env"])
