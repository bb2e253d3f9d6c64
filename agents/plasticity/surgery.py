"""The weight surgery of the two interventions we compare against (Reset, ReDo), on the units
the metrics of ``agents/plasticity/metrics.py`` score.

Interventions (notes sec. 9; applied between updates, under ``no_grad``; when, and on which of
the agent's modules: ``agents/plasticity/interventions.py``):

* ``reset_``: re-initialise whole modules (Reset, Nikishin et al. 2022) and drop their Adam
  state (moments and step count), so they restart exactly as at construction;
* ``redo_``: for each (incoming, outgoing) layer pair, the tau-dormant units of the incoming
  layer's output get fresh incoming weights (rows of a freshly initialised copy of the layer,
  bias from it too) and zero outgoing weights (the outgoing layer's columns); exactly those
  entries of the Adam moments are zeroed (the per-tensor step count is kept).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from agents.plasticity.metrics import dormant_mask


def _forget_adam_state(optimizers: Iterable[torch.optim.Optimizer],
                       params: Iterable[nn.Parameter]) -> None:
    params = list(params)
    for opt in optimizers:
        for p in params:
            opt.state.pop(p, None)


@torch.no_grad()
def reset_(modules: Sequence[nn.Module], optimizers: Iterable[torch.optim.Optimizer],
           init: Callable[[nn.Module], None]) -> int:
    """Re-initialise ``modules`` as at construction and drop their optimiser state.

    Every sub-module with ``reset_parameters`` (Linear, LayerNorm, Conv) is reset, then ``init``
    is applied (the agent's own initialiser, e.g. orthogonal). Returns the parameters touched.
    """
    params = [p for m in modules for p in m.parameters()]
    for m in modules:
        for sub in m.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
        m.apply(init)
    _forget_adam_state(optimizers, params)
    return sum(p.numel() for p in params)


def _zero_moments(optimizers: Iterable[torch.optim.Optimizer], param: nn.Parameter,
                  index: tuple) -> None:
    for opt in optimizers:
        state = opt.state.get(param)
        if not state:
            continue
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in state:
                state[key][index] = 0.0


@torch.no_grad()
def redo_(pairs: Sequence[tuple[nn.Module, nn.Module | Sequence[tuple[nn.Module, int]]]],
          maps: Sequence[torch.Tensor], tau: float,
          optimizers: Iterable[torch.optim.Optimizer],
          init: Callable[[nn.Module], None]) -> list[int]:
    """ReDo on each ``(incoming, outgoing)`` pair whose post-ReLU output is ``maps[i]``.

    ``incoming`` is a Linear or Conv2d layer (a unit is an output row or channel). ``outgoing``
    is the layer that reads those units (a Linear's columns, a Conv2d's input channels), or a
    list of ``(layer, repeat)`` readers of the *flattened* map, where unit ``i`` owns the
    ``repeat`` consecutive columns ``i * repeat ... (i + 1) * repeat - 1`` (a conv channel's
    pixels read by the trunk's Linear).
    Dormant units (``s_i <= tau``) get the incoming rows (weight and bias) of a fresh copy of
    ``incoming`` initialised by ``init``; then (after every pair's re-init, so a dormant unit's
    outgoing weights end at zero even where they are another dormant unit's incoming row) the
    outgoing columns are zeroed; the Adam moments of exactly those rows and columns are zeroed.
    Returns the units re-initialised per pair.
    """
    optimizers = list(optimizers)
    masks = [dormant_mask(act, tau) for act in maps]
    for (incoming, _), mask in zip(pairs, masks, strict=True):
        fresh = copy.deepcopy(incoming)
        init(fresh)
        incoming.weight[mask] = fresh.weight[mask]
        incoming.bias[mask] = fresh.bias[mask]
        _zero_moments(optimizers, incoming.weight, (mask,))
        _zero_moments(optimizers, incoming.bias, (mask,))
    for (_, outgoing), mask in zip(pairs, masks):  # after all re-inits: outgoing stays zero
        readers = [(outgoing, 1)] if isinstance(outgoing, nn.Module) else outgoing
        for layer, repeat in readers:
            columns = mask.repeat_interleave(repeat)
            layer.weight[:, columns] = 0.0
            _zero_moments(optimizers, layer.weight, (slice(None), columns))
    return [int(mask.sum()) for mask in masks]
