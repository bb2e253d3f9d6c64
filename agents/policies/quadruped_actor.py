"""The quadruped circuit (``circuits/quadruped.py``) as an actor on dm_control's quadruped tasks.

The flat observation is the dm_control observation dict in key order plus the time feature
(``envs/dmc.py``); on ``quadruped-walk`` / ``-run``: ``egocentric_state`` (44: the 16 hinge
angles, their 16 velocities, the 12 actuator activations), ``torso_velocity`` (3),
``torso_upright`` (1), ``imu`` (6), ``force_torque`` (24: the four toe forces, then the four toe
torques, 3 each, arcsinh-scaled, in the toe sites' frames), time (1). The actor reads, from the
raw observation:

* the yaw angle of each leg: ``egocentric_state[k]`` with ``k`` the position of hinge
  ``yaw_<leg>`` among the model's hinge joints (the order ``egocentric_state`` uses);
* the load of each foot ``l = clamp((-f_z - 3) / 3, 0, 1)``: ``f_z`` the third component of
  sensor ``force_toe_<leg>`` in ``force_torque`` (the force sensors come first, in model order);
* the time since reset ``tau = k dt``: the control step ``k = round((x + 1) / 2 T)`` from the
  time feature ``x`` and the control timestep ``dt`` (0.02 s).

Indices are looked up by name in the compiled model, so they hold on every body variant.

Units. The circuit's outputs are position targets ``y`` in actuator units, which PPO and ES send
to the env as they are (the env clips them to the task's bounds: yaw [-1, 1], lift [-1, 1.1],
extend [-0.8, 0.8]). The off-policy agent acts in ``[-1, 1]`` per actuator (tanh means, clipped
noise) on an env with ``env.unit_actions: true``, which maps ``x`` onto the bounds,
``a = c + h x`` (centre ``c = (high + low) / 2``, half-range ``h = (high - low) / 2``). Its
actor (``unit_bounds`` set) returns the inverse map of the clipped target, ``x = (clamp(y, low, high) - c) / h``, so the env
receives ``clamp(y, low, high)``: the action PPO's mean gives (exactly on yaw, where ``c = 0``
and ``h = 1``; to float32 rounding on lift and extend).
"""

from __future__ import annotations

import math

import mujoco
import torch
from mujoco import mjtJoint, mjtObj, mjtSensor
from torch import nn

from agents.policies.circuit_actor import observation_layout
from circuits.quadruped import LEGS, LOAD_RANGE, LOAD_THRESHOLD, QuadrupedCircuit

LEG_NAMES = {"FL": "front_left", "FR": "front_right", "BR": "back_right", "BL": "back_left"}
ACTUATORS = [f"{joint}_{LEG_NAMES[leg]}" for leg in LEGS for joint in ("yaw", "lift", "extend")]


def quadruped_indices(env) -> tuple[list[int], list[int]]:
    """``(yaw, force_z)``: flat-observation indices of each leg's yaw angle and toe normal force
    (legs FL, FR, BR, BL). Raises ``ValueError`` on a model that is not the quadruped."""
    model = env.physics.model.ptr
    layout = observation_layout(env)
    if "egocentric_state" not in layout or "force_torque" not in layout:
        raise ValueError("no egocentric_state / force_torque observation")
    names = [mujoco.mj_id2name(model, mjtObj.mjOBJ_ACTUATOR, i) for i in range(model.nu)]
    if names != ACTUATORS:
        raise ValueError(f"actuators {names} are not the quadruped's")
    hinges = [mujoco.mj_id2name(model, mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)
              if model.jnt_type[j] == mjtJoint.mjJNT_HINGE]
    forces = [mujoco.mj_id2name(model, mjtObj.mjOBJ_SENSOR, s) for s in range(model.nsensor)
              if model.sensor_type[s] == mjtSensor.mjSENS_FORCE]
    e0, f0 = layout["egocentric_state"][0], layout["force_torque"][0]
    yaw = [e0 + hinges.index(f"yaw_{LEG_NAMES[leg]}") for leg in LEGS]
    force_z = [f0 + 3 * forces.index(f"force_toe_{LEG_NAMES[leg]}") + 2 for leg in LEGS]
    return yaw, force_z


