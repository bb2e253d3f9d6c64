"""Shrink & Perturb (Ash & Adams 2020; as used for plasticity in RL, e.g. Plasticine's ``snp``).

Every parameter of the chosen modules moves towards a **fresh initialisation**::

    theta <- lambda * theta + sigma * theta_init'

``theta_init'`` is drawn anew at each application (a copy of the module re-initialised exactly as
at construction: each sub-module's ``reset_parameters`` and then the agent's initialiser).
``lambda`` (``shrink``) is in (0, 1]; ``sigma`` (``perturb``) defaults to ``1 - lambda``, the
convex form Plasticine uses (``p <- s p + (1 - s) p_init``). Applied between updates, under
``no_grad``; the optimiser state is left as it is (neither the paper nor Plasticine touches it).
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
                    init: Callable[[nn.Module], None]) -> int:
    """``theta <- shrink * theta + perturb * theta_init'`` for every parameter of ``modules``.

    ``perturb=None`` means ``1 - shrink``. Returns the number of parameters touched.
    """
    if not 0.0 < shrink <= 1.0:
        raise ValueError(f"shrink must be in (0, 1] (got {shrink})")
    perturb = 1.0 - shrink if perturb is None else float(perturb)
    if perturb < 0.0:
        raise ValueError(f"perturb must be >= 0 (got {perturb})")
    touched = 0
    for module in modules:
        fresh = fresh_copy(module, init)
        for p, q in zip(module.parameters(), fresh.parameters(), strict=True):
            p.mul_(shrink).add_(q, alpha=perturb)
            touched += p.numel()
    return touched
