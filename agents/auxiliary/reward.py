"""(E) Reward prediction from the latent and the action sequence (TACO's reward head).

    L_E = mean_b ( R(z_t, a_t, ..., a_{t+K-1}) - sum_{k<K} valid_k gamma^k r_{t+k} )^2

``R`` is an MLP Linear(d + K |A| -> hidden) -> ReLU -> Linear(hidden -> 1); the target is the
K-step reward sum inside the episode (invalid steps carry zero action and reward), discounted by
``gamma`` (key ``discount``). TACO regresses the replay's n-step reward
``sum_k gamma^k r_{t+k}`` with the agent's discount (0.99), so ``discount: 0.99`` is TACO's
target and ``discount: 1.0`` the plain sum. One deviation stays: TACO sums the critic's
``n``-step rewards while its action sequence has its own length; here both are ``K``.
Cheap, and pushes the features toward value-relevant content.
Gradient: into ``R`` and, through ``z_t``, into ``g`` and ``f``. Target: replay rewards.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.auxiliary.base import AuxBatch, AuxLoss


class RewardPrediction(AuxLoss):
    """(E); see the module docstring."""

    obs_offsets = ()

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "RewardPrediction":
        """From ``RewardAuxConfig``."""
        return cls(label, latent_dim, action_dim, cfg.k, cfg.hidden, cfg.discount)

    def __init__(self, label: str, latent_dim: int, action_dim: int, k: int = 1,
                 hidden: int = 256, discount: float = 0.99):
        super().__init__(label)
        self.window = k
        self.register_buffer("weights", discount ** torch.arange(k, dtype=torch.float32),
                             persistent=False)
        self.head = nn.Sequential(nn.Linear(latent_dim + k * action_dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))

    def forward(self, batch: AuxBatch, step: int):
        k = self.window
        x = torch.cat([batch.z, batch.actions[:, :k].flatten(1)], dim=-1)
        target = (batch.rewards[:, :k] * batch.mask[:, :k] * self.weights).sum(-1)
        loss = (self.head(x).squeeze(-1) - target).pow(2).mean()
        return loss, {}
