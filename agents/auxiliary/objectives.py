"""The configured auxiliary losses as one object the off-policy agent drives
(``make_aux_objectives``); the losses themselves: the modules beside this one.

``AuxObjectives`` holds the configured losses and what they share: the EMA target copies
``fbar, gbar`` of the encoder and the latent map (built only if a loss reads targets), one
Adam optimiser and the routing of the gradient:

* ``routing: critic`` (default, sec. 4): ``L = L_Q + sum_i lambda_i L_i`` is minimised by the
  agent's one encoder/critic Adam step; this module's optimiser steps only the loss heads
  (and ``g`` when it is a projection of its own);
* ``routing: separate`` (CURL / TACO): after the critic step, ``sum_i lambda_i L_i`` on a
  fresh encoder pass is minimised by this module's own Adam over encoder, ``g`` and heads,
  with moments of its own (twice the encoder's Adam steps).

The actor never sees the auxiliary gradient: it reads detached features either way.
Logged per update: ``loss/aux`` (the weighted sum), ``loss/aux_<label>`` (each unweighted),
each loss's own ``aux/<label>/...`` metrics, ``aux/<label>/grad_z`` (every
``GRAD_NORM_EVERY``-th update: the norm of ``d(lambda_i L_i) / d z_t``, the batch's gradient
where it enters ``g`` and ``f`` through ``o_t``; C-faithful and N also reach the encoder through
``z_{t+1}``, not counted here),
``aux/separate_step`` (1 when the separate step ran), and on the batch's online latents
``aux/z_cos`` (mean pairwise cosine similarity, collapse: 1) and ``aux/z_var`` (mean
per-dimension variance).

What the off-policy agent calls, in its update order (``make_aux_objectives`` builds them;
without losses ``NO_AUX`` answers every call with nothing): ``critic_extra`` in the critic
step (the loss, the features the critic reads, metrics), ``optimizers_with_critic`` (stepped
with the critic), ``separate_update`` after the actor step, ``ema_update`` with the targets.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import nn

from agents.auxiliary.base import AuxBatch, AuxLoss, ema_update, frozen_copy
from agents.common.networks import trunk
from configs import registry
from configs.errors import ConfigError

__all__ = ["AuxBatch", "AuxLoss", "AuxObjectives", "NO_AUX", "make_aux_loss",
           "make_aux_objectives", "make_projection", "mean_pairwise_cosine"]

log = logging.getLogger(__name__)

GRAD_NORM_EVERY = 10  # one extra backward pass through the heads per loss: not every update


def make_aux_loss(cfg, latent_dim: int, action_dim: int) -> AuxLoss:
    """The loss module of one config entry: the implementation registered under its ``type``
    (``configs/registry.py``; built-ins in ``agents/auxiliary/config.py``), labelled ``cfg.label``
    or the type."""
    build = registry.build("aux_loss", cfg.type)
    return build(cfg, cfg.label or cfg.type, latent_dim, action_dim)


def mean_pairwise_cosine(z: torch.Tensor) -> torch.Tensor:
    """Mean of ``cos(z_i, z_j)`` over all pairs ``i != j``, in O(N d):
    ``(|sum_i zhat_i|^2 - N) / (N (N - 1))`` with ``zhat_i = z_i / |z_i|``."""
    n = z.shape[0]
    zhat = torch.nn.functional.normalize(z, dim=-1, eps=1e-8)
    return (zhat.sum(0).pow(2).sum() - n) / max(n * (n - 1), 1)


class AuxObjectives(nn.Module):
    """The configured auxiliary losses of one agent (module docstring).

    Args:
        cfg: ``configs.schema.AuxConfig``.
        encoder: ``f`` (conv features ``h``); latent: ``g`` (``h -> z``, ``d = latent_dim``).
        augment: the random shift applied to every online and target view.
        action_dim: ``|A|``; lr: Adam learning rate.
        own_latent: ``g`` is a projection of the auxiliary losses' own (stepped here).
        encoder_trainable: False for a frozen (transferred) encoder.
    """

    def __init__(self, cfg, encoder: nn.Module, latent: nn.Module,
                 augment: Callable[[torch.Tensor], torch.Tensor], latent_dim: int,
                 action_dim: int, lr: float, own_latent: bool, encoder_trainable: bool = True):
        super().__init__()
        self.weights = [float(c.weight) for c in cfg.losses]
        self.losses = nn.ModuleList(make_aux_loss(c, latent_dim, action_dim) for c in cfg.losses)
        self.separate = cfg.routing == "separate"
        self.own_latent = own_latent
        self.tau = cfg.target_tau
        self.window = max((loss.window for loss in self.losses), default=0)
        self.obs_offsets = sorted({k for loss in self.losses for k in loss.obs_offsets})
        self.augment = augment
        self.encoder_trainable = encoder_trainable
        self._online = (encoder, latent)   # the agent's modules: not registered (nor saved) here
        self.calls = 0
        self.needs_target = any(loss.needs_target for loss in self.losses)
        if self.needs_target:
            self.encoder_target = frozen_copy(encoder)
            self.latent_target = frozen_copy(latent)
        # frozen parameters (a transferred encoder) stay in the list and get no gradient, so
        # Adam skips them and the optimiser's layout does not depend on freezing
        params = [p for p in self.losses.parameters() if p.requires_grad]
        if own_latent or self.separate:
            params += list(latent.parameters())
        if self.separate:
            params += list(encoder.parameters())
        self.opt = torch.optim.Adam(params, lr=lr, fused=True) if params else None

    # --- latents --------------------------------------------------------------------------
    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """``f(aug(obs))``; without gradients for a frozen encoder."""
        encoder, _ = self._online
        with torch.set_grad_enabled(self.encoder_trainable and torch.is_grad_enabled()):
            return encoder(self.augment(obs))

    def online(self, obs: torch.Tensor) -> torch.Tensor:
        return self._online[1](self.features(obs))

    @torch.no_grad()
    def target(self, obs: torch.Tensor) -> torch.Tensor:
        return self.latent_target(self.encoder_target(self.augment(obs)))

    # --- the loss -------------------------------------------------------------------------
    def loss(self, h: torch.Tensor, batch: dict[str, torch.Tensor], step: int,
             z: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(sum_i lambda_i L_i, metrics)`` on a replay batch with a window; ``h`` is
        ``f(aug(o_t))`` of the critic's pass (``routing: critic``) or a fresh one, ``z = g(h)``
        if the caller has it already."""
        z = self._online[1](h) if z is None else z
        aux = AuxBatch(z=z, window_obs=batch["window_obs"], obs_offsets=self.obs_offsets,
                       actions=batch["window_action"], rewards=batch["window_reward"],
                       mask=batch["window_mask"].float(), online=self.online,
                       target=self.target)
        total = z.new_zeros(())
        metrics: dict[str, torch.Tensor] = {}
        monitor = self.calls % GRAD_NORM_EVERY == 0 and z.requires_grad
        self.calls += 1
        for weight, module in zip(self.weights, self.losses):
            value, extra = module(aux, step)
            total = total + weight * value
            metrics[f"loss/aux_{module.label}"] = value.detach()
            metrics.update(extra)
            if monitor and value.requires_grad:
                (grad,) = torch.autograd.grad(weight * value, z, retain_graph=True,
                                              allow_unused=True)
                if grad is not None:
                    metrics[f"aux/{module.label}/grad_z"] = grad.norm()
        with torch.no_grad():
            metrics.update({"loss/aux": total.detach(), "aux/z_cos": mean_pairwise_cosine(z),
                            "aux/z_var": z.var(dim=0).mean(),
                            "aux/separate_step": torch.tensor(float(self.separate))})
        return total, metrics

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.opt is not None:
            self.opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """Adam step of this module's parameters (after the backward pass)."""
        if self.opt is not None:
            self.opt.step()

    # --- what the agent's update calls ----------------------------------------------------
    def critic_extra(self, h: torch.Tensor, batch: dict[str, torch.Tensor], step: int
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None,
                                dict[str, torch.Tensor]]:
        """``routing: critic``: ``(sum_i lambda_i L_i, features, metrics)`` on the critic's own
        pass ``h = f(aug(o_t))``, added to ``L_Q`` by the critic step; ``features`` is
        ``z = g(h)`` when ``g`` is the critic's trunk (the critic's heads read it, so the
        trunk runs once for both), else None. ``routing: separate``: ``(None, None, {})``."""
        if self.separate:
            return None, None, {}
        z = self._online[1](h)
        total, metrics = self.loss(h, batch, step, z)
        return total, (None if self.own_latent else z), metrics

    @property
    def optimizers_with_critic(self) -> list[torch.optim.Optimizer]:
        """This module's optimiser when it steps with the critic (``routing: critic``)."""
        return [] if self.separate or self.opt is None else [self.opt]

    def separate_update(self, obs: torch.Tensor, batch: dict[str, torch.Tensor],
                        step: int) -> dict[str, torch.Tensor]:
        """``routing: separate``: a fresh ``f(aug(o_t))`` and this module's own Adam step
        (``obs``: the batch's unaugmented observations); ``routing: critic``: nothing."""
        if not self.separate:
            return {}
        total, metrics = self.loss(self.features(obs), batch, step)
        self.zero_grad()
        total.backward()
        self.step()
        return metrics

    @torch.no_grad()
    def ema_update(self) -> None:
        """Every target copy: ``theta_bar <- theta_bar + tau (theta - theta_bar)``."""
        if self.needs_target:
            ema_update(self.encoder_target, self._online[0], self.tau)
            ema_update(self.latent_target, self._online[1], self.tau)
        for module in self.losses:
            module.ema_update(self.tau)

    # --- persistence ----------------------------------------------------------------------
    def full_state(self) -> dict[str, Any]:
        return {"modules": self.state_dict(), "calls": self.calls,
                "opt": self.opt.state_dict() if self.opt is not None else None}

    def load_full_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["modules"])
        self.calls = state["calls"]
        if self.opt is not None:
            self.opt.load_state_dict(state["opt"])


