"""Auxiliary losses inside the off-policy agent: where the gradient goes, the window bound."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.base import Transition
from agents.offpolicy import OffPolicyAgent
from configs.loader import ConfigError
from configs.schema import OffPolicyConfig

SIZE, STACK = 16, 3


class FakePixelEnv:
    frames_per_step = 2


def tiny_agent(losses, **overrides) -> OffPolicyAgent:
    cfg = OffPolicyConfig(**{"batch_size": 8, "feature_dim": 8, "hidden_dim": 16, "conv_channels": 4,
                         "replay_capacity": 200, "explore_steps": 4, "seed_frames": 12,
                         "aux": {"losses": losses, **overrides.pop("aux", {})}, **overrides})
    obs_space = gym.spaces.Box(0, 255, (3 * STACK, SIZE, SIZE), np.uint8)
    act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    return OffPolicyAgent(cfg, obs_space, act_space, env=FakePixelEnv(), seed=0)


def filled(agent, steps=40):
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (3 * STACK, SIZE, SIZE), dtype=np.uint8)
    for t in range(steps):
        nxt = np.concatenate([obs[3:], rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)])
        agent.observe(Transition(obs, rng.uniform(-1, 1, 2).astype(np.float32),
                                 float(rng.normal()), nxt, False, t == steps // 2))
        obs = nxt
    return agent


def aux_gradients(agent):
    """Backpropagate only the agent's auxiliary loss on one batch; which parts got gradient."""
    batch = {k: torch.as_tensor(v) for k, v in
             agent.replay.sample(agent.cfg.batch_size, agent.aux.window,
                                 agent.aux.obs_offsets).items()}
    h = agent.encoder(agent.aug(batch["obs"].float()))
    for module in (agent.encoder, agent.actor, agent.critic):
        module.zero_grad(set_to_none=True)
    total, _ = agent.aux.loss(h, batch, agent.step)
    total.backward()

    def touched(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    return {"encoder": touched(agent.encoder), "critic_trunk": touched(agent.critic.trunk),
            "q_heads": touched(agent.critic.q1) or touched(agent.critic.q2),
            "actor": touched(agent.actor), "critic_target": touched(agent.critic_target)}


@pytest.mark.parametrize("loss", [{"type": "one_step"}, {"type": "rollout", "k": 3},
                                  {"type": "horizon_faithful"}, {"type": "contrastive", "k": 2}])
def test_aux_gradient_reaches_encoder_and_shared_trunk_but_never_q_heads_or_actor(loss):
    torch.manual_seed(0)
    got = aux_gradients(filled(tiny_agent([loss])))
    assert got == {"encoder": True, "critic_trunk": True, "q_heads": False, "actor": False,
                   "critic_target": False}


def test_with_its_own_projection_the_aux_gradient_leaves_the_critic_alone():
    torch.manual_seed(0)
    agent = filled(tiny_agent([{"type": "one_step"}], aux={"latent": "projection"}))
    got = aux_gradients(agent)
    assert got["encoder"] and not got["critic_trunk"] and not got["actor"]
    assert any(p.grad is not None for p in agent.projection.parameters())


def test_actor_update_sees_detached_features_with_aux_on():
    torch.manual_seed(0)
    agent = filled(tiny_agent([{"type": "one_step"}]))
    encoder_before = [p.clone() for p in agent.encoder.parameters()]
    h = agent.encoder(torch.rand(8, 3 * STACK, SIZE, SIZE) * 255)
    agent.encoder.zero_grad(set_to_none=True)
    agent.update_actor(h.detach(), std=0.2)
    assert all(p.grad is None for p in agent.encoder.parameters())
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, agent.encoder.parameters()))


def test_update_logs_the_aux_losses_and_which_routing_ran():
    torch.manual_seed(0)
    for routing, flag in (("critic", 0.0), ("separate", 1.0)):
        agent = filled(tiny_agent([{"type": "one_step"}, {"type": "negatives"}],
                                  aux={"routing": routing}))
        assert agent.update() == {}, "metrics wait on the device for pending_metrics"
        metrics = {k: v[-1] for k, v in agent.pending_metrics().items()}
        assert metrics["aux/separate_step"] == flag
        assert {"loss/aux", "loss/aux_one_step", "loss/aux_negatives", "aux/z_cos",
                "aux/one_step/grad_z"} <= set(metrics)
        assert np.isfinite(metrics["loss/aux"])


def test_a_window_longer_than_the_replay_can_serve_is_a_config_error():
    with pytest.raises(ConfigError, match=r"agent\.aux\.losses\.1: a 300-step window"):
        tiny_agent([{"type": "one_step"}, {"type": "rollout", "k": 300}])


def test_state_observations_train_the_critic_trunk_through_the_aux_loss():
    torch.manual_seed(0)
    cfg = OffPolicyConfig(name="offpolicy", batch_size=8, feature_dim=8, hidden_dim=16,
                          replay_capacity=200, explore_steps=4, seed_frames=12,
                          aux={"losses": [{"type": "rollout", "k": 2}, {"type": "negatives"}]})
    agent = OffPolicyAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
                           gym.spaces.Box(-1.0, 1.0, (2,), np.float32), env=FakePixelEnv())
    rng = np.random.default_rng(0)
    obs = rng.normal(size=5).astype(np.float32)
    for t in range(30):
        nxt = rng.normal(size=5).astype(np.float32)
        agent.observe(Transition(obs, rng.uniform(-1, 1, 2).astype(np.float32), 0.0, nxt,
                                 False, False))
        obs = nxt
    before = agent.critic.trunk[0].weight.clone()
    agent.update()
    metrics = {k: v[-1] for k, v in agent.pending_metrics().items()}
    assert np.isfinite(metrics["loss/aux_rollout"]) and np.isfinite(metrics["loss/aux_negatives"])
    assert not torch.equal(before, agent.critic.trunk[0].weight)
    assert agent.latents(np.zeros((3, 5), np.float32)).shape == (3, 8)


def test_aux_needs_a_latent_size():
    with pytest.raises(ConfigError, match="agent.feature_dim"):
        tiny_agent([{"type": "one_step"}], feature_dim=None)
