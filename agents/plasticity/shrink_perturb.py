"""Shrink & Perturb (Ash & Adams 2020; as used for plasticity in RL, e.g. Plasticine's ``snp``).

Every parameter of the chosen modules is shrunk and moved towards an initialisation, in one of
two forms (``agent.shrink_perturb.target``)::

    fresh   (Ash & Adams; the default):  theta <- lambda * theta + sigma * theta_new
    initial (Plasticine's snp):          theta <- lambda * theta + sigma * theta(0)

``theta_new`` is drawn anew at each application (a copy of the module re-initialised exactly as
at construction: each sub-module's ``reset_parameters`` and then the agent's initialiser), so
the perturbation is new noise every time. ``theta(0)`` is the module's own weights at the
run's start, stored once (before the first update) and kept by the checkpoint: Plasticine
interpolates towards those fixed initial weights (``p <- s p + (1 - s) p_0``). ``lambda``
(``shrink``) is in (0, 1]; ``sigma`` (``perturb``) defaults to ``1 - lambda``, the convex form.
Applied between updates, under ``no_grad``; the optimiser state is left as it is (neither the
paper nor Plasticine touches it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn


def fresh_copy(module: nn.Module, init: Callable[[nn.Module], None]) -> nn.Module:
    """A copy of ``module`` re-initialised as at construction (``reset_parameters``, ``init``)."""
    fresh = copy.deepcopy(module)
    for sub in fresh.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    fresh.apply(init)
    return fresh


@torch.no_grad()
def shrink_perturb_(modules: Sequence[nn.Module], shrink: float, perturb: float | None,
                    init: Callable[[nn.Module], None],
                    initial: Sequence[Sequence[torch.Tensor]] | None = None) -> int:
    """``theta <- shrink * theta + perturb * theta_new`` for every parameter of ``modules``,
    ``theta_new`` a fresh draw of ``init``; with ``initial`` (per module, its parameters'
    stored initial values) ``theta <- shrink * theta + perturb * theta(0)`` instead.

    ``perturb=None`` means ``1 - shrink``. Returns the number of parameters touched.
    """
    if not 0.0 < shrink <= 1.0:
        raise ValueError(f"shrink must be in (0, 1] (got {shrink})")
    perturb = 1.0 - shrink if perturb is None else float(perturb)
    if perturb < 0.0:
        raise ValueError(f"perturb must be >= 0 (got {perturb})")
    touched = 0
    for i, module in enumerate(modules):
        targets = (list(fresh_copy(module, init).parameters()) if initial is None
                   else initial[i])
        for p, q in zip(module.parameters(), targets, strict=True):
            p.mul_(shrink).add_(q.to(p.device), alpha=perturb)
            touched += p.numel()
    return touched