class _NoAux:
    """No auxiliary loss: every call of the agent's update is answered with nothing."""

    window = 0
    obs_offsets: list[int] = []
    losses = ()
    optimizers_with_critic: list[torch.optim.Optimizer] = []

    def critic_extra(self, h, batch, step) -> tuple[None, None, dict[str, torch.Tensor]]:
        return None, None, {}

    def separate_update(self, obs, batch, step) -> dict[str, torch.Tensor]:
        return {}

    def ema_update(self) -> None:
        pass

    def full_state(self) -> None:
        return None

    def load_full_state(self, state: None) -> None:
        pass


NO_AUX = _NoAux()


def make_projection(cfg, repr_dim: int) -> nn.Module | None:
    """``g``'s own projection (``aux.latent: projection``: Linear -> LayerNorm -> tanh to
    ``feature_dim``), else None (``g`` is the critic's trunk). ``cfg``: ``OffPolicyConfig``."""
    if (cfg.aux.losses or cfg.aux.latent == "projection") and cfg.feature_dim is None:
        raise ConfigError("config error: agent.feature_dim: the auxiliary latent "
                          "z = g(f(o)) needs a size (null = no trunk)")
    return trunk(repr_dim, cfg.feature_dim) if cfg.aux.latent == "projection" else None


def make_aux_objectives(cfg, encoder: nn.Module, latent: nn.Module,
                        augment: Callable[[torch.Tensor], torch.Tensor] | None, action_dim: int,
                        own_latent: bool, replay) -> AuxObjectives | _NoAux:
    """The agent's ``AuxObjectives`` for ``cfg.aux`` (``OffPolicyConfig``), or ``NO_AUX``
    without losses. A loss window longer than ``replay`` can serve is a one-line error."""
    if not cfg.aux.losses:
        return NO_AUX
    trainable = any(p.requires_grad for p in encoder.parameters())
    aux = AuxObjectives(cfg.aux, encoder, latent, augment if augment is not None else nn.Identity(),
                        cfg.feature_dim, action_dim, cfg.lr, own_latent=own_latent,
                        encoder_trainable=trainable)
    room = replay.capacity - replay.frame_stack
    for i, loss in enumerate(aux.losses):
        if loss.window > room:
            raise ConfigError(f"config error: agent.aux.losses.{i}: a {loss.window}-step "
                              f"window is more than the replay can serve (replay_capacity "
                              f"{replay.capacity} - frame stack {replay.frame_stack} = {room})")
    losses = ", ".join(f"{m.label} (weight {w:g})" for m, w in zip(aux.losses, aux.weights))
    routing = ("separate: an Adam step of their own over encoder, g and heads"
               if aux.separate else "critic: added to L_Q before the encoder/critic step")
    g = "its own projection" if own_latent else "the critic trunk"
    log.info(f"auxiliary losses: {losses}; routing {routing}; g = {g}")
    return aux
