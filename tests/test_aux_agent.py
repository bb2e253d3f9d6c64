"""Auxiliary losses inside the off-policy agent: where the gradient goes, the window bound."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.common.base import Transition
from agents.offpolicy.agent import OffPolicyAgent
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
    # in the agent's own update, the features handed to the actor step carry no graph
    seen = []
    update_actor = agent.update_actor
    agent.update_actor = lambda h, *args: seen.append(h.requires_grad) or update_actor(h, *args)
    agent.update()
    assert seen == [False], "the actor step received features attached to the encoder"
    # and the actor step itself sends nothing back, even given features with a graph
    encoder_before = [p.clone() for p in agent.encoder.parameters()]
    h = agent.encoder(torch.rand(8, 3 * STACK, SIZE, SIZE) * 255)
    assert h.requires_grad
    agent.encoder.zero_grad(set_to_none=True)
    update_actor(h, 0.2)
    assert all(p.grad is None for p in agent.encoder.parameters())
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, agent.encoder.parameters()))


def test_update_logs_the_aux_losses_and_which_routing_ran():
    torch.manual_seed(0)
    for routing, flag in (("critic", 0.0), ("separate", 1.0)):
        agent = filled(tiny_agent([{"type": "one_step", "weight": 0.5},
                                   {"type": "negatives", "weight": 2.0}],
                                  aux={"routing": routing}))
        assert agent.update() == {}, "metrics wait on the device for pending_metrics"
        metrics = {k: v[-1] for k, v in agent.pending_metrics().items()}
        assert metrics["aux/separate_step"] == flag
        assert {"loss/aux", "loss/aux_one_step", "loss/aux_negatives", "aux/z_cos",
                "aux/one_step/grad_z"} <= set(metrics)
        # loss/aux is the weighted sum lambda_1 L_1 + lambda_2 L_2 of the unweighted parts
        expected = 0.5 * metrics["loss/aux_one_step"] + 2.0 * metrics["loss/aux_negatives"]
        assert metrics["loss/aux"] == pytest.approx(expected, rel=1e-5), (routing, metrics)
        assert metrics["loss/aux_negatives"] > 0, "a repulsion term is exp(-C d) > 0"


def test_a_window_longer_than_the_replay_can_serve_is_a_config_error():
    with pytest.raises(ConfigError, match=r"agent\.aux\.losses\.1: a 300-step window"):
        tiny_agent([{"type": "one_step"}, {"type": "rollout", "k": 300}])


def state_agent(weight: float) -> OffPolicyAgent:
    """A state-observation agent (rollout K=2 + negatives, each weighted ``weight``) on 30
    transitions of one episode, its replay pinned to one batch (``agent.batch``)."""
    torch.manual_seed(0)
    cfg = OffPolicyConfig(name="offpolicy", batch_size=8, feature_dim=8, hidden_dim=16,
                          replay_capacity=200, explore_steps=4, seed_frames=12,
                          aux={"losses": [{"type": "rollout", "k": 2, "weight": weight},
                                          {"type": "negatives", "weight": weight}]})
    agent = OffPolicyAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
                           gym.spaces.Box(-1.0, 1.0, (2,), np.float32), env=FakePixelEnv())
    rng = np.random.default_rng(0)
    obs = rng.normal(size=5).astype(np.float32)
    for t in range(30):
        nxt = rng.normal(size=5).astype(np.float32)
        agent.observe(Transition(obs, rng.uniform(-1, 1, 2).astype(np.float32), 0.0, nxt,
                                 False, False))
        obs = nxt
    agent.batch = agent.replay.sample(8, agent.aux.window, agent.aux.obs_offsets)
    agent.replay.sample = lambda *args: agent.batch
    return agent


def test_state_observations_train_the_critic_trunk_through_the_aux_loss():
    agent, without = state_agent(1.0), state_agent(0.0)
    trunk = agent.critic.trunk[0].weight
    assert torch.equal(trunk, without.critic.trunk[0].weight)
    # the aux loss alone on the pinned batch, by the pre-update weights: its trunk gradient
    reference = copy.deepcopy(agent)
    batch = {k: torch.as_tensor(v) for k, v in agent.batch.items()}
    aux_only, _ = reference.aux.loss(reference.encoder(batch["obs"]), batch, 0)
    (aux_grad,) = torch.autograd.grad(aux_only, reference.critic.trunk[0].weight)
    assert aux_grad.abs().sum() > 0
    for a in (agent, without):
        torch.manual_seed(1)
        a.update()
    # the critic step's trunk gradient is d(L_Q + L_aux): with lambda = 0 it is d L_Q alone
    torch.testing.assert_close(trunk.grad - without.critic.trunk[0].weight.grad, aux_grad,
                               rtol=1e-4, atol=1e-6)
    assert not torch.equal(trunk, without.critic.trunk[0].weight)
    # both losses logged are the losses of this batch: the negatives by hand (C = 5)
    metrics = {k: v[-1] for k, v in agent.pending_metrics().items()}
    z = reference.critic.trunk(batch["obs"]).detach()
    z1 = reference.critic.trunk(batch["window_obs"][:, agent.aux.obs_offsets.index(1)]).detach()
    pairs = [math.exp(-5 * float((z[i] - z[i - 1]).norm())) for i in range(8)]
    valid = [i for i in range(8) if batch["window_mask"][i, 0]]
    neighbours = [math.exp(-5 * float((z[i] - z1[i]).norm())) for i in valid]
    assert valid, "the pinned batch has a step inside its episode"
    expected = sum(pairs) / 8 + sum(neighbours) / len(valid)
    assert metrics["loss/aux_negatives"] == pytest.approx(expected, rel=1e-4)
    assert metrics["loss/aux"] == pytest.approx(
        metrics["loss/aux_rollout"] + metrics["loss/aux_negatives"], rel=1e-5)
    # latents are g(f(o)) = the critic's trunk on the (unnormalised) state
    obs = np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32)
    torch.testing.assert_close(torch.as_tensor(agent.latents(obs)),
                               agent.critic.trunk(torch.as_tensor(obs)).detach())


def test_aux_needs_a_latent_size():
    with pytest.raises(ConfigError, match="agent.feature_dim"):
        tiny_agent([{"type": "one_step"}], feature_dim=None)
