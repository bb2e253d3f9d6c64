"""(E) Reward prediction from the latent and the action sequence (TACO's reward head).

    L_E = mean_b ( R(z_t, a_t, ..., a_{t+K-1}) - sum_{k<K} valid_k r_{t+k} )^2

``R`` is an MLP Linear(d + K |A| -> hidden) -> ReLU -> Linear(hidden -> 1); the target is the
undiscounted K-step reward sum inside the episode (invalid steps carry zero action and reward).
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

    def __init__(self, label: str, latent_dim: int, action_dim: int, k: int = 1,
                 hidden: int = 256):
        super().__init__(label)
        self.window = k
        self.head = nn.Sequential(nn.Linear(latent_dim + k * action_dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))

    def forward(self, batch: AuxBatch, step: int):
        k = self.window
        x = torch.cat([batch.z, batch.actions[:, :k].flatten(1)], dim=-1)
        target = (batch.rewards[:, :k] * batch.mask[:, :k]).sum(-1)
        loss = (self.head(x).squeeze(-1) - target).pow(2).mean()
        return loss, {}
