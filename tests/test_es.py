"""Evolution strategies: antithetic members, centred ranks, the update, the circuit's own clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils import parameters_to_vector

from agents.es.agent import centred_ranks, es_gradient
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
    # g = (1 [1, 0] - 1/3 [0, 2]) / P = [1, -2/3] / 4 = [1/4, -1/6]   (no 1/sigma)
    g = es_gradient(fitness, noise, clip=None)
    torch.testing.assert_close(g, torch.tensor([0.25, -1 / 6], dtype=torch.float64))
    clipped = es_gradient(fitness, noise, clip=0.2)
    torch.testing.assert_close(clipped, torch.tensor([0.2, -1 / 6], dtype=torch.float64))


def estorch_reference_gradient(theta: np.ndarray, eps: np.ndarray, sigma: float,
                               fitness_of) -> np.ndarray:
    """The authors' vendored estorch, written out plainly (nikhilxb/ncap ``estorch.py``):
    ``delta ~ Normal(0, sigma)``; the population is ``[theta + delta_1.., theta - delta_1..]``;
    centred ranks ``rank / (P - 1) - 0.5``; ``grad = ranks . [delta; -delta] / (P sigma)``;
    clamped to [-1, 1]. ``eps`` is the standard-normal draw, so ``delta = sigma eps``."""
    delta = sigma * eps                                  # (P/2, D), carries sigma
    signed = np.concatenate([delta, -delta])             # estorch's member order
    population = theta + signed
    returns = np.array([fitness_of(p) for p in population])
    ranks = np.empty(len(returns), dtype=int)
    ranks[returns.argsort(kind="stable")] = np.arange(len(returns))
    centred = np.arange(len(returns)) / (len(returns) - 1) - 0.5
    grad = centred[ranks] @ signed / (len(returns) * sigma)
    return np.clip(grad, -1.0, 1.0)


def test_update_matches_the_authors_estorch_gradient_and_adam_step():
    """One generation of our agent against estorch's rule (test-local reference above) on a
    made-up fitness function; the old ``/ (P sigma)`` on standard-normal noise was 50x off."""
    cfg, _, agent = es_agent("agent.population=8")
    theta0, eps = agent.theta.detach().double().numpy().copy(), agent.noise.double().numpy()
    target = np.array([0.3, -0.2, 0.1, 0.05])

    def fitness_of(params: np.ndarray) -> float:
        return -float(np.sum((params - target) ** 2))

    for _ in range(cfg.agent.population):      # our members interleave +eps_k, -eps_k
        member = parameters_to_vector(agent.member_actor.parameters()).double().numpy()
        agent.on_episode_end({"return": fitness_of(member)})
    agent.update()
    grad = estorch_reference_gradient(theta0, eps, cfg.agent.sigma, fitness_of)
    # estorch hands -grad to torch Adam (coupled L2) and steps once: from zero moments the
    # first Adam step is lr * (-grad + wd theta) / (|-grad + wd theta| + eps_adam) per element
    d = -grad + cfg.agent.weight_decay * theta0
    expected = theta0 - cfg.agent.lr * d / (np.abs(d) + 1e-8)
    np.testing.assert_allclose(agent.theta.detach().double().numpy(), expected, atol=1e-6)
    assert np.abs(grad).max() < 1.0, "at sigma 0.02 the correct gradient stays inside the clamp"


def test_es_gradient_does_not_scale_with_sigma():
    """``g`` depends on the ranks and the standard-normal draws only: members theta +- sigma eps
    rank alike for any small sigma, and estorch's 1/sigma cancels the sigma in its deltas."""
    for sigma in (0.02, 0.5):
        _, _, agent = es_agent("agent.population=4", f"agent.sigma={sigma}")
        agent.noise = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.5, 1.0, -1.0, 2.0]])
        agent.fitness = [1.0, 0.0, 0.0, 1.0]
        g = es_gradient(torch.tensor(agent.fitness, dtype=torch.float64), agent.noise, None)
        # pair weights: u = (1/2 or 1/6 ...) -> ranks of [1, 0, 0, 1] (stable) = 2, 0, 1, 3
        # u = 1/6, -1/2, -1/6, 1/2; pair weights 2/3, -2/3
        expected = (2 / 3 * agent.noise[0] - 2 / 3 * agent.noise[1]) / 4
        torch.testing.assert_close(g.float(), expected)


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


def test_update_starts_a_new_generation():
    cfg, _, agent = es_agent("agent.population=4")
    noise = agent.noise.clone()
    for f in [10.0, 0.0, 3.0, 7.0]:
        agent.on_episode_end({"return": f})
    agent.update()
    torch.testing.assert_close(parameters_to_vector(agent.actor.parameters()),
                               agent.theta.detach())
    assert not torch.equal(agent.noise, noise), "a new generation draws new perturbations"
    assert agent.member == 0 and agent.fitness == []


@pytest.mark.slow
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


def test_tied_fitness_ranks_by_member_order_and_differs_from_estorchs_order():
    """Ties (the docstring's caveat): ranks follow our interleaved member order, so a flat
    fitness gives a nonzero gradient, and estorch's [+eps_1.., -eps_1..] order another one."""
    noise = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    flat = torch.ones(4, dtype=torch.float64)
    # members +e0, -e0, +e1, -e1 ranked 0..3: u = -1/2, -1/6, 1/6, 1/2
    torch.testing.assert_close(centred_ranks(flat),
                               torch.tensor([-1 / 2, -1 / 6, 1 / 6, 1 / 2], dtype=torch.float64))
    # pair weights u_0 - u_1 = u_2 - u_3 = -1/3: g = -1/3 ([1, 0] + [0, 2]) / 4
    g = es_gradient(flat, noise, clip=None)
    torch.testing.assert_close(g, torch.tensor([-1 / 12, -1 / 6], dtype=torch.float64))
    # estorch's order +e0, +e1, -e0, -e1 ranked 0..3: (-1/2 e0 - 1/6 e1 - 1/6 e0 - 1/2 e1) / 4
    estorch = (-(1 / 2 + 1 / 6) * noise[0] - (1 / 6 + 1 / 2) * noise[1]) / 4
    torch.testing.assert_close(estorch, torch.tensor([-1 / 6, -1 / 3], dtype=torch.float64))
    assert not torch.allclose(g, estorch)
