"""NCAP+'s proprioceptive rhythm (``oscillator: proprioceptive``) against a plainly written
reference of ``docs/reference/proprioceptive_rhythm.md``: bistable B-neurons with hysteresis,
switched by the body, no oscillator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import envs  # noqa: F401
from circuits.ncap_plus import NCAPPlusCircuit
from circuits.proprioceptive import EpisodeSwitches
from configs.loader import load_config
from trainer.api import build
from trainer.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs/ncap_plus_proprio_swim_ppo.yaml"


def proprio_actor(overrides=(), n_joints=5):
    cfg = load_config(PRESET, [*overrides, f"env.n_joints={n_joints}"])
    env, agent, _ = build(cfg)
    return env, agent


# --- the reference: the note's equations, one step at a time, in plain Python -------------
def reference_rollout(angles, steps, w, theta_h, theta_b):
    """Actions of the note's circuit for joint angles ``angles[k][j]`` at control steps
    ``steps[k]`` (0 starts an episode), weights ``w`` = {o, p, i, c, tone}."""
    n = len(angles[0])
    limit = 2 * math.pi / (n + 1)
    clip = lambda x, lo, hi: min(max(x, lo), hi)  # noqa: E731
    actions, states = [], []
    sd = sv = None
    for q, t in zip(angles, steps):
        if t == 0:  # episode start: only the head's dorsal neuron on
            sd, sv = [1] + [0] * (n - 1), [0] * n
        qh = [clip(x / limit, -1.0, 1.0) for x in q]
        for j in range(n):
            if j == 0:  # head: its own bending, read as its own side's stretch
                ud, uv, theta = -qh[0], qh[0], theta_h
            else:  # body: the bending of the joint in front, same side
                ud, uv, theta = qh[j - 1], -qh[j - 1], theta_b
            if ud > theta:
                sd[j] = 1
            elif ud < -theta:
                sd[j] = 0
            if uv > theta:
                sv[j] = 1
            elif uv < -theta:
                sv[j] = 0
        o, p, i, c = max(w["o"], 0), max(w["p"], 0), max(w["i"], 0), min(w["c"], 0)
        tone = max(w.get("tone", 0.0), 0)
        row = []
        for j in range(n):
            gain = o if j == 0 else p
            bd, bv = clip(gain * sd[j], 0, 1), clip(gain * sv[j], 0, 1)
            md = clip(i * bd + c * bv + tone, 0, 1)
            mv = clip(i * bv + c * bd + tone, 0, 1)
            row.append(md - mv)
        actions.append(row)
        states.append((list(sd), list(sv)))
    return actions, states


def wobbling_angles(steps, n, seed):
    """Joint angles that swing past both thresholds, dither between them and restart."""
    rng = np.random.default_rng(seed)
    k = np.arange(steps)[:, None]
    j = np.arange(n)[None, :]
    limit = 2 * math.pi / (n + 1)
    q = 1.1 * limit * np.sin(2 * math.pi * k / 23 - 0.9 * j) * (0.4 + 0.6 * (k % 40 < 25))
    return q + rng.normal(0, 0.05 * limit, (steps, n))


def observations(actor, env, angles, steps):
    """Flat observations holding ``angles`` and the time feature of control steps ``steps``."""
    obs = np.zeros((len(steps), env.observation_space.shape[0]), np.float32)
    j0, j1 = actor.layout["joints"]
    obs[:, j0:j1] = angles
    obs[:, -1] = 2 * np.asarray(steps) / actor.episode_steps - 1
    return torch.as_tensor(obs)


WEIGHTS = {"o": 0.7, "p": 0.8, "i": 0.9, "c": -0.6, "tone": 0.2}


def set_weights(circuit, weights):
    with torch.no_grad():
        for k, v in weights.items():
            circuit.weights[k].fill_(v)


def test_actor_matches_the_plain_reference_step_by_step_and_over_a_batch():
    env, agent = proprio_actor(["agent.actor.muscle_tone=0.2", "agent.actor.head_switch=0.6",
                                "agent.actor.body_switch=0.3"], n_joints=4)
    actor = agent.actor
    set_weights(actor.circuit, WEIGHTS)
    steps = list(range(70)) + list(range(50))  # an episode restarts at row 70
    angles = wobbling_angles(len(steps), 4, seed=1)
    expected, _ = reference_rollout(angles.tolist(), steps, WEIGHTS, 0.6, 0.3)
    obs = observations(actor, env, angles, steps)
    with torch.no_grad():
        single = [actor(o).tolist() for o in obs]  # acting: one observation at a time
        rows = [actor(o[None])[0].tolist() for o in obs]  # or as a batch of one
        batch = actor(obs).tolist()  # PPO's update: the segment in time order
    np.testing.assert_allclose(single, expected, atol=1e-6)
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    np.testing.assert_allclose(batch, expected, atol=1e-6)


def test_activity_after_the_action_repeats_the_step_and_reports_the_states():
    env, agent = proprio_actor(n_joints=3)
    steps = list(range(40))
    angles = wobbling_angles(40, 3, seed=2)
    _, states = reference_rollout(angles.tolist(), steps, {"o": 1, "p": 1, "i": 1, "c": -1},
                                  0.8, 0.05)
    obs = observations(agent.actor, env, angles, steps)
    with torch.no_grad():
        for k, o in enumerate(obs):
            agent.actor(o)
            act = agent.actor.activity(o)  # read after acting, as agent_rollout does
            assert act["switch_d"].tolist() == states[k][0], k
            assert act["switch_v"].tolist() == states[k][1], k


def switch_run(u_in_front, theta=0.3):
    """States of joint 2's dorsal B-neuron for bending ``u`` (normalised) of joint 1."""
    n = 3
    limit = 2 * math.pi / (n + 1)
    switches = EpisodeSwitches(head=0.9, body=theta)
    out = []
    for t, u in enumerate(u_in_front):
        q = torch.tensor([u * limit, 0.0, 0.0])
        out.append(int(switches.states(q, torch.tensor(float(t)))[0, 1]))
    return out


