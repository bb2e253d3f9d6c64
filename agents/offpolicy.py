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
* ``theta_bar <- tau theta + (1 - tau) theta_bar`` for the critic (and the target actor).

Logged per update: ``loss/critic``, ``loss/actor``, ``q``, ``target_q``, ``batch_reward`` (mean
n-step return ``R_n``), ``actor_std`` (the scheduled ``sigma``) and ``fau/critic``: the fraction
of positive units over the critic's hidden ReLU layers (4 with two heads) in its own training
pass (augmented obs, buffer actions), pooled over batch x units x layers (Ma et al. 2024).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.augment import RandomShift
from agents.base import Transition
from agents.normalizer import RunningNormalizer
from agents.offpolicy_nets import Actor, Critic, Encoder, fraction_active, sample_action
from agents.policies import build_ncap_actor
from agents.replay import FrameReplay, VectorReplay
from agents.schedules import make_rr_schedule, parse_std_schedule
from configs.loader import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONV_CHANNELS = 32
DEFAULT_AUGMENT_PAD = 4


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
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0, acting_only: bool = False):
        if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
            raise ConfigError(f"config error: agent.name: {cfg.name} needs actions in [-1, 1] "
                              f"(got [{action_space.low}, {action_space.high}])")
        self.pixels = is_pixel_space(observation_space)
        if not self.pixels and len(observation_space.shape) != 1:
            raise ConfigError(f"config error: agent.name: {cfg.name} needs flat state vectors or "
                              f"uint8 pixels (3 m, H, H) (got {observation_space.dtype} "
                              f"{tuple(observation_space.shape)})")
        check_observation_options(cfg, self.pixels)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.cfg = cfg
        self.device = torch.device(device)
        self.action_dim = int(np.prod(action_space.shape))
        frames_per_step = int(getattr(env, "frames_per_step", 1))
        self.seed_steps = math.ceil(cfg.seed_frames / frames_per_step)
        self.std = parse_std_schedule(cfg.std_schedule)

        shape = tuple(observation_space.shape)
        if self.pixels:
            self.encoder: nn.Module = Encoder(shape[0], shape[1],
                                              cfg.conv_channels or DEFAULT_CONV_CHANNELS)
            repr_dim = self.encoder.repr_dim
        else:
            repr_dim = int(np.prod(shape))
            self.encoder = RunningNormalizer(repr_dim) if cfg.normalize_observations \
                else nn.Identity()
        self.encoder.to(self.device)
        if cfg.actor.type == "ncap":
            self.actor: nn.Module = build_ncap_actor(cfg.actor, env)
        else:
            self.actor = Actor(repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim)
        self.actor.to(self.device)
        dims = (repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim, cfg.double_q)
        self.critic = Critic(*dims).to(self.device)
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
        self.rr_schedule = make_rr_schedule(cfg.rr_schedule)
        self.step = 0        # agent steps observed
        self.updates = 0
        self.replay: FrameReplay | None = None
        if acting_only:
            return
        # fused Adam: the same update rule in one kernel per step (~3x faster on CPU); a state
        # encoder has no weights (a normaliser's statistics are buffers) and no optimiser
        encoder_params = list(self.encoder.parameters())
        self.encoder_opt = torch.optim.Adam(encoder_params, lr=cfg.lr, fused=True) \
            if encoder_params else None
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
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
        return action.cpu().numpy()

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

    def update_critic(self, h: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
                      discount: torch.Tensor, next_h: torch.Tensor, std: float,
                      next_obs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``L_Q = sum_i MSE(Q_i(h, a), R_n + gamma_n min_i Qbar_i(h', a'))``; steps critic and
        encoder. ``next_obs`` is the raw next observation a circuit actor reads."""
        actor = self.actor_target or self.actor
        with torch.no_grad():
            next_action = self._sample(self._policy(actor, next_obs, next_h), std)
            tq1, tq2, _ = self.critic_target(next_h, next_action)
            target_q = reward + discount * torch.min(tq1, tq2)
        q1, q2, hidden = self.critic(h, action)
        loss = F.mse_loss(q1, target_q)
        if self.critic.q2 is not None:
            loss = loss + F.mse_loss(q2, target_q)
        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        if self.encoder_opt is not None:
            self.encoder_opt.step()
        return {"loss/critic": loss.detach(), "q": q1.detach().mean(),
                "target_q": target_q.mean(), "fau/critic": fraction_active(hidden)}

    def update_actor(self, h: torch.Tensor, std: float,
                     obs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``L_pi = -mean(min_i Q_i(h, a))``, ``a ~ pi`` clipped (or ``mu``); ``h`` is detached;
        ``obs`` is the raw observation a circuit actor reads.

        Gradients are computed for the actor's parameters only (the critic's weight gradients
        of this pass would be discarded anyway)."""
        action = self._sample(self._policy(self.actor, obs, h), std)
        q1, q2, _ = self.critic(h, action)
        loss = -torch.min(q1, q2).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()
        return {"loss/actor": loss.detach()}

    def update(self) -> dict[str, float]:
        """One update on a fresh replay batch (module docstring); metrics as floats, read back
        from the device in one transfer."""
        batch = {k: torch.as_tensor(v, device=self.device)
                 for k, v in self.replay.sample(self.cfg.batch_size).items()}
        obs, next_obs = batch["obs"].float(), batch["next_obs"].float()
        if self.aug is not None:
            obs, next_obs = self.aug(obs), self.aug(next_obs)
        std = self.std(self.step)
        h = self.encoder(obs)
        with torch.no_grad():
            next_h = self.encoder(next_obs)
        metrics = self.update_critic(h, batch["action"], batch["reward"], batch["discount"],
                                     next_h, std, next_obs)
        metrics.update(self.update_actor(h.detach(), std, obs))
        with torch.no_grad():
            for p, p_target in zip(self.critic.parameters(), self.critic_target.parameters()):
                p_target.lerp_(p, self.cfg.critic_tau)
            if self.actor_target is not None:
                for p, p_target in zip(self.actor.parameters(), self.actor_target.parameters()):
                    p_target.lerp_(p, self.cfg.critic_tau)
        metrics["batch_reward"] = batch["reward"].mean()
        self.updates += 1
        names = list(metrics)
        values = dict(zip(names, torch.stack([metrics[k].float() for k in names]).tolist()))
        values["actor_std"] = std
        self.rr_schedule.observe(values)
        return values

    # --- persistence ----------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        modules = {"encoder": self.encoder, "actor": self.actor, "critic": self.critic,
                   "critic_target": self.critic_target, "encoder_opt": self.encoder_opt,
                   "actor_opt": self.actor_opt, "critic_opt": self.critic_opt,
                   "actor_target": self.actor_target}
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
                     replay=self.replay.state_dict() if include_replay else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        self.step, self.updates = state["step"], state["updates"]
        self.rr_schedule.load_state_dict(state["rr_schedule"])
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
        return {name: sum(p.numel() for p in m.parameters())
                for name, m in (("encoder", self.encoder), ("actor", self.actor),
                                ("critic", self.critic))}