class QuadrupedActor(nn.Module):
    """Raw quadruped observation -> 12 position targets through ``QuadrupedCircuit``.

    The circuit is held as ``spinal``, not ``circuit``: the tools that draw a circuit's activity
    (``trainer.rollout.circuit_of``) read ``actor.circuit`` as the swimmer's NCAP circuit."""

    uses_normalized_obs = False
    uses_encoder = False
    body_independent = True

    def __init__(self, circuit: QuadrupedCircuit, yaw_index: list[int], force_index: list[int],
                 episode_steps: int, control_dt: float,
                 unit_bounds: tuple[list[float], list[float]] | None = None):
        super().__init__()
        self.spinal = circuit
        self.yaw_index = yaw_index
        self.force_index = force_index
        self.episode_steps = episode_steps
        self.control_dt = control_dt
        # the task's action bounds when the actor acts in [-1, 1] (module docstring); buffers
        # outside the state dict, which stays the circuit's 9 weights on every agent
        self.unit = unit_bounds is not None
        low, high = unit_bounds if self.unit else ([], [])
        self.register_buffer("low", torch.tensor(low, dtype=torch.float32), persistent=False)
        self.register_buffer("high", torch.tensor(high, dtype=torch.float32), persistent=False)
        self.register_buffer("centre", (self.high + self.low) / 2, persistent=False)
        self.register_buffer("half_range", (self.high - self.low) / 2, persistent=False)

    def _inputs(self, obs: torch.Tensor, k: torch.Tensor | None):
        yaw = obs[..., self.yaw_index]
        load = ((-obs[..., self.force_index] - LOAD_THRESHOLD) / LOAD_RANGE).clamp(0.0, 1.0)
        if k is None:
            k = torch.round((obs[..., -1] + 1.0) * (0.5 * self.episode_steps))
        return k * self.control_dt, yaw, load

    def forward(self, obs: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """Actions for ``obs``; ``k`` the control step when the caller counts it (ES), else read
        from the time feature. Actuator units, or ``[-1, 1]`` with ``unit_bounds``."""
        y = self.spinal(*self._inputs(obs, k))
        if not self.unit:
            return y
        y = torch.minimum(torch.maximum(y, self.low), self.high)
        return (y - self.centre) / self.half_range

    def activity(self, obs: torch.Tensor, k: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every neuron's activity for observation ``obs`` (``k`` as in ``forward``); its
        ``action`` is in actuator units, with or without ``unit_bounds``."""
        return self.spinal.activity(*self._inputs(obs, k))


def build_quadruped_actor(actor_cfg, env, own_clock: bool = False,
                          unit_actions: bool = False) -> QuadrupedActor:
    """The actor a ``QuadrupedCircuitConfig`` describes, for the dm_control quadruped ``env``;
    it reads its clock from the time feature unless the caller counts steps (``own_clock``),
    and acts in ``[-1, 1]`` on the env's ``native_action_bounds`` with ``unit_actions``.

    Raises ``ConfigError`` (one line naming the key) on an env the circuit cannot read."""
    from configs.errors import ConfigError

    try:
        yaw, force_z = quadruped_indices(env)
    except (AttributeError, ValueError):
        raise ConfigError("config error: agent.actor.type: the ncap_quadruped circuit drives "
                          "dm_control's quadruped (env.id dmc:quadruped-walk or "
                          "dmc:quadruped-run)") from None
    if not own_clock and not getattr(env, "time_feature", False):
        raise ConfigError("config error: env.time_feature: the ncap_quadruped circuit reads its "
                          "clock from the time feature (set env.time_feature: true)")
    bounds = None
    if unit_actions:
        low, high = env.native_action_bounds
        bounds = (low.tolist(), high.tolist())
    circuit = QuadrupedCircuit(drive=actor_cfg.drive, swing_time=actor_cfg.swing_time,
                               stance_time=actor_cfg.stance_time, signed=actor_cfg.signed)
    return QuadrupedActor(circuit, yaw, force_z, env.episode_steps,
                          float(env.dm_env.control_timestep()), bounds)


def quadruped_ppo_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> tuple[nn.Module, nn.Module]:
    """PPO's quadruped actor: the circuit and a fixed Gaussian std ``sigma``."""
    from agents.policies.actors import GaussianHead

    return build_quadruped_actor(actor_cfg, env), GaussianHead(act_dim, math.log(actor_cfg.sigma),
                                                               learned=False)


def quadruped_es_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> nn.Module:
    """The quadruped circuit as an ES actor: it counts its own steps (no time feature needed)."""
    return build_quadruped_actor(actor_cfg, env, own_clock=True)
