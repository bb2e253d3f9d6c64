"""Random pixel transitions for update benchmarks: fill an agent's replay without an env."""

from __future__ import annotations

import numpy as np

from agents.common.base import Transition


def fill_random_frames(agent, steps: int, size: int, stack: int, actions: int,
                       episode: int | None = None, seed: int = 0) -> None:
    """Observe ``steps`` transitions of random RGB frames in stacks of ``stack``.

    Actions are uniform in [-1, 1]^actions and rewards standard normal. Every ``episode`` steps
    an episode ends (``None``: never) and the next one starts from its first frame repeated.
    The draws come from ``np.random.default_rng(seed)`` in a fixed order, so two benchmarks with
    the same arguments fill identical replays.
    """
    rng = np.random.default_rng(seed)

    def frame() -> np.ndarray:
        return rng.integers(0, 256, (3, size, size), dtype=np.uint8)

    obs = np.repeat(frame(), stack, axis=0)
    for t in range(steps):
        nxt = np.concatenate([obs[3:], frame()])
        end = episode is not None and (t + 1) % episode == 0
        agent.observe(Transition(obs, rng.uniform(-1, 1, actions).astype(np.float32),
                                 float(rng.normal()), nxt, False, end))
        obs = np.repeat(nxt[-3:], stack, axis=0) if end else nxt


def fill_from_env(agent, env, steps: int, seed: int = 0) -> None:
    """Observe ``steps`` real transitions of ``env`` under uniform random actions in [-1, 1]
    (drawn from ``np.random.default_rng(seed)``), starting from ``env.reset(seed=seed)``; an
    episode that ends starts again from a reset."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        nxt, reward, term, trunc, _ = env.step(action)
        agent.observe(Transition(obs, action, reward, nxt, term, trunc))
        obs = env.reset()[0] if term or trunc else nxt


def collect_segment(agent, env, seed: int = 0) -> None:
    """Act with ``agent`` (exploring) on ``env`` from ``env.reset(seed=seed)`` until it has an
    update due (a PPO agent: one full segment), resetting after each episode end."""
    obs, _ = env.reset(seed=seed)
    while not agent.updates_due(0):
        action = agent.act(obs, explore=True)
        nxt, reward, term, trunc, _ = env.step(action)
        agent.observe(Transition(obs, action, reward, nxt, term, trunc))
        obs = env.reset()[0] if term or trunc else nxt
