"""``torch.optim.Adam(fused=True).step()`` without its per-call Python bookkeeping.

Adam (Kingma & Ba 2015): ``t <- t + 1``, ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
``theta <- theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``. ``torch.optim.Adam``'s
fused path runs this as two kernels (``torch._foreach_add_`` on the step counts, then
``torch._fused_adam_``) behind per-call Python work (hooks, grouping by device and dtype,
profiler labels) that costs about as much as the kernel for the 2x256 MLPs of a state update
on CPU. ``adam_step`` calls the same two kernels on the optimiser's own state, so the result is
bit-identical to ``opt.step()``; the optimiser (and its ``state_dict``) stays the torch one.
"""

from __future__ import annotations

import torch


def plain_fused(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` is a one-group fused Adam without weight decay, AMSGrad or maximize
    (the case ``adam_step`` runs itself)."""
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return False
    g = opt.param_groups[0]
    return (g["fused"] and not g["amsgrad"] and not g["maximize"] and g["weight_decay"] == 0
            and not g.get("decoupled_weight_decay", False) and not g["differentiable"]
            and not isinstance(g["lr"], torch.Tensor))


def adam_step(opt: torch.optim.Optimizer) -> None:
    """One Adam step, as ``opt.step()``: by the fused kernels when every parameter has a
    gradient and Adam state (module docstring); else (the first step, after a Reset dropped
    the state, a frozen parameter, another optimiser) by ``opt.step()``."""
    params = opt.param_groups[0]["params"]
    states = [opt.state.get(p) for p in params]
    if not plain_fused(opt) or not all(states) or any(p.grad is None for p in params):
        opt.step()
        return
    g = opt.param_groups[0]
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                       [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False,
                       lr=g["lr"], beta1=g["betas"][0], beta2=g["betas"][1], weight_decay=0.0,
                       eps=g["eps"], maximize=False, grad_scale=None, found_inf=None)
