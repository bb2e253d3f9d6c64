"""Learners (PPO, the off-policy actor-critic / DrQ-v2, ES) and the pieces they share, behind one
factory."""

from __future__ import annotations

from typing import Any

from agents.base import Agent, Transition
from configs import registry

__all__ = ["Agent", "Transition", "check_agent_config", "make_agent"]


def check_agent_config(cfg) -> None:
    """Agent options that contradict the env config, found before any env is built (one-line
    ``ConfigError``): the ``check`` its agent registered, if any; what needs the built env is
    checked by the agent's constructor."""
    check = registry.get("agent", cfg.agent.name).check
    if check is not None:
        registry.resolve(check)(cfg)


def make_agent(cfg, observation_space, action_space, env: Any = None, device: str = "cpu",
               acting_only: bool = False) -> Agent:
    """Build the agent ``cfg.agent`` names for the given spaces: the class registered under
    its ``name`` (``configs/registry.py``; built-ins in ``agents/*_config.py``).

    ``env`` is the training env, for agents that need body facts beyond the spaces (NCAP reads
    ``env.body.n_joints`` and ``env.episode_steps``). ``acting_only`` builds only what acting
    needs (no replay buffer, no optimisers): for evaluation, rendering and transfer.
    """
    cls = registry.build("agent", cfg.agent.name)
    return cls(cfg.agent, observation_space, action_space, env=env, device=device,
               seed=cfg.seed, acting_only=acting_only, total_steps=cfg.steps)
