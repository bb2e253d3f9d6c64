"""PPO (Schulman et al. 2017) with GAE and a KL early stop, tonic/NCAP-paper defaults.

Per segment of ``S`` on-policy steps (policy frozen while collecting):

* values ``V(s_t)``, ``V(s'_t)`` and old log-probabilities are computed in one batched pass at
  update time (cheaper than per step; the policy did not change in between);
* GAE (Schulman et al. 2016):
  ``delta_t = r_t + gamma (1 - term_t) V(s'_t) - V(s_t)``,
  ``A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}`` with ``done = terminated or truncated``:
  a time limit bootstraps from ``V(s'_t)`` but does not chain advantages across episodes;
  returns ``R_t = A_t + V(s_t)``; advantages normalised to zero mean, unit std;
* ``iterations`` passes over the segment (full batch by default, or shuffled minibatches):
  actor loss ``-mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) - c_H H`` with
  ``rho = exp(log pi(a|s) - log pi_old(a|s))``; the actor stops for the rest of the segment once
  ``KL ~ mean(log pi_old - log pi) > kl_target``, measured at the parameters before each step.
  ``kl_stop_step="skip"`` (default) skips the step on which the KL first passes the target;
  ``"take"`` takes that step and stops after it, as tonic does;
  critic loss ``mean((V(s) - R)^2)`` keeps training for all iterations;
* the observation normaliser (critic input, and MLP actor input) is updated with the segment's
  observations at the end of the update, so the data-generating policy is the one evaluated.

``weight_metrics: true`` (issue 21) logs per update the weight and gradient metrics of actor
and critic and, on the segment, the rank and dormant-unit metrics of the critic's hidden
layers (``measure``). ``grad_norm/<m>`` is the mean over the update's minibatch steps of the
module's gradient norm before ``max_grad_norm`` clips it (as Plasticine's PPO logs it); for the
actor over the steps it took before a KL stop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.common.base import Transition
from configs.errors import ConfigError
from agents.common.networks import mlp
from agents.common.normalizer import RunningNormalizer
from agents.plasticity.metrics import DORMANT_TAUS, module_metrics
from agents.policies.actors import build_actor
from agents.plasticity.weight_metrics import WeightMetricsLog, grad_norm


class RolloutBuffer:
    """One on-policy segment of transitions in preallocated numpy arrays.

    ``envs=None``: one env, row ``t`` is step ``t``. ``envs=N``: row ``t`` holds step ``t`` of
    every env (arrays ``[size, N, ...]``, time first), ``size * N`` transitions in all."""

    def __init__(self, size: int, obs_dim: int, act_dim: int, envs: int | None = None):
        self.size = size
        lead = (size,) if envs is None else (size, envs)
        self.obs = np.zeros((*lead, obs_dim), np.float32)
        self.next_obs = np.zeros((*lead, obs_dim), np.float32)
        self.actions = np.zeros((*lead, act_dim), np.float32)
        self.rewards = np.zeros(lead, np.float64)
        self.terminated = np.zeros(lead, bool)
        self.truncated = np.zeros(lead, bool)
        self.n = 0

    @property
    def full(self) -> bool:
        return self.n == self.size

    def add(self, tr: Transition) -> None:
        i = self.n
        self.obs[i] = tr.obs
        self.next_obs[i] = tr.next_obs
        self.actions[i] = tr.action
        self.rewards[i] = tr.reward
        self.terminated[i] = tr.terminated
        self.truncated[i] = tr.truncated
        self.n += 1

    def state_dict(self) -> dict[str, Any]:
        n = self.n
        return {"n": n, "obs": self.obs[:n].copy(), "next_obs": self.next_obs[:n].copy(),
                "actions": self.actions[:n].copy(), "rewards": self.rewards[:n].copy(),
                "terminated": self.terminated[:n].copy(), "truncated": self.truncated[:n].copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = self.n = state["n"]
        for key in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated"):
            getattr(self, key)[:n] = state[key]


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
        terminated: np.ndarray, truncated: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates (see module docstring), computed backwards in time."""
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    carry = gamma * lam * (1.0 - (terminated | truncated))
    adv = np.zeros_like(deltas)
    last = 0.0
    for t in range(len(deltas) - 1, -1, -1):
        last = deltas[t] + carry[t] * last
        adv[t] = last
    return adv