def test_a_flip_needs_the_threshold_crossed_and_none_happens_between_thresholds():
    # theta 0.3: on only above +0.3, off only below -0.3, otherwise the state holds
    assert switch_run([0.0, 0.29, 0.31, 0.1, -0.29, 0.2, -0.31, 0.29, 0.0]) == \
        [0, 0, 1, 1, 1, 1, 0, 0, 0]
    rng = np.random.default_rng(0)
    between = list(rng.uniform(-0.29, 0.29, 200))
    assert switch_run([0.5] + between) == [1] * 201
    assert switch_run([-0.5] + between) == [0] * 201


def test_the_head_is_a_relay_on_its_own_bending():
    """Head dorsal neuron: on at the start, off once the head bent dorsally past theta_h, on
    again once it bent ventrally past it; the ventral one is its complement."""
    limit = 2 * math.pi / 4
    switches = EpisodeSwitches(head=0.5, body=0.1)
    head = [0.0, 0.4, 0.6, 0.2, -0.4, -0.6, 0.0]
    got = [switches.states(torch.tensor([h * limit, 0.0, 0.0]), torch.tensor(float(t)))[:, 0]
           .tolist() for t, h in enumerate(head)]
    assert got == [[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [1, 0]]


def test_a_rigid_body_gives_constant_states_and_no_oscillation():
    """No body feedback (the joints never move): the states stay at their start, the torque
    is constant; NCAP's oscillator would alternate every 30 steps."""
    env, agent = proprio_actor()
    steps = list(range(600))
    obs = observations(agent.actor, env, np.zeros((600, 5)), steps)
    with torch.no_grad():
        actions = torch.stack([agent.actor(o) for o in obs])
        states = torch.stack([agent.actor.activity(o)["switch_d"] for o in obs])
    assert (actions == actions[0]).all() and (states == states[0]).all()
    assert actions[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # head dorsal, body silent


def test_states_restart_with_each_episode():
    env, agent = proprio_actor(n_joints=4)
    angles = wobbling_angles(60, 4, seed=3)
    obs = observations(agent.actor, env, angles, list(range(60)))
    with torch.no_grad():
        for o in obs:
            agent.actor(o)
        moved = agent.actor.activity(obs[-1])
        first = agent.actor.activity(observations(agent.actor, env, np.zeros((1, 4)), [0])[0])
    assert moved["switch_d"].tolist() != [1, 0, 0, 0] or moved["switch_v"].tolist() != [0] * 4
    assert first["switch_d"].tolist() == [1, 0, 0, 0] and first["switch_v"].tolist() == [0] * 4


def test_an_episode_seen_from_its_middle_is_exact_from_each_first_threshold_crossing():
    """A batch (or a step) whose episode began out of view guesses each state from its input's
    sign, then agrees with the full episode from that neuron's first threshold crossing on."""
    theta_h, theta_b = 0.6, 0.3
    switches = EpisodeSwitches(theta_h, theta_b)
    angles = wobbling_angles(120, 4, seed=5)
    _, states = reference_rollout(angles.tolist(), list(range(120)), WEIGHTS, theta_h, theta_b)
    full = np.array([[d, v] for d, v in states])  # [T, 2, N]
    window = slice(30, 120)
    got = switches.states(torch.as_tensor(angles[window]), torch.arange(30.0, 120.0)).numpy()
    limit = 2 * math.pi / 5
    qh = np.clip(angles[window] / limit, -1, 1)
    u_d = np.concatenate([-qh[:, :1], qh[:, :-1]], axis=1)
    theta = np.array([theta_h] + [theta_b] * 3)
    crossed = np.abs(u_d) > theta
    for j in range(4):
        first = int(np.argmax(crossed[:, j]))
        assert crossed[first, j]
        np.testing.assert_array_equal(got[first:, :, j], full[window][first:, :, j], err_msg=str(j))
        guess_d = (u_d[0, j] >= 0) if j == 0 else (u_d[0, j] > 0)
        assert got[0, 0, j] == float(guess_d), j  # before it: the sign rule
    # the same guess for one observation whose step does not follow the previous call's
    switches.states(torch.as_tensor(angles[0]), torch.tensor(0.0))
    np.testing.assert_array_equal(
        switches.states(torch.as_tensor(angles[30]), torch.tensor(30.0)).numpy(), got[0])


def test_a_batch_out_of_time_order_is_refused():
    env, agent = proprio_actor()
    obs = observations(agent.actor, env, np.zeros((5, 5)), [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="time order"):
        agent.actor(obs[[0, 3, 1, 2, 4]])


def test_signs_hold_after_an_optimiser_step_pushes_weights_past_their_bounds():
    circuit = NCAPPlusCircuit(oscillator="proprioceptive", head_switch=0.6, body_switch=0.3)
    steps = list(range(50))
    angles = wobbling_angles(50, 5, seed=4)
    q = torch.as_tensor(angles, dtype=torch.float32)
    switches = EpisodeSwitches(0.6, 0.3).states(q, torch.arange(50.0))
    opt = torch.optim.SGD(circuit.parameters(), lr=50.0)
    act = circuit.activity(q, torch.arange(50.0), switches=switches)
    # minimising B and the co-activation pushes o, p, i below 0 and c above 0
    loss = act["b_d"].sum() + act["b_v"].sum() - (act["muscle_d"] * act["muscle_v"]).sum() \
        - circuit.weights["c"]
    loss.backward()
    opt.step()
    raw = {k: float(v.detach()) for k, v in circuit.weights.items()}
    assert raw["o"] < 0 and raw["p"] < 0 and raw["c"] > 0, raw
    eff = {k: float(circuit.weight(k).detach()) for k in ("o", "p", "i", "c")}
    assert eff["o"] == 0 and eff["p"] == 0 and eff["i"] >= 0 and eff["c"] == 0
    expected, _ = reference_rollout(angles.tolist(), steps, raw, 0.6, 0.3)
    with torch.no_grad():
        got = circuit(q, torch.arange(50.0), switches=switches)
    np.testing.assert_allclose(got.tolist(), expected, atol=1e-6)


def test_one_state_dict_for_every_body_size():
    _, five = proprio_actor(["agent.actor.muscle_tone=0.3", "agent.actor.gain_profile=2"])
    shapes = {k: tuple(v.shape) for k, v in five.actor.state_dict().items()}
    for n in (2, 9):
        env, agent = proprio_actor(["agent.actor.muscle_tone=0.3",
                                    "agent.actor.gain_profile=2"], n_joints=n)
        assert {k: tuple(v.shape) for k, v in agent.actor.state_dict().items()} == shapes
        agent.actor.load_state_dict(five.actor.state_dict())  # strict
        obs, _ = env.reset(seed=n)
        assert agent.act(obs, explore=False).shape == (n,)
    assert sum(p.numel() for p in five.actor.parameters()) == 4 + 1 + 2  # o p i c, tone, alpha


@pytest.mark.parametrize("override, message", [
    ("agent.actor.velocity=0.5", "velocity does not combine with oscillator 'proprioceptive'"),
    ("agent.actor.head_switch=1.0", "agent.actor.head_switch: Input should be less than 1"),
    ("agent.actor.body_switch=0", "agent.actor.body_switch: Input should be greater than 0"),
])
def test_bad_rhythm_options_are_one_line_exit_2(tmp_path, capsys, override, message):
    import train as cli

    code = cli.main([str(PRESET), override, f"run_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_untrained_circuit_swims_like_untrained_ncap_and_far_better_than_random_actions():
    env, agent = proprio_actor()
    circuit_return = evaluate(agent, env, 1, 10_000)[0]
    ncap_env, ncap, _ = build(load_config(ROOT / "configs/ncap_swim_ppo.yaml"))
    ncap_return = evaluate(ncap, ncap_env, 1, 10_000)[0]
    rng = np.random.default_rng(0)
    random_return = 0.0
    env.reset(seed=10_000)
    for _ in range(env.episode_steps):
        _, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 5))
        random_return += r
        if term or trunc:
            break
    assert circuit_return > 4 * random_return, (circuit_return, random_return)
    assert circuit_return > 0.9 * ncap_return, (circuit_return, ncap_return)
    assert evaluate(agent, env, 1, 10_000)[0] == circuit_return  # states restart per episode


@pytest.mark.slow
def test_a_tiny_ppo_run_updates_the_circuit_and_keeps_its_signs(tmp_path):
    from trainer.api import train

    cfg = load_config(PRESET, ["steps=256", "agent.segment=128", "agent.iterations=3",
                               "agent.kl_target=null", "trainer.eval_every=256",
                               "trainer.eval_episodes=1", "trainer.checkpoint_every=256",
                               f"run_dir={tmp_path / 'run'}"])
    train(cfg)
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)
    weights = {k.split(".")[-1]: float(v) for k, v in state["agent"]["actor"].items()
               if k.startswith("circuit.weights.")}
    assert weights != {"o": 1.0, "p": 1.0, "i": 1.0, "c": -1.0}, weights
