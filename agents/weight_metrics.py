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


def stable_rank(features: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """``srank_delta`` (Kumar et al. 2021; ``agents/representation.py:srank``, as Plasticine):
    the smallest ``k`` with ``sum_{i<=k} s_i >= (1 - delta) sum_i s_i``, ``s`` the singular
    values of the ``(batch, units)`` feature matrix."""
    s = torch.linalg.svdvals(features.float())
    cumulative = torch.cumsum(s, 0) / s.sum().clamp_min(1e-12)
    return (cumulative < 1.0 - delta).sum() + 1


def effective_rank(features: torch.Tensor) -> torch.Tensor:
    """``exp(H(p))`` with ``p = s / sum s`` (Roy & Vetterli 2007), ``s`` as in ``stable_rank``."""
    s = torch.linalg.svdvals(features.float())
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


class WeightMetricsLog:
    """Post-update hook of the off-policy agent (``agent.weight_metrics_every: N``): after every
    ``N``-th update, for each of its modules, ``grad_norm/<m>`` (this update's gradients: the
    critic's and encoder's from ``L_Q`` (+ aux), the actor's from ``L_pi``), ``weight/<m>`` and
    ``weight_change/<m>`` (module docstring), and ``srank/critic`` / ``erank/critic`` of the
    critic's penultimate features (Q1's last hidden map) on the update's batch. The initial
    parameters are kept (and checkpointed) to measure the change from them."""

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

    def measure(self, features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The weight and gradient metrics of every module now; with ``features`` (a batch of
        the critic's penultimate features) their stable and effective rank."""
        out: dict[str, torch.Tensor] = {}
        for name, module in self.modules.items():
            out[f"grad_norm/{name}"] = grad_norm(module)
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
