"""Regenerative L2-init (Kumar et al. 2023, "Maintaining plasticity in continual learning via
regenerative regularization"): an L2 penalty towards the **initial** parameters, not towards 0::

    L = L_train + lambda * sum_i || theta_i - theta_i(0) ||^2,     dL/dtheta = ... + 2 lambda (theta - theta(0))

``theta(0)`` is captured at construction of the penalty (the agent builds it right after
initialising its networks), and saved with the checkpoint so a resumed run pulls towards the same
point. A Reset of the module (``agent.reset``) is a new initialisation: ``reanchor_`` then makes
its fresh weights the new ``theta(0)``, so the penalty pulls towards them, not back towards the
weights the reset discarded (Kumar et al. anchor at the initialisation; they do not combine
the penalty with resets).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class L2Init(nn.Module):
    """``lambda * sum ||theta - theta(0)||^2`` over the parameters of ``modules``."""

    def __init__(self, modules: Sequence[nn.Module], coef: float):
        super().__init__()
        if not coef > 0:
            raise ValueError(f"coef must be > 0 (got {coef})")
        self.coef = float(coef)
        self._params = [p for m in modules for p in m.parameters()]
        for i, p in enumerate(self._params):
            self.register_buffer(f"init{i}", p.detach().clone())

    @torch.no_grad()
    def reanchor_(self) -> None:
        """``theta(0) <- theta``: the current parameters become the anchor (after a Reset)."""
        for i, p in enumerate(self._params):
            getattr(self, f"init{i}").copy_(p)

    def forward(self) -> torch.Tensor:
        anchors = [getattr(self, f"init{i}") for i in range(len(self._params))]
        diffs = torch._foreach_sub([p for p in self._params], anchors)
        return self.coef * sum((d * d).sum() for d in diffs)
