"""Weight and gradient metrics of plasticity research (the definitions Plasticine logs).

For the parameters ``theta`` (``n`` scalars in all) of one module:

* **gradient norm** ``||g||_2`` over the parameters that train (``requires_grad``; after
  ``backward``, before the step); a frozen parameter's ``.grad`` is not counted (plasticity
  injection freezes the old head, whose last gradient no optimiser clears);
* **weight magnitude** ``sqrt(sum theta^2 / n)`` (root mean square);
* **distance from init** ``sqrt(sum (theta - theta(0))^2 / n)`` (root mean square change since
  the initial parameters ``theta(0)``).

and of a ``(batch, units)`` feature matrix with singular values ``s_1 >= ... >= 0``:

* **stable rank** ``srank_delta = min{k : sum_{i<=k} s_i >= (1 - delta) sum_i s_i}``,
  ``delta = 0.01`` (Kumar et al. 2021; Lyle et al. 2022; Plasticine), and 0 when every ``s_i`` is 0
  (a dead layer: the collapse the metric exists to detect);
* **effective rank** ``exp(-sum p_i log p_i)``, ``p = s / sum s`` (Roy & Vetterli 2007), 0 for
  an all-zero matrix.

These two are the only rank definitions: ``agents/plasticity/representation.py`` (the probe set's
``srank``/``erank``) calls them. Both are bounded by ``min(batch, units)``: measured on a
training batch of 256 with 1024 units (DrQ-v2's critic) srank cannot exceed 256. Everything
returns 0-d tensors on the parameters' device so a caller reads them back at log time in one
transfer.
"""

from __future__ import annotations

import torch
from torch import nn


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of the gradients of ``module``'s parameters that train (``requires_grad``; one
    without a gradient counts as 0). A frozen parameter's leftover ``.grad`` is not counted."""
    grads = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
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


def singular_values(features) -> torch.Tensor:
    """Singular values (descending) of a ``(batch, units)`` matrix (tensor or array): in
    float64 for float64 input, else in float32 (a bfloat16 map is promoted)."""
    z = torch.as_tensor(features)
    return torch.linalg.svdvals(z if z.dtype == torch.float64 else z.float())


def stable_rank(features, delta: float = 0.01) -> torch.Tensor:
    """``srank_delta``: the smallest ``k`` with ``sum_{i<=k} s_i >= (1 - delta) sum_i s_i``
    (module docstring), 0 for an all-zero matrix. The comparison allows the singular values'
    rounding (1e-12 of the sum in float64, 1e-6 in float32), so a sum that reaches
    ``1 - delta`` exactly counts. At most ``min(batch, units)``: a batch smaller than the layer
    caps it."""
    s = singular_values(features)
    slack = 1e-12 if s.dtype == torch.float64 else 1e-6
    s = s.double()
    total = s.sum()
    k = (torch.cumsum(s, 0) / total < 1.0 - delta - slack).sum() + 1
    return torch.where(total > 0, k, torch.zeros_like(k))


def effective_rank(features) -> torch.Tensor:
    """``exp(-sum p_i log p_i)`` with ``p = s / sum s`` (Roy & Vetterli 2007), ``s`` as in
    ``stable_rank``; 0 for an all-zero matrix."""
    s = singular_values(features)
    total = s.sum()
    p = s / total
    entropy = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum()
    return torch.where(total > 0, entropy.exp(), torch.zeros_like(total))


class WeightMetricsLog:
    """Post-update hook of the off-policy agent (``agent.weight_metrics_every: N``): after every
    ``N``-th update, for each of its modules, ``grad_norm/<m>`` (this update's gradients: the
    critic's and encoder's from ``L_Q`` (+ aux), the actor's from ``L_pi``), ``weight/<m>`` and
    ``weight_change/<m>`` (module docstring), and ``srank/critic`` / ``erank/critic`` of the
    critic's penultimate features (Q1's last hidden map) on the update's batch, so at most
    ``batch_size`` (DrQ-v2: batch 256 < hidden 1024). The initial parameters are kept (and
    checkpointed) to measure the change from them."""

    def __init__(self, every: int | None, modules: dict[str, nn.Module]):
        self.every = every
        self.modules = {k: m for k, m in modules.items()
                        if m is not None and any(True for _ in m.parameters())}
        self.init = ({k: initial_state(m) for k, m in self.modules.items()}
                     if every is not None else {})

    def after_update(self, agent) -> dict[str, torch.Tensor]:
        """Post-update hook of the off-policy agent: ``measure`` after every ``every``-th
        update, the features being Q1's last hidden map of this update's critic pass."""
        if self.every is None or agent.updates % self.every:
            return {}
        maps = agent.maps.get("critic")
        return self.measure(maps[1] if maps else None)

    def measure(self, features: torch.Tensor | None = None,
                grad_norms: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The weight and gradient metrics of every module now; with ``features`` (a batch of
        the critic's penultimate features) their stable and effective rank (at most the batch
        size). ``grad_norms``: the gradient norms to log instead of those of the gradients
        held now (PPO: the mean over its minibatch steps); a module missing from it logs
        none."""
        out: dict[str, torch.Tensor] = {}
        for name, module in self.modules.items():
            if grad_norms is None:
                out[f"grad_norm/{name}"] = grad_norm(module)
            elif name in grad_norms:
                out[f"grad_norm/{name}"] = grad_norms[name]
            out[f"weight/{name}"] = weight_magnitude(module)
            out[f"weight_change/{name}"] = distance_from_init(module, self.init[name])
        if features is not None:
            features = features.detach()
            out["srank/critic"] = stable_rank(features).float()
            out["erank/critic"] = effective_rank(features)
        return out

    def remap(self, name: str, before: list[nn.Parameter]) -> None:
        """After module ``name`` changed its parameters (plasticity injection): parameters it
        had keep their initial values, new ones start from their present value. ``before``:
        the module's parameter list before the change."""
        if name not in self.init:
            return
        kept = {id(p): t for p, t in zip(before, self.init[name], strict=True)}
        self.init[name] = [kept.get(id(p), p.detach().clone())
                           for p in self.modules[name].parameters()]

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {k: [t.clone() for t in v] for k, v in self.init.items()}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        for k, tensors in state.items():
            if k in self.init:
                for mine, saved in zip(self.init[k], tensors, strict=True):
                    mine.copy_(saved)
