"""Deterministic rollouts that expose, step by step, what the body did and what the circuit felt.

``rollout_steps`` yields one ``Step`` after each ``env.step``: the joint angles the policy read,
the action it took (``act(obs, explore=False)``), the reward, the return so far and, for an NCAP
policy, every neuron's activity at that control step (``NCAPSwimmerCircuit.activity``: oscillator
``od/ov``, proprioception ``q_d/q_v``, B-neurons ``b_d/b_v``, muscles ``muscle_d/muscle_v``). The
circuit's clock ``t`` is the number of control steps since reset, exactly what ``NCAPActor``
recovers from the time feature. A caller can render the physics between steps (the frame then
shows the body after the step's action); ``record_rollout`` collects the steps into arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


@dataclass
class Step:
    """Control step ``k`` (1-based: ``k`` actions applied so far)."""

    k: int
    joints: np.ndarray
    action: np.ndarray
    reward: float
    episode_return: float
    activity: dict[str, np.ndarray] | None


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
        return cls(joints=np.stack([s.joints for s in steps]),
                   actions=np.stack([s.action for s in steps]),
                   rewards=np.array([s.reward for s in steps]),
                   activity=activity, control_timestep=control_timestep)


def circuit_of(agent):
    """The agent's ``NCAPSwimmerCircuit`` (None for any other actor)."""
    return getattr(getattr(agent, "actor", None), "circuit", None)


def rollout_steps(agent, env, seed: int, steps: int) -> Iterator[Step]:
    """Run up to ``steps`` deterministic control steps (fewer if the episode ends)."""
    circuit = circuit_of(agent)
    n = env.action_space.shape[0]
    obs, _ = env.reset(seed=seed)
    total = 0.0
    with torch.inference_mode():
        for k in range(steps):
            joints = obs[:n].copy()
            activity = None
            if circuit is not None:
                if hasattr(agent.actor, "activity"):  # NCAP+ reads velocities, target from obs
                    act = agent.actor.activity(torch.as_tensor(obs, dtype=torch.float32))
                else:
                    act = circuit.activity(torch.as_tensor(joints, dtype=torch.float32),
                                           torch.tensor(float(k)))
                activity = {name: v.numpy().copy() for name, v in act.items()}
            action = agent.act(obs, explore=False)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            yield Step(k + 1, joints, np.asarray(action), reward, total, activity)
            if terminated or truncated:
                return


def record_rollout(agent, env, seed: int, steps: int) -> Rollout:
    """``rollout_steps`` collected into arrays."""
    return Rollout.from_steps(list(rollout_steps(agent, env, seed, steps)),
                              float(env.dm_env.control_timestep()))
