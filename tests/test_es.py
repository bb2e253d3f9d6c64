"""Evolution strategies: antithetic members, centred ranks, the update, the circuit's own clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils import parameters_to_vector

from agents.es import centred_ranks, es_gradient
from configs.loader import load_config
from trainer.api import build
from trainer.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent


def es_agent(*overrides: str):
    cfg = load_config(ROOT / "configs" / "ncap_swim_es.yaml", list(overrides))
    env, agent, _ = build(cfg)
    return cfg, env, agent


def test_centred_ranks_span_minus_half_to_half():
    u = centred_ranks(torch.tensor([3.0, 1.0, 2.0, 5.0], dtype=torch.float64))
    torch.testing.assert_close(u, torch.tensor([1 / 6, -1 / 2, -1 / 6, 1 / 2], dtype=torch.float64))


def test_es_gradient_on_a_hand_made_fitness_vector():
    noise = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    fitness = torch.tensor([4.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    # ranks 3, 0, 1, 2 -> u = 1/2, -1/2, -1/6, 1/6; pair weights u_2k - u_2k+1 = 1, -1/3
    # g = (1 [1, 0] - 1/3 [0, 2]) / (4 * 0.5) = [1/2, -1/3]
    g = es_gradient(fitness, noise, sigma=0.5, clip=None)
    torch.testing.assert_close(g, torch.tensor([0.5, -1 / 3], dtype=torch.float64))
    clipped = es_gradient(fitness, noise, sigma=0.5, clip=0.4)
    torch.testing.assert_close(clipped, torch.tensor([0.4, -1 / 3], dtype=torch.float64))


def test_members_are_antithetic_pairs_around_theta():
    cfg, _, agent = es_agent("agent.population=4")
    theta = agent.theta.detach().clone()
    members = []
    for i in range(4):
        members.append(parameters_to_vector(agent.member_actor.parameters()).clone())
        agent.on_episode_end({"return": float(i)})
    sigma = cfg.agent.sigma
    for k in range(2):
        torch.testing.assert_close(members[2 * k], theta + sigma * agent.noise[k])
        torch.testing.assert_close(members[2 * k + 1], theta - sigma * agent.noise[k])
        torch.testing.assert_close((members[2 * k] + members[2 * k + 1]) / 2, theta)
    assert agent.updates_due(4000) == 1


def test_update_is_one_adam_step_up_the_es_gradient_with_l2():
    cfg, _, agent = es_agent("agent.population=4")
    theta0, noise = agent.theta.detach().clone(), agent.noise.clone()
    fitness = [10.0, 0.0, 3.0, 7.0]
    for f in fitness:
        agent.on_episode_end({"return": f})
    agent.update()
    g = es_gradient(torch.tensor(fitness, dtype=torch.float64), noise, cfg.agent.sigma,
                    cfg.agent.grad_clip).float()
    expected = theta0.clone().requires_grad_(True)
    opt = torch.optim.Adam([expected], lr=cfg.agent.lr, weight_decay=cfg.agent.weight_decay)
    expected.grad = -g
    opt.step()
    torch.testing.assert_close(agent.theta.detach(), expected.detach())
    torch.testing.assert_close(parameters_to_vector(agent.actor.parameters()), expected.detach())
    assert not torch.equal(agent.noise, noise), "a new generation draws new perturbations"
    assert agent.member == 0 and agent.fitness == []


def test_circuit_counts_its_own_steps_without_a_time_feature():
    """Untrained NCAP under ES (no time feature in the observation) swims as well as the same
    circuit reading the time feature (ncap.md §8.2: ~794 / 807 on seeds 0, 1)."""
    cfg, env, agent = es_agent()
    assert env.observation_space.shape == (23,), "ES env has no time feature"
    returns = evaluate(agent, env, episodes=2, seed_base=0)
    np.testing.assert_allclose(returns, [794.1, 807.0], atol=1.0)
    assert agent.trainable_parameters() == {"policy": 4}


def test_es_population_must_be_even():
    with pytest.raises(ValueError, match="population must be even"):
        load_config(ROOT / "configs" / "ncap_swim_es.yaml", ["agent.population=5"])
