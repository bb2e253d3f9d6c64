"""(D) Temporal contrastive InfoNCE, TACO style (Zheng et al. 2023).

    u_i      = U(a^i_t, ..., a^i_{t+K-1})              (action-sequence embedding, an MLP)
    logit_ij = p([z^i_t, u_i])^T W zbar^j_{t+K} - max_j(...)
    L_D      = mean_{i valid} CrossEntropy(logit_i, label = i)

Positives are the diagonal (each anchor's own future), negatives the other samples' futures
in the batch (so a larger batch is a harder task: TACO uses 1024). ``W`` is a learned bilinear
map (initialised to the identity). Rows whose window leaves the episode before step ``K`` are
left out of the mean (their key is still a real state, so it stays a negative for the others).
Logged: the loss and the top-1 accuracy of picking the right future.

Gradient: into ``U``, ``p``, ``W`` and, through ``z_t``, into ``g`` and ``f``. Target:
``zbar_{t+K}`` from the EMA ``f, g``, no gradient.
Deviations from TACO, for a clean plug-in comparison (sec. 3.2): the keys come from the EMA
target rather than the no-grad online encoder; no CURL term and no reward head (use (E) for
that); the routing is the agent's (``aux.routing: separate`` gives TACO's own optimiser step);
the critic keeps taking raw actions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.auxiliary.base import AuxBatch, AuxLoss


class TemporalContrastive(AuxLoss):
    """(D); see the module docstring."""

    needs_target = True

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "TemporalContrastive":
        """From ``ContrastiveAuxConfig``."""
        return cls(label, latent_dim, action_dim, cfg.k, cfg.hidden)

    def __init__(self, label: str, latent_dim: int, action_dim: int, k: int = 3,
                 hidden: int = 256):
        super().__init__(label)
        self.window = k
        self.action_encoder = nn.Sequential(nn.Linear(k * action_dim, hidden), nn.ReLU(),
                                            nn.Linear(hidden, latent_dim))
        self.projection = nn.Sequential(nn.Linear(2 * latent_dim, hidden), nn.ReLU(),
                                        nn.Linear(hidden, latent_dim))
        self.W = nn.Parameter(torch.eye(latent_dim))

    @property
    def obs_offsets(self) -> tuple[int, ...]:
        return (self.window,)

    def forward(self, batch: AuxBatch, step: int):
        k = self.window
        with torch.no_grad():
            keys = batch.target_latents([k])[:, 0]
        u = self.action_encoder(batch.actions[:, :k].flatten(1))
        anchors = self.projection(torch.cat([batch.z, u], dim=-1))
        logits = anchors @ self.W @ keys.t()
        logits = logits - logits.max(dim=1, keepdim=True).values.detach()
        labels = torch.arange(batch.batch_size, device=logits.device)
        valid = batch.mask[:, k - 1]
        per_row = F.cross_entropy(logits, labels, reduction="none")
        loss = (per_row * valid).sum() / valid.sum().clamp(min=1.0)
        correct = (logits.argmax(dim=1) == labels).float()
        accuracy = (correct * valid).sum() / valid.sum().clamp(min=1.0)
        return loss, {f"aux/{self.label}/accuracy": accuracy.detach()}
