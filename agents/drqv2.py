"""DrQ-v2 (Yarats et al. 2021): DDPG from pixels with random shifts, n-step double-Q targets.

Networks (obs ``(3 m, H, H)`` uint8, normalised ``obs / 255 - 0.5``):

* ``Encoder``: conv 3x3 stride 2, then 3 x conv 3x3 stride 1 (``C`` channels, ReLU, no padding;
  84 -> 41 -> 39 -> 37 -> 35, flat size ``32 * 35 * 35 = 39200``). Trained by the critic only.
* ``Actor``: trunk Linear -> LayerNorm -> tanh (``feature_dim``), MLP ReLU (``hidden_dim`` x 2),
  ``mu = tanh(.)``; policy ``a = clamp(mu + clip(sigma eps, +-c), -1, 1)`` with a scheduled
  (not learned) ``sigma`` and a straight-through clamp; ``c = std_clip`` in updates only.
* ``Critic``: its own trunk, then two heads ``Q_i(h, a)``: MLP ReLU (``hidden_dim`` x 2) -> 1.
* Orthogonal weights, zero biases; conv gain ``sqrt(2)``. Three Adam optimisers (lr 1e-4).

One update (``update_critic`` then ``update_actor``), on a replay batch with independent random
shifts of ``obs`` and ``next_obs``:

* ``h = f(aug(obs))`` with gradients, ``h' = f(aug(next_obs))`` without (no target encoder);
* ``y = R_n + gamma_n min(Qbar_1, Qbar_2)(h', a')``, ``a' ~ pi(h')`` with ``sigma(step)`` and
  clip ``c``; ``L_Q = MSE(Q_1(h, a), y) + MSE(Q_2(h, a), y)`` steps the critic and the encoder;
* ``L_pi = -mean(min(Q_1, Q_2)(h.detach(), a~pi(h.detach())))`` steps the actor only;
* ``theta_bar <- tau theta + (1 - tau) theta_bar`` (``tau = 0.01``) after every update.

Acting: uniform random actions for the first ``explore_steps`` agent steps, then ``a ~ pi``
(``sigma(step)``, no clip); evaluation uses ``mu``. No update before ``seed_frames`` frames
(``seed_frames / action_repeat`` agent steps); afterwards the replay-ratio schedule
(``agents/schedules.py``) says how many updates are due per agent step (default 0.5).

Logged per update: ``loss/critic``, ``loss/actor``, ``q``, ``target_q``, ``batch_reward``,
``actor_std`` and ``fau/critic``: the fraction of positive units over the critic's 4 hidden ReLU
layers (Q1 and Q2, layers 1-2) in the critic's own training pass (augmented obs, buffer
actions), pooled over batch x units x layers (Ma et al. 2024, sec. 8.2 of our notes).
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
from agents.base import Transition
from agents.encoder_init import RECORD_FILE, load_encoder
from agents.replay import FrameReplay
from agents.representation import RepresentationLog
from agents.schedules import make_rr_schedule, parse_std_schedule
from configs.loader import ConfigError

log = logging.getLogger(__name__)


def orthogonal_init(m: nn.Module) -> None:
    """Orthogonal weights and zero biases; conv layers with the ReLU gain ``sqrt(2)``."""
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        nn.init.orthogonal_(m.weight, nn.init.calculate_gain("relu"))
        nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """Four 3x3 conv layers (first stride 2), ReLU, flattened; input uint8-valued floats."""

    def __init__(self, in_channels: int, size: int, channels: int = 32):
        super().__init__()
        self.convnet = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU())
        side = (size - 3) // 2 + 1 - 6
        if side < 1:
            raise ValueError(f"image size {size} is too small for the DrQ-v2 encoder (min 15)")
        self.repr_dim = channels * side * side
        self.apply(orthogonal_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.convnet(obs / 255.0 - 0.5).flatten(1)


def trunk(repr_dim: int, feature_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


class Actor(nn.Module):
    """``mu(h) = tanh(MLP(trunk(h)))``; the std is given, not learned."""

    def __init__(self, repr_dim: int, action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim)
        self.policy = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, action_dim))
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.policy(self.trunk(h)))


def sample_action(mu: torch.Tensor, std: float, clip: float | None) -> torch.Tensor:
    """Truncated-normal sample ``clamp(mu + clip(std eps, +-clip), -1 + 1e-6, 1 - 1e-6)``.

    The clamp passes gradients straight through to ``mu`` (as DrQ-v2's ``TruncatedNormal``).
    """
    noise = torch.randn_like(mu) * std
    if clip is not None:
        noise = noise.clamp(-clip, clip)
    x = mu + noise
    return x - x.detach() + x.detach().clamp(-1.0 + 1e-6, 1.0 - 1e-6)


class QHead(nn.Module):
    """``Q(z, a)``: Linear -> ReLU -> Linear -> ReLU -> Linear(1); returns the hidden maps too."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.l1 = nn.Linear(in_dim, hidden_dim)
        self.l2 = nn.Linear(hidden_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h1 = F.relu(self.l1(x), inplace=True)
        h2 = F.relu(self.l2(h1), inplace=True)
        return self.out(h2), (h1, h2)


class Critic(nn.Module):
    """Double Q on its own trunk: ``Q_i(trunk(h), a)``, ``i = 1, 2``."""

    def __init__(self, repr_dim: int, action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim)
        self.q1 = QHead(feature_dim + action_dim, hidden_dim)
        self.q2 = QHead(feature_dim + action_dim, hidden_dim)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor, action: torch.Tensor):
        """``(Q1, Q2, hidden)`` with ``hidden`` the 4 post-ReLU maps (for FAU)."""
        x = torch.cat([self.trunk(h), action], dim=-1)
        q1, hidden1 = self.q1(x)
        q2, hidden2 = self.q2(x)
        return q1, q2, hidden1 + hidden2


def fraction_active(hidden: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """FAU: positive elements over all maps / total elements (pooled over batch, units, layers)."""
    active = sum((h > 0).sum() for h in hidden)
    return active / sum(h.numel() for h in hidden)


class DrQV2Agent:
    """DrQ-v2 behind the loop's agent interface (``agents/base.py``; module docstring).

    Args:
        cfg: ``configs.schema.DrQV2Config``.
        observation_space: uint8 ``Box`` of shape ``(3 m, H, H)``.
        action_space: ``Box`` with bounds ``[-1, 1]``.
        env: the training env; its ``frames_per_step`` converts ``seed_frames`` to agent steps.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        seed: seed of the replay's sampling generator (torch's RNG is the loop's).
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0):
        shape = tuple(observation_space.shape)
        if observation_space.dtype != np.uint8 or len(shape) != 3 or shape[0] % 3 \
                or shape[1] != shape[2]:
            raise ConfigError(f"config error: agent.name: drqv2 needs uint8 pixel observations "
                              f"(3 m, H, H): set env.pixels (got {observation_space.dtype} {shape})")
        if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
            raise ConfigError(f"config error: agent.name: drqv2 needs actions in [-1, 1] "
                              f"(got [{action_space.low}, {action_space.high}])")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.cfg = cfg
        self.device = torch.device(device)
        self.action_dim = int(np.prod(action_space.shape))
        frames_per_step = int(getattr(env, "frames_per_step", 1))
        self.seed_steps = math.ceil(cfg.seed_frames / frames_per_step)
        self.std = parse_std_schedule(cfg.std_schedule)

        self.encoder = Encoder(shape[0], shape[1], cfg.conv_channels).to(self.device)
        dims = (self.encoder.repr_dim, self.action_dim, cfg.feature_dim, cfg.hidden_dim)
        self.actor = Actor(*dims).to(self.device)
        self.critic = Critic(*dims).to(self.device)
        self.projection = (trunk(self.encoder.repr_dim, cfg.feature_dim).to(self.device)
                           if cfg.aux.latent == "projection" else None)
        self.encoder_source = (None if cfg.encoder_init is None else
                               load_encoder(cfg.encoder_init, shape, self.encoder, self.latent_map))
        self.critic_target = Critic(*dims).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        # fused Adam: the same update rule in one kernel per step (~3x faster on CPU)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.lr, fused=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
        self.aug = RandomShift(cfg.augment_pad)
        self.aux = None if not cfg.aux.losses else AuxObjectives(
            cfg.aux, self.encoder, self.latent_map, self.aug, cfg.feature_dim, self.action_dim,
            cfg.lr, own_latent=self.projection is not None,
            encoder_trainable=any(p.requires_grad for p in self.encoder.parameters()))
        room = cfg.replay_capacity - shape[0] // 3
        for i, loss in enumerate(self.aux.losses if self.aux is not None else ()):
            if loss.window > room:
                raise ConfigError(f"config error: agent.aux.losses.{i}: a {loss.window}-step "
                                  f"window is more than the replay can serve (replay_capacity "
                                  f"{cfg.replay_capacity} - frame stack {shape[0] // 3} = {room})")
        self.representation = RepresentationLog(cfg.representation)

        self.replay = FrameReplay(cfg.replay_capacity, (3, shape[1], shape[2]), shape[0] // 3,
                                  self.action_dim, cfg.n_step, cfg.gamma, seed)
        self.rr_schedule = make_rr_schedule(cfg.rr_schedule)
        self.step = 0        # agent steps observed
        self.updates = 0
        log.info(
            f"replay: {cfg.replay_capacity:,} slots x {self.replay.bytes_per_slot:,} B = "
            f"{self.replay.projected_bytes / 2**30:.2f} GiB when full (each frame stored once; "
            f"DrQ-v2's stacked observations would take {shape[0] // 3}x)")

    @property
    def latent_map(self) -> nn.Module:
        """``g``: the auxiliary losses' own projection, else the critic's trunk."""
        return self.projection if self.projection is not None else self.critic.trunk

    def attach_run(self, run_dir, make_env) -> None:
        """Run folder hook (``agents/base.py``): the probe set's home; the encoder's origin."""
        self.representation.attach(run_dir, make_env)
        record = Path(run_dir) / RECORD_FILE
        if self.encoder_source is not None and not record.exists():
            record.write_text(json.dumps(self.encoder_source, indent=2) + "\n")

    @torch.no_grad()
    def latents(self, obs: np.ndarray, chunk: int = 256) -> np.ndarray:
        """``z = g(f(o))`` (no augmentation) of observations ``(N, 3 m, H, H)``: ``(N, d)``."""
        out = [self.latent_map(self.encoder(self._tensor(obs[i:i + chunk]))).cpu().numpy()
               for i in range(0, len(obs), chunk)]
        return np.concatenate(out)

    # --- acting ---------------------------------------------------------------------------
    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device).float()

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """``mu`` (evaluation), uniform (first ``explore_steps``), else ``mu + sigma(step) eps``."""
        if explore and self.step < self.cfg.explore_steps:
            return torch.empty(self.action_dim).uniform_(-1.0, 1.0).numpy()
        mu = self.actor(self.encoder(self._tensor(obs).unsqueeze(0)))[0]
        action = sample_action(mu, self.std(self.step), clip=None) if explore else mu
        return action.cpu().numpy()

    def observe(self, transition: Transition) -> None:
        self.replay.add(transition)
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
    def update_critic(self, h: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
                      discount: torch.Tensor, next_h: torch.Tensor, std: float,
                      aux_loss: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``L_Q = sum_i MSE(Q_i(h, a), R_n + gamma_n min_i Qbar_i(h', a'))``; steps critic and
        encoder on ``L_Q + aux_loss`` (``aux.routing: critic``; the heads step too)."""
        with torch.no_grad():
            next_action = sample_action(self.actor(next_h), std, self.cfg.std_clip)
            tq1, tq2, _ = self.critic_target(next_h, next_action)
            target_q = reward + discount * torch.min(tq1, tq2)
        q1, q2, hidden = self.critic(h, action)
        loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        if aux_loss is None:
            loss.backward()
        else:
            self.aux.zero_grad()
            (loss + aux_loss).backward()
            self.aux.step()
        self.critic_opt.step()
        self.encoder_opt.step()
        return {"loss/critic": loss.detach(), "q": q1.detach().mean(),
                "target_q": target_q.mean(), "fau/critic": fraction_active(hidden)}

    def update_actor(self, h: torch.Tensor, std: float) -> dict[str, torch.Tensor]:
        """``L_pi = -mean(min_i Q_i(h, a))``, ``a ~ pi(h)`` clipped; ``h`` is detached.

        Gradients are computed for the actor's parameters only (the critic's weight gradients
        of this pass would be discarded anyway)."""
        action = sample_action(self.actor(h), std, self.cfg.std_clip)
        q1, q2, _ = self.critic(h, action)
        loss = -torch.min(q1, q2).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()
        return {"loss/actor": loss.detach()}

    def update(self) -> dict[str, float]:
        """One DrQ-v2 update on a fresh replay batch (module docstring); metrics as floats,
        read back from the device in one transfer. ``batch_reward`` is the mean n-step return
        ``R_n`` of the batch, ``actor_std`` the scheduled ``sigma``."""
        aux = self.aux
        sample = (self.replay.sample(self.cfg.batch_size) if aux is None else
                  self.replay.sample(self.cfg.batch_size, aux.window, aux.obs_offsets))
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in sample.items()}
        raw_obs = batch["obs"].float()
        obs, next_obs = self.aug(raw_obs), self.aug(batch["next_obs"].float())
        std = self.std(self.step)
        h = self.encoder(obs)
        with torch.no_grad():
            next_h = self.encoder(next_obs)
        aux_loss, aux_metrics = None, {}
        if aux is not None and not aux.separate:
            aux_loss, aux_metrics = aux.loss(h, batch, self.step)
        metrics = self.update_critic(h, batch["action"], batch["reward"], batch["discount"],
                                     next_h, std, aux_loss)
        metrics.update(self.update_actor(h.detach(), std))
        if aux is not None and aux.separate:
            aux_metrics = aux.separate_update(raw_obs, batch, self.step)
        metrics.update(aux_metrics)
        with torch.no_grad():
            for p, p_target in zip(self.critic.parameters(), self.critic_target.parameters()):
                p_target.lerp_(p, self.cfg.critic_tau)
            if aux is not None:
                aux.ema_update()
        metrics["batch_reward"] = batch["reward"].mean()
        self.updates += 1
        names = list(metrics)
        values = dict(zip(names, torch.stack([metrics[k].float() for k in names]).tolist()))
        values["actor_std"] = std
        if self.representation.due(self.step):
            values.update(self.representation.measure(self.latents, self.step))
        self.rr_schedule.observe(values)
        return values

    # --- persistence ----------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        modules = {"encoder": self.encoder, "actor": self.actor, "critic": self.critic,
                   "critic_target": self.critic_target, "encoder_opt": self.encoder_opt,
                   "actor_opt": self.actor_opt, "critic_opt": self.critic_opt}
        if self.projection is not None:
            modules["projection"] = self.projection
        return modules

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
                     replay=self.replay.state_dict() if include_replay else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        self.step, self.updates = state["step"], state["updates"]
        self.rr_schedule.load_state_dict(state["rr_schedule"])
        if self.aux is not None:
            self.aux.load_full_state(state["aux"])
        self.representation.load_state_dict(state["representation"])
        if state["replay"] is not None:
            self.replay.load_state_dict(state["replay"])

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load only what acting needs (encoder and actor) from a full ``state_dict``."""
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])

    @property
    def body_independent(self) -> bool:
        """False: the action head's size is the body's joint count."""
        return False

    def trainable_parameters(self) -> dict[str, int]:
        parts = [("encoder", self.encoder), ("actor", self.actor), ("critic", self.critic)]
        if self.projection is not None:
            parts.append(("projection", self.projection))
        if self.aux is not None:
            parts.append(("aux_heads", self.aux.losses))
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for name, m in parts}
