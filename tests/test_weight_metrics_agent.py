"""Weight, gradient and feature-rank metrics of the off-policy agent (issue 21), against a
brute-force computation on the agent's own parameters, the parameters its optimisers step and
the critic's features captured in its training pass (the rank definitions on hand-computed
matrices: ``test_metrics_definitions.py``)."""

from __future__ import annotations

import math

import numpy as np

from bench.random_replay import fill_from_env
from configs.loader import load_config
from trainer.api import build, train
from conftest import STATE_PRESET, tiny_state

STATE = STATE_PRESET
TINY = tiny_state(warmup=0, every=None)


def flat(tensors) -> np.ndarray:
    return np.concatenate([t.detach().double().numpy().ravel() for t in tensors])


def ranks_by_hand(z: np.ndarray, delta: float = 0.01) -> tuple[int, float]:
    """srank_delta (fewest singular values holding 1 - delta of their sum) and erank
    (exp of the entropy of s / sum s), by numpy's SVD and a plain loop."""
    s = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    total, running, k = s.sum(), 0.0, 0
    while running < (1 - delta) * total - 1e-9:
        running += s[k]
        k += 1
    p = s[s > 0] / total
    return k, float(np.exp(-(p * np.log(p)).sum()))


def test_logged_weight_and_gradient_metrics_equal_a_brute_force_computation():
    cfg = load_config(STATE, [*TINY, "agent.weight_metrics_every=4"])
    env, agent, _ = build(cfg)
    init = {m: flat(getattr(agent, m).parameters()) for m in ("actor", "critic")}
    fill_from_env(agent, env, 64)
    for _ in range(7):
        agent.update()
    # Q1's last hidden map in the critic's own training pass (its first call of an update)
    seen = []
    hook = agent.critic.q1.register_forward_hook(
        lambda m, i, out: seen.append(out[1][1].detach().clone()))
    agent.update()
    hook.remove()
    logged = agent.pending_metrics()
    assert len(logged["weight/critic"]) == 2          # after updates 4 and 8 only
    optimisers = {"actor": agent.actor_opt, "critic": agent.critic_opt}
    for m in ("actor", "critic"):
        module = getattr(agent, m)
        now = flat(module.parameters())
        # the gradient of this update: every parameter its optimiser steps, each has one
        stepped = [p for g in optimisers[m].param_groups for p in g["params"]]
        assert all(p.grad is not None for p in stepped)
        grads = flat(p.grad for p in stepped)
        assert math.isclose(logged[f"weight/{m}"][-1], float(np.sqrt((now ** 2).mean())),
                            rel_tol=1e-5)
        assert math.isclose(logged[f"weight_change/{m}"][-1],
                            float(np.sqrt(((now - init[m]) ** 2).mean())), rel_tol=1e-4)
        assert math.isclose(logged[f"grad_norm/{m}"][-1], float(np.sqrt((grads ** 2).sum())),
                            rel_tol=1e-4)
        assert logged[f"weight_change/{m}"][0] < logged[f"weight_change/{m}"][-1]
    features = seen[0].numpy()
    assert features.shape == (32, 32)                 # batch 32 x hidden 32
    srank, erank = ranks_by_hand(features)
    assert logged["srank/critic"][-1] == srank
    assert math.isclose(logged["erank/critic"][-1], erank, rel_tol=1e-4)
    env.close()


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
