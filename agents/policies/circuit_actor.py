"""The NCAP+ circuit (``circuits/ncap_plus.py``) as a PPO actor on the swim and navigate tasks.

The flat observation is the dm_control observation dict in key order plus the time feature:
swim ``[joints (N), body_velocities (3 (N + 1)), time]``, navigate ``[joints (N), to_target (2),
body_velocities (3 (N + 1)), time]``. The actor reads, from the raw observation:

* joint angles ``q``; the control step ``t = round((x + 1) / 2 T)`` from the time feature ``x``;
* with ``oscillator: proprioceptive``, the B-neurons' switch states, kept per episode by
  ``circuits.proprioceptive.EpisodeSwitches`` from ``q`` and ``t`` (restarted where ``t = 0``,
  so every rollout, in training or not, starts its episode from the initial states);
* joint velocities (velocity switch) ``qdot_j = wz_j - wz_{j-1}``: the difference of the z
  angular velocities of the two links joint ``j`` connects (planar body, so this is exact);
* steering inputs (navigate) from the target in the head frame ``(x, y) = (-to_target_x,
  to_target_y)`` (``ncap.md`` section 3):
  hard-coded ``r = [x > 0.1]``, ``l = [x < -0.1]``, ``s = [|y| > 0.12]``;
  learned: a ``Linear(2 -> 3)`` on ``(x, |y|)`` clamped to [0, 1] gives ``(r, l, s)``, initialised
  as the graded form of the hard-coded rule (``r = 10 x``, ``l = -10 x``, ``s = |y| / 0.12``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from circuits.ncap_plus import NCAPPlusCircuit
from circuits.proprioceptive import EpisodeSwitches

TURN_THRESHOLD = 0.1
SPEED_THRESHOLD = 0.12


def observation_layout(env) -> dict[str, tuple[int, int]]:
    """``{key: (start, stop)}`` of each observation entry in the flat observation."""
    layout, start = {}, 0
    for key, spec in env.dm_env.observation_spec().items():
        size = math.prod(spec.shape)
        layout[key] = (start, start + size)
        start += size
    return layout


class HardSteering(nn.Module):
    """``(r, l, s) = ([x > 0.1], [x < -0.1], [|y| > 0.12])`` (no parameters)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([(x > TURN_THRESHOLD), (x < -TURN_THRESHOLD),
                            (y.abs() > SPEED_THRESHOLD)], dim=-1).to(x.dtype)


class LinearSteering(nn.Module):
    """The learned 'brain': ``(r, l, s) = clamp(W (x, |y|) + b, 0, 1)``, 9 parameters.

    ``init="default"`` (the authors' code: ``nn.Linear(2, 3)`` with PyTorch's default init, so
    the untrained brain steers at random); ``init="steering_rule"`` starts from a linear form of
    the hard-coded rule, ``W = [[1/0.1, 0], [-1/0.1, 0], [0, 1/0.12]]``, ``b = 0`` (our
    deviation, kept as an option: the untrained brain then already steers)."""

    def __init__(self, init: str = "default"):
        super().__init__()
        self.linear = nn.Linear(2, 3)
        if init == "steering_rule":
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor(
                    [[1.0 / TURN_THRESHOLD, 0.0], [-1.0 / TURN_THRESHOLD, 0.0],
                     [0.0, 1.0 / SPEED_THRESHOLD]]))
                self.linear.bias.zero_()
        elif init != "default":
            raise ValueError(f"brain init must be 'default' or 'steering_rule' (got {init!r})")

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.stack([x, y.abs()], dim=-1)).clamp(0.0, 1.0)


