"""The plasticity metrics' definitions on hand-computed inputs (issue 40): the stable and
effective rank of feature matrices with known singular values (one definition for the agents'
logs and the representation probe), FAU and the tau-dormant ratio of bfloat16 maps counted as
a float64 count would (also as a bf16 agent logs them), and a gradient norm that ignores a
frozen parameter's stale gradient."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from agents.plasticity import representation
from agents.plasticity.metrics import module_metrics
from agents.offpolicy.precision import native_bf16
from agents.plasticity.weight_metrics import effective_rank, grad_norm, stable_rank
from bench.random_replay import fill_from_env
from configs.loader import load_config
from conftest import STATE_PRESET, tiny_state
from trainer.api import build


def with_singular_values(s: list[float], rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """``U diag(s) V^T`` (float64) with random orthonormal ``U`` (rows) and ``V`` (cols)."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, len(s), generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, len(s), generator=g, dtype=torch.float64))
    return u @ torch.diag(torch.tensor(s, dtype=torch.float64)) @ v.T


SRANK_BY_HAND = [
    # (singular values, delta, srank): the smallest k with sum_{i<=k} s_i >= (1 - delta) sum s
    ([5.0, 3.0, 1.0, 1.0], 0.01, 4),    # cumulative 0.5, 0.8, 0.9, 1.0
    ([5.0, 3.0, 1.0, 1.0], 0.1, 3),     # 0.9 >= 0.9: the boundary counts
    ([5.0, 3.0, 1.0, 1.0], 0.3, 2),     # 0.8 >= 0.7
    ([5.0, 3.0, 1.0, 1.0], 0.6, 1),     # 0.5 >= 0.4
    ([7.0], 0.01, 1),                   # rank 1
]


@pytest.mark.parametrize("s, delta, expected", SRANK_BY_HAND)
def test_stable_rank_is_the_fewest_singular_values_holding_one_minus_delta_of_their_sum(
        s, delta, expected):
    z = with_singular_values(s, rows=12, cols=6)
    assert int(stable_rank(z, delta)) == expected
    assert int(stable_rank(z.float(), delta)) == expected
    assert representation.srank(z.numpy(), delta) == expected


def test_stable_rank_of_a_dead_layer_is_zero_not_the_maximum():
    # a fully dead layer (every feature 0) has no singular value above 0: rank 0, as the
    # representation probe counts it; it used to be logged as min(B, d) + 1 = 33
    dead = torch.zeros(256, 32)
    assert int(stable_rank(dead)) == 0
    assert float(effective_rank(dead)) == 0.0
    assert representation.srank(dead.numpy()) == 0
    assert representation.effective_rank(dead.numpy()) == 0.0


def test_stable_rank_of_an_identity_and_a_rank_one_matrix():
    # identity(n): n equal singular values, k / n >= 0.99 first at k = ceil(0.99 n)
    assert int(stable_rank(torch.eye(100, dtype=torch.float64))) == 99
    assert int(stable_rank(torch.eye(32))) == 32                # 31/32 = 0.969 < 0.99
    rank_one = torch.outer(torch.tensor([1.0, -2.0, 3.0, 0.5]), torch.tensor([4.0, 5.0, -1.0]))
    assert int(stable_rank(rank_one)) == 1
    assert math.isclose(float(effective_rank(rank_one)), 1.0, rel_tol=1e-6)


def test_effective_rank_is_the_exponential_of_the_singular_value_entropy():
    z = with_singular_values([3.0, 1.0], rows=6, cols=4)
    p = [0.75, 0.25]                                            # s / sum s
    by_hand = math.exp(-sum(q * math.log(q) for q in p))
    assert math.isclose(float(effective_rank(z)), by_hand, rel_tol=1e-9)
    assert math.isclose(representation.effective_rank(z.numpy()), by_hand, rel_tol=1e-9)


