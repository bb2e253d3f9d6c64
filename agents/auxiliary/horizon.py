"""(C) Discounted-horizon latent prediction (Fang & Stachenfeld 2024), as published and stabilised.

**C-faithful** (F&S's loss, their code ``chingf/auxrl``)::

    L_pos = mean_{b,j} ( T(z_t, a_t) - [ z_{t+1} + gamma sg(T(z_{t+1}, a_{t+1})) ] )_{b,j}^2
    L_neg = mean_i exp(-C |z_i - z_{pi(i)}|) + mean exp(-C |z_t - z_{t+1}|)
    L     = lambda_pos L_pos + lambda_neg L_neg

``L_pos`` is the mean over the batch *and* the latent dimensions, as auxrl's
``mse_loss(..., reduction='none')`` followed by ``torch.mean``: a sum over dimensions would make the
term ``d`` times heavier (50x at d = 50), move the ``lambda_neg / lambda_pos`` balance against
collapse, and tie the loss weight to ``feature_dim``.
With a residual ``T`` the fixed point is ``T(z_t, a_t) = sum_{k>=0} gamma^k z_{t+1+k}``, a
successor-feature-like sum over the behaviour (replay) policy's future; its scale grows like
``1 / (1 - gamma)``, which is why F&S shrink ``lambda_pos`` at large ``gamma``.
Gradient: into ``T``, ``g`` and ``f`` through ``z_t`` *and* through the online ``z_{t+1}``
(F&S use no stop gradient there and no target network); only the bootstrap
``T(z_{t+1}, a_{t+1})`` is stop-gradient. Only the ratio ``lambda_neg / lambda_pos`` keeps the
latents from collapsing (``L_pos`` alone is minimised by a constant ``z``).
Deviation: F&S's pairs may straddle an episode end unmasked; here the bootstrap term is
dropped when ``a_{t+1}`` lies in another episode (window mask), the target then being
``z_{t+1}`` alone.

**C-stabilised** (recommended for actor-critic, sec. 3.2; a deliberate deviation from F&S)::

    L_gamma = D( T(z_t, a_t), sg[ (1 - gamma) zbar_{t+1} + gamma Tbar(zbar_{t+1}, a_{t+1}) ] )
              (+ lambda_neg mean_i exp(-C |z_i - z_{pi(i)}|), optional)

``D`` is ``2 - 2 cos`` or the MSE; ``Tbar`` is an EMA copy of ``T``; the ``(1 - gamma)``
factor keeps the target's scale fixed, so the weight need not shrink with ``gamma``. When
``a_{t+1}`` lies in another episode the target is ``zbar_{t+1}``. ``a_{t+1}`` comes from the
replay, so the target follows the behaviour data: expect it to degrade at large ``gamma``
while the policy changes. Gradient: into ``T``, ``g`` and ``f`` through ``z_t`` only.
Target: ``zbar_{t+1}`` (EMA ``f, g``) and ``Tbar``, no gradient.
"""

from __future__ import annotations

import torch

from agents.auxiliary.base import (AuxBatch, AuxLoss, Dynamics, cosine_distance, ema_update,
                                   frozen_copy, repulsion)
from agents.auxiliary.repulsion import pair_distance_scale, random_pair_repulsion


class HorizonFaithful(AuxLoss):
    """C-faithful; see the module docstring."""

    window = 2
    obs_offsets = (1,)

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "HorizonFaithful":
        """From ``HorizonFaithfulAuxConfig``."""
        return cls(label, latent_dim, action_dim, cfg.gamma, cfg.temperature, cfg.pos_weight,
                   cfg.neg_weight, cfg.hidden)

    def __init__(self, label: str, latent_dim: int, action_dim: int, gamma: float = 0.5,
                 temperature: float = 5.0, pos_weight: float = 1e-2, neg_weight: float = 1e-1,
                 hidden: int = 512):
        super().__init__(label)
        self.gamma, self.temperature = gamma, temperature
        self.pos_weight, self.neg_weight = pos_weight, neg_weight
        self.dynamics = Dynamics(latent_dim, action_dim, hidden)

    def forward(self, batch: AuxBatch, step: int):
        z, z_next = batch.z, batch.online_latents([1])[:, 0]
        with torch.no_grad():
            bootstrap = self.dynamics(z_next, batch.actions[:, 1]) * batch.mask[:, 1:2]
        target = z_next + self.gamma * bootstrap
        pos = (self.dynamics(z, batch.actions[:, 0]) - target).pow(2).mean()
        neg = (random_pair_repulsion(z, self.temperature)
               + repulsion(z, z_next, self.temperature).mean())
        loss = self.pos_weight * pos + self.neg_weight * neg
        return loss, {f"aux/{self.label}/pos": pos.detach(), f"aux/{self.label}/neg": neg.detach(),
                      f"aux/{self.label}/c_distance": pair_distance_scale(z, self.temperature)}


class HorizonStabilised(AuxLoss):
    """C-stabilised; see the module docstring."""

    window = 2
    obs_offsets = (1,)
    needs_target = True

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "HorizonStabilised":
        """From ``HorizonStabilisedAuxConfig``."""
        return cls(label, latent_dim, action_dim, cfg.gamma, cfg.distance, cfg.neg_weight,
                   cfg.temperature, cfg.hidden)

    def __init__(self, label: str, latent_dim: int, action_dim: int, gamma: float = 0.5,
                 distance: str = "cosine", neg_weight: float = 0.0, temperature: float = 5.0,
                 hidden: int = 512):
        super().__init__(label)
        if distance not in ("cosine", "mse"):
            raise ValueError(f"distance must be 'cosine' or 'mse', got {distance!r}")
        self.gamma, self.distance = gamma, distance
        self.neg_weight, self.temperature = neg_weight, temperature
        self.dynamics = Dynamics(latent_dim, action_dim, hidden)
        self.dynamics_target = frozen_copy(self.dynamics)

    def forward(self, batch: AuxBatch, step: int):
        with torch.no_grad():
            z_next = batch.target_latents([1])[:, 0]
            ahead = self.dynamics_target(z_next, batch.actions[:, 1])
            has_next = batch.mask[:, 1:2]
            target = z_next + has_next * self.gamma * (ahead - z_next)
        prediction = self.dynamics(batch.z, batch.actions[:, 0])
        if self.distance == "cosine":
            loss = cosine_distance(prediction, target).mean()
        else:
            loss = (prediction - target).pow(2).mean()
        metrics = {f"aux/{self.label}/distance": loss.detach()}
        if self.neg_weight > 0:
            neg = random_pair_repulsion(batch.z, self.temperature)
            loss = loss + self.neg_weight * neg
            metrics[f"aux/{self.label}/neg"] = neg.detach()
        return loss, metrics

    def ema_update(self, tau: float) -> None:
        ema_update(self.dynamics_target, self.dynamics, tau)