class NCAPPlusActor(nn.Module):
    """Raw observation -> torques through ``NCAPPlusCircuit`` (module docstring)."""

    uses_normalized_obs = False
    body_independent = True

    def __init__(self, circuit: NCAPPlusCircuit, layout: dict[str, tuple[int, int]],
                 episode_steps: int, steering: str | None = None, brain_init: str = "default"):
        super().__init__()
        self.circuit = circuit
        self.layout = layout
        self.episode_steps = episode_steps
        self.steering_mode = steering
        if steering is not None and not circuit.steering:
            raise ValueError("steering inputs need a circuit built with steering=True")
        self.brain = {"hardcoded": HardSteering, "learned": lambda: LinearSteering(brain_init),
                      None: lambda: None}[steering]()
        self.switches = (EpisodeSwitches(circuit.head_switch, circuit.body_switch)
                         if circuit.oscillator == "proprioceptive" else None)

    def timing_parameters(self) -> list[nn.Parameter]:
        """The learned period and duty cycle (their own learning rate: ``timing_lr_scale``)."""
        return list(self.circuit.timing.parameters())

    def _inputs(self, obs: torch.Tensor):
        j0, j1 = self.layout["joints"]
        joints = obs[..., j0:j1]
        t = torch.round((obs[..., -1] + 1.0) * (0.5 * self.episode_steps))
        vel = steer = None
        if self.circuit.has("v"):
            b0, b1 = self.layout["body_velocities"]
            wz = obs[..., b0:b1].unflatten(-1, ((b1 - b0) // 3, 3))[..., 2]
            vel = wz[..., 1:] - wz[..., :-1]
        if self.brain is not None:
            g0, _ = self.layout["to_target"]
            steer = self.brain(-obs[..., g0], obs[..., g0 + 1])
        return joints, t, vel, steer

    def _switches(self, joints: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
        """The proprioceptive rhythm's switch states at this step (``EpisodeSwitches``)."""
        return None if self.switches is None else self.switches.states(joints, t)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        inputs = self._inputs(obs)
        return self.circuit(*inputs, switches=self._switches(*inputs[:2]))

    def activity(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every neuron's activity for observation ``obs``."""
        inputs = self._inputs(obs)
        return self.circuit.activity(*inputs, switches=self._switches(*inputs[:2]))


def build_ncap_plus_actor(actor_cfg, env) -> NCAPPlusActor:
    """The actor an ``NCAPPlusActorConfig`` describes, for the swim or navigate env ``env``.

    Raises ``ConfigError`` (one line naming the key) on an env the circuit cannot read."""
    from configs.errors import ConfigError

    if getattr(env, "body", None) is None:
        raise ConfigError("config error: agent.actor.type: the ncap_plus circuit needs env.id "
                          "swim or navigate")
    if not getattr(env, "time_feature", False):
        raise ConfigError("config error: env.time_feature: the ncap_plus circuit reads its clock "
                          "from the time feature (set env.time_feature: true)")
    layout = observation_layout(env)
    if actor_cfg.steering is not None and "to_target" not in layout:
        raise ConfigError("config error: agent.actor.steering: steering inputs need env.id "
                          "navigate (this env has no target)")
    circuit = NCAPPlusCircuit(
        oscillator=actor_cfg.oscillator, period=actor_cfg.period, duty=actor_cfg.duty,
        learn_period=actor_cfg.learn_period, learn_duty=actor_cfg.learn_duty,
        sharpness=actor_cfg.sharpness, muscle_tone=actor_cfg.muscle_tone, leak=actor_cfg.leak,
        velocity=actor_cfg.velocity, velocity_tau=actor_cfg.velocity_tau,
        gain_profile=actor_cfg.gain_profile, steering=actor_cfg.steering is not None,
        n_turn_joints=actor_cfg.n_turn_joints, head_switch=actor_cfg.head_switch,
        body_switch=actor_cfg.body_switch)
    return NCAPPlusActor(circuit, layout, env.episode_steps, actor_cfg.steering,
                         actor_cfg.brain_init)


def ncap_plus_ppo_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> tuple[nn.Module, nn.Module]:
    """PPO's NCAP+ actor: the circuit and a fixed Gaussian std ``sigma``."""
    from agents.policies.actors import GaussianHead

    return build_ncap_plus_actor(actor_cfg, env), GaussianHead(act_dim, math.log(actor_cfg.sigma),
                                                               learned=False)
