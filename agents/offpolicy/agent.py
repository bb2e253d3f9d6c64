"""One off-policy actor-critic for states and pixels: DrQ-v2 (Yarats et al. 2021) and DDPG.

Parts, chosen by the observations and the config (``configs.schema.OffPolicyConfig``;
networks in ``agents/offpolicy/nets.py``):

* encoder ``f``: DrQ-v2's conv net with random-shift augmentation for uint8 pixels (trained by
  the critic only); nothing for state vectors (optionally a running mean/std normaliser);
* actor ``pi``: DrQ-v2's MLP ``mu = tanh(MLP(trunk(h)))`` on ``h = f(o)``, or the NCAP circuit
  on the raw observation (joint angles and its clock, 4 shared sign-constrained weights);
* critic: ``Q_1, Q_2`` (``double_q``) or ``Q_1`` alone on ``(trunk(h), a)``, a Polyak target
  ``Qbar``, and optionally a Polyak target actor ``pibar`` (``target_actor``, DDPG);
* replay (``agents/offpolicy/replay.py``): frames (pixels, each frame once) or vectors, n-step
  targets;
* exploration: uniform actions for ``explore_steps``, then ``a = mu + sigma(step) eps``
  (``std_schedule``); evaluation acts with ``mu``; the replay-ratio schedule
  (``agents/plasticity/schedules.py``) says how many updates are due per agent step after
  ``seed_frames``.

``agent.name: drqv2`` is this agent with the rule that observations are pixels
(``agents/offpolicy/checks.py``); ``offpolicy`` takes both.

One update (``update``) on a replay batch (pixels: independent random shifts of ``o``, ``o'``):

* ``h = f(o)`` with gradients, ``h' = f(o')`` without (no target encoder);
* ``a' = pibar(o')`` or ``pi(o')``, sampled with ``sigma(step)`` and clip ``c = std_clip`` when
  ``noisy_updates`` (DrQ-v2), the deterministic mean otherwise (DDPG);
* ``y = R_n + gamma_n min_i Qbar_i(h', a')``; ``L_Q = sum_i MSE(Q_i(h, a), y)`` steps the
  critic and the encoder;
* ``L_pi = -mean(min_i Q_i(h.detach(), a~pi))`` steps the actor only (``a`` sampled with clip
  ``c`` when ``noisy_updates``, else ``mu``); ``actor_loss: td3``: ``-mean(Q_1(h, mu(h)))``;
* ``theta_bar <- tau theta + (1 - tau) theta_bar`` for the critic (and the target actor).

What is plugged in: ``agents/offpolicy/__init__.py``; acting (the loop's calls every agent step):
``acting.py``; what is logged: ``outputs.py``; checkpoints and loading: ``state.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.auxiliary.objectives import NO_AUX, make_aux_objectives, make_projection
from agents.common.device import resolve_device
from agents.common.polyak import polyak_, polyak_pairs
from agents.offpolicy.acting import OffPolicyActing
from agents.offpolicy.augment import RandomShift
from agents.offpolicy.checks import check_spaces
from agents.offpolicy.encoder_init import load_encoder
from agents.offpolicy.fused_adam import adam_step
from agents.offpolicy.nets import Actor, Critic, Encoder, make_actor, make_encoder, sample_action
from agents.offpolicy.outputs import OffPolicyOutputs
from agents.offpolicy.precision import autocast, check_precision
from agents.offpolicy.replay import make_replay
from agents.offpolicy.state import OffPolicyState
from agents.plasticity.interventions import check_interventions, make_interventions
from agents.plasticity.l2_init import L2Init
from agents.plasticity.metrics import DORMANT_TAUS, DeviceMetrics, module_metrics
from agents.plasticity.representation import RepresentationLog
from agents.plasticity.schedules import make_rr_schedule, parse_std_schedule
from agents.plasticity.weight_metrics import WeightMetricsLog

DEFAULT_AUGMENT_PAD = 4


class OffPolicyAgent(OffPolicyActing, OffPolicyOutputs, OffPolicyState):
    """The off-policy actor-critic behind the loop's agent interface (module docstring).

    Args:
        cfg: ``configs.schema.OffPolicyConfig`` (``name`` ``offpolicy`` or ``drqv2``).
        observation_space: uint8 ``Box (3 m, H, H)`` (pixels) or a flat float ``Box`` (states).
        action_space: ``Box`` with bounds ``[-1, 1]``.
        env: the training env; its ``frames_per_step`` converts ``seed_frames`` to agent steps,
            and the NCAP actor reads its body (``env.body``, ``env.episode_steps``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        seed: seed of the replay's sampling generator (torch's RNG is the loop's).
        acting_only: build only what acting needs (no replay, no optimisers), for evaluation,
            rendering and transfer.
        total_steps: the run's agent steps (``steps``), over which ``reset.count`` resets are
            spread.
        num_envs: training envs stepped together (``trainer.num_envs``): ``act`` and
            ``observe`` take arrays over them, the replay keeps one stream per env
            (``agents/offpolicy/acting.py``, ``agents/offpolicy/replay.py``).
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0, acting_only: bool = False,
                 total_steps: int = 0, num_envs: int = 1):
        shape = tuple(observation_space.shape)
        self.obs_shape, self.num_envs = shape, int(num_envs)
        self._due_step: int | None = None   # the last step updates_due ran (several envs)
        self.pixels = check_spaces(cfg, observation_space, action_space)
        check_interventions(cfg, self.pixels)
        self.cfg, self.device = cfg, torch.device(resolve_device(device))
        self.action_dim = int(np.prod(action_space.shape))
        self.frames_per_step = int(getattr(env, "frames_per_step", 1))
        self.seed_steps = math.ceil(cfg.seed_frames / self.frames_per_step)
        self.std = parse_std_schedule(cfg.std_schedule)

        # construction order = torch RNG order of the initialisations (resume, identity checks)
        self.encoder, repr_dim = make_encoder(cfg, shape, self.pixels)
        self.encoder.to(self.device)
        self.actor = make_actor(cfg, repr_dim, self.action_dim, env).to(self.device)
        dims = (repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim, cfg.double_q,
                cfg.hidden_norm, cfg.activation)
        self.critic = Critic(*dims).to(self.device)
        self.projection = None if acting_only else make_projection(cfg, repr_dim)
        if self.projection is not None:
            self.projection.to(self.device)
        self.encoder_source = None   # the record of a transferred encoder (encoder_init.json)
        if cfg.encoder_init is not None and not acting_only:
            self.encoder_source = load_encoder(cfg.encoder_init, shape, self.encoder,
                                               self.latent_map)
        self.critic_target = self._target(Critic(*dims), self.critic)
        self.actor_target = (self._target(make_actor(cfg, repr_dim, self.action_dim, env),
                                          self.actor) if cfg.target_actor else None)
        pad = DEFAULT_AUGMENT_PAD if cfg.augment_pad is None else cfg.augment_pad
        self.aug = RandomShift(pad) if self.pixels else None
        self.rr_schedule = make_rr_schedule(cfg.rr_schedule, self.frames_per_step)
        self.interventions = make_interventions(cfg, total_steps, self.frames_per_step)
        self.representation = RepresentationLog(cfg.representation)
        # regenerative L2-init: theta(0) captured now, after every initialisation and transfer
        self.l2_init = ({m: L2Init([getattr(self, m)], cfg.l2_init.coef)
                         for m in cfg.l2_init.modules} if cfg.l2_init is not None else {})
        self.weight_metrics = WeightMetricsLog(cfg.weight_metrics_every, {
            "encoder": self.encoder, "actor": self.actor, "critic": self.critic})
        # after_update(agent), in order: ReDo / S&P, representation probe, weight metrics
        self.hooks = [self.interventions, self.representation, self.weight_metrics]
        self.metrics = DeviceMetrics()
        self.maps: dict[str, list[torch.Tensor] | None] = {}   # this update's hidden maps (ReDo)
        self.step = 0        # agent steps observed
        self.updates = 0
        self.replay = None
        self.aux = NO_AUX
        if acting_only:
            return
        check_precision(cfg.precision, self.device)
        # fused Adam: the same update rule in one kernel per step (~3x faster on CPU); a state
        # encoder has no weights (a normaliser's statistics are buffers) and no optimiser
        encoder_params = list(self.encoder.parameters())
        self.encoder_opt = torch.optim.Adam(encoder_params, lr=cfg.lr, fused=True) \
            if encoder_params else None
        self._actor_params = list(self.actor.parameters())
        self.actor_opt = torch.optim.Adam(self._actor_params, lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
        self.pair_targets()
        self._critic_loss_fn, self._actor_loss_fn = self.critic_loss, self.actor_loss
        if cfg.compile:
            import torch._inductor.config as inductor_config
            # inductor's own random numbers would differ from eager's: keep torch's generator
            inductor_config.fallback_random = True
            self._critic_loss_fn = torch.compile(self.critic_loss)
            self._actor_loss_fn = torch.compile(self.actor_loss)
        self.replay = make_replay(cfg, shape, self.pixels, self.action_dim, seed, num_envs)
        self.aux = make_aux_objectives(cfg, self.encoder, self.latent_map, self.aug,
                                       self.action_dim, self.projection is not None, self.replay)
        # stepped by the critic's loss, in this order: the auxiliary heads (routing critic),
        # the critic, the encoder
        self._critic_opts = [*self.aux.optimizers_with_critic, self.critic_opt,
                             *([self.encoder_opt] if self.encoder_opt is not None else [])]

    def pair_targets(self) -> None:
        """Polyak pairs (target, online) for one foreach lerp; the lists hold the parameters
        themselves, which Reset, ReDo and loading change in place (plasticity injection,
        which adds parameters, calls this again)."""
        self._polyak = polyak_pairs((self.critic_target, self.critic),
                                    *([(self.actor_target, self.actor)]
                                      if self.actor_target is not None else []))

    def _target(self, module: nn.Module, online: nn.Module) -> nn.Module:
        """A Polyak target: a frozen ``module`` starting from ``online``'s weights."""
        module.to(self.device).load_state_dict(online.state_dict())
        return module.requires_grad_(False)

    @property
    def latent_map(self) -> nn.Module:
        """``g``: the auxiliary losses' own projection, else the critic's trunk."""
        return self.projection if self.projection is not None else self.critic.trunk

    # --- learning -------------------------------------------------------------------------
    def _sample(self, mu: torch.Tensor, std: float) -> torch.Tensor:
        """The action the updates use: clipped noise (``noisy_updates``) or the mean."""
        return sample_action(mu, std, self.cfg.std_clip) if self.cfg.noisy_updates else mu

    def critic_loss(self, h: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
                    discount: torch.Tensor, next_h: torch.Tensor, std: float | torch.Tensor,
                    next_obs: torch.Tensor | None = None, features: torch.Tensor | None = None):
        """``(L_Q, Q_1, y, hidden)``: ``L_Q = sum_i MSE(Q_i(h, a), y)`` with
        ``y = R_n + gamma_n min_i Qbar_i(h', a')`` (forward passes only; ``agent.compile``
        compiles this function). ``features``: trunk features the auxiliary losses computed."""
        actor = self.actor_target or self.actor
        with torch.no_grad():
            next_action = self._sample(self._policy(actor, next_obs, next_h), std)
            tq1, tq2, _ = self.critic_target(next_h, next_action)
            target_q = reward + discount * torch.min(tq1, tq2)
        q1, q2, hidden = (self.critic(h, action) if features is None
                          else self.critic.heads(features, action))
        loss = F.mse_loss(q1, target_q)
        if self.critic.q2 is not None:
            loss = loss + F.mse_loss(q2, target_q)
        return loss, q1, target_q, hidden

    def update_critic(self, h: torch.Tensor, next_h: torch.Tensor,
                      batch: dict[str, torch.Tensor], std: float | torch.Tensor,
                      next_obs: torch.Tensor | None = None):
        """Minimise ``L_Q`` (``critic_loss``) over critic and encoder; with ``aux.routing:
        critic`` ``L_Q + sum_i lambda_i L_i`` (the loss heads step too). ``next_obs``: the raw
        next observation a circuit actor reads. Returns the critic's and the auxiliary losses'
        metrics."""
        with autocast(self.cfg.precision, self.device):
            aux_loss, features, aux_metrics = self.aux.critic_extra(h, batch, self.step)
            loss, q1, target_q, hidden = self._critic_loss_fn(
                h, batch["action"], batch["reward"], batch["discount"], next_h, std, next_obs,
                features)
        total = loss if aux_loss is None else loss + aux_loss
        aux_metrics = dict(aux_metrics)
        for name in ("critic", "encoder"):
            if name in self.l2_init:
                penalty = self.l2_init[name]()
                aux_metrics[f"l2_init/{name}"] = penalty.detach()
                total = total + penalty
        for opt in self._critic_opts:
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in self._critic_opts:
            adam_step(opt)
        self.maps["critic"] = hidden
        metrics = {"loss/critic": loss.detach(), "q": q1.detach().mean(),
                   "target_q": target_q.mean()}
        taus = DORMANT_TAUS if self.cfg.plasticity_metrics else ()
        if self.cfg.critic_fau or taus:
            metrics |= module_metrics("critic", hidden, taus)
            if not self.cfg.critic_fau:
                del metrics["fau/critic"]
        return metrics, aux_metrics

    def actor_loss(self, h: torch.Tensor, std: float | torch.Tensor,
                   obs: torch.Tensor | None = None):
        """``(L_pi, hidden maps or None)``: ``-mean(min_i Q_i(h, a))``, ``a ~ pi`` clipped (or
        ``mu``), or with ``actor_loss: td3`` ``-mean(Q_1(h, mu(h)))`` (forward passes only)."""
        if isinstance(self.actor, Actor):
            mu, maps = self.actor.forward_maps(h)
        else:
            mu, maps = self._policy(self.actor, obs, h), None
        if self.cfg.actor_loss == "td3":
            return -self.critic.first(h, mu).mean(), maps
        q1, q2, _ = self.critic(h, self._sample(mu, std))
        return -torch.min(q1, q2).mean(), maps

    def update_actor(self, h: torch.Tensor, std: float,
                     obs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Minimise ``L_pi`` (``actor_loss``) over the actor; ``h`` is detached; ``obs`` is the
        raw observation a circuit actor reads.

        Gradients are computed for the actor's parameters only (the critic's weight gradients
        of this pass would be discarded anyway)."""
        with autocast(self.cfg.precision, self.device):
            loss, maps = self._actor_loss_fn(h, std, obs)
        penalty = self.l2_init["actor"]() if "actor" in self.l2_init else None
        self.actor_opt.zero_grad(set_to_none=True)
        (loss if penalty is None else loss + penalty).backward(inputs=self._actor_params)
        adam_step(self.actor_opt)
        self.maps["actor"] = maps
        metrics = {"loss/actor": loss.detach()}
        if penalty is not None:
            metrics["l2_init/actor"] = penalty.detach()
        if self.cfg.plasticity_metrics and maps is not None:
            metrics.update(module_metrics("actor", maps, DORMANT_TAUS))
        return metrics

    @torch.no_grad()
    def update_targets(self) -> None:
        """``theta_bar <- theta_bar + tau (theta - theta_bar)``: every (target, online) pair in
        one foreach call; the auxiliary losses' EMA targets."""
        polyak_(*self._polyak, self.cfg.critic_tau)
        self.aux.ema_update()

    def encode(self, obs: torch.Tensor, next_obs: torch.Tensor):
        """``(h, h', metrics)``: ``h = f(o)`` with gradients, ``h' = f(o')`` without; the
        encoder's FAU and dormant ratios (pixels, ``plasticity_metrics``)."""
        measure = self.cfg.plasticity_metrics and isinstance(self.encoder, Encoder)
        with autocast(self.cfg.precision, self.device):
            h, maps = self.encoder.forward_maps(obs) if measure else (self.encoder(obs), None)
            with torch.no_grad():
                next_h = self.encoder(next_obs)
        return h, next_h, module_metrics("encoder", maps) if measure else {}

    def update(self) -> dict[str, float]:
        """One update on a fresh replay batch (module docstring). Returns ``{}``: the metrics
        stay on the device until ``pending_metrics``."""
        self.interventions.before_update(self)                    # Reset, when due
        sample = self.replay.sample(self.cfg.batch_size, self.aux.window, self.aux.obs_offsets)
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in sample.items()}
        raw_obs = obs = batch["obs"].float()
        next_obs = batch["next_obs"].float()
        if self.aug is not None:
            obs, next_obs = self.aug(obs), self.aug(next_obs)
        std = self.std(self.step)
        # a compiled loss takes sigma as a tensor: a float would recompile at every new value
        std_arg = torch.tensor(std, device=self.device) if self.cfg.compile else std
        h, next_h, metrics = self.encode(obs, next_obs)
        critic_metrics, aux_metrics = self.update_critic(h, next_h, batch, std_arg, next_obs)
        metrics |= critic_metrics
        metrics |= self.update_actor(h.detach(), std_arg, obs)
        # the auxiliary losses' metrics: from the critic step, or (routing separate) their own
        metrics |= aux_metrics | self.aux.separate_update(raw_obs, batch, self.step)
        self.update_targets()
        metrics["batch_reward"] = batch["reward"].mean()
        self.updates += 1
        metrics.update(actor_std=std, rr=self.rr_schedule.rr)    # before the triggers read
        self.rr_schedule.observe(metrics)
        self.interventions.observe(metrics)
        for hook in self.hooks:                   # ReDo, representation probe: when due
            metrics |= hook.after_update(self)
        self.maps = {}
        self.metrics.add(metrics)
        return {}