class PPOAgent:
    """Clipped-ratio PPO over any actor module (NCAP circuit or MLP); MLP critic."""

    def __init__(self, cfg, observation_space, action_space, env=None, device: str = "cpu",
                 seed: int = 0, acting_only: bool = False, total_steps: int = 0,
                 num_envs: int = 1):
        """``acting_only`` builds no rollout buffer (evaluation, rendering, transfer);
        ``seed`` and ``total_steps`` are the factory's common arguments, unused here (PPO
        draws from the global RNGs the trainer seeds). ``num_envs > 1`` (``trainer.num_envs``):
        ``act`` / ``observe`` take all envs at once (arrays over envs first) and the segment
        holds ``segment / num_envs`` steps of each env (so ``segment`` transitions per update,
        as with one env); GAE runs along each env's own steps."""
        if num_envs > 1 and cfg.segment % num_envs:
            raise ConfigError(f"config error: agent.segment={cfg.segment} must be a multiple of "
                              f"trainer.num_envs={num_envs} (each env fills segment / num_envs "
                              "steps of it)")
        self.num_envs = num_envs
        self.cfg = cfg
        self.device = torch.device(device)
        obs_dim = int(np.prod(observation_space.shape))
        self.act_dim = int(np.prod(action_space.shape))
        self.normalizer = RunningNormalizer(obs_dim, cfg.obs_clip,
                                            cfg.obs_std_floor).to(self.device)
        self.actor, self.head = build_actor(cfg.actor, obs_dim, self.act_dim, env)
        self.actor.to(self.device)
        self.head.to(self.device)
        self.critic = mlp(obs_dim, cfg.critic_hidden, 1, cfg.critic_activation).to(self.device)
        # One Adam, two parameter groups (actor lr, critic lr). Parameters left without a
        # gradient (the actor after the KL stop) are skipped by Adam, so the critic trains on.
        # fused: one kernel per step instead of one per tensor (much faster for small nets).
        # A circuit's learned timing (NCAP+ period, duty) may take its own lr: a third group,
        # only when its scale is not 1 (so checkpoints written before the option still load).
        scale = getattr(cfg.actor, "timing_lr_scale", 1.0)
        timing = getattr(self.actor, "timing_parameters", lambda: [])() if scale != 1.0 else []
        timing_ids = {id(p) for p in timing}
        policy_params = [p for p in [*self.actor.parameters(), *self.head.parameters()]
                         if id(p) not in timing_ids]
        groups = [{"params": policy_params, "lr": cfg.actor_lr},
                  {"params": list(self.critic.parameters()), "lr": cfg.critic_lr}]
        if timing:
            groups.append({"params": timing, "lr": cfg.actor_lr * scale})
        self.optimizer = torch.optim.Adam(groups, fused=True)
        self.buffer = None if acting_only else (
            RolloutBuffer(cfg.segment, obs_dim, self.act_dim) if num_envs == 1 else
            RolloutBuffer(cfg.segment // num_envs, obs_dim, self.act_dim, num_envs))
        self.updates = 0
        self._grad_norms: dict[str, list[torch.Tensor]] = {}   # per minibatch step (_step)
        # weight metrics (issue 21): theta(0) captured now, after every initialisation
        self.weight_metrics = WeightMetricsLog(1 if cfg.weight_metrics else None,
                                               {"actor": self.actor, "critic": self.critic})

    # --- acting ---------------------------------------------------------------------------
    def _actor_input(self, obs: torch.Tensor) -> torch.Tensor:
        if self.actor.uses_normalized_obs and self.cfg.normalize_observations:
            return self.normalizer(obs)
        return obs

    @torch.inference_mode()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        mean = self.actor(self._actor_input(x))
        if explore:
            mean = mean + torch.randn(mean.shape, device=self.device) * self.head.std()
        return mean.cpu().numpy()

    def observe(self, transition: Transition) -> None:
        self.buffer.add(transition)

    def updates_due(self, step: int) -> int:
        return int(self.buffer.full)

    def on_episode_end(self, info: dict[str, Any]) -> None:
        pass

    # --- learning -------------------------------------------------------------------------
    def _value(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.normalizer(obs) if self.cfg.normalize_observations else obs
        return self.critic(x).squeeze(-1)

    def _log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob(self.actor(self._actor_input(obs)), actions)

    def update(self) -> dict[str, float]:
        cfg, buf = self.cfg, self.buffer
        t = lambda a: torch.as_tensor(a, device=self.device)  # noqa: E731
        steps = buf.rewards.shape  # (segment,) or (segment / N, N): GAE runs along axis 0
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (time-major over envs)
        obs, next_obs, actions = t(flat(buf.obs)), t(flat(buf.next_obs)), t(flat(buf.actions))
        with torch.no_grad():
            values = self._value(obs)
            next_values = self._value(next_obs)
            old_logp = self._log_prob(obs, actions)
        adv_np = gae(buf.rewards, values.double().cpu().numpy().reshape(steps),
                     next_values.double().cpu().numpy().reshape(steps),
                     buf.terminated, buf.truncated, cfg.gamma, cfg.lam).reshape(-1)
        advantages = t(adv_np).float()
        returns = advantages + values
        if cfg.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        n = len(obs)
        mb = cfg.minibatch or n
        actor_active, actor_steps = True, 0
        self._grad_norms = {}
        stats: dict[str, list[torch.Tensor]] = {"loss/actor": [], "loss/critic": [], "kl": [],
                                                "clip_fraction": []}
        data = (obs, actions, old_logp, advantages, returns)
        for _ in range(cfg.iterations):
            if mb < n:  # shuffle once per pass; minibatches are then contiguous slices
                order = torch.randperm(n, device=self.device)
                epoch = tuple(x[order] for x in data)
            else:
                epoch = data
            for start in range(0, n, mb):
                o, a, old, adv, ret = (x[start:start + mb] for x in epoch)
                critic_loss = (self._value(o) - ret).pow(2).mean()
                loss = critic_loss
                if actor_active:
                    logp = self._log_prob(o, a)
                    log_ratio = logp - old
                    kl = -log_ratio.mean().detach()
                    if cfg.kl_target is not None and kl.item() > cfg.kl_target:
                        actor_active = False
                    if actor_active or cfg.kl_stop_step == "take":
                        ratio = log_ratio.exp()
                        surrogate = torch.min(ratio * adv,
                                              ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv)
                        actor_loss = -surrogate.mean() - cfg.entropy_coef * self.head.entropy()
                        loss = loss + actor_loss  # disjoint parameters: one backward serves both
                        actor_steps += 1
                        stats["loss/actor"].append(actor_loss.detach())
                        stats["kl"].append(kl)
                        stats["clip_fraction"].append(((ratio.detach() - 1).abs() > cfg.clip).float().mean())
                stats["loss/critic"].append(critic_loss.detach())
                self._step(loss)

        measured = self.measure(obs) if self.weight_metrics.every is not None else {}
        if cfg.normalize_observations:
            self.normalizer.update(obs)
        buf.n = 0
        self.updates += 1
        out = {k: torch.stack(v).mean().item() for k, v in stats.items() if v}
        out.update({"actor_steps": float(actor_steps), "std": float(self.head.std().mean().detach()),
                    "value_mean": float(values.mean()), "advantage_std": float(adv_np.std()),
                    "updates": float(self.updates)})
        out.update({k: float(v) for k, v in measured.items()})
        return out

    @torch.no_grad()
    def critic_maps(self, obs: torch.Tensor) -> list[torch.Tensor]:
        """The critic's hidden activations (after each activation) on ``obs``."""
        x = self.normalizer(obs) if self.cfg.normalize_observations else obs
        maps = []
        for layer in self.critic:
            x = layer(x)
            if not isinstance(layer, nn.Linear):
                maps.append(x)
        return maps

    def measure(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``weight_metrics``: the weight metrics of actor and critic, their gradient norms
        (the mean over the update's minibatch steps of the pre-clip norm, ``_step``), and on
        the segment ``obs`` the stable and effective rank of the critic's last hidden features
        (at most ``min(segment, width)``) and its tau-dormant ratios (ReDo's score works for
        tanh too); ``fau/critic`` (fraction of positive units) with ReLU only.
        """
        maps = self.critic_maps(obs)
        grad_norms = {k: torch.stack(v).mean() for k, v in self._grad_norms.items()}
        out = self.weight_metrics.measure(maps[-1] if maps else None, grad_norms)
        if maps:
            scores = module_metrics("critic", maps, DORMANT_TAUS)
            if self.cfg.critic_activation != "relu":
                scores.pop("fau/critic")
            out |= scores
        return out

    def _step(self, loss: torch.Tensor) -> None:
        """One Adam step on ``loss``; ``max_grad_norm`` clips the global norm of every gradient
        of the step (actor and critic together, as stable-baselines3 does). With
        ``weight_metrics`` the gradient norm of each module that ``loss`` reaches (the actor
        not after a KL stop: its gradients stay unset) is kept before the clip, for
        ``measure``'s mean."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.weight_metrics.every is not None:
            for name, module in self.weight_metrics.modules.items():
                if any(p.grad is not None for p in module.parameters()):
                    self._grad_norms.setdefault(name, []).append(grad_norm(module))
        if self.cfg.max_grad_norm is not None:
            grads = [p for group in self.optimizer.param_groups for p in group["params"]
                     if p.grad is not None]
            nn.utils.clip_grad_norm_(grads, self.cfg.max_grad_norm, foreach=True)
        self.optimizer.step()

    # --- persistence ----------------------------------------------------------------------
    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        state = {"actor": self.actor.state_dict(), "head": self.head.state_dict(),
                 "critic": self.critic.state_dict(), "normalizer": self.normalizer.state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "buffer": self.buffer.state_dict(), "updates": self.updates}
        if self.weight_metrics.every is not None:
            state["weight_metrics"] = self.weight_metrics.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.head.load_state_dict(state["head"])
        self.critic.load_state_dict(state["critic"])
        self.normalizer.load_state_dict(state["normalizer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.updates = state["updates"]
        if "weight_metrics" in state:
            self.weight_metrics.load_state_dict(state["weight_metrics"])

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load only what acting needs (actor, noise, normaliser if the actor reads it) from a
        full ``state_dict``, possibly trained on another body (see ``body_independent``)."""
        self.actor.load_state_dict(state["actor"])
        self.head.load_state_dict(state["head"])
        if self.actor.uses_normalized_obs and self.cfg.normalize_observations:
            self.normalizer.load_state_dict(state["normalizer"])

    @property
    def body_independent(self) -> bool:
        """True when the policy's weights run unchanged on a body with another joint count."""
        return bool(self.actor.body_independent)

    def trainable_parameters(self) -> dict[str, int]:
        """Parameter counts: the policy (actor + learned std) and the critic."""
        policy = sum(p.numel() for p in list(self.actor.parameters()) + list(self.head.parameters()))
        return {"policy": policy, "critic": sum(p.numel() for p in self.critic.parameters())}
