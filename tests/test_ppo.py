"""PPO pieces against brute force, and PPO improving a policy on a small budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from agents.policies.actors import GaussianHead
from agents.ppo.agent import PPOAgent, gae
from bench.random_replay import collect_segment
from configs.loader import load_config
from configs.schema import PPOConfig
from trainer.api import train


def gae_bruteforce(r, v, v_next, term, trunc, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k}, stopping after the first episode end."""
    n = len(r)
    out = np.zeros(n)
    for t in range(n):
        total, discount = 0.0, 1.0
        for k in range(t, n):
            delta = r[k] + gamma * (0.0 if term[k] else v_next[k]) - v[k]
            total += discount * delta
            if term[k] or trunc[k]:
                break
            discount *= gamma * lam
        out[t] = total
    return out


def test_gae_matches_bruteforce_across_terminations_and_truncations():
    rng = np.random.default_rng(0)
    n = 60
    r, v, v_next = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    term = np.zeros(n, bool)
    trunc = np.zeros(n, bool)
    term[[10, 33]] = True
    trunc[[20, 47]] = True
    np.testing.assert_allclose(gae(r, v, v_next, term, trunc, 0.99, 0.97),
                               gae_bruteforce(r, v, v_next, term, trunc, 0.99, 0.97), rtol=1e-12)


def test_gaussian_head_log_prob_and_entropy_match_torch_distributions():
    for learned in (True, False):
        head = GaussianHead(3, log_std_init=-0.7, learned=learned)
        mean, action = torch.randn(8, 3), torch.randn(8, 3)
        ref = torch.distributions.Normal(mean, torch.full((3,), np.exp(-0.7)))
        torch.testing.assert_close(head.log_prob(mean, action), ref.log_prob(action).sum(-1))
        torch.testing.assert_close(head.entropy(), ref.entropy()[0].sum())


def test_policy_parameter_counts_ncap_4_mlp_73482():
    env = envs.make_state_env("swim", n_joints=5)
    ncap = PPOAgent(PPOConfig(), env.observation_space, env.action_space, env=env)
    assert ncap.trainable_parameters()["policy"] == 4
    mlp = PPOAgent(PPOConfig(actor={"type": "mlp"}), env.observation_space, env.action_space, env=env)
    assert mlp.trainable_parameters() == {"policy": 73_482, "critic": 72_449}  # ncap.md section 7


def test_kl_early_stop_halts_actor_but_critic_keeps_training():
    """With a tiny KL target the actor stops after its first step(s) of an update; every later
    Adam step leaves the actor alone and still moves the critic."""
    env = envs.make_state_env("swim", n_joints=5)
    cfg = PPOConfig(segment=256, iterations=10, kl_target=1e-9, actor_lr=0.05,
                    critic_hidden=[32, 32], actor={"type": "mlp", "hidden": [16, 16]})
    torch.manual_seed(0)
    agent = PPOAgent(cfg, env.observation_space, env.action_space, env=env)
    collect_segment(agent, env, seed=0)
    policy = [*agent.actor.parameters(), *agent.head.parameters()]
    snapshots = []   # (policy, critic) weights after each Adam step of the update

    def step_and_record(loss, step=agent._step):
        step(loss)
        snapshots.append(([p.detach().clone() for p in policy],
                          [p.detach().clone() for p in agent.critic.parameters()]))

    agent._step = step_and_record
    actor_steps = int(agent.update()["actor_steps"])
    assert len(snapshots) == cfg.iterations, "one full-segment step per iteration"
    assert 1 <= actor_steps <= 2, "the KL passes 1e-9 right after the first step"
    for i in range(1, cfg.iterations):
        (actor_before, critic_before), (actor_after, critic_after) = snapshots[i - 1], snapshots[i]
        actor_moved = any(not torch.equal(a, b) for a, b in zip(actor_before, actor_after))
        assert actor_moved == (i < actor_steps), f"step {i}: actor moved={actor_moved}"
        assert all(not torch.equal(a, b) for a, b in zip(critic_before, critic_after)), \
            f"step {i}: the critic stopped training"


@pytest.mark.slow
def test_ppo_improves_a_weak_circuit_on_a_small_budget(tmp_path):
    """Random sign-constrained NCAP init (seed 1 starts near 125) roughly doubles in 10k steps."""
    cfg = load_config(None, [
        "steps=10240", "seed=1", "agent.actor.constant_init=false", "agent.actor_lr=0.03",
        "agent.segment=1024", "agent.iterations=20", "agent.critic_hidden=[64,64]",
        "trainer.eval_every=5120", "trainer.eval_episodes=2", "trainer.progress=false",
        "trainer.tensorboard=false", f"run_dir={tmp_path}"])
    summary = train(cfg)
    initial, final = summary["initial_eval_return"], summary["final_eval_return"]
    assert final > initial + 75, f"PPO did not improve the policy: {initial:.1f} -> {final:.1f}"
