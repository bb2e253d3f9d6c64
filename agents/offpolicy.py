"""One off-policy actor-critic for states and pixels: DrQ-v2 (Yarats et al. 2021) and DDPG.

Parts, chosen by the observations and the config (``configs.schema.OffPolicyConfig``):

* encoder ``f``: DrQ-v2's conv net with random-shift augmentation for uint8 pixels (trained by
  the critic only); nothing for state vectors (optionally a running mean/std normaliser);
* actor ``pi``: DrQ-v2's MLP ``mu = tanh(MLP(trunk(h)))`` on ``h = f(o)``, or the NCAP circuit
  on the raw observation (joint angles and its clock, 4 shared sign-constrained weights);
* critic: ``Q_1, Q_2`` (``double_q``) or ``Q_1`` alone on ``(trunk(h), a)``, a Polyak target
  ``Qbar``, and optionally a Polyak target actor ``pibar`` (``target_actor``, DDPG);
* replay: ``FrameReplay`` (pixels, each frame once) or ``VectorReplay`` (states), n-step targets;
* exploration: uniform actions for ``explore_steps``, then ``a = mu + sigma(step) eps``
  (``std_schedule``: fixed or linear); evaluation acts with ``mu``;
* the replay-ratio schedule (``agents/schedules.py``): updates per agent step, after
  ``seed_frames`` frames.

One update on a replay batch (pixels: independent random shifts of ``o`` and ``o'``):

* ``h = f(o)`` with gradients, ``h' = f(o')`` without (no target encoder);
* ``a' = pibar(o')`` or ``pi(o')``, sampled with ``sigma(step)`` and clip ``c = std_clip`` when
  ``noisy_updates`` (DrQ-v2), the deterministic mean otherwise (DDPG);
* ``y = R_n + gamma_n min_i Qbar_i(h', a')``;
  ``L_Q = sum_i MSE(Q_i(h, a), y)`` steps the critic and the encoder;
* ``L_pi = -mean(min_i Q_i(h.detach(), a~pi))`` steps the actor only (``a`` sampled with clip
  ``c`` when ``noisy_updates``, else ``mu``);
* ``theta_bar <- tau theta + (1 - tau) theta_bar`` for the critic (and the target actor), all
  pairs in one ``torch._foreach_lerp_``.

``actor_loss: td3`` swaps the actor loss for TD3's ``L_pi = -mean(Q_1(h, mu(h)))`` (first head,
deterministic mean). Speed (issue 19): fused Adam steps by their kernels
(``agents/fused_adam.py``, bit-identical to ``torch.optim.Adam.step``), no host sync per update,
plasticity metrics at a few reductions per map; ``precision: bf16`` runs the forward passes
under bfloat16 autocast (``agents/precision.py``; fp32 weights and Adam state) and
``compile: true`` compiles ``critic_loss`` and ``actor_loss`` with ``torch.compile``.

Logged per update: ``loss/critic``, ``loss/actor``, ``q``, ``target_q``, ``batch_reward`` (mean
n-step return ``R_n``), ``actor_std`` (the scheduled ``sigma``), ``rr`` (the current replay
ratio) and ``fau/critic``: the fraction of positive units over the critic's hidden ReLU layers
(4 with two heads) in its own training pass (augmented obs, buffer actions), pooled over batch x
units x layers (Ma et al. 2024). With ``plasticity_metrics`` (default) also ``fau/encoder`` (its
4 conv ReLU maps, pixels), ``fau/actor`` (the MLP actor's 2 hidden layers, in the actor loss's
pass) and ReDo's tau-dormant ratios ``dormant0/...`` and ``dormant0.025/...`` of critic and
actor (``agents/plasticity.py``). Metrics stay on the device (no host sync per update) until
the loop drains them (``pending_metrics``) at log, evaluation and checkpoint time.

Plasticity interventions (optional): ``reset`` re-initialises the named modules (default actor
and critic; the target critic is set to the fresh critic, a target actor to the fresh actor)
with their Adam state, ``count`` times evenly inside the run; ``redo`` re-initialises the
tau-dormant hidden units of actor and critic every ``every`` updates, read from that update's
training passes (the targets are left to follow by Polyak averaging). Each is a row of the run
folder's ``interventions.csv``; the adaptive replay ratio writes ``rr_checks.csv`` and
``fau_episodes.csv`` and its switch goes into ``summary.json``.

n-step return ``R_n``), ``actor_std`` (the scheduled ``sigma``) and ``fau/critic``: the fraction
of positive units over the critic's hidden ReLU layers (4 with two heads) in its own training
pass (augmented obs, buffer actions), pooled over batch x units x layers (Ma et al. 2024).

Predictive auxiliary losses (``agent.aux``, ``agents/auxiliary``) act on the latent
``z = g(f(aug(o)))``, ``g`` = the critic's trunk (``aux.latent: trunk``, so they shape exactly the
features the critic reads) or a projection of their own (``projection``). Routing ``critic``
(default): ``L_Q + sum_i lambda_i L_i`` is minimised by the one encoder/critic Adam step (the
trunk runs once for both); ``separate``: after the critic step, the auxiliary losses take an Adam
step of their own over encoder, ``g`` and heads. The actor reads detached features either way;
EMA targets move after every update. Representation metrics (``agent.representation``,
``agents/representation.py``) are logged as ``repr/*`` every ``every`` agent steps on the run's
probe set. ``agent.encoder_init`` starts the encoder (and ``g``) from another run
(``agents/encoder_init.py``).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.augment import RandomShift
from agents.auxiliary import AuxObjectives
from agents.base import DivergenceError, Transition
from agents.encoder_init import RECORD_FILE, load_encoder
from agents.fused_adam import adam_step
from agents.normalizer import RunningNormalizer
from agents.offpolicy_nets import (Actor, Critic, Encoder, orthogonal_init, sample_action,
                                   trunk)
from agents.plasticity import DeviceMetrics, InterventionSchedule, module_metrics, redo_, reset_
from agents.policies import build_ncap_actor
from agents.precision import autocast, check_precision
from agents.replay import FrameReplay, VectorReplay
from agents.representation import RepresentationLog
from agents.schedules import make_rr_schedule, parse_std_schedule
from configs.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONV_CHANNELS = 32
DEFAULT_AUGMENT_PAD = 4
DORMANT_TAUS = (0.0, 0.025)   # ReDo's tau-dormant ratios logged (tau = 0: silent units)


def is_pixel_space(space) -> bool:
    """uint8 observations ``(3 m, H, H)`` (``envs.pixels.PixelEnv``)."""
    shape = tuple(space.shape)
    return (space.dtype == np.uint8 and len(shape) == 3 and shape[0] % 3 == 0
            and shape[1] == shape[2])


def check_observation_options(cfg, pixels: bool) -> None:
    """Pixel-only options on state observations, and the reverse, are one-line errors.

    ``trainer.api.build`` calls this from the config alone (``pixels = env.pixels is set``)
    before any env is made; the agent calls it again from its observation space."""
    if not pixels:
        for key in ("conv_channels", "augment_pad"):
            if getattr(cfg, key) is not None:
                raise ConfigError(f"config error: agent.{key}: applies to pixel observations "
                                  "only (env.pixels is null)")
    elif cfg.normalize_observations:
        raise ConfigError("config error: agent.normalize_observations: applies to state "
                          "observations only (pixels are scaled by the encoder)")
    if pixels and cfg.actor.type == "ncap":
        raise ConfigError("config error: agent.actor.type: the NCAP circuit reads joint "
                          "angles and its clock from state observations; set env.pixels=null")


def check_interventions(cfg, pixels: bool) -> None:
    """Reset/ReDo of a module this agent does not have is a one-line error (checked from the
    config before any env is made, and again by the agent)."""
    lacks = {}
    if not pixels:
        lacks["encoder"] = "state observations have no encoder (env.pixels is null)"
    if cfg.actor.type != "mlp":
        lacks["actor"] = (f"the {cfg.actor.type} actor has no MLP layers to re-initialise "
                          "(Reset and ReDo treat the MLP actor)")
    for key in ("reset", "redo"):
        section = getattr(cfg, key)
        for module in section.modules if section is not None else []:
            if module in lacks:
                raise ConfigError(f"config error: agent.{key}.modules: {module}: {lacks[module]}")
    if cfg.redo is not None and "encoder" in cfg.redo.modules and cfg.feature_dim is None:
        raise ConfigError("config error: agent.redo.modules: encoder: ReDo of the conv layers "
                          "needs the trunks that read them (set agent.feature_dim)")


class OffPolicyAgent:
    """The off-policy actor-critic behind the loop's agent interface (module docstring).

    Args:
        cfg: ``configs.schema.OffPolicyConfig`` (or ``DrQV2Config``).
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
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0, acting_only: bool = False,
                 total_steps: int = 0):
        if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
            raise ConfigError(f"config error: agent.name: {cfg.name} needs actions in [-1, 1] "
                              f"(got [{action_space.low}, {action_space.high}])")
        self.pixels = is_pixel_space(observation_space)
        if not self.pixels and len(observation_space.shape) != 1:
            raise ConfigError(f"config error: agent.name: {cfg.name} needs flat state vectors or "
                              f"uint8 pixels (3 m, H, H) (got {observation_space.dtype} "
                              f"{tuple(observation_space.shape)})")
        check_observation_options(cfg, self.pixels)
        check_interventions(cfg, self.pixels)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.cfg = cfg
        self.device = torch.device(device)
        self.action_dim = int(np.prod(action_space.shape))
        frames_per_step = int(getattr(env, "frames_per_step", 1))
        self.frames_per_step = frames_per_step
        self.seed_steps = math.ceil(cfg.seed_frames / frames_per_step)
        self.std = parse_std_schedule(cfg.std_schedule)

        shape = tuple(observation_space.shape)
        if self.pixels:
            self.encoder: nn.Module = Encoder(shape[0], shape[1],
                                              cfg.conv_channels or DEFAULT_CONV_CHANNELS)
            repr_dim = self.encoder.repr_dim
        else:
            repr_dim = int(np.prod(shape))
            self.encoder = (RunningNormalizer(repr_dim, cfg.obs_clip, cfg.obs_std_floor)
                            if cfg.normalize_observations else nn.Identity())
        self.encoder.to(self.device)
        if cfg.actor.type == "ncap":
            self.actor: nn.Module = build_ncap_actor(cfg.actor, env)
        else:
            self.actor = Actor(repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim)
        self.actor.to(self.device)
        dims = (repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim, cfg.double_q)
        self.critic = Critic(*dims).to(self.device)
        self.projection: nn.Module | None = None
        self.encoder_source: dict[str, Any] | None = None
        if not acting_only:
            self._build_latent(cfg, shape, repr_dim)
        self.critic_target = Critic(*dims).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.actor_target: nn.Module | None = None
        if cfg.target_actor:
            self.actor_target = build_ncap_actor(cfg.actor, env) if cfg.actor.type == "ncap" \
                else Actor(repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim)
            self.actor_target.to(self.device).load_state_dict(self.actor.state_dict())
            self.actor_target.requires_grad_(False)
        pad = DEFAULT_AUGMENT_PAD if cfg.augment_pad is None else cfg.augment_pad
        self.aug = RandomShift(pad) if self.pixels else None
        self.rr_schedule = make_rr_schedule(cfg.rr_schedule, frames_per_step)
        self.interventions = InterventionSchedule(cfg.reset, cfg.redo, total_steps,
                                                  frames_per_step)
        self.metrics = DeviceMetrics()
        # this update's hidden maps (critic pass, actor-loss pass), for ReDo; cleared after it
        self._critic_maps: list[torch.Tensor] | None = None
        self._actor_maps: list[torch.Tensor] | None = None
        self.step = 0        # agent steps observed
        self.updates = 0
        self.replay: FrameReplay | None = None
        self.aux: AuxObjectives | None = None
        self.representation = RepresentationLog(cfg.representation)
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
        # Polyak pairs (target, online) for one foreach lerp; the lists hold the parameters
        # themselves, which Reset, ReDo and loading change in place
        pairs = list(zip(self.critic_target.parameters(), self.critic.parameters()))
        if self.actor_target is not None:
            pairs += zip(self.actor_target.parameters(), self.actor.parameters())
        self._polyak = ([t for t, _ in pairs], [p for _, p in pairs])
        self._critic_loss_fn, self._actor_loss_fn = self.critic_loss, self.actor_loss
        if cfg.compile:
            import torch._inductor.config as inductor_config
            # inductor's own random numbers would differ from eager's: keep torch's generator
            inductor_config.fallback_random = True
            self._critic_loss_fn = torch.compile(self.critic_loss)
            self._actor_loss_fn = torch.compile(self.actor_loss)
        if self.pixels:
            self.replay = FrameReplay(cfg.replay_capacity, (3, shape[1], shape[2]), shape[0] // 3,
                                      self.action_dim, cfg.n_step, cfg.gamma, seed)
            log.info(
                f"replay: {cfg.replay_capacity:,} slots x {self.replay.bytes_per_slot:,} B = "
                f"{self.replay.projected_bytes / 2**30:.2f} GiB when full (each frame stored "
                f"once; DrQ-v2's stacked observations would take {shape[0] // 3}x)")
        else:
            self.replay = VectorReplay(cfg.replay_capacity, repr_dim, self.action_dim,
                                       cfg.n_step, cfg.gamma, seed)
            log.info(f"replay: {cfg.replay_capacity:,} state transitions x "
                     f"{self.replay.bytes_per_transition:,.0f} B = "
                     f"{self.replay.projected_bytes / 2**20:,.1f} MiB when full")
        if cfg.aux.losses:
            self._build_aux(cfg)

    # --- latent, auxiliary losses, transfer ------------------------------------------------
    def _build_latent(self, cfg, shape: tuple[int, ...], repr_dim: int) -> None:
        """``g`` (the critic trunk or a projection of its own) and a transferred encoder."""
        if (cfg.aux.losses or cfg.aux.latent == "projection") and cfg.feature_dim is None:
            raise ConfigError("config error: agent.feature_dim: the auxiliary latent "
                              "z = g(f(o)) needs a size (null = no trunk)")
        if cfg.aux.latent == "projection":
            self.projection = trunk(repr_dim, cfg.feature_dim).to(self.device)
        if cfg.encoder_init is not None:
            if not self.pixels:
                raise ConfigError("config error: agent.encoder_init: needs pixel observations "
                                  "(a state run has no encoder to transfer)")
            self.encoder_source = load_encoder(cfg.encoder_init, shape, self.encoder,
                                               self.latent_map)

    def _build_aux(self, cfg) -> None:
        trainable = any(p.requires_grad for p in self.encoder.parameters())
        self.aux = AuxObjectives(cfg.aux, self.encoder, self.latent_map,
                                 self.aug if self.aug is not None else nn.Identity(),
                                 cfg.feature_dim, self.action_dim, cfg.lr,
                                 own_latent=self.projection is not None,
                                 encoder_trainable=trainable)
        room = self.replay.capacity - self.replay.frame_stack
        for i, loss in enumerate(self.aux.losses):
            if loss.window > room:
                raise ConfigError(f"config error: agent.aux.losses.{i}: a {loss.window}-step "
                                  f"window is more than the replay can serve (replay_capacity "
                                  f"{self.replay.capacity} - frame stack "
                                  f"{self.replay.frame_stack} = {room})")
        losses = ", ".join(f"{m.label} (weight {w:g})"
                           for m, w in zip(self.aux.losses, self.aux.weights))
        routing = ("separate: an Adam step of their own over encoder, g and heads"
                   if self.aux.separate else "critic: added to L_Q before the encoder/critic step")
        g = "its own projection" if self.projection is not None else "the critic trunk"
        log.info(f"auxiliary losses: {losses}; routing {routing}; g = {g}")

    @property
    def latent_map(self) -> nn.Module:
        """``g``: the auxiliary losses' own projection, else the critic's trunk."""
        return self.projection if self.projection is not None else self.critic.trunk

    def attach_run(self, run_dir, make_env) -> None:
        """Run-folder hook (``agents/base.py``): the probe set's home; the encoder's origin."""
        self.representation.attach(run_dir, make_env)
        record = Path(run_dir) / RECORD_FILE
        if self.encoder_source is not None and not record.exists():
            record.write_text(json.dumps(self.encoder_source, indent=2) + "\n")

    @torch.no_grad()
    def latents(self, obs: np.ndarray, chunk: int = 256) -> np.ndarray:
        """``z = g(f(o))`` (no augmentation) of observations ``(N, ...)``: ``(N, d)``."""
        out = [self.latent_map(self.encoder(self._tensor(obs[i:i + chunk]))).cpu().numpy()
               for i in range(0, len(obs), chunk)]
        return np.concatenate(out)

    # --- acting ---------------------------------------------------------------------------
    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device).float()

    def _policy(self, actor: nn.Module, obs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``mu``: an MLP actor reads the encoding ``h``, a circuit the raw observation."""
        return actor(h) if actor.uses_encoder else actor(obs)

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """``mu`` (evaluation), uniform (first ``explore_steps``), else ``mu + sigma(step) eps``."""
        if explore and self.step < self.cfg.explore_steps:
            return torch.empty(self.action_dim).uniform_(-1.0, 1.0).numpy()
        x = self._tensor(obs).unsqueeze(0)
        mu = self._policy(self.actor, x, self.encoder(x) if self.actor.uses_encoder else x)[0]
        action = sample_action(mu, self.std(self.step), clip=None) if explore else mu
        flag = self.metrics.nonfinite
        if not (explore and isinstance(flag, torch.Tensor)):
            return action.cpu().numpy()
        # the loss check rides on the action's transfer: no extra host sync
        out = torch.cat([action, flag.to(action.dtype).reshape(1)]).cpu().numpy()
        if out[-1]:
            raise DivergenceError(f"a loss became NaN or Inf in an update before agent step "
                                  f"{self.step}; stopped without saving this state")
        return out[:-1]

    def observe(self, transition: Transition) -> None:
        self.replay.add(transition)
        if isinstance(self.encoder, RunningNormalizer):
            self.encoder.update(torch.as_tensor(transition.next_obs, device=self.device))
        self.step += 1

    def updates_due(self, step: int) -> int:
        """0 before ``seed_frames`` (and until a resumed run without replay has refilled the
        same number of transitions); then what the replay-ratio schedule says."""
        ready = step >= self.seed_steps and len(self.replay) >= min(
            self.seed_steps, self.replay.capacity // 2)
        return self.rr_schedule.updates_due(step) if ready else 0

    def on_episode_end(self, info: dict[str, Any]) -> None:
        self.rr_schedule.on_episode_end(info)

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

    def update_critic(self, h: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
                      discount: torch.Tensor, next_h: torch.Tensor, std: float,
                      next_obs: torch.Tensor | None = None, features: torch.Tensor | None = None,
                      aux_loss: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Minimise ``L_Q`` (``critic_loss``); steps critic and encoder. ``next_obs`` is the raw
        next observation a circuit actor reads. With ``aux.routing: critic`` the step minimises
        ``L_Q + aux_loss`` (the loss heads step too) and ``features`` are the trunk features
        ``trunk(h)`` the losses already used."""
        with autocast(self.cfg.precision, self.device):
            loss, q1, target_q, hidden = self._critic_loss_fn(h, action, reward, discount,
                                                              next_h, std, next_obs, features)
        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        if aux_loss is None:
            loss.backward()
        else:
            self.aux.zero_grad()
            (loss + aux_loss).backward()
            self.aux.step()
        adam_step(self.critic_opt)
        if self.encoder_opt is not None:
            adam_step(self.encoder_opt)
        self._critic_maps = hidden
        taus = DORMANT_TAUS if self.cfg.plasticity_metrics else ()
        return {"loss/critic": loss.detach(), "q": q1.detach().mean(),
                "target_q": target_q.mean(), **module_metrics("critic", hidden, taus)}

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
            loss, self._actor_maps = self._actor_loss_fn(h, std, obs)
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=self._actor_params)
        adam_step(self.actor_opt)
        metrics = {"loss/actor": loss.detach()}
        if self.cfg.plasticity_metrics and self._actor_maps is not None:
            metrics.update(module_metrics("actor", self._actor_maps, DORMANT_TAUS))
        return metrics

    def update(self) -> dict[str, float]:
        """One update on a fresh replay batch (module docstring), preceded by a Reset when one
        is due and followed by ReDo when due. Returns ``{}``: the metrics stay on the device
        until ``pending_metrics``."""
        if self.interventions.reset_due(self.step):
            self._reset()
        aux = self.aux
        sample = (self.replay.sample(self.cfg.batch_size) if aux is None else
                  self.replay.sample(self.cfg.batch_size, aux.window, aux.obs_offsets))
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in sample.items()}
        raw_obs = obs = batch["obs"].float()
        next_obs = batch["next_obs"].float()
        if self.aug is not None:
            obs, next_obs = self.aug(obs), self.aug(next_obs)
        std = self.std(self.step)
        # a compiled loss takes sigma as a tensor: a float would recompile at every new value
        std_arg = torch.tensor(std, device=self.device) if self.cfg.compile else std
        encoder_metrics = self.cfg.plasticity_metrics and isinstance(self.encoder, Encoder)
        features, aux_loss, aux_metrics = None, None, {}
        with autocast(self.cfg.precision, self.device):
            if encoder_metrics:
                h, encoder_maps = self.encoder.forward_maps(obs)
            else:
                h = self.encoder(obs)
            with torch.no_grad():
                next_h = self.encoder(next_obs)
            if aux is not None and not aux.separate:
                z = self.latent_map(h)
                aux_loss, aux_metrics = aux.loss(h, batch, self.step, z)
                features = z if self.projection is None else None
        metrics = module_metrics("encoder", encoder_maps) if encoder_metrics else {}
        metrics |= self.update_critic(h, batch["action"], batch["reward"], batch["discount"],
                                      next_h, std_arg, next_obs, features, aux_loss)
        metrics.update(self.update_actor(h.detach(), std_arg, obs))
        if aux is not None and aux.separate:
            aux_metrics = aux.separate_update(raw_obs, batch, self.step)
        metrics.update(aux_metrics)
        with torch.no_grad():
            # theta_bar <- theta_bar + tau (theta - theta_bar), all pairs in one foreach call
            torch._foreach_lerp_(*self._polyak, self.cfg.critic_tau)
            if aux is not None:
                aux.ema_update()
        metrics["batch_reward"] = batch["reward"].mean()
        self.updates += 1
        self.rr_schedule.observe(metrics)
        metrics.update(actor_std=std, rr=self.rr_schedule.rr)
        if self.interventions.redo_due(self.updates, self.step):
            metrics.update(self._redo())
        if self.representation.due(self.step):
            metrics.update(self.representation.measure(self.latents, self.step))
        self._critic_maps = self._actor_maps = None
        self.metrics.add(metrics)
        return {}

    # --- plasticity: metrics out, interventions -------------------------------------------
    def _reset(self) -> None:
        """Reset (module docstring): fresh weights and Adam state for ``reset.modules``."""
        parts = {"encoder": (self.encoder, self.encoder_opt), "actor": (self.actor, self.actor_opt),
                 "critic": (self.critic, self.critic_opt)}
        for name in self.cfg.reset.modules:
            module, opt = parts[name]
            touched = reset_([module], [opt], orthogonal_init)
            self.interventions.record("reset", self.step, self.updates, name,
                                      parameters=touched)
        if "critic" in self.cfg.reset.modules:
            self.critic_target.load_state_dict(self.critic.state_dict())
        if "actor" in self.cfg.reset.modules and self.actor_target is not None:
            self.actor_target.load_state_dict(self.actor.state_dict())
        self.interventions.resets_done += 1

    def _redo(self) -> dict[str, float]:
        """ReDo on this update's hidden maps (module docstring); units touched per module.
        The encoder's conv maps are measured on a fresh augmented replay batch."""
        parts = {"critic": (self.critic, [self.critic_opt], self._critic_maps),
                 "actor": (self.actor, [self.actor_opt], self._actor_maps)}
        out = {}
        for name in self.cfg.redo.modules:
            if name == "encoder":
                readers = [self.critic.trunk[0]]
                if getattr(self.actor, "uses_encoder", False):
                    readers.append(self.actor.trunk[0])
                pairs = self.encoder.redo_pairs(readers)
                opts = [self.encoder_opt, self.critic_opt, self.actor_opt]
                with torch.no_grad():
                    obs = torch.as_tensor(self.replay.sample(self.cfg.batch_size)["obs"],
                                          device=self.device).float()
                    _, maps = self.encoder.forward_maps(self.aug(obs))
            else:
                module, opts, maps = parts[name]
                pairs = module.redo_pairs()
            units = redo_(pairs, maps, self.cfg.redo.tau, opts, orthogonal_init)
            self.interventions.record("redo", self.step, self.updates, name, units=sum(units),
                                      layers=len(units), tau=self.cfg.redo.tau)
            out[f"redo/{name}_units"] = float(sum(units))
        return out

    def pending_metrics(self) -> dict[str, list[float]]:
        """Every update's metrics since the last call, read from the device in one transfer."""
        return self.metrics.read()

    def records(self) -> dict[str, list[dict]]:
        """``interventions`` rows and, for the adaptive RR, ``rr_checks`` / ``fau_episodes``."""
        tables = {"interventions": self.interventions.pop_rows()}
        pop = getattr(self.rr_schedule, "pop_records", None)
        if pop is not None:
            tables.update(pop())
        return {name: rows for name, rows in tables.items() if rows}

    def summary(self) -> dict[str, Any]:
        """The adaptive RR's switch and the number of Resets, for ``summary.json``."""
        out = getattr(self.rr_schedule, "summary", dict)()
        if self.cfg.reset is not None:
            out["resets"] = self.interventions.resets_done
        return out

    # --- persistence ----------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        modules = {"encoder": self.encoder, "actor": self.actor, "critic": self.critic,
                   "critic_target": self.critic_target, "encoder_opt": self.encoder_opt,
                   "actor_opt": self.actor_opt, "critic_opt": self.critic_opt,
                   "actor_target": self.actor_target, "projection": self.projection}
        return {k: m for k, m in modules.items() if m is not None}

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Weights, optimisers, schedule, counters and (unless excluded) the replay buffer.

        Without the replay (``trainer.save_replay: false``, for huge buffers) a resumed run
        starts from an empty buffer and makes no update until it holds
        ``seed_frames / action_repeat`` transitions again; the first observation stored after
        the resume repeats its newest frame in place of the two older ones.
        """
        state = {k: m.state_dict() for k, m in self._modules().items()}
        state.update(step=self.step, updates=self.updates,
                     rr_schedule=self.rr_schedule.state_dict(),
                     aux=self.aux.full_state() if self.aux is not None else None,
                     representation=self.representation.state_dict(),
                     interventions=self.interventions.state_dict(),
                     replay=self.replay.state_dict() if include_replay else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        self.step, self.updates = state["step"], state["updates"]
        self.rr_schedule.load_state_dict(state["rr_schedule"])
        if self.aux is not None:
            self.aux.load_full_state(state["aux"])
        # checkpoints written before representation metrics and interventions existed lack
        # their (then empty) state: those parts start fresh, as they would have run
        if "representation" in state:
            self.representation.load_state_dict(state["representation"])
        if "interventions" in state:
            self.interventions.load_state_dict(state["interventions"])
        if state["replay"] is not None:
            self.replay.load_state_dict(state["replay"])

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load only what acting needs (encoder and actor) from a full ``state_dict``, possibly
        trained on another body (a shared circuit; see ``body_independent``). A circuit reads
        the raw observation, so another body's normaliser statistics are not loaded."""
        if self.actor.uses_encoder:
            self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])

    @property
    def body_independent(self) -> bool:
        """True for a weight-shared circuit actor; an MLP's sizes are the body's."""
        return bool(self.actor.body_independent)

    def trainable_parameters(self) -> dict[str, int]:
        """Parameters that take gradients (a frozen transferred encoder counts 0)."""
        parts = [("encoder", self.encoder), ("actor", self.actor), ("critic", self.critic)]
        if self.projection is not None:
            parts.append(("projection", self.projection))
        if self.aux is not None:
            parts.append(("aux_heads", self.aux.losses))
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for name, m in parts}
