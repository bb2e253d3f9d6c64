"""Rollouts outside the training loop: evaluation, transfer, videos and circuit pictures.

``rollout`` is the one episode runner every such rollout goes through: ``env.reset(seed=seed)``,
then the ``on_reset`` hook (an agent's ``begin_episode(explore=False)``, ``agents/common/base.py``:
a circuit that counts its own steps restarts its clock there), then one ``Step`` per
``env.step`` until the episode ends or ``max_steps`` steps are taken. ``agent_rollout`` runs an
agent's deterministic policy (``act(obs, explore=False)``) through it and, for an NCAP policy,
adds every neuron's activity at that control step (``NCAPSwimmerCircuit.activity``: oscillator
``od/ov``, proprioception ``q_d/q_v``, B-neurons ``b_d/b_v``, muscles ``muscle_d/muscle_v``);
the circuit's clock ``t`` is the number of control steps since reset, exactly what ``NCAPActor``
recovers from the time feature. For the quadruped's circuit (``actor.spinal``,
``QuadrupedActor.activity`` at clock ``k - 1``): phases, half-centres, loads, motor neurons and
the action of each leg. A caller can render the physics between steps (the frame then
shows the body after the step's action); ``record_rollout`` collects the steps into arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from agents.common.base import begin_episode


@dataclass
class Step:
    """Control step ``k`` (1-based: ``k`` actions applied so far).

    ``obs`` is the observation the action was chosen from, ``next_obs`` the one after it.
    """

    k: int
    obs: np.ndarray
    action: np.ndarray
    reward: float
    episode_return: float
    next_obs: np.ndarray
    done: bool
    activity: dict[str, np.ndarray] | None = None


@dataclass
class Rollout:
    """A recorded rollout, arrays over time first: ``joints`` and ``actions`` ``[T, N]``,
    ``rewards [T]``, ``activity[name]`` ``[T]`` (oscillators) or ``[T, N]`` (per joint)."""

    joints: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    activity: dict[str, np.ndarray] | None
    control_timestep: float

    @classmethod
    def from_steps(cls, steps: list[Step], control_timestep: float) -> "Rollout":
        activity = None
        if steps[0].activity is not None:
            activity = {name: np.stack([s.activity[name] for s in steps])
                        for name in steps[0].activity}
        n = steps[0].action.shape[-1]
        return cls(joints=np.stack([s.obs[:n] for s in steps]),
                   actions=np.stack([s.action for s in steps]),
                   rewards=np.array([s.reward for s in steps]),
                   activity=activity, control_timestep=control_timestep)


def rollout(policy: Callable[[np.ndarray], np.ndarray], env, seed: int,
            max_steps: int | None = None,
            on_reset: Callable[[], None] | None = None) -> Iterator[Step]:
    """One episode started with ``env.reset(seed=seed)`` (module docstring), step by step."""
    obs, _ = env.reset(seed=seed)
    if on_reset is not None:
        on_reset()
    total, k = 0.0, 0
    while max_steps is None or k < max_steps:
        action = np.asarray(policy(obs))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        k += 1
        done = bool(terminated or truncated)
        yield Step(k, obs, action, float(reward), total, next_obs, done)
        if done:
            return
        obs = next_obs


def circuit_of(agent):
    """The agent's ``NCAPSwimmerCircuit`` (None for any other actor)."""
    return getattr(getattr(agent, "actor", None), "circuit", None)


def spinal_of(agent):
    """The agent's quadruped ``QuadrupedCircuit`` (``actor.spinal``; None for any other actor)."""
    return getattr(getattr(agent, "actor", None), "spinal", None)


def agent_rollout(agent, env, seed: int, steps: int | None = None) -> Iterator[Step]:
    """The agent's deterministic policy for up to ``steps`` steps, with circuit activity."""
    circuit, spinal = circuit_of(agent), spinal_of(agent)
    n = env.action_space.shape[0]
    with torch.inference_mode():
        for step in rollout(lambda obs: agent.act(obs, explore=False), env, seed, steps,
                            on_reset=lambda: begin_episode(agent, explore=False)):
            if circuit is not None:
                if hasattr(agent.actor, "activity"):  # NCAP+ reads velocities, target from obs
                    act = agent.actor.activity(torch.as_tensor(step.obs, dtype=torch.float32))
                else:
                    act = circuit.activity(torch.as_tensor(step.obs[:n], dtype=torch.float32),
                                           torch.tensor(float(step.k - 1)))
                step.activity = {name: v.numpy().copy() for name, v in act.items()}
            elif spinal is not None:
                act = agent.actor.activity(torch.as_tensor(step.obs, dtype=torch.float32),
                                           torch.tensor(float(step.k - 1)))
                step.activity = {name: v.numpy().copy() for name, v in act.items()}
            yield step


def record_rollout(agent, env, seed: int, steps: int) -> Rollout:
    """``agent_rollout`` collected into arrays."""
    return Rollout.from_steps(list(agent_rollout(agent, env, seed, steps)),
                              float(env.dm_env.control_timestep()))
