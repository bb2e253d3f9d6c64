"""The paper-protocol options: each changes exactly what it says and nothing else."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import envs
from agents.common.base import Transition
from agents.policies.actors import SoftplusGaussianHead, TonicMLPActor
from agents.ppo.agent import PPOAgent
from configs.loader import load_config
from configs.schema import PPOConfig
from trainer.api import build, train
from trainer.evaluation import Evaluator, evaluate
from test_trainer import assert_same_run, read_csv

ROOT = Path(__file__).resolve().parent.parent
PAPER = {"ncap": ROOT / "configs/ncap_swim_ppo_paper.yaml",
         "mlp": ROOT / "configs/mlp_swim_ppo_paper.yaml"}


def mlp_agent(seed: int = 0):
    cfg = load_config(ROOT / "configs/mlp_swim_ppo.yaml", [f"seed={seed}"])
    return build(cfg)[:2]


@pytest.mark.slow
def test_sampled_evaluation_is_seeded_reproducible_and_moves_no_training_rng():
    env, agent = mlp_agent()
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    sampled = evaluate(agent, env, 2, 123, actions="sampled")
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))
    np.testing.assert_array_equal(evaluate(agent, env, 2, 123, actions="sampled"), sampled)
    mean = evaluate(agent, env, 2, 123, actions="mean")
    assert not np.allclose(sampled, mean)  # std 1 noise changes the episodes
    np.testing.assert_array_equal(evaluate(agent, env, 2, 123), mean)  # default: mean actions


@pytest.mark.slow
def test_continuing_seeding_keeps_one_env_running_and_resumes_from_its_state():
    env, agent = mlp_agent()
    fixed = Evaluator(env, 2, 500, actions="mean", seeding="fixed")
    np.testing.assert_array_equal(fixed(agent), fixed(agent))  # same episodes every evaluation
    cont = Evaluator(env, 2, 500, actions="mean", seeding="continuing")
    first = cont(agent)
    assert first[0] == fixed(agent)[0]  # the first episode starts from seed_base, as tonic
    state = cont.state_dict()
    second = cont(agent)
    assert not np.allclose(first, second)  # new episode starts: the env kept running
    other_env = envs.make_state_env("swim", n_joints=5, seed=999)
    restored = Evaluator(other_env, 2, 500, actions="mean", seeding="continuing")
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored(agent), second)


def test_tonic_head_std_at_init_is_softplus_0_and_clamped_to_1e4_1():
    head = SoftplusGaussianHead(3)
    torch.testing.assert_close(head.std(), torch.full((3,), math.log(2.0)))
    with torch.no_grad():
        head.rho.copy_(torch.tensor([-50.0, 0.0, 50.0]))
    torch.testing.assert_close(head.std(), torch.tensor([1e-4, math.log(2.0), 1.0]))
    mean, action = torch.randn(5, 3), torch.randn(5, 3)
    ref = torch.distributions.Normal(mean, head.std())
    torch.testing.assert_close(head.log_prob(mean, action), ref.log_prob(action).sum(-1))
    torch.testing.assert_close(head.entropy(), ref.entropy()[0].sum())


def test_tonic_actor_puts_a_tanh_on_the_mean():
    actor = TonicMLPActor(4, 2, [8], "tanh")
    x = torch.randn(6, 4) * 100
    torch.testing.assert_close(actor(x), torch.tanh(actor.net(x)))
    env = envs.make_state_env("swim", n_joints=5)
    agent = PPOAgent(PPOConfig(actor={"type": "mlp", "head": "tonic"}), env.observation_space,
                     env.action_space, env=env)
    assert isinstance(agent.head, SoftplusGaussianHead)
    assert agent.trainable_parameters()["policy"] == 73_482  # 73,477 + 5 scales (ncap.md s. 7)


def _agent_after_update(kl_stop_step: str):
    torch.manual_seed(0)
    env = envs.make_state_env("swim", n_joints=5, seed=0)
    cfg = PPOConfig(actor={"type": "mlp", "hidden": [16]}, critic_hidden=[16], segment=64,
                    iterations=10, kl_target=1e-9, actor_lr=0.01, kl_stop_step=kl_stop_step)
    agent = PPOAgent(cfg, env.observation_space, env.action_space, env=env)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(64):
        action = rng.uniform(-1, 1, 5).astype(np.float32)
        next_obs, reward, term, trunc, _ = env.step(action)
        agent.observe(Transition(obs, action, reward, next_obs, term, trunc))
        obs = next_obs
    return agent, agent.update()


def test_kl_stop_take_takes_the_step_on_which_kl_passed_then_stops():
    """KL is 0 before the first step and > 1e-9 before the second: skip stops after 1 actor
    step, take (tonic) also takes the second and then stops."""
    skip_agent, skip = _agent_after_update("skip")
    take_agent, take = _agent_after_update("take")
    assert skip["actor_steps"] == 1 and take["actor_steps"] == 2
    assert not torch.equal(skip_agent.actor.net[0].weight, take_agent.actor.net[0].weight)
    torch.testing.assert_close(skip_agent.critic[0].weight, take_agent.critic[0].weight)


@pytest.mark.parametrize("name", ["ncap", "mlp"])
def test_paper_presets_set_every_point_of_the_authors_protocol(name):
    cfg = load_config(PAPER[name])
    agent, trainer = cfg.agent, cfg.trainer
    assert agent.critic_hidden == [64, 64] and agent.critic_activation == "tanh"
    assert agent.kl_stop_step == "take" and agent.kl_target == 0.015
    assert (trainer.eval_actions, trainer.eval_seeding, trainer.eval_at_start) == (
        "sampled", "continuing", False)
    assert trainer.eval_seed_offset == 10_000 and trainer.eval_every == 10_000
    if name == "mlp":
        assert agent.actor.head == "tonic" and agent.actor.hidden == [256, 256]
    else:
        assert agent.actor.sigma == 0.1


def test_defaults_keep_our_protocol():
    cfg = load_config(None)
    assert (cfg.trainer.eval_actions, cfg.trainer.eval_seeding, cfg.trainer.eval_at_start) == (
        "mean", "fixed", True)
    assert cfg.agent.kl_stop_step == "skip"
    assert load_config(ROOT / "configs/mlp_swim_ppo.yaml").agent.actor.head == "linear"


@pytest.mark.slow
def test_paper_protocol_run_has_no_step_0_eval_and_resumes_exactly(tmp_path, tiny_ppo):
    """Sampled, continuing evaluation: 2k steps straight vs 1k + resume, identical logs and
    weights (the eval env's state travels in the checkpoint)."""
    def run(steps, folder):
        return train(load_config(PAPER["mlp"], [*tiny_ppo, f"steps={steps}",
                                                f"run_dir={tmp_path / folder}"]))
    run(2000, "a")
    run(1000, "b")
    assert run(2000, "b")["resumed_from_step"] == 1000
    assert_same_run(tmp_path / "a", tmp_path / "b")
    evals = read_csv(tmp_path / "a" / "eval.csv")
    assert [int(r["step"]) for r in evals] == [500, 1000, 1500, 2000]
    assert len({r["mean_return"] for r in evals}) == 4
