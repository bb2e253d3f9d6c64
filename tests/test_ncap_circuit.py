"""The NCAP swimmer circuit: equations on hand-computed inputs, counts, transfer, reference score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import envs
from agents.policies.actors import NCAPActor
from circuits.ncap import NCAPSwimmerCircuit, oscillator
from trainer.evaluation import run_episode


def test_oscillator_is_a_square_wave_dorsal_half_first():
    t = torch.arange(0, 121)
    od, ov = oscillator(t, 60)
    assert od[:30].eq(1).all() and od[30:60].eq(0).all() and od[60:90].eq(1).all()
    torch.testing.assert_close(ov, 1 - od)
    od7, _ = oscillator(torch.arange(7), 7)  # odd period: floor(T/2) = 3 dorsal steps
    assert od7.tolist() == [1, 1, 1, 0, 0, 0, 0]


def test_equations_on_hand_computed_inputs():
    """N = 3, weights o=1, p=2, i=0.5, c=-0.75; joint limit 2 pi / 4 = pi / 2."""
    c = NCAPSwimmerCircuit(n_joints=3)
    with torch.no_grad():
        for name, value in {"o": 1.0, "p": 2.0, "i": 0.5, "c": -0.75}.items():
            c.weights[name].fill_(value)
    q = torch.tensor([[0.25 * math.pi / 2, -0.5 * math.pi / 2, 3.0]])  # qh = .25, -.5, clip->1
    t = torch.tensor([10])  # dorsal oscillator phase
    act = c.activity(q, t)
    # B neurons: head from oscillator, joint j from joint j-1's same-side proprioception
    bd = [min(1 * 1, 1), min(2 * 0.25, 1), 0.0]            # qd = [.25, 0, 1]
    bv = [0.0, 0.0, min(2 * 0.5, 1)]                        # qv = [0, .5, 0]
    md = [max(min(0.5 * d - 0.75 * v, 1), 0) for d, v in zip(bd, bv)]
    mv = [max(min(0.5 * v - 0.75 * d, 1), 0) for d, v in zip(bd, bv)]
    torch.testing.assert_close(act["b_d"], torch.tensor([bd]))
    torch.testing.assert_close(act["b_v"], torch.tensor([bv]))
    torch.testing.assert_close(act["muscle_d"], torch.tensor([md]))
    torch.testing.assert_close(act["muscle_v"], torch.tensor([mv]))
    expected = torch.tensor([[md[k] - mv[k] for k in range(3)]])
    torch.testing.assert_close(c(q, t), expected)
    assert expected.tolist() == [[0.5, 0.25, -0.5]]


def test_default_weights_give_bang_bang_head_torque():
    c = NCAPSwimmerCircuit(n_joints=5)
    q = torch.zeros(1, 5)
    assert c(q, torch.tensor([0]))[0, 0] == 1.0
    assert c(q, torch.tensor([45]))[0, 0] == -1.0


def test_sign_constraints_clamp_in_forward_and_pass_gradient_at_the_bound():
    c = NCAPSwimmerCircuit(n_joints=4)
    with torch.no_grad():
        c.weights["p"].fill_(-0.3)
        c.weights["c"].fill_(0.4)
    assert c.weight("p").item() == 0.0 and c.weight("c").item() == 0.0
    unsigned = NCAPSwimmerCircuit(n_joints=4, signed=False)
    with torch.no_grad():
        unsigned.weights["p"].fill_(-0.3)
    assert unsigned.weight("p").item() == pytest.approx(-0.3)
    # constant init sits exactly at activation bounds; the gradient must still flow
    fresh = NCAPSwimmerCircuit(n_joints=4)
    q = torch.tensor([[0.3, -0.2, 0.1, 0.4]])
    fresh(q, torch.tensor([5])).sum().backward()
    grads = {k: p.grad.item() for k, p in fresh.weights.items()}
    assert any(g != 0.0 for g in grads.values()), grads
    # raw weights exactly at the sign bound 0 (p, c): the clamp passes the gradient there, so
    # the signed circuit's gradient is the unconstrained one's at the same point, not 0
    at_bound = {}
    for signed in (True, False):
        circuit = NCAPSwimmerCircuit(n_joints=4, signed=signed)
        with torch.no_grad():
            for k, v in {"o": 1.0, "p": 0.0, "i": 1.0, "c": 0.0}.items():
                circuit.weights[k].fill_(v)
        circuit(q, torch.tensor([5])).sum().backward()
        at_bound[signed] = {k: p.grad.item() for k, p in circuit.weights.items()}
    assert at_bound[True] == pytest.approx(at_bound[False]), at_bound
    assert at_bound[True]["p"] != 0.0 and at_bound[True]["c"] != 0.0, at_bound


@pytest.mark.parametrize("n", [2, 5, 13])
def test_parameter_counts_shared_4_unshared_6n(n):
    assert sum(p.numel() for p in NCAPSwimmerCircuit(n).parameters()) == 4
    assert sum(p.numel() for p in NCAPSwimmerCircuit(n, shared=False).parameters()) == 6 * n


def test_initialisations_follow_the_paper_table():
    torch.manual_seed(0)
    signed_const = NCAPSwimmerCircuit(5, shared=False)
    assert all(signed_const.weights[k].eq(1).all() for k in "opi")
    assert signed_const.weights["c"].eq(-1).all()
    signed_rand = NCAPSwimmerCircuit(5, shared=False, constant_init=False)
    assert all(((signed_rand.weights[k] >= 0) & (signed_rand.weights[k] <= 1)).all() for k in "opi")
    assert ((signed_rand.weights["c"] <= 0) & (signed_rand.weights["c"] >= -1)).all()
    # U[0, 1] / U[-1, 0], not merely inside them: 40 bodies' worth of draws fill the interval
    draws = [NCAPSwimmerCircuit(13, shared=False, constant_init=False) for _ in range(40)]
    excitatory = torch.cat([d.weights[k].detach().flatten() for d in draws for k in "opi"])
    inhibitory = torch.cat([d.weights["c"].detach().flatten() for d in draws])
    for values, lo in ((excitatory, 0.0), (-inhibitory, 0.0)):
        assert values.min() >= lo and values.max() <= 1
        assert values.min() < 0.01 and values.max() > 0.99, (values.min(), values.max())
        assert float(values.mean()) == pytest.approx(0.5, abs=0.03)
        assert float(values.var()) == pytest.approx(1 / 12, abs=0.01)
    unsigned_const = NCAPSwimmerCircuit(5, shared=False, signed=False)
    values = torch.cat([p.flatten() for p in unsigned_const.parameters()])
    assert set(values.abs().tolist()) == {1.0} and (values > 0).any() and (values < 0).any()
    unsigned_rand = NCAPSwimmerCircuit(5, shared=False, signed=False, constant_init=False)
    values = torch.cat([p.flatten() for p in unsigned_rand.parameters()])
    assert values.abs().max() <= 1 and (values > 0).any() and (values < 0).any()


@pytest.mark.slow
def test_one_shared_parameter_set_runs_on_every_body_from_2_to_13_joints():
    trained = NCAPSwimmerCircuit(5)
    with torch.no_grad():
        trained.weights["p"].fill_(1.7)
    state = trained.state_dict()
    for n in range(2, 14):
        env = envs.make_state_env("swim", n_joints=n)
        circuit = NCAPSwimmerCircuit(n)
        circuit.load_state_dict(state)
        actor = NCAPActor(circuit, n, env.episode_steps)
        obs, _ = env.reset(seed=0)
        for _ in range(5):
            action = actor(torch.as_tensor(obs, dtype=torch.float32)).detach().numpy()
            assert action.shape == (n,) and np.all(np.abs(action) <= 1)
            obs, *_ = env.step(action)
    with pytest.raises(ValueError, match="built for 5 joints got 7"):
        NCAPSwimmerCircuit(5, shared=False)(torch.zeros(1, 7), torch.zeros(1))


@pytest.mark.slow
def test_untrained_default_circuit_swims_near_the_reference_800_on_n5():
    """ncap.md 8.2: default-init NCAP, N = 5, seeds 0-2 -> 794.1 / 807.0 / 803.4 (mean 801.5)."""
    env = envs.make_state_env("swim", n_joints=5)
    actor = NCAPActor(NCAPSwimmerCircuit(5), 5, env.episode_steps)

    @torch.inference_mode()
    def policy(obs):
        return actor(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    returns = [run_episode(policy, env, seed) for seed in (0, 1, 2)]
    assert np.mean(returns) == pytest.approx(801.5, abs=10), returns
    assert all(abs(r - ref) < 5 for r, ref in zip(returns, (794.1, 807.0, 803.4))), returns
