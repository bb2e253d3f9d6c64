"""Learners (PPO, DrQ-v2) and the pieces they share, behind one factory."""

from __future__ import annotations

from typing import Any

from agents.base import Agent, Transition

__all__ = ["Agent", "Transition", "make_agent"]


def make_agent(cfg, observation_space, action_space, env: Any = None, device: str = "cpu",
               acting_only: bool = False) -> Agent:
    """Build the agent ``cfg.agent`` names for the given spaces.

    ``acting_only`` builds an agent that only acts (evaluate, render, transfer): no replay
    buffer, rollout segment or optimisers.

    ``env`` is the training env, for agents that need body facts beyond the spaces (NCAP reads
    ``env.body.n_joints`` and ``env.episode_steps``).
    """
    name = cfg.agent.name
    if name == "ppo":
        from agents.ppo import PPOAgent

        return PPOAgent(cfg.agent, observation_space, action_space, env=env, device=device,
                        acting_only=acting_only)
    if name == "drqv2":
        from agents.drqv2 import DrQV2Agent

        return DrQV2Agent(cfg.agent, observation_space, action_space, env=env, device=device,
                          seed=cfg.seed)
    raise ValueError(f"unknown agent '{name}'")
