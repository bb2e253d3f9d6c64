"""Plasticity injection (Nikishin et al. 2023, "Deep RL with plasticity injection").

At injection the head ``h_theta`` is frozen and two fresh copies with the same new parameters
``theta'`` are added, one trainable and one frozen::

    y(x) = h_theta(x) [frozen] + (h_theta'(x) [trainable] - h_theta'_0(x) [frozen, = theta' at injection])

so ``y`` is **unchanged at the moment of injection** (the bracket is exactly zero: two identical
computations) while the gradient flows only into ``theta'``, a freshly initialised head: new
plasticity without a drop in performance and without changing the number of trainable
parameters. A head that returns ``(output, hidden maps)`` (the critic's ``QHead``) gives the
maps of its trainable copy, the units that learn (FAU, dormant ratios and ReDo read them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from agents.plasticity.shrink_perturb import fresh_copy


class InjectedHead(nn.Module):
    """``frozen(x) + (fresh(x) - twin(x))`` (module docstring); only ``fresh`` trains. The
    frozen head's last gradient is dropped: no optimiser holds it any more to clear it, and
    it would count in the critic's ``grad_norm`` at every later update."""

    def __init__(self, frozen: nn.Module, fresh: nn.Module, twin: nn.Module):
        super().__init__()
        self.frozen, self.fresh, self.twin = frozen, fresh, twin
        for p in [*self.frozen.parameters(), *self.twin.parameters()]:
            p.requires_grad_(False)
            p.grad = None

    @classmethod
    def around(cls, head: nn.Module, init: Callable[[nn.Module], None]) -> "InjectedHead":
        """Freeze ``head``; its fresh copy is drawn by ``init`` (torch's generator), the twin
        is a copy of the fresh one. Injecting into an injected head (a second injection)
        draws the fresh copy in the shape of the plain head and freezes the whole sum."""
        plain = head.fresh if isinstance(head, InjectedHead) else head
        fresh = fresh_copy(plain, init)
        return cls(head, fresh, copy.deepcopy(fresh))

    def forward(self, x: torch.Tensor):
        old, new, twin = self.frozen(x), self.fresh(x), self.twin(x)
        if isinstance(new, tuple):        # (output, hidden maps): the trainable copy's maps
            return old[0] + (new[0] - twin[0]), new[1]
        return old + (new - twin)

    def redo_pairs(self):
        """ReDo treats the units that train: the fresh copy's."""
        return self.fresh.redo_pairs()

    def redo_norms(self):
        return self.fresh.redo_norms()


def inject_(parent: nn.Module, name: str, init: Callable[[nn.Module], None],
            optimizer: torch.optim.Optimizer | None = None) -> InjectedHead:
    """Replace ``parent.<name>`` by an ``InjectedHead`` around it.

    The optimiser (if given) stops updating the frozen head (its state for those parameters is
    dropped) and gains the fresh head's parameters at the end of its first parameter group.
    """
    head = getattr(parent, name)
    injected = InjectedHead.around(head, init).to(next(head.parameters()).device)
    setattr(parent, name, injected)
    if optimizer is not None:
        frozen = {id(p) for p in injected.frozen.parameters()}
        for group in optimizer.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in frozen]
        for p in injected.frozen.parameters():
            optimizer.state.pop(p, None)
        optimizer.param_groups[0]["params"].extend(injected.fresh.parameters())
    return injected


def inject_target_(parent: nn.Module, name: str, online: InjectedHead) -> InjectedHead:
    """The Polyak target's mirror of an injection: ``parent.<name>`` (the target's head) is
    frozen and the online head's fresh copy and twin are copied beside it, so the target's
    output is unchanged too and its parameters pair one to one with the online ones."""
    mirrored = InjectedHead(getattr(parent, name), copy.deepcopy(online.fresh),
                            copy.deepcopy(online.twin))
    mirrored.requires_grad_(False)
    setattr(parent, name, mirrored)
    return mirrored


class PlasticityInjection:
    """The intervention ``agent.plasticity_injection`` of the off-policy agent: inject into the
    critic's Q heads (everything after its trunk: ``Q_1`` and ``Q_2``) at agent step
    ``at_step`` or when a trigger fires. Nikishin et al. inject a DQN's head once, halfway
    through training; the trunk (and a pixel encoder) keep training, as the paper's encoder
    does. The Polyak target critic is injected with the same fresh copy (``inject_target_``),
    so neither ``Q`` nor the TD target moves at injection; the critic's Adam state of the
    frozen heads is dropped and the fresh heads start without one. The weight metrics measure
    each new parameter's change from its value at injection. Every injection triples the
    heads' forward cost (frozen, fresh and twin); a second one nests inside the first.
    """

    phase = "before"
    key = "plasticity_injection"

    def __init__(self, cfg, total_steps: int = 0):
        self.cfg = cfg
        self.done = 0

    @staticmethod
    def check(agent_cfg, cfg) -> None:
        """Interventions that rewrite the critic's weights would rewrite the frozen head."""
        from configs.errors import ConfigError

        for key in ("reset", "shrink_perturb", "l2_init"):
            other = getattr(agent_cfg, key, None)
            if other is not None and "critic" in other.modules:
                raise ConfigError(f"config error: agent.plasticity_injection: not with "
                                  f"agent.{key} on the critic (it would rewrite the frozen "
                                  f"head); drop critic from agent.{key}.modules")

    def due(self, step: int, updates: int) -> bool:
        return self.done == 0 and step >= self.cfg.at_step

    def _inject(self, agent) -> int:
        """One injection into every Q head of the critic and its target; returns the fresh
        (trainable) parameter count."""
        from agents.common.networks import orthogonal_init

        before = list(agent.critic.parameters())
        fresh = 0
        for name in ("q1", "q2"):
            if getattr(agent.critic, name) is None:
                continue
            injected = inject_(agent.critic, name, orthogonal_init, agent.critic_opt)
            inject_target_(agent.critic_target, name, injected)
            fresh += sum(p.numel() for p in injected.fresh.parameters())
        agent.weight_metrics.remap("critic", before)
        agent.pair_targets()
        self.done += 1
        return fresh

    def apply(self, agent) -> tuple[list[dict], dict]:
        return [{"module": "critic", "parameters": self._inject(agent)}], {}

    def prepare_load(self, agent, state: dict) -> None:
        """Before a checkpoint's weights load: rebuild the injected structure (the fresh
        weights drawn here are overwritten by the checkpoint's; the loop restores torch's
        generator afterwards)."""
        for _ in range(state.get("injections_done", 0) - self.done):
            self._inject(agent)

    def summary(self) -> dict:
        return {"injections": self.done}

    def state_dict(self) -> dict:
        return {"injections_done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.done = state.get("injections_done", 0)
