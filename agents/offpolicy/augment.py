"""DrQ-v2's random-shift augmentation (Yarats et al. 2021, sec. 3.1).

Each image of a batch ``(B, C, H, H)`` is padded by ``pad`` pixels on every side with replicate
(edge) padding and an ``H x H`` window is cut at an integer offset ``(dx, dy) in [0, 2 pad]^2``
drawn per sample, i.e. a shift of up to ``+-pad`` pixels. As in the reference, the crop is a
bilinear ``grid_sample`` whose base grid sits on pixel centres of the padded image; the shifts
are whole pixels, so the result equals the integer crop up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RandomShift(nn.Module):
    """Random shift by up to ``pad`` pixels (module docstring); square images only."""

    def __init__(self, pad: int = 4):
        super().__init__()
        if pad < 0:
            raise ValueError(f"augmentation pad must be >= 0 (got {pad})")
        self.pad = pad
        self._grid: torch.Tensor | None = None

    def _base_grid(self, h: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Normalised ``(1, h, h, 2)`` grid of the top-left ``h x h`` window's pixel centres."""
        g = self._grid
        if g is None or g.shape[1] != h or g.device != device or g.dtype != dtype:
            padded = h + 2 * self.pad
            eps = 1.0 / padded
            ticks = torch.linspace(-1.0 + eps, 1.0 - eps, padded, device=device, dtype=dtype)[:h]
            xs = ticks.unsqueeze(0).expand(h, h)
            g = torch.stack([xs, xs.t()], dim=2).unsqueeze(0)
            self._grid = g
        return g

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Shift float images ``x`` ``(B, C, H, H)``.

        ``shift`` ``(B, 2)``: integer window offsets ``(dx, dy)`` in ``[0, 2 pad]`` (drawn from
        torch's RNG when None); the output pixel ``(i, j)`` is padded pixel ``(i + dy, j + dx)``.
        """
        n, _, h, w = x.shape
        if h != w:
            raise ValueError(f"random shift needs square images, got {h}x{w}")
        if self.pad == 0:
            return x
        if shift is None:
            shift = torch.randint(0, 2 * self.pad + 1, (n, 2), device=x.device)
        padded = F.pad(x, (self.pad,) * 4, mode="replicate")
        offset = shift.to(x.dtype).view(n, 1, 1, 2) * (2.0 / (h + 2 * self.pad))
        grid = self._base_grid(h, x.device, x.dtype) + offset
        return F.grid_sample(padded, grid, padding_mode="zeros", align_corners=False)
