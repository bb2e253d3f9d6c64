"""Actor modules PPO can train: the NCAP circuit on swim observations, or an MLP.

An actor maps an observation batch to the mean action. ``uses_normalized_obs`` tells the agent
whether to feed it the running-normalised observation (MLP) or the raw one (NCAP reads raw joint
angles and the time feature; the normaliser serves only the critic, as in the paper's code).
Exploration noise is added by ``GaussianHead``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from agents.common.networks import mlp
from circuits.ncap import NCAPSwimmerCircuit
from configs import registry


class NCAPActor(nn.Module):
    """Swim observation -> torques through ``NCAPSwimmerCircuit``.

    The swim observation is ``[joints (N), body velocities (3 (N + 1)), time feature]``. The circuit
    reads the joint angles and the control step ``t``: given by the caller (a circuit that counts
    its own steps, as under ES, where the env has no time feature), or else recovered as
    ``t = round((x + 1) / 2 * T)`` from the time feature ``x = -1 + 2 t / T`` (``T`` = control
    steps per episode, from the env, not hard-coded). Body velocities are ignored.
    """

    uses_normalized_obs = False
    uses_encoder = False  # off-policy agents feed it the raw observation, not the encoder's

    def __init__(self, circuit: NCAPSwimmerCircuit, n_joints: int, episode_steps: int):
        super().__init__()
        self.circuit = circuit
        self.n_joints = n_joints
        self.episode_steps = episode_steps

    @property
    def body_independent(self) -> bool:
        """True when the same weights run on any number of joints (weight sharing)."""
        return self.circuit.shared

    def forward(self, obs: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        joints = obs[..., : self.n_joints]
        if t is None:
            t = torch.round((obs[..., -1] + 1.0) * (0.5 * self.episode_steps))
        return self.circuit(joints, t)


class MLPActor(nn.Module):
    """Normalised observation -> mean action through an MLP (linear output, as in SB3)."""

    uses_normalized_obs = True
    body_independent = False

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], activation: str):
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class TonicMLPActor(MLPActor):
    """Tonic's PPO actor torso and mean: ``mu = tanh(MLP(obs))`` (paper protocol)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class GaussianHead(nn.Module):
    """Diagonal Gaussian ``N(mean, sigma^2)`` with a fixed or a learned state-independent sigma.

    A learned sigma has one entry per action dimension; a fixed sigma is one scalar, so a
    body-independent actor (NCAP) keeps a body-independent state dict.
    """

    def __init__(self, act_dim: int, log_std_init: float, learned: bool):
        super().__init__()
        self.act_dim = act_dim
        if learned:
            self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        else:
            self.register_buffer("log_std", torch.tensor(float(log_std_init)))

    def std(self) -> torch.Tensor:
        return self.log_std.exp()

    def log_prob(self, mean: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``sum_k [-(a_k - mu_k)^2 / (2 s_k^2) - log s_k - log(2 pi) / 2]``."""
        z = (action - mean) / self.std()
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``sum_k [log s_k + (1 + log 2 pi) / 2]`` (state independent)."""
        return (self.log_std + 0.5 * (1.0 + math.log(2 * math.pi))).expand(self.act_dim).sum()


def build_ncap_actor(circuit_cfg, env, own_clock: bool = False) -> NCAPActor:
    """The NCAP actor for ``circuit_cfg`` (``configs.schema.NCAPCircuitConfig``) on ``env``.

    The circuit drives the N-joint swimmer and needs its clock: the env's time feature, unless
    it counts its own steps (``own_clock``). Raises a one-line ``ConfigError`` naming the key.
    """
    from configs.errors import ConfigError

    body = getattr(env, "body", None)
    if body is None:
        raise ConfigError("config error: agent.actor.type: the NCAP circuit drives the N-joint "
                          "swimmer (env.id=swim); use agent.actor.type=mlp for other tasks")
    if not own_clock and not getattr(env, "time_feature", False):
        raise ConfigError("config error: env.time_feature: the NCAP actor reads its clock (the "
                          "oscillator phase) from the time feature; set env.time_feature=true")
    circuit = NCAPSwimmerCircuit(
        n_joints=body.n_joints, shared=circuit_cfg.shared, signed=circuit_cfg.signed,
        constant_init=circuit_cfg.constant_init, oscillator_period=circuit_cfg.oscillator_period,
        proprioception=circuit_cfg.proprioception, head_oscillator=circuit_cfg.head_oscillator)
    return NCAPActor(circuit, body.n_joints, env.episode_steps)


class SoftplusGaussianHead(nn.Module):
    """Tonic's state-independent scale: ``sigma_k = clamp(softplus(rho_k), 1e-4, 1)``, ``rho = 0``
    at init (``sigma = log 2 = 0.693``). Same interface as ``GaussianHead``."""

    STD_MIN, STD_MAX = 1e-4, 1.0

    def __init__(self, act_dim: int):
        super().__init__()
        self.act_dim = act_dim
        self.rho = nn.Parameter(torch.zeros(act_dim))

    def std(self) -> torch.Tensor:
        return nn.functional.softplus(self.rho).clamp(self.STD_MIN, self.STD_MAX)

    def log_prob(self, mean: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``sum_k [-(a_k - mu_k)^2 / (2 s_k^2) - log s_k - log(2 pi) / 2]``."""
        std = self.std()
        z = (action - mean) / std
        return (-0.5 * z.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``sum_k [log s_k + (1 + log 2 pi) / 2]`` (state independent)."""
        return (self.std().log() + 0.5 * (1.0 + math.log(2 * math.pi))).sum()


def ncap_ppo_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> tuple[nn.Module, GaussianHead]:
    """PPO's NCAP actor: the circuit and a fixed Gaussian std ``sigma``."""
    return build_ncap_actor(actor_cfg, env), GaussianHead(act_dim, math.log(actor_cfg.sigma),
                                                          learned=False)


def mlp_ppo_actor(actor_cfg, obs_dim: int, act_dim: int, env=None) -> tuple[nn.Module, nn.Module]:
    """PPO's MLP actor: linear head (learned log std, SB3) or tonic's head (tanh mean,
    softplus std)."""
    if actor_cfg.head == "tonic":
        actor = TonicMLPActor(obs_dim, act_dim, actor_cfg.hidden, actor_cfg.activation)
        return actor, SoftplusGaussianHead(act_dim)
    actor = MLPActor(obs_dim, act_dim, actor_cfg.hidden, actor_cfg.activation)
    return actor, GaussianHead(act_dim, actor_cfg.log_std_init, learned=True)


def build_actor(actor_cfg, obs_dim: int, act_dim: int, env=None) -> tuple[nn.Module, GaussianHead]:
    """The PPO actor module and its Gaussian head for ``actor_cfg``: the builder registered
    under its ``type`` as kind ``ppo.actor`` (``agents/ppo/config.py``)."""
    return registry.build("ppo.actor", actor_cfg.type)(actor_cfg, obs_dim, act_dim, env)
