"""NCAP+: every switch's equations on hand-computed inputs, counts, one state dict for every N."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import envs
from circuits.ncap import NCAPSwimmerCircuit
from circuits.ncap_plus import NCAPPlusCircuit, graded, legendre, oscillator_wave
from configs.loader import load_config
from trainer.api import build
from trainer.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs/ncap_plus_swim_ppo.yaml"
EVERYTHING = ["agent.actor.oscillator=smooth", "agent.actor.learn_period=true",
              "agent.actor.learn_duty=true", "agent.actor.muscle_tone=0.5",
              "agent.actor.leak=0.01", "agent.actor.velocity=0.5", "agent.actor.gain_profile=4"]


def plus_actor(overrides=(), n_joints=5, env_id="swim"):
    cfg = load_config(PRESET, [*overrides, f"env.n_joints={n_joints}", f"env.id={env_id}"])
    env, agent, _ = build(cfg)
    return env, agent


@pytest.mark.parametrize("period", [60, 61, 7])
def test_all_switches_off_is_exactly_ncap(period):
    plus = NCAPPlusCircuit(period=float(period))
    ncap = NCAPSwimmerCircuit(oscillator_period=period)
    g = torch.Generator().manual_seed(0)
    for n in (2, 5, 9):
        q = (torch.rand(200, n, generator=g) * 2 - 1) * 1.5
        t = torch.arange(200.0)
        torch.testing.assert_close(plus(q, t), ncap(q, t), rtol=0, atol=0)
    assert sum(p.numel() for p in plus.parameters()) == 4


def test_square_oscillator_duty_cycle_and_ventral_half_period_later():
    t = torch.arange(8.0)
    od, ov = oscillator_wave(t, torch.tensor(8.0), torch.tensor(0.25), None)
    assert od.tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert ov.tolist() == [0, 0, 0, 0, 1, 1, 0, 0]


def test_square_oscillator_at_an_odd_period_counts_like_ncap():
    """By hand, NCAP at T = 61: od on for floor(61 / 2) = 30 steps, ov for the other 31."""
    od, ov = oscillator_wave(torch.arange(61.0), torch.tensor(61.0), torch.tensor(0.5), None)
    assert od[:30].tolist() == [1.0] * 30 and od[30:].tolist() == [0.0] * 31
    assert (ov == 1 - od).all()


def test_smooth_oscillator_at_half_duty_is_a_logistic_sine():
    t = torch.tensor([0.0, 15.0, 30.0, 45.0, 7.0])
    od, ov = oscillator_wave(t, torch.tensor(60.0), torch.tensor(0.5), 10.0)
    torch.testing.assert_close(od, torch.sigmoid(10 * torch.sin(2 * math.pi * t / 60)))
    torch.testing.assert_close(ov, 1 - od)
    # duty 0.25: the dorsal wave peaks at the centre of its on-window, f = d / 2
    od, _ = oscillator_wave(torch.tensor([7.5]), torch.tensor(60.0), torch.tensor(0.25), 10.0)
    torch.testing.assert_close(od, torch.sigmoid(torch.tensor([10 * (1 - math.cos(math.pi / 4))])))


def test_learned_period_and_duty_receive_gradient_and_start_at_their_init():
    c = NCAPPlusCircuit(oscillator="smooth", period=50, duty=0.4, learn_period=True,
                        learn_duty=True)
    assert c.readable()["T"] == pytest.approx(50.0) and c.readable()["duty"] == pytest.approx(0.4)
    c(torch.zeros(30, 5), torch.arange(30.0)).sum().backward()
    assert c.timing["log_period"].grad.abs() > 0 and c.timing["duty_logit"].grad.abs() > 0


def test_muscle_tone_equations_and_it_gives_c_a_gradient():
    """N = 3, o=p=i=1, c=-1, tone 0.5; joint limit pi / 2; dorsal oscillator phase."""
    c = NCAPPlusCircuit(muscle_tone=0.5)
    q = torch.tensor([[0.25 * math.pi / 2, -0.5 * math.pi / 2, 0.1]])  # qh = .25, -.5, ...
    act = c.activity(q, torch.tensor([10.0]))
    bd, bv = [1.0, 0.25, 0.0], [0.0, 0.0, 0.5]
    md = [min(max(d - v + 0.5, 0), 1) for d, v in zip(bd, bv)]   # [1, .75, 0]
    mv = [min(max(v - d + 0.5, 0), 1) for d, v in zip(bd, bv)]   # [0, .25, 1]
    torch.testing.assert_close(act["muscle_d"], torch.tensor([md]))
    torch.testing.assert_close(act["muscle_v"], torch.tensor([mv]))
    # c learns with the tone, never without it (the two sides are never co-active)
    x = (torch.rand(300, 5, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    for tone, has_grad in ((None, False), (0.5, True)):
        circuit = NCAPPlusCircuit(muscle_tone=tone)
        circuit(x, torch.arange(300.0)).pow(2).sum().backward()
        assert (circuit.weights["c"].grad.abs() > 0).item() is has_grad


def test_leaky_graded_neuron():
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])
    torch.testing.assert_close(graded(x, 0.1), torch.tensor([-0.1, 0.0, 0.5, 1.0, 1.1]))
    torch.testing.assert_close(graded(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_velocity_proprioception_equations():
    """N = 3 (limit pi / 2), tau 0.3, w_v = 0.5: Bd_2 = sigma(p qd_1 + w_v vd_1)."""
    c = NCAPPlusCircuit(velocity=0.5, velocity_tau=0.3)
    q = torch.tensor([[0.2 * math.pi / 2, -0.4 * math.pi / 2, 0.0]])
    qdot = torch.tensor([[2.0, -1.0, 9.0]])
    vh = [min(max(v * 0.3 / (math.pi / 2), -1), 1) for v in (2.0, -1.0)]  # .382, -.191
    act = c.activity(q, torch.tensor([40.0]), joint_vel=qdot)  # ventral phase
    bd = [0.0, 0.2 + 0.5 * max(vh[0], 0), 0.0]
    bv = [1.0, 0.0 + 0.5 * max(-vh[0], 0), 0.4 + 0.5 * max(-vh[1], 0)]
    torch.testing.assert_close(act["b_d"], torch.tensor([bd]))
    torch.testing.assert_close(act["b_v"], torch.tensor([bv]))


def test_actor_reads_joint_velocities_equal_to_the_physics():
    env, agent = plus_actor(["agent.actor.velocity=0.5"])
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        obs, *_ = env.step(np.full(5, 0.7))
    _, _, vel, _ = agent.actor._inputs(torch.as_tensor(obs, dtype=torch.float32))
    np.testing.assert_allclose(vel.numpy(), env.physics.data.qvel[3:], rtol=1e-5, atol=1e-6)


def test_gain_profile_from_legendre_coefficients():
    u = torch.tensor([-1.0, 0.0, 1.0])
    torch.testing.assert_close(legendre(u, 3), torch.tensor(
        [[1.0, -1.0, 1.0], [1.0, 0.0, -0.5], [1.0, 1.0, 1.0]]))
    c = NCAPPlusCircuit(gain_profile=3)
    torch.testing.assert_close(c.gains(3), torch.ones(3))  # alpha = 0 at init
    with torch.no_grad():
        c.gain.copy_(torch.tensor([0.1, -0.2, 0.3]))
    expected = torch.tensor([0.1 + 0.2 + 0.3, 0.1 - 0.15, 0.1 - 0.2 + 0.3]).exp()
    torch.testing.assert_close(c.gains(3), expected)
    # the gain scales the B -> muscle drive: with i = 1 and Bd = 0.25 on joint 2 of 3
    q = torch.tensor([[0.25 * math.pi / 2, 0.0, 0.0]])
    act = c.activity(q, torch.tensor([40.0]))
    assert float(act["muscle_d"][0, 1].detach()) == pytest.approx(min(0.25 * float(expected[1]), 1.0))


# the fast tier (-m "not slow") keeps the smallest and the largest body
@pytest.mark.parametrize("n", [n if n in (2, 13) else pytest.param(n, marks=pytest.mark.slow)
                               for n in range(2, 14)])
def test_parameter_count_at_most_100_and_one_state_dict_runs_on_every_n(n):
    _, trained = plus_actor(EVERYTHING, n_joints=5)
    env, agent = plus_actor(EVERYTHING, n_joints=n)
    assert agent.trainable_parameters()["policy"] <= 100
    agent.actor.load_state_dict(trained.actor.state_dict())  # strict: same keys and shapes
    obs, _ = env.reset(seed=n)
    action = agent.act(obs, explore=False)
    assert action.shape == (n,) and np.all(np.isfinite(action))


def test_everything_on_counts_12_parameters():
    """o, p, i, c + tone, v + period, duty + 4 gain coefficients (sigma is fixed)."""
    _, agent = plus_actor(EVERYTHING)
    assert agent.trainable_parameters()["policy"] == 12


@pytest.mark.slow
def test_untrained_switches_keep_a_good_start():
    """Muscle tone 0.5 and velocity 0.5 start above NCAP's ~800 on N = 5."""
    env, agent = plus_actor(["agent.actor.muscle_tone=0.5", "agent.actor.velocity=0.5"])
    assert evaluate(agent, env, 1, 10_000)[0] > 820


