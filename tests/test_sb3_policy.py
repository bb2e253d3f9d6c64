"""The NCAP circuit as a stable-baselines3 policy: the circuit is the actor mean, and it learns."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs  # noqa: F401  (registers BioEmbodied/Swim-v0)
from agents.policies.sb3 import NCAPPolicy


@pytest.fixture
def swim5():
    return gymnasium.make("BioEmbodied/Swim-v0", n_joints=5)


def tiny_ppo(env, **kwargs) -> PPO:
    return PPO(NCAPPolicy, env, n_steps=64, batch_size=32, n_epochs=2, learning_rate=1e-2,
               seed=0, device="cpu", **kwargs)


def test_the_circuit_is_the_action_mean_with_fixed_sigma(swim5):
    model = tiny_ppo(swim5)
    policy = model.policy
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert {f"action_net.circuit.weights.{k}" for k in "opic"} <= trainable
    assert not any(n.startswith("action_net") and "circuit" not in n for n in trainable), \
        "no SB3 layer may wrap the circuit"
    assert "log_std" not in trainable and torch.allclose(policy.log_std.exp(), torch.tensor(0.1))
    obs, _ = swim5.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    joints = torch.as_tensor(obs[:5], dtype=torch.float32)
    expected = policy.circuit(joints, torch.tensor(0.0)).detach().numpy()
    assert np.allclose(action, expected, atol=1e-6)
    dist = policy.get_distribution(policy.obs_to_tensor(obs)[0])
    assert torch.allclose(dist.distribution.stddev, torch.full((1, 5), 0.1))


def test_ppo_trains_the_circuit_weights(swim5):
    """o, p and i move. c cannot: with sign constraints a muscle's contralateral input only
    arrives while its own side is silent (q_d, q_v and O_d, O_v are never both > 0), so
    ``m = clamp(c b_other, 0, 1) = 0`` for any c <= 0: no effect and exactly zero gradient."""
    model = tiny_ppo(swim5)
    before = {k: v.detach().clone() for k, v in model.policy.circuit.weights.items()}
    model.learn(total_timesteps=128)
    after = dict(model.policy.circuit.weights)
    moved = {k for k in before if not torch.equal(before[k], after[k].detach())}
    assert moved == {"o", "p", "i"}, f"weights that changed: {sorted(moved)}"
    for k in "opi":
        assert math.isfinite(after[k].item())


def test_unsigned_circuit_with_positive_c_learns_c_too(swim5):
    """Without sign constraints c may turn excitatory; then the contralateral input drives the
    muscle (``0 < c b_other < 1``) and c gets a gradient like the other three weights."""
    model = tiny_ppo(swim5, policy_kwargs=dict(signed=False))
    weights = model.policy.circuit.weights
    with torch.no_grad():
        for k, v in {"o": 1.0, "p": 1.0, "i": 1.0, "c": 0.5}.items():
            weights[k].fill_(v)
    model.learn(total_timesteps=128)
    moved = {k for k, v in {"o": 1.0, "p": 1.0, "i": 1.0, "c": 0.5}.items()
             if weights[k].item() != v}
    assert moved == {"o", "p", "i", "c"}, f"weights that changed: {sorted(moved)}"


def test_save_load_round_trip_and_bad_setups_are_refused(swim5, tmp_path):
    model = tiny_ppo(swim5, policy_kwargs=dict(oscillator_period=50))
    model.save(tmp_path / "ncap.zip")
    loaded = PPO.load(tmp_path / "ncap.zip", device="cpu")
    assert loaded.policy.circuit.oscillator_period == 50
    obs, _ = swim5.reset(seed=3)
    assert np.array_equal(model.predict(obs, deterministic=True)[0],
                          loaded.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="net_arch"):
        tiny_ppo(swim5, policy_kwargs=dict(net_arch=dict(pi=[64], vf=[64])))
    cartpole = gymnasium.make("BioEmbodied/DMC-v0", task="cartpole-swingup")
    with pytest.raises(ValueError, match="swim observation"):
        tiny_ppo(cartpole)
