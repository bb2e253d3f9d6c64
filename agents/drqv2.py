"""DrQ-v2 (Yarats et al. 2021): DDPG from pixels with random shifts, n-step double-Q targets.

The pixel case of the one off-policy agent (``agents/offpolicy.py``, networks in
``agents/offpolicy_nets.py``) with DrQ-v2's defaults; ``agent.name: drqv2`` refuses state
observations (``agent.name: offpolicy`` takes both).

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

from typing import Any

from agents.offpolicy import OffPolicyAgent, is_pixel_space
from agents.offpolicy_nets import (Actor, Critic, Encoder, QHead, fraction_active,  # noqa: F401
                                   orthogonal_init, sample_action, trunk)
from configs.errors import ConfigError


class DrQV2Agent(OffPolicyAgent):
    """DrQ-v2 behind the loop's agent interface: ``OffPolicyAgent`` on pixels only.

    Args: as ``OffPolicyAgent``; ``observation_space`` must be uint8 ``(3 m, H, H)``.
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0, acting_only: bool = False,
                 total_steps: int = 0):
        if not is_pixel_space(observation_space):
            raise ConfigError(f"config error: agent.name: drqv2 needs uint8 pixel observations "
                              f"(3 m, H, H): set env.pixels, or use agent.name=offpolicy for "
                              f"states (got {observation_space.dtype} "
                              f"{tuple(observation_space.shape)})")
        super().__init__(cfg, observation_space, action_space, env=env, device=device, seed=seed,
                         acting_only=acting_only, total_steps=total_steps)
