"""The quadruped's spinal circuit under the off-policy agent (DDPG presets
configs/{ncap,mlp}_quadruped_walk_ddpg.yaml): its [-1, 1] actions meet PPO's targets through
env.unit_actions, the untrained circuit evaluates to PPO's returns, signs hold after real
updates, bad input, and (slow) both presets train through train.py; the _run PPO presets run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import act_observe_update
from configs.loader import load_config
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent
DDPG = ROOT / "configs/ncap_quadruped_walk_ddpg.yaml"
MLP_DDPG = ROOT / "configs/mlp_quadruped_walk_ddpg.yaml"
PPO = ROOT / "configs/ncap_quadruped_walk_ppo.yaml"
QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]
WEIGHTS = ("fu", "lu", "ru", "ed", "ld", "af", "ab", "ee", "ff")


def spec_bounds(env) -> tuple[np.ndarray, np.ndarray]:
    """The task's actuator ranges, read from dm_control's own action spec."""
    spec = env.dm_env.action_spec()
    return spec.minimum.astype(np.float64), spec.maximum.astype(np.float64)


def observations(env, seed: int, steps: int) -> list[np.ndarray]:
    """A short rollout under uniform random actuator targets (feet land and lift), then the same
    observations with the yaw angles and toe forces pushed far out of range."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    low, high = spec_bounds(env)
    out = [obs]
    for _ in range(steps):
        x = rng.uniform(-1, 1, len(low))
        obs, *_ = env.step(x if env.unit_actions else low + (x + 1) * (high - low) / 2)
        out.append(obs)
    wild = [o.copy() for o in out[::5]]
    for o in wild:
        o[:-1] += rng.normal(0, 5.0, o.size - 1)
    return out + wild


def test_unit_actions_map_minus_one_to_one_affinely_onto_each_actuators_range():
    """``env.unit_actions``: the env holds ``low + (x + 1) (high - low) / 2`` in MuJoCo's ctrl
    (x clipped to [-1, 1]): yaw [-1, 1], lift [-1, 1.1], extend [-0.8, 0.8]."""
    env, _, _ = build(load_config(DDPG))
    low, high = spec_bounds(env)
    assert list(low[:3]) == [-1.0, -1.0, -0.8] and list(high[:3]) == [1.0, 1.1, 0.8]
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    env.reset(seed=0)
    for x in (np.full(12, -1.0), np.full(12, 1.0), np.linspace(-1, 1, 12), np.full(12, 3.0)):
        env.step(x)
        expect = [lo + (min(max(v, -1), 1) + 1) * (hi - lo) / 2 for v, lo, hi in zip(x, low, high)]
        np.testing.assert_allclose(env.physics.data.ctrl, expect, rtol=0, atol=1e-12)


def test_offpolicy_circuit_actions_are_ppos_targets_clamped_to_the_ranges_in_unit_scale():
    """The off-policy circuit's mean, sent through the env's unit map, is PPO's deterministic
    mean clipped to each actuator's range (what PPO's env receives), on real and out-of-range
    observations; with ``w_ee = w_ff = 10`` the extend targets pass +-0.8, so the clamp acts."""
    env, agent, _ = build(load_config(DDPG))
    _, ppo, _ = build(load_config(PPO))
    low, high = spec_bounds(env)
    for boost in (False, True):
        if boost:
            for a in (agent, ppo):
                with torch.no_grad():
                    a.actor.spinal.weights["ee"].fill_(10.0)
                    a.actor.spinal.weights["ff"].fill_(10.0)
        past = 0
        for obs in observations(env, seed=3, steps=60):
            x = agent.act(obs, explore=False)
            y = ppo.act(obs, explore=False)
            assert np.all(np.abs(x) <= 1.0), x
            past += int(np.any(np.abs(y[2::3]) > 0.8))
            np.testing.assert_allclose(low + (x + 1.0) * (high - low) / 2, np.clip(y, low, high),
                                       rtol=0, atol=1e-6)
        assert (past > 0) == boost, "the extend clamp was (not) exercised"


@pytest.mark.slow
def test_untrained_circuit_evaluates_to_ppos_returns_under_the_offpolicy_agent(capsys):
    """``train.py evaluate`` of the untrained circuit: the off-policy agent's noise-free path
    (unit actions, env map) and PPO's deterministic mean give the same returns on the same
    seeds (10000 and 10001 start upright and walk, about 980 each), up to float rounding of
    the [-1, 1] round trip (float32 actions)."""
    from conftest import run_cli

    returns = {}
    for name, preset in (("offpolicy", DDPG), ("ppo", PPO)):
        code, out, err = run_cli(["evaluate", str(preset), "--episodes", "2", "--seed", "10000",
                                  "--json"], capsys)
        assert code == 0, err
        returns[name] = json.loads(out.strip().splitlines()[-1])["returns"]
    assert min(returns["ppo"]) > 900, returns
    np.testing.assert_allclose(returns["offpolicy"], returns["ppo"], rtol=1e-5)