@pytest.mark.parametrize("overrides, message", [
    (["env.id=dmc:cartpole-swingup"],
     "config error: agent.actor.type: the ncap_plus circuit needs env.id swim or navigate"),
    (["agent.actor.steering=learned"],
     "config error: agent.actor.steering: steering inputs need env.id navigate"),
    (["env.time_feature=false"], "config error: env.time_feature:"),
    (["agent.actor.period=2"],
     "config error: agent.actor.period: Input should be greater than or equal to 4"),
    (["agent.actor.period=500"],
     "config error: agent.actor.period: Input should be less than or equal to 400"),
    (["agent.actor.duty=1.0"], "config error: agent.actor.duty: Input should be less than 1"),
    (["agent.actor.duty=0"], "config error: agent.actor.duty: Input should be greater than 0"),
    (["agent.actor.learn_period=true"], "learn_period needs oscillator 'smooth'"),
    (["env.id=navigate", "env.target.box=0"],
     "config error: env.target.box: Input should be greater than 0"),
    (["env.id=navigate", "env.target.near_box=-1"],
     "config error: env.target.near_box: Input should be greater than 0"),
])
def test_bad_circuit_or_task_options_are_one_line_exit_2_and_write_nothing(
        tmp_path, capsys, overrides, message):
    from conftest import assert_one_line_refusal, run_cli

    run_dir = tmp_path / "run"
    code, _, err = run_cli([str(PRESET), *overrides, f"run_dir={run_dir}"], capsys)
    assert_one_line_refusal(code, err, message)
    assert not run_dir.exists()


def test_timing_lr_scale_gives_period_and_duty_their_own_learning_rate():
    """First Adam step moves every parameter by lr * sign(grad) (by hand: m / sqrt(v) = sign):
    the timing parameters by actor_lr x 10, the synapses by actor_lr."""
    cfg = load_config(ROOT / "configs/ncap_plus_swim_ppo_full.yaml",
                      ["agent.actor.timing_lr_scale=10"])
    _, agent, _ = build(cfg)
    circuit = agent.actor.circuit
    before = {n: p.detach().clone() for n, p in circuit.named_parameters()}
    agent.optimizer.zero_grad()
    for p in circuit.parameters():
        p.grad = torch.ones_like(p)
    agent.optimizer.step()
    lr = cfg.agent.actor_lr
    for name, p in circuit.named_parameters():
        step = (before[name] - p.detach()).abs().max().item()
        expected = 10 * lr if name.startswith("timing.") else lr
        assert step == pytest.approx(expected, rel=1e-3), name
