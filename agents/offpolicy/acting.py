"""What the trainer loop calls on the off-policy agent (``agents/offpolicy/agent.py``) every agent
step: ``act`` (uniform actions for ``explore_steps``, then ``mu + sigma(step) eps``; ``mu`` for
evaluation; the update losses' NaN/Inf check rides on the action's transfer), ``observe`` (the
replay, a state normaliser's statistics), ``updates_due`` (the replay-ratio schedule after
``seed_frames``) and ``on_episode_end``.

Several envs (``num_envs = N > 1``, ``trainer/loop.py``): ``act(obs[N])`` is one batched call
(uniform actions for every row while ``step < explore_steps``, else an independent
``sigma(step) eps`` per row); ``observe`` takes a ``Transition`` of arrays over envs (one step
of each env into its own replay stream) and counts N agent steps; ``updates_due(step)`` runs
the replay-ratio schedule once for every agent step of the pass, ``step - N + 1 ... step``,
so after ``S`` agent steps the updates are those one env would have had after ``S`` steps
(the replay ratio stays updates per agent step; ``seed_frames`` counts agent steps of all
envs). A single observation (evaluation) is acted on as with one env.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.common.base import DivergenceError, Transition
from agents.common.normalizer import RunningNormalizer
from agents.offpolicy.nets import sample_action


class OffPolicyActing:
    """Mixin of ``OffPolicyAgent``: ``act``, ``observe``, ``updates_due``, ``on_episode_end``
    (and ``_tensor``, ``_policy``, which the updates use too)."""

    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device).float()

    def _policy(self, actor: nn.Module, obs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``mu``: an MLP actor reads the encoding ``h``, a circuit the raw observation."""
        return actor(h) if actor.uses_encoder else actor(obs)

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """``mu`` (evaluation), uniform (first ``explore_steps``), else ``mu + sigma(step) eps``;
        ``obs[N, ...]`` (several envs): ``actions[N, |A|]``, noise drawn per row."""
        batched = np.ndim(obs) > len(self.obs_shape)
        if explore and self.step < self.cfg.explore_steps:
            shape = (len(obs), self.action_dim) if batched else (self.action_dim,)
            return torch.empty(shape).uniform_(-1.0, 1.0).numpy()
        x = self._tensor(obs)
        x = x if batched else x.unsqueeze(0)
        mu = self._policy(self.actor, x, self.encoder(x) if self.actor.uses_encoder else x)
        mu = mu if batched else mu[0]
        action = sample_action(mu, self.std(self.step), clip=None) if explore else mu
        flag = self.metrics.nonfinite
        if not (explore and isinstance(flag, torch.Tensor)):
            return action.cpu().numpy()
        # the loss check rides on the action's transfer: no extra host sync
        out = torch.cat([action.reshape(-1), flag.to(action.dtype).reshape(1)]).cpu().numpy()
        if out[-1]:
            raise DivergenceError(f"a loss became NaN or Inf in an update before agent step "
                                  f"{self.step}; stopped without saving this state")
        return out[:-1].reshape(action.shape)

    def observe(self, transition: Transition) -> None:
        """Store one step (of every env: N agent steps)."""
        self.replay.add(transition)
        if isinstance(self.encoder, RunningNormalizer):
            self.encoder.update(torch.as_tensor(transition.next_obs, device=self.device))
        self.step += self.num_envs

    def updates_due(self, step: int) -> int:
        """0 before ``seed_frames`` (and until a resumed run without replay has refilled the
        same number of transitions); then what the replay-ratio schedule says, summed over the
        agent steps ``step - N + 1 ... step`` of the loop's pass (module docstring)."""
        if self.num_envs == 1:
            return self._due(step)
        if step == self._due_step:
            return 0
        self._due_step = step
        return sum(self._due(s) for s in range(step - self.num_envs + 1, step + 1))

    def _due(self, step: int) -> int:
        ready = step >= self.seed_steps and len(self.replay) >= min(
            self.seed_steps, self.replay.capacity // 2)
        return self.rr_schedule.updates_due(step) if ready else 0

    def on_episode_end(self, info: dict[str, Any]) -> None:
        self.rr_schedule.on_episode_end(info)
        self.interventions.on_episode_end(info)