def test_circuit_keeps_nine_weights_and_its_signs_after_offpolicy_updates(tmp_path):
    """Real DDPG updates (lr 0.5) on the quadruped: the actor is the 9 shared scalars, the
    learned ones move, a raw weight started past its bound (``w_ed`` < 0, ``w_lu`` > 0) gets no
    gradient and stays, and every effective weight keeps its sign."""
    cfg = load_config(DDPG, [*QUIET, f"run_dir={tmp_path}", "agent.explore_steps=0",
                             "agent.seed_frames=48", "agent.batch_size=16",
                             "agent.hidden_dim=16", "agent.lr=0.5", "agent.rr_schedule.period=8",
                             "agent.std_schedule=linear(0.3,0.3,1)"])
    env, agent, _ = build(cfg)
    assert agent.trainable_parameters()["actor"] == 9
    assert sorted(agent.actor.state_dict()) == sorted(f"spinal.weights.{k}" for k in WEIGHTS)
    circuit = agent.actor.spinal
    with torch.no_grad():
        circuit.weights["ed"].fill_(-0.5)
        circuit.weights["lu"].fill_(0.5)
    start = {k: float(v.detach()) for k, v in circuit.weights.items()}
    act_observe_update(agent, env, 96, seed=10000)
    assert agent.updates > 0
    raw = {k: float(v.detach()) for k, v in circuit.weights.items()}
    assert (raw["ed"], raw["lu"]) == (-0.5, 0.5), raw
    moved = [k for k in WEIGHTS if raw[k] != start[k]]
    assert len(moved) >= 3, f"the actor did not learn: {raw}"
    for k in WEIGHTS:
        eff = float(circuit.weight(k).detach())
        assert (eff <= 0.0) if k == "lu" else (eff >= 0.0), f"{k}: effective {eff} broke its sign"
    assert circuit.weight("ed").item() == 0.0 and circuit.weight("lu").item() == 0.0


@pytest.mark.parametrize("overrides, message", [
    (["env.id=swim"], "config error: agent.actor.type: the ncap_quadruped circuit drives"),
    (["env.id=dmc:cheetah-run"], "config error: agent.actor.type: the ncap_quadruped circuit"),
    (["env.unit_actions=false"], "env.unit_actions: true"),
    (["env.time_feature=false"], "config error: env.time_feature:"),
    (["agent.actor.drive=4"], "config error: agent.actor.drive:"),
    (["agent.actor.sigma=0.2"], "agent.actor.sigma"),
    (["env.pixels.size=84", "agent.normalize_observations=false"],
     "config error: agent.actor.type: the ncap_quadruped circuit reads joint angles"),
])
def test_bad_offpolicy_quadruped_input_is_one_line_exit_2_and_writes_nothing(
        tmp_path, capsys, overrides, message):
    from conftest import assert_one_line_refusal, run_cli

    run_dir = tmp_path / "run"
    code, _, err = run_cli([str(DDPG), *overrides, f"run_dir={run_dir}"], capsys)
    assert_one_line_refusal(code, err, message)
    assert not run_dir.exists()


TINY_DDPG = [*QUIET, "steps=300", "agent.explore_steps=100", "agent.seed_frames=150",
             "agent.batch_size=16", "agent.hidden_dim=16", "agent.replay_capacity=1000",
             "trainer.eval_every=300", "trainer.eval_episodes=1", "trainer.log_every=150",
             "trainer.checkpoint_every=150"]


@pytest.mark.slow
@pytest.mark.parametrize("preset", [DDPG, MLP_DDPG], ids=["ncap", "mlp"])
def test_ddpg_preset_trains_through_train_py_and_writes_checkpoints(preset, tmp_path, capsys):
    """300 steps (150 random, updates from 150, 50 per 50 steps): checkpoints and evaluations
    are written and the actor's weights moved from their initial values."""
    from conftest import run_cli
    from trainer.checkpoint import load_checkpoint

    run_dir = tmp_path / "run"
    code, _, err = run_cli([str(preset), *TINY_DDPG, f"run_dir={run_dir}"], capsys)
    assert code == 0, err
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt"))
    assert "last.pt" in ckpts and len(ckpts) >= 2, ckpts
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")["agent"]
    assert state["updates"] > 0
    rows = (run_dir / "eval.csv").read_text().splitlines()
    assert len(rows) == 3, rows            # header, step 0, step 300
    _, fresh, _ = build(load_config(preset, [*TINY_DDPG, f"run_dir={tmp_path / 'fresh'}"]))
    init = fresh.actor.state_dict()
    trained = state["actor"]
    assert sorted(trained) == sorted(init)
    if preset == DDPG:
        assert sorted(trained) == sorted(f"spinal.weights.{k}" for k in WEIGHTS)
    assert any(not torch.equal(trained[k], init[k]) for k in init), "the actor did not move"


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["ncap_quadruped_run_ppo", "mlp_quadruped_run_ppo"])
def test_quadruped_run_ppo_presets_load_and_run_a_tiny_step(preset, tmp_path, tiny_ppo, capsys):
    from conftest import run_cli

    cfg = load_config(ROOT / f"configs/{preset}.yaml")
    assert cfg.env.id == "dmc:quadruped-run"
    run_dir = tmp_path / "run"
    code, _, err = run_cli([str(ROOT / f"configs/{preset}.yaml"), *tiny_ppo,
                            "agent.segment=64", "agent.iterations=1", "steps=64",
                            "trainer.eval_at_start=false", "trainer.eval_every=64",
                            f"run_dir={run_dir}"], capsys)
    assert code == 0, err
    assert (run_dir / "checkpoints" / "last.pt").exists()
