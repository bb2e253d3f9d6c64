"""Weight and gradient metrics of plasticity research (the definitions Plasticine logs).

For the parameters ``theta`` (``n`` scalars in all) of one module:

* **gradient norm** ``||g||_2`` over all of them (after ``backward``, before the step);
* **weight magnitude** ``sqrt(sum theta^2 / n)`` (root mean square);
* **distance from init** ``sqrt(sum (theta - theta(0))^2 / n)`` (root mean square change since
  the initial parameters ``theta(0)``).

The rank metrics of features (stable rank ``srank_delta``, effective rank) are in
``agents/representation.py``. Everything returns 0-d tensors on the parameters' device so a
caller reads them back at log time in one transfer.
"""

from __future__ import annotations

import torch
from torch import nn


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of every gradient of ``module`` (parameters without a gradient count as 0)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def weight_magnitude(module: nn.Module) -> torch.Tensor:
    """RMS of the parameters of ``module``."""
    params = [p.detach() for p in module.parameters()]
    total = sum(p.numel() for p in params)
    return torch.sqrt(sum((p * p).sum() for p in params) / total)


def initial_state(module: nn.Module) -> list[torch.Tensor]:
    """Detached copies of ``module``'s parameters (its ``theta(0)``)."""
    return [p.detach().clone() for p in module.parameters()]


def distance_from_init(module: nn.Module, init: list[torch.Tensor]) -> torch.Tensor:
    """RMS of ``theta - theta(0)`` over the parameters of ``module``."""
    params = [p.detach() for p in module.parameters()]
    if len(params) != len(init):
        raise ValueError(f"{len(params)} parameters but {len(init)} initial tensors")
    total = sum(p.numel() for p in params)
    return torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(params, init)) / total)
