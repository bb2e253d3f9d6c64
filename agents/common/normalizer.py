"""Running observation normaliser (mean/std over everything seen so far)."""

from __future__ import annotations

import torch
from torch import nn


class RunningNormalizer(nn.Module):
    """``x -> clip((x - mean) / max(std, eps), -clip, clip)`` (``clip=None``: no clip).

    tonic's ``MeanStd`` (the NCAP paper's trainer) is ``clip=None, eps=1e-2``; the defaults
    ``clip=10, eps=1e-8`` are the SB3 ``VecNormalize`` convention.

    Statistics are updated with whole batches (parallel Welford / Chan et al. merge):
    ``mean' = mean + d n_b / n``, ``M2' = M2 + M2_b + d^2 n_a n_b / n`` with ``d = mean_b - mean``.
    They live in buffers, so they are part of ``state_dict`` and restored on resume.
    """

    def __init__(self, dim: int, clip: float | None = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))
        # float32 shift and scale used by forward (0 and 1 until two samples were seen)
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("inv_std", torch.ones(dim))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        b = batch.to(torch.float64).reshape(-1, self.mean.numel())
        n_b = b.shape[0]
        mean_b = b.mean(0)
        m2_b = ((b - mean_b) ** 2).sum(0)
        n = self.count + n_b
        d = mean_b - self.mean
        self.mean += d * n_b / n
        self.m2 += m2_b + d ** 2 * self.count * n_b / n
        self.count.copy_(n)
        if n >= 2:
            self.shift.copy_(self.mean)
            self.inv_std.copy_(1.0 / (self.m2 / n).sqrt().clamp(min=self.eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.shift) * self.inv_std
        return y if self.clip is None else y.clamp(-self.clip, self.clip)
