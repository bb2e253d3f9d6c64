"""Control (N): repulsion only, F&S's "MF+N" (CRAR-style negatives, no prediction).

    L_N = mean_i exp(-C |z_i - z_{pi(i)}|) + mean_valid exp(-C |z_t - z_{t+1}|)

``pi`` pairs each sample with the next one in the batch (F&S roll the batch by one; the replay
batch is in random order, so this is a random pairing without fixed points). The second
(neighbour) term, optional, also pushes consecutive states apart. A collapsed batch (all ``z``
equal) gives the maximum, 1 per term. ``C = 5`` is F&S's absolute temperature; with the
LayerNorm-tanh latents here (norm up to ``sqrt(d)``) re-tune it so that ``C x`` the median
pairwise distance is about 1-3 (logged as ``aux/<label>/c_distance``).

Gradient: into ``g`` and ``f`` through both ``z_t`` and the online ``z_{t+1}`` (F&S: no stop
gradient and no target). Target: none.
"""

from __future__ import annotations

import torch

from agents.auxiliary.base import AuxBatch, AuxLoss, masked_mean, repulsion


def random_pair_repulsion(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """``mean_i exp(-C |z_i - z_{i+1 mod B}|)``."""
    return repulsion(z, z.roll(1, dims=0), temperature).mean()


def pair_distance_scale(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """``C x median_i |z_i - z_{i+1}|``: the operating point of the repulsion (sec. 3.2)."""
    return temperature * (z - z.roll(1, dims=0)).norm(dim=-1).median().detach()


class NegativesOnly(AuxLoss):
    """Control (N); see the module docstring."""

    @classmethod
    def from_config(cls, cfg, label: str, latent_dim: int, action_dim: int) -> "NegativesOnly":
        """From ``NegativesAuxConfig`` (no heads: the dimensions are not needed)."""
        return cls(label, cfg.temperature, cfg.neighbour)

    def __init__(self, label: str, temperature: float = 5.0, neighbour: bool = True):
        super().__init__(label)
        self.temperature = temperature
        self.neighbour = neighbour

    @property
    def obs_offsets(self) -> tuple[int, ...]:
        return (1,) if self.neighbour else ()

    def forward(self, batch: AuxBatch, step: int):
        loss = random_pair_repulsion(batch.z, self.temperature)
        if self.neighbour:
            z_next = batch.online_latents([1])[:, 0]
            loss = loss + masked_mean(repulsion(batch.z, z_next, self.temperature),
                                      batch.mask[:, 0])
        return loss, {f"aux/{self.label}/c_distance":
                      pair_distance_scale(batch.z, self.temperature)}
