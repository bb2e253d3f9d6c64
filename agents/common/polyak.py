"""Polyak averaging (an exponential moving average of weights), the one implementation.

For every pair of a target tensor ``theta_bar`` and its online tensor ``theta``, after each
update (Lillicrap et al. 2016, DDPG; DrQ-v2 with ``tau = 0.01``; BYOL/SPR targets)::

    theta_bar <- theta_bar + tau (theta - theta_bar)  =  tau theta + (1 - tau) theta_bar

computed by ``lerp`` (``torch.lerp(theta_bar, theta, tau)``), for all pairs in one
``torch._foreach_lerp_`` call: one kernel launch per tensor list on a GPU instead of one per
tensor, and on the CPU the same per-tensor ``lerp_``, so the numbers are those of a loop of
``theta_bar.lerp_(theta, tau)``. The lists hold the tensors themselves (not copies), so a
target that Reset, ReDo or loading changes in place stays paired.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def polyak_(targets: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """In place, for every pair: ``theta_bar <- theta_bar + tau (theta - theta_bar)``.

    ``targets[i]`` moves towards ``online[i]``; build the lists once (``polyak_pairs``) and
    pass them on every update. Empty lists (a module without parameters) do nothing."""
    if targets:
        torch._foreach_lerp_(targets, online, tau)


def polyak_pairs(*pairs: tuple[nn.Module, nn.Module]
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(targets, online)`` parameter lists of ``(target, online)`` module pairs, for
    ``polyak_(*polyak_pairs(...), tau)``."""
    targets: list[torch.Tensor] = []
    online: list[torch.Tensor] = []
    for target, module in pairs:
        for t, o in zip(target.parameters(), module.parameters()):
            targets.append(t)
            online.append(o)
    return targets, online


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak-average ``target``'s parameters towards ``online``'s; buffers (e.g. a
    normaliser's statistics) are copied, not averaged."""
    polyak_(*polyak_pairs((target, online)), tau)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)
