"""Networks of the off-policy actor-critic (``agents/offpolicy/agent.py``), DrQ-v2's by default.

* ``Encoder`` (pixels): conv 3x3 stride 2, then 3 x conv 3x3 stride 1 (``C`` channels, ReLU,
  no padding; 84 -> 41 -> 39 -> 37 -> 35, flat size ``32 * 35 * 35 = 39200``), input
  ``obs / 255 - 0.5``. State vectors have no encoder (or only a running normaliser).
* ``trunk``: Linear -> LayerNorm -> tanh to ``feature_dim`` (DrQ-v2); ``feature_dim=None``
  leaves it out (DDPG's plain MLPs).
* ``Actor``: trunk, MLP ReLU (``hidden_dim`` x 2), ``mu = tanh(.)``.
* ``Critic``: its own trunk, then ``Q_i(z, a)``: MLP ReLU (``hidden_dim`` x 2) -> 1, two heads
  (double Q, DrQ-v2/TD3) or one (DDPG).
* Orthogonal weights, zero biases; conv gain ``sqrt(2)``.

``make_encoder`` and ``make_actor`` pick the encoder and actor the observations and the config
ask for. ``forward_maps`` (encoder, actor) and the critic's ``forward`` also return the
post-ReLU maps the plasticity metrics read (``agents/plasticity/metrics.py``); ``redo_pairs`` name
the Linear layers around each hidden map, for ReDo, and ``redo_norms`` the LayerNorm of each.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from agents.common.networks import orthogonal_init, trunk
from agents.common.normalizer import RunningNormalizer
from agents.policies.actors import build_ncap_actor

DEFAULT_CONV_CHANNELS = 32


class CReLU(nn.Module):
    """Concatenated ReLU (Shang et al. 2016; for plasticity: Abbas et al. 2023):
    ``[relu(x), relu(-x)]``, twice the width; half of its outputs are active for any input
    with nonzero pre-activations, so no unit can go dormant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(x), F.relu(-x)], dim=-1)


def hidden_block(in_dim: int, units: int, norm: str = "none", activation: str = "relu"
                 ) -> tuple[list[nn.Module], int]:
    """``Linear -> [LayerNorm] -> ReLU | CReLU`` (``agent.hidden_norm``, ``agent.activation``)
    and its output width (``2 units`` with CReLU)."""
    layers: list[nn.Module] = [nn.Linear(in_dim, units)]
    if norm == "layernorm":
        layers.append(nn.LayerNorm(units))
    layers.append(CReLU() if activation == "crelu" else nn.ReLU())
    return layers, units * (2 if activation == "crelu" else 1)