def test_fau_of_a_bf16_map_is_the_exact_count():
    # 131011 of 262144 elements positive: FAU = 0.49977...; a bfloat16 count rounds 131011 to
    # 131072 (spacing 512 there) and logged 0.5
    positive = 131011
    flat = torch.full((256 * 1024,), -1.0)
    flat[:positive] = 1.0
    m = flat.reshape(256, 1024).bfloat16()
    fau = module_metrics("critic", [m])["fau/critic"]
    assert float(fau) == positive / (256 * 1024), float(fau)


def test_dormant_ratio_of_a_bf16_map_matches_a_float64_count():
    # unit 0 fires 180 / 2^13 (exact in bfloat16) on every sample, the 7 others 1.0:
    # s_0 = 8 (180/8192) / (180/8192 + 7) = 0.025032 > 0.025: not dormant. In bfloat16 the layer
    # mean rounds to 0.87890625, s_0 to 0.025 and tau to 0.025024: counted dormant.
    act = torch.ones(4, 8)
    act[:, 0] = 180 / 8192
    a0 = Fraction(180, 8192)
    score0 = a0 / ((a0 + 7) / 8)
    assert score0 > Fraction(1, 40)
    metrics = module_metrics("critic", [act.bfloat16()], (0.0, 0.025))
    assert float(metrics["dormant0.025/critic"]) == 0.0
    assert float(metrics["dormant0/critic"]) == 0.0
    # and a unit that is dormant by the float64 count stays dormant
    act[:, 0] = 170 / 8192          # s_0 = 0.02365
    assert float(module_metrics("critic", [act.bfloat16()], (0.025,))["dormant0.025/critic"]) \
        == 1 / 8


def test_grad_norm_ignores_a_frozen_parameters_stale_gradient():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net(torch.randn(5, 3)).sum().backward()
    net[1].requires_grad_(False)         # frozen after its gradient was computed (injection)
    trained = np.concatenate([p.grad.numpy().ravel() for p in net[0].parameters()])
    assert net[1].weight.grad is not None
    assert math.isclose(float(grad_norm(net)), float(np.linalg.norm(trained)), rel_tol=1e-6)


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="no native bfloat16 CPU")
def test_a_bf16_agent_logs_fau_and_dormant_ratios_of_its_maps_as_float64_counts():
    """``precision: bf16``: the critic's hidden maps are bfloat16; the logged FAU and dormant
    ratios equal a float64 count over the maps captured in the critic's training pass."""
    cfg = load_config(STATE_PRESET, [*tiny_state(warmup=0, every=None), "agent.precision=bf16",
                                     "agent.plasticity_metrics=true", "agent.hidden_dim=64",
                                     "agent.batch_size=64"])
    env, agent, _ = build(cfg)
    fill_from_env(agent, env, 64)
    env.close()
    seen = {}

    def keep_first_call(q):      # the critic's training pass calls each head first
        def hook(module, inputs, out):
            seen.setdefault(q, [h.detach().clone() for h in out[1]])
        return hook

    hooks = [getattr(agent.critic, q).register_forward_hook(keep_first_call(q))
             for q in ("q1", "q2")]
    agent.update()
    for h in hooks:
        h.remove()
    maps = [m.double().numpy() for q in ("q1", "q2") for m in seen[q]]
    assert seen["q1"][0].dtype == torch.bfloat16
    logged = {k: v[-1] for k, v in agent.pending_metrics().items()}
    positive = sum(int((m > 0).sum()) for m in maps)
    assert logged["fau/critic"] == pytest.approx(positive / sum(m.size for m in maps), abs=1e-7)
    for tau in (0.0, 0.025):
        dormant = 0
        for m in maps:
            mean_abs = np.abs(m).mean(axis=0)
            dormant += int((mean_abs / mean_abs.mean() <= tau).sum())
        assert logged[f"dormant{tau:g}/critic"] == pytest.approx(dormant / (4 * 64), abs=1e-7)
