"""Plasticity injection (Nikishin et al. 2023, "Deep RL with plasticity injection").

At injection the head ``h_theta`` is frozen and two fresh copies with the same new parameters
``theta'`` are added, one trainable and one frozen::

    y(x) = h_theta(x) [frozen] + h_theta'(x) [trainable] - h_theta'_0(x) [frozen, = theta' at injection]

so ``y`` is **unchanged at the moment of injection** (the two new terms cancel) while the
gradient flows only into ``theta'``, a freshly initialised head: new plasticity without a drop
in performance and without changing the number of trainable parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from agents.shrink_perturb import fresh_copy


class InjectedHead(nn.Module):
    """``frozen(x) + fresh(x) - twin(x)`` (module docstring); only ``fresh`` trains."""

    def __init__(self, head: nn.Module, init: Callable[[nn.Module], None]):
        super().__init__()
        self.frozen = head
        self.fresh = fresh_copy(head, init)
        self.twin = copy.deepcopy(self.fresh)
        for p in [*self.frozen.parameters(), *self.twin.parameters()]:
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frozen(x) + self.fresh(x) - self.twin(x)


def inject_(parent: nn.Module, name: str, init: Callable[[nn.Module], None],
            optimizer: torch.optim.Optimizer | None = None) -> InjectedHead:
    """Replace ``parent.<name>`` by an ``InjectedHead`` around it.

    The optimiser (if given) stops updating the frozen head (its state for those parameters is
    dropped) and gains the fresh head's parameters in its first parameter group.
    """
    head = getattr(parent, name)
    injected = InjectedHead(head, init).to(next(head.parameters()).device)
    setattr(parent, name, injected)
    if optimizer is not None:
        frozen = {id(p) for p in injected.frozen.parameters()}
        for group in optimizer.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in frozen]
        for p in injected.frozen.parameters():
            optimizer.state.pop(p, None)
        optimizer.param_groups[0]["params"].extend(injected.fresh.parameters())
    return injected
