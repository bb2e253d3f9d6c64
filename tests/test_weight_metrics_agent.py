"""Weight, gradient and feature-rank metrics of the off-policy agent (issue 21), against a
brute-force computation on the agent's own parameters and a hand example."""

from __future__ import annotations

import math

import numpy as np
import torch

from bench.random_replay import fill_from_env
from agents.representation import effective_rank as np_effective_rank
from agents.representation import srank as np_srank
from agents.weight_metrics import effective_rank, stable_rank
from configs.loader import load_config
from trainer.api import build, train
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY = tiny_state(warmup=0, every=None)


def flat(tensors) -> np.ndarray:
    return np.concatenate([t.detach().double().numpy().ravel() for t in tensors])


def test_logged_weight_and_gradient_metrics_equal_a_brute_force_computation():
    cfg = load_config(STATE, [*TINY, "agent.weight_metrics_every=4"])
    env, agent, _ = build(cfg)
    init = {m: flat(getattr(agent, m).parameters()) for m in ("actor", "critic")}
    fill_from_env(agent, env, 64)
    for _ in range(8):
        agent.update()
    logged = agent.pending_metrics()
    assert len(logged["weight/critic"]) == 2          # after updates 4 and 8 only
    for m in ("actor", "critic"):
        module = getattr(agent, m)
        now = flat(module.parameters())
        grads = flat(p.grad for p in module.parameters() if p.grad is not None)
        assert math.isclose(logged[f"weight/{m}"][-1], float(np.sqrt((now ** 2).mean())),
                            rel_tol=1e-5)
        assert math.isclose(logged[f"weight_change/{m}"][-1],
                            float(np.sqrt(((now - init[m]) ** 2).mean())), rel_tol=1e-4)
        assert math.isclose(logged[f"grad_norm/{m}"][-1], float(np.sqrt((grads ** 2).sum())),
                            rel_tol=1e-4)
        assert logged[f"weight_change/{m}"][0] < logged[f"weight_change/{m}"][-1]
    assert 1 <= logged["srank/critic"][-1] <= 32 and 1 <= logged["erank/critic"][-1] <= 32
    env.close()


def test_feature_ranks_match_the_representation_metrics_and_a_hand_example():
    # rank-2 features with singular values 3 and 1: srank_0.01 = 2; erank = exp(H(3/4, 1/4))
    z = torch.zeros(6, 4)
    z[0, 0], z[1, 1] = 3.0, 1.0
    assert int(stable_rank(z)) == 2
    p = np.array([0.75, 0.25])
    assert math.isclose(float(effective_rank(z)), float(np.exp(-(p * np.log(p)).sum())),
                        rel_tol=1e-6)
    feats = torch.randn(64, 16) @ torch.randn(16, 16)
    assert int(stable_rank(feats)) == np_srank(feats.numpy())
    assert math.isclose(float(effective_rank(feats)), np_effective_rank(feats.numpy()),
                        rel_tol=1e-4)


def test_metrics_off_by_default_and_plotted_columns_when_on(tmp_path):
    run = tmp_path / "w"
    train(load_config(STATE, [*TINY, "steps=600", "agent.seed_frames=200",
                              "agent.weight_metrics_every=50", "trainer.log_every=200",
                              "trainer.eval_every=600", "trainer.eval_episodes=1",
                              f"run_dir={run}"]))
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    for col in ("grad_norm/critic", "weight/actor", "weight_change/critic", "srank/critic"):
        assert col in header
    assert load_config(STATE).agent.weight_metrics_every is None
