"""The NCAP swimmer circuit as a stable-baselines3 policy: ``PPO(NCAPPolicy, env)``.

SB3's ``ActorCriticPolicy`` computes ``features -> mlp_extractor -> (latent_pi, latent_vf)``, then
``action_net(latent_pi)`` is the Gaussian mean and ``value_net(latent_vf)`` the value. Here:

* the features are the raw flattened observation (``FlattenExtractor``) and the policy branch of
  the extractor is empty (``net_arch=dict(pi=[], vf=[...])``), so ``latent_pi`` *is* the
  observation;
* ``action_net`` is ``NCAPActor`` (``agents.policies.actors``): joint angles and the time feature ->
  circuit -> torques. The circuit emits the action mean directly; no SB3 layer wraps it;
* the action noise is ``N(mean, sigma^2)`` with a fixed ``sigma`` (0.1, as in the paper): its log
  is a buffer, not a parameter, so the optimiser trains only the circuit's weights (4 when
  shared) and the critic;
* the critic is SB3's MLP value head (default 256 x 256 tanh), orthogonally initialised as SB3
  does; the circuit keeps its own initialisation (``NCAPSwimmerCircuit``).

Use it on the swim task with its time feature, e.g. ``gymnasium.make("BioEmbodied/Swim-v0",
n_joints=5)`` after ``import envs``. Do not normalise observations (``VecNormalize(norm_obs=
False)`` only): the circuit reads raw joint angles (rad) and the raw time feature.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule

from agents.policies.actors import NCAPActor
from circuits.ncap import NCAPSwimmerCircuit

SWIM_EPISODE_STEPS = 1000  # 30 s at a 0.03 s control step (envs/swim.py)


class NCAPPolicy(ActorCriticPolicy):
    """Actor: the NCAP circuit (mean) with fixed ``sigma``; critic: an MLP.

    Args (beyond ``ActorCriticPolicy``'s; ``use_sde`` and ``squash_output`` are not supported):
        sigma: fixed standard deviation of the Gaussian action noise.
        episode_steps: control steps per episode ``T``, to read ``t`` from the time feature.
        shared, signed, constant_init, oscillator_period: ``NCAPSwimmerCircuit`` switches.
        net_arch: ``dict(pi=[], vf=[...])``; only the critic may have layers (default
            ``vf=[256, 256]``).
    """

    def __init__(self, observation_space: spaces.Box, action_space: spaces.Box,
                 lr_schedule: Schedule, sigma: float = 0.1,
                 episode_steps: int = SWIM_EPISODE_STEPS, shared: bool = True,
                 signed: bool = True, constant_init: bool = True, oscillator_period: int = 60,
                 net_arch: dict[str, list[int]] | None = None, **kwargs: Any):
        n = int(action_space.shape[0])
        if observation_space.shape != (4 * n + 4,):
            raise ValueError(
                f"NCAPPolicy needs the swim observation with its time feature (4N + 4 = "
                f"{4 * n + 4} values for N={n} joints), got shape {observation_space.shape}")
        net_arch = dict(pi=[], vf=[256, 256]) if net_arch is None else net_arch
        if not isinstance(net_arch, dict) or net_arch.get("pi"):
            raise ValueError("NCAPPolicy: net_arch must be dict(pi=[], vf=[...]); the circuit "
                             "is the whole actor")
        if kwargs.get("use_sde") or kwargs.get("squash_output"):
            raise ValueError("NCAPPolicy supports neither use_sde nor squash_output")
        self.circuit_kwargs = dict(shared=shared, signed=signed, constant_init=constant_init,
                                   oscillator_period=oscillator_period)
        self.sigma = sigma
        self.episode_steps = episode_steps
        super().__init__(observation_space, action_space, lr_schedule,
                         net_arch=dict(pi=[], vf=list(net_arch.get("vf", []))), **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        """Critic as in SB3; ``action_net`` = the circuit; ``log_std`` = fixed buffer."""
        if not isinstance(self.action_dist, DiagGaussianDistribution):
            raise ValueError("NCAPPolicy needs a continuous (Box) action space")
        self._build_mlp_extractor()
        n = int(self.action_space.shape[0])
        circuit = NCAPSwimmerCircuit(n_joints=n, **self.circuit_kwargs)
        self.action_net = NCAPActor(circuit, n, self.episode_steps)
        self.register_buffer("log_std", torch.full((n,), math.log(self.sigma)))
        self.value_net = torch.nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:
            for module, gain in ((self.features_extractor, math.sqrt(2)),
                                 (self.mlp_extractor, math.sqrt(2)), (self.value_net, 1.0)):
                module.apply(lambda m, g=gain: self.init_weights(m, gain=g))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),
                                              **self.optimizer_kwargs)

    @property
    def circuit(self) -> NCAPSwimmerCircuit:
        return self.action_net.circuit

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(sigma=self.sigma, episode_steps=self.episode_steps, **self.circuit_kwargs)
        for key in ("use_sde", "squash_output", "full_std", "use_expln", "log_std_init"):
            data.pop(key, None)
        return data
