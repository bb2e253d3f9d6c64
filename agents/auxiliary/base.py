"""What every auxiliary loss shares: the batch it reads, its heads, distances and EMA updates.

Notation (``../shared/reference/predictive_aux.md`` sec. 3.1): ``f`` the conv encoder, ``g`` the
latent map (the critic's trunk or a projection of its own, Linear -> LayerNorm -> tanh), ``aug``
DrQ-v2's random shift. Online latent ``z_t = g(f(aug(o_t)))`` with gradients; target latent
``zbar_t = gbar(fbar(aug'(o_t)))`` from EMA copies, without gradients, on an independent shift.

* dynamics ``T(z, a) = z + MLP([z, a])``, MLP = Linear(d + |A| -> hidden) -> LayerNorm -> ReLU
  -> Linear(hidden -> d) (residual, as F&S's predictor);
* projection ``h`` and predictor ``q``: Linear(d -> 2d) -> ReLU -> Linear(2d -> d);
* ``cosine_distance(x, y) = 2 - 2 cos(x, y) = || x/|x| - y/|y| ||^2`` in ``[0, 4]``;
* ``repulsion(x, y) = exp(-C sqrt(|x - y|^2 + eps))`` in ``(0, 1]`` (CRAR / F&S), ``eps = 1e-12``
  so the gradient at a collapsed pair is finite (F&S's ``|.|`` has none there);
* EMA: ``theta_bar <- theta_bar + tau (theta - theta_bar)`` (``lerp``), after each update.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from agents.common.polyak import polyak_update

REPULSION_EPS = 1e-12


class Dynamics(nn.Module):
    """Residual latent dynamics ``T(z, a) = z + MLP([z, a])`` (module docstring)."""

    def __init__(self, latent_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(latent_dim + action_dim, hidden), nn.LayerNorm(hidden),
                                 nn.ReLU(), nn.Linear(hidden, latent_dim))

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return z + self.mlp(torch.cat([z, action], dim=-1))


def projection_mlp(latent_dim: int) -> nn.Sequential:
    """``h`` or ``q``: Linear(d -> 2d) -> ReLU -> Linear(2d -> d)."""
    return nn.Sequential(nn.Linear(latent_dim, 2 * latent_dim), nn.ReLU(),
                         nn.Linear(2 * latent_dim, latent_dim))


def frozen_copy(module: nn.Module) -> nn.Module:
    """An EMA target: a copy of ``module`` that takes no gradients."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """``theta_bar <- theta_bar + tau (theta - theta_bar)`` for every parameter and buffer."""
    polyak_update(target, online, tau)


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos(x, y)`` over the last dimension."""
    return 2.0 - 2.0 * F.cosine_similarity(x, y, dim=-1, eps=1e-8)


def repulsion(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """``exp(-C |x - y|)`` per row (module docstring); 1 for identical rows."""
    distance = ((x - y).pow(2).sum(-1) + REPULSION_EPS).sqrt()
    return torch.exp(-temperature * distance)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (0 where there are none)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


@dataclass
class AuxBatch:
    """One replay batch as the auxiliary losses see it.

    ``z``: online latent of ``o_t`` ``(B, d)`` from the critic's own augmented pass (gradients
    reach ``g`` and ``f`` through it); ``window_obs`` ``(B, len, C, H, W)``, the observations
    ``o_{t+k}`` (not augmented; uint8 or float) for ``k`` in ``obs_offsets``;
    ``actions`` ``(B, K, |A|)``, ``rewards`` ``(B, K)``, ``mask`` ``(B, K)`` float (1 = the
    step is in the same episode; invalid steps have zero actions and rewards). ``online`` and
    ``target`` map un-augmented observations ``(N, C, H, W)`` to latents (each applies its own
    random shift); latents of window offsets are computed once per batch and shared by the
    losses that ask for them.
    """

    z: torch.Tensor
    window_obs: torch.Tensor
    obs_offsets: list[int]
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    online: Callable[[torch.Tensor], torch.Tensor]
    target: Callable[[torch.Tensor], torch.Tensor]
    _online: dict[int, torch.Tensor] = field(default_factory=dict)
    _target: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.z.shape[0]

    def _latents(self, cache: dict[int, torch.Tensor], encode, steps: Iterable[int]):
        steps = list(steps)
        for k in steps:
            if k not in cache:
                # one batch per offset: on CPU a (B K)-image conv batch runs ~2x slower per
                # image than K batches of B (cache-bound)
                cache[k] = encode(self.window_obs[:, self.obs_offsets.index(k)].float())
        return torch.stack([cache[k] for k in steps], dim=1)

    def online_latents(self, steps: Iterable[int]) -> torch.Tensor:
        """``z_{t+k}`` for ``k`` in ``steps`` (each >= 1), with gradients: ``(B, len, d)``."""
        return self._latents(self._online, self.online, steps)

    def target_latents(self, steps: Iterable[int]) -> torch.Tensor:
        """``zbar_{t+k}`` for ``k`` in ``steps`` (each >= 1), no gradients: ``(B, len, d)``."""
        return self._latents(self._target, self.target, steps)


class AuxLoss(nn.Module):
    """An auxiliary loss: ``forward(batch, step) -> (loss, metrics)``; owns its heads and the
    EMA copies of them, which ``ema_update(tau)`` moves after each update.

    Class attributes: ``window`` (replay steps K it reads), ``needs_target`` (whether it reads
    the EMA target latents); ``obs_offsets`` are the ``k`` whose observations ``o_{t+k}`` it
    encodes (default ``1 ... K``). ``label`` names its metrics (``aux/<label>/...``).
    """

    window: int = 1
    needs_target: bool = False

    @property
    def obs_offsets(self) -> tuple[int, ...]:
        return tuple(range(1, self.window + 1))

    def __init__(self, label: str):
        super().__init__()
        self.label = label

    def forward(self, batch: AuxBatch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def ema_update(self, tau: float) -> None:
        """Move this loss's own target heads (none by default)."""
