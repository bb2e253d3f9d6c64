"""Learners (PPO, the off-policy actor-critic / DrQ-v2, ES) and the pieces they share, behind one
factory."""

from __future__ import annotations

from typing import Any

from agents.base import Agent, Transition

__all__ = ["Agent", "Transition", "check_agent_config", "make_agent"]


def check_agent_config(cfg) -> None:
    """Agent options that contradict the env config, found before any env is built (one-line
    ``ConfigError``); what needs the built env is checked by the agent's constructor."""
    if cfg.agent.name == "es" and cfg.trainer.eval_actions == "sampled":
        from configs.loader import ConfigError

        raise ConfigError("config error: trainer.eval_actions: ES members act deterministically "
                          "(exploration is in the weights); use trainer.eval_actions=mean")
    if cfg.agent.name in ("drqv2", "offpolicy"):
        from agents.interventions import check_interventions
        from agents.offpolicy_checks import check_observation_options

        check_observation_options(cfg.agent, pixels=cfg.env.pixels is not None)
        check_interventions(cfg.agent, pixels=cfg.env.pixels is not None)


def make_agent(cfg, observation_space, action_space, env: Any = None, device: str = "cpu",
               acting_only: bool = False) -> Agent:
    """Build the agent ``cfg.agent`` names for the given spaces.

    ``env`` is the training env, for agents that need body facts beyond the spaces (NCAP reads
    ``env.body.n_joints`` and ``env.episode_steps``). ``acting_only`` builds only what acting
    needs (no replay buffer, no optimisers): for evaluation, rendering and transfer.
    """
    name = cfg.agent.name
    if name == "ppo":
        from agents.ppo import PPOAgent

        return PPOAgent(cfg.agent, observation_space, action_space, env=env, device=device,
                        acting_only=acting_only)
    if name in ("drqv2", "offpolicy"):   # drqv2: pixels only (agents/offpolicy_checks.py)
        from agents.offpolicy import OffPolicyAgent

        return OffPolicyAgent(cfg.agent, observation_space, action_space, env=env,
                              device=device, seed=cfg.seed, acting_only=acting_only,
                              total_steps=cfg.steps)
    if name == "es":
        from agents.es import ESAgent

        return ESAgent(cfg.agent, observation_space, action_space, env=env, device=device,
                       seed=cfg.seed, acting_only=acting_only)
    raise ValueError(f"unknown agent '{name}'")