class Encoder(nn.Module):
    """Four 3x3 conv layers (first stride 2), ReLU, flattened; input uint8-valued floats."""

    def __init__(self, in_channels: int, size: int, channels: int = 32):
        super().__init__()
        self.convnet = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU())
        side = (size - 3) // 2 + 1 - 6
        if side < 1:
            raise ValueError(f"image size {size} is too small for the DrQ-v2 encoder (min 15)")
        self.repr_dim = channels * side * side
        self.apply(orthogonal_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.convnet(obs / 255.0 - 0.5).flatten(1)

    def redo_pairs(self, readers: list[nn.Linear]) -> list[tuple[nn.Module, object]]:
        """ReDo's ``(incoming, outgoing)`` pairs of the 4 conv maps: each conv feeds the next;
        the last one's channels are read, flattened, by ``readers`` (the trunks' Linear
        layers), ``side * side`` columns per channel."""
        convs = [m for m in self.convnet if isinstance(m, nn.Conv2d)]
        per_channel = self.repr_dim // convs[-1].out_channels
        return [*zip(convs[:-1], convs[1:]),
                (convs[-1], [(layer, per_channel) for layer in readers])]

    def forward_maps(self, obs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``forward`` (the same operations) and the 4 post-ReLU conv maps (encoder FAU)."""
        x, maps = obs / 255.0 - 0.5, []
        for layer in self.convnet:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                maps.append(x)
        return x.flatten(1), maps


class Actor(nn.Module):
    """``mu(h) = tanh(MLP(trunk(h)))``; the std is given, not learned. Reads the encoder's
    output (``uses_encoder``), unlike a circuit, which reads the raw observation."""

    uses_encoder = True
    body_independent = False

    def __init__(self, repr_dim: int, action_dim: int, feature_dim: int | None, hidden_dim: int,
                 norm: str = "none", activation: str = "relu"):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim)
        first, width = hidden_block(feature_dim or repr_dim, hidden_dim, norm, activation)
        second, width = hidden_block(width, hidden_dim, norm, activation)
        self.policy = nn.Sequential(*first, *second, nn.Linear(width, action_dim))
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.policy(self.trunk(h)))

    def forward_maps(self, h: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``forward`` (the same operations) and the 2 post-ReLU hidden maps (actor FAU)."""
        x, maps = self.trunk(h), []
        for layer in self.policy:
            x = layer(x)
            if isinstance(layer, (nn.ReLU, CReLU)):
                maps.append(x)
        return torch.tanh(x), maps

    def redo_pairs(self) -> list[tuple[nn.Linear, nn.Linear]]:
        """``(incoming, outgoing)`` Linear layers of each hidden ReLU layer, in map order."""
        linear = [m for m in self.policy if isinstance(m, nn.Linear)]
        return [(linear[0], linear[1]), (linear[1], linear[2])]

    def redo_norms(self) -> list[nn.LayerNorm | None]:
        """The LayerNorm on each ``redo_pairs`` incoming layer's output (None without)."""
        norms = [m for m in self.policy if isinstance(m, nn.LayerNorm)]
        return norms or [None, None]


def sample_action(mu: torch.Tensor, std: float, clip: float | None) -> torch.Tensor:
    """Truncated-normal sample ``clamp(mu + clip(std eps, +-clip), -1 + 1e-6, 1 - 1e-6)``.

    The clamp passes gradients straight through to ``mu`` (as DrQ-v2's ``TruncatedNormal``).
    """
    noise = torch.randn_like(mu) * std
    if clip is not None:
        noise = noise.clamp(-clip, clip)
    x = mu + noise
    return x - x.detach() + x.detach().clamp(-1.0 + 1e-6, 1.0 - 1e-6)


class QHead(nn.Module):
    """``Q(z, a)``: Linear -> ReLU -> Linear -> ReLU -> Linear(1); returns the hidden maps too."""

    def __init__(self, in_dim: int, hidden_dim: int, norm: str = "none",
                 activation: str = "relu"):
        super().__init__()
        width = hidden_dim * (2 if activation == "crelu" else 1)
        self.l1 = nn.Linear(in_dim, hidden_dim)
        self.l2 = nn.Linear(width, hidden_dim)
        self.out = nn.Linear(width, 1)
        self.norm1 = nn.LayerNorm(hidden_dim) if norm == "layernorm" else None
        self.norm2 = nn.LayerNorm(hidden_dim) if norm == "layernorm" else None
        self.crelu = activation == "crelu"

    def _act(self, x: torch.Tensor, norm: nn.Module | None) -> torch.Tensor:
        if norm is not None:
            x = norm(x)
        if self.crelu:
            return torch.cat([F.relu(x), F.relu(-x)], dim=-1)
        return F.relu(x, inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h1 = self._act(self.l1(x), self.norm1)
        h2 = self._act(self.l2(h1), self.norm2)
        return self.out(h2), (h1, h2)

    def redo_pairs(self) -> list[tuple[nn.Linear, nn.Linear]]:
        return [(self.l1, self.l2), (self.l2, self.out)]

    def redo_norms(self) -> list[nn.LayerNorm | None]:
        return [self.norm1, self.norm2]


class Critic(nn.Module):
    """``Q_i(trunk(h), a)`` for ``i = 1, 2`` (``double_q``) or ``i = 1`` alone (DDPG)."""

    def __init__(self, repr_dim: int, action_dim: int, feature_dim: int | None, hidden_dim: int,
                 double_q: bool = True, norm: str = "none", activation: str = "relu"):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim)
        in_dim = (feature_dim or repr_dim) + action_dim
        self.q1 = QHead(in_dim, hidden_dim, norm, activation)
        self.q2 = QHead(in_dim, hidden_dim, norm, activation) if double_q else None
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor, action: torch.Tensor):
        """``(Q1, Q2, hidden)`` with ``hidden`` the post-ReLU maps (4, or 2 for one head; FAU).
        With one head ``Q2`` is ``Q1``, so ``min(Q1, Q2) = Q1``."""
        return self.heads(self.trunk(h), action)

    def heads(self, z: torch.Tensor, action: torch.Tensor):
        """``forward`` on trunk features ``z = trunk(h)`` computed elsewhere (the auxiliary
        losses share them, so the trunk runs once)."""
        x = torch.cat([z, action], dim=-1)
        q1, hidden1 = self.q1(x)
        if self.q2 is None:
            return q1, q1, hidden1
        q2, hidden2 = self.q2(x)
        return q1, q2, hidden1 + hidden2

    def first(self, h: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``Q_1(trunk(h), a)`` alone (TD3's actor loss reads only the first head)."""
        return self.q1(torch.cat([self.trunk(h), action], dim=-1))[0]

    def redo_pairs(self) -> list[tuple[nn.Linear, nn.Linear]]:
        """``(incoming, outgoing)`` Linear layers of each hidden map ``forward`` returns."""
        return [pair for head in (self.q1, self.q2) if head is not None
                for pair in head.redo_pairs()]

    def redo_norms(self) -> list[nn.LayerNorm | None]:
        """The LayerNorm on each ``redo_pairs`` incoming layer's output (None without)."""
        return [n for head in (self.q1, self.q2) if head is not None
                for n in head.redo_norms()]


def make_encoder(cfg, shape: tuple[int, ...], pixels: bool) -> tuple[nn.Module, int]:
    """``(f, repr_dim)``: the conv ``Encoder`` for pixels ``(3 m, H, H)`` (``conv_channels``,
    null: 32); for state vectors a ``RunningNormalizer`` (``normalize_observations``) or
    nothing. ``cfg``: ``OffPolicyConfig``."""
    if pixels:
        encoder = Encoder(shape[0], shape[1], cfg.conv_channels or DEFAULT_CONV_CHANNELS)
        return encoder, encoder.repr_dim
    repr_dim = math.prod(shape)
    return (RunningNormalizer(repr_dim, cfg.obs_clip, cfg.obs_std_floor)
            if cfg.normalize_observations else nn.Identity()), repr_dim


def make_actor(cfg, repr_dim: int, action_dim: int, env) -> nn.Module:
    """The MLP ``Actor`` on ``h``, or a circuit on the raw observation (``actor.type: ncap``,
    sized by ``env``'s body; ``ncap_quadruped``, on ``env.unit_actions``' [-1, 1])."""
    from configs import registry

    build = registry.build("offpolicy.actor", cfg.actor.type)
    return build(cfg.actor, repr_dim, action_dim, cfg, env)


def ncap_offpolicy_actor(actor_cfg, repr_dim: int, act_dim: int, agent_cfg, env) -> nn.Module:
    """The off-policy agent's NCAP actor (reads the raw observation and its time feature)."""
    return build_ncap_actor(actor_cfg, env)


def quadruped_offpolicy_actor(actor_cfg, repr_dim: int, act_dim: int, agent_cfg,
                              env) -> nn.Module:
    """The off-policy agent's quadruped circuit (``agents/policies/quadruped_actor.py``): reads
    the raw observation and its time feature, acts in ``[-1, 1]`` as the agent's other actors
    do, the inverse of ``env.unit_actions``' affine map applied to its targets clamped to the
    task's bounds (so the env receives the targets PPO's mean sends). Raises ``ConfigError``
    (one line) on another task or without ``env.unit_actions``."""
    from agents.policies.quadruped_actor import build_quadruped_actor
    from configs.errors import ConfigError

    actor = build_quadruped_actor(actor_cfg, env, unit_actions=True)
    if not getattr(env, "unit_actions", False):
        raise ConfigError("config error: env.unit_actions: the off-policy agent acts in "
                          "[-1, 1]; set env.unit_actions: true for the ncap_quadruped circuit")
    return actor


def mlp_offpolicy_actor(actor_cfg, repr_dim: int, act_dim: int, agent_cfg, env) -> nn.Module:
    """DrQ-v2's actor (``Actor`` above) on ``repr_dim`` encoder features."""
    return Actor(repr_dim, act_dim, agent_cfg.feature_dim, agent_cfg.hidden_dim,
                 agent_cfg.hidden_norm, agent_cfg.activation)
