"""(A) one-step latent prediction and (B) K-step latent rollout (BYOL / SPR, Schwarzer et al. 2021).

Open-loop rollout from the online latent: ``zhat_0 = z_t``, ``zhat_k = T(zhat_{k-1}, a_{t+k-1})``,

    L = (1/K) sum_{k=1..K} w_k * mean_valid[ 2 - 2 cos( q(h(zhat_k)), hbar(zbar_{t+k}) ) ]

with ``w_k = rho^(k-1)`` (1: SPR; 0.5: TD-MPC2) and the mean over the batch entries whose step
``k`` lies in the same episode (replay window mask). (A) is the case ``K = 1`` ("ZP", Ni et
al. 2024): the cleanest DMC analogue of F&S's ``gamma = 0`` predictor, with the stop-gradient
EMA target and the predictor ``q`` in place of F&S's repulsion against collapse.

Gradient: into ``q``, ``h``, ``T`` and, through ``z_t``, into ``g`` and the encoder ``f``.
Target: ``hbar(zbar_{t+k})``, EMA copies of ``f, g`` (the agent's) and ``h`` (this module's),
no gradient. Control (S), ``shuffle_actions``: the action sequences are permuted across the
batch before the rollout, so ``T`` cannot use the action that was taken.
"""

from __future__ import annotations

import torch

from agents.auxiliary.base import (AuxBatch, AuxLoss, Dynamics, cosine_distance, ema_update,
                                   frozen_copy, masked_mean, projection_mlp)


class LatentRollout(AuxLoss):
    """(A) / (B): see the module docstring.

    Args:
        label: metric label.
        latent_dim: ``d``; action_dim: ``|A|``.
        k: rollout steps ``K``; rho: step-weight ratio; hidden: dynamics MLP width.
        shuffle_actions: control (S).
    """

    needs_target = True

    @classmethod
    def one_step(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "LatentRollout":
        """(A) from ``OneStepAuxConfig``: the rollout with ``K = 1``."""
        return cls(label, latent_dim, action_dim, 1, 1.0, cfg.hidden, cfg.shuffle_actions)

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "LatentRollout":
        """(B) from ``RolloutAuxConfig``."""
        return cls(label, latent_dim, action_dim, cfg.k, cfg.rho, cfg.hidden, cfg.shuffle_actions)

    def __init__(self, label: str, latent_dim: int, action_dim: int, k: int = 1,
                 rho: float = 1.0, hidden: int = 512, shuffle_actions: bool = False):
        super().__init__(label)
        self.window = k
        self.shuffle_actions = shuffle_actions
        self.dynamics = Dynamics(latent_dim, action_dim, hidden)
        self.projection = projection_mlp(latent_dim)
        self.projection_target = frozen_copy(self.projection)
        self.predictor = projection_mlp(latent_dim)
        self.register_buffer("step_weights", rho ** torch.arange(k, dtype=torch.float32))

    def forward(self, batch: AuxBatch, step: int):
        k = self.window
        actions = batch.actions[:, :k]
        if self.shuffle_actions:
            actions = actions[torch.randperm(batch.batch_size, device=actions.device)]
        with torch.no_grad():
            target = self.projection_target(batch.target_latents(range(1, k + 1)))
        z, rollout = batch.z, []
        for i in range(k):
            z = self.dynamics(z, actions[:, i])
            rollout.append(z)
        prediction = self.predictor(self.projection(torch.stack(rollout, dim=1)))
        per_step = masked_mean(cosine_distance(prediction, target), batch.mask[:, :k], dim=0)
        loss = (self.step_weights * per_step).sum() / k
        metrics = {f"aux/{self.label}/cos_k1": 1.0 - per_step[0].detach() / 2}
        if k > 1:
            metrics[f"aux/{self.label}/cos_k{k}"] = 1.0 - per_step[-1].detach() / 2
        return loss, metrics

    def ema_update(self, tau: float) -> None:
        ema_update(self.projection_target, self.projection, tau)
