"""Learners (PPO, the off-policy actor-critic / DrQ-v2, ES) and the pieces they share, behind one
factory (``make_agent``). One package per learner, one per toolbox; the arrows point one way:

==================  ============================================================================
``protocols``       the typed interfaces of everything that plugs in (agent, replay-ratio
                    schedule, auxiliary loss, intervention, circuit); torch-free
``common/``         what every learner shares: ``Transition`` and hook helpers, device, ``mlp``,
                    normaliser, Polyak averaging, the checkpoint file format
``policies/``       actors more than one learner trains (NCAP, MLP, NCAP+, Gaussian heads) and
                    the NCAP circuit as a stable-baselines3 policy
``plasticity/``     the plasticity toolbox: metrics (FAU, dormant ratios, weight and
                    representation metrics), interventions (Reset, ReDo, Shrink & Perturb,
                    L2-init, plasticity injection) and their triggers, replay-ratio schedules
``auxiliary/``      predictive auxiliary losses on the off-policy agent's latent
``offpolicy/``      the off-policy actor-critic (DrQ-v2, DDPG) with its networks, replay,
                    augmentation, precision and fused Adam
``ppo/``, ``es/``   PPO; evolution strategies
==================  ============================================================================

``common`` imports nothing else of ``agents``; ``policies``, ``plasticity`` and ``auxiliary``
import only ``common`` and ``protocols``; a learner imports those and never another learner
(``tests/test_agents_layout.py``). Each package's docstring maps its modules; its config
module (``config.py`` or ``*_config.py``: config sections and registrations) is torch-free,
and importing a package imports nothing.
"""

from __future__ import annotations

from typing import Any

from agents.common.base import Transition
from agents.protocols import Agent
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
    its ``name`` (``configs/registry.py``; built-ins in the ``config`` modules of ``agents/``).

    ``env`` is the training env, for agents that need body facts beyond the spaces (NCAP reads
    ``env.body.n_joints`` and ``env.episode_steps``). ``acting_only`` builds only what acting
    needs (no replay buffer, no optimisers): for evaluation, rendering and transfer.
    ``trainer.num_envs > 1`` (a training agent) is passed on as ``num_envs=``.
    """
    cls = registry.build("agent", cfg.agent.name)
    # several training envs (trainer.num_envs > 1, only agents whose config says vector_envs):
    # the agent acts and observes on all of them at once (trainer/loop.py)
    num_envs = getattr(getattr(cfg, "trainer", None), "num_envs", 1)
    extra = {"num_envs": num_envs} if num_envs > 1 and not acting_only else {}
    return cls(cfg.agent, observation_space, action_space, env=env, device=device,
               seed=cfg.seed, acting_only=acting_only, total_steps=cfg.steps, **extra)
