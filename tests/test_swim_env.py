"""The swim task and the dm_control gymnasium wrapper, with real MuJoCo physics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.swim import forward_speed


@pytest.mark.parametrize("n_joints", [2, 5])
def test_swim_passes_gymnasium_env_checker(n_joints):
    env = gym.make("BioEmbodied/Swim-v0", n_joints=n_joints)
    check_env(env.unwrapped, skip_render_check=True)


def test_dmc_task_by_name_passes_env_checker():
    env = envs.make_state_env("dmc:cartpole-swingup", seed=0)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (5 + 1,)  # position 3 + velocity 2 + time feature


def test_observation_layout_is_joints_velocities_time():
    n = 4
    env = envs.make_state_env("swim", n_joints=n, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4 * n + 3 + 1,)
    np.testing.assert_array_equal(obs[:n], env.physics.data.qpos[3:])
    np.testing.assert_array_equal(obs[n:-1], env.physics.body_velocities())
    assert obs[-1] == -1.0
    obs, *_ = env.step(np.zeros(n))
    assert obs[-1] == pytest.approx(-1.0 + 2.0 / 1000)


def test_reward_is_clipped_forward_head_velocity():
    env = envs.make_state_env("swim", n_joints=5, seed=1)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    seen = []
    for k in range(300):
        action = np.sign(np.sin(2 * np.pi * k / 60 + np.arange(5))) if k > 20 else rng.uniform(-1, 1, 5)
        _, reward, *_ = env.step(action)
        v = forward_speed(env.physics)
        assert v == -env.physics.named.data.sensordata["head_vel"][1]
        assert reward == pytest.approx(np.clip(v / 0.1, 0.0, 1.0), abs=1e-12), f"step {k}: v={v}"
        seen.append(reward)
    assert min(seen) == 0.0 and 0.0 < max(seen), "rollout never exercised the reward's ramp"


def test_episode_is_1000_control_steps_of_30ms_and_truncates():
    env = envs.make_state_env("swim", n_joints=3, seed=0)
    env.reset(seed=0)
    assert env.dm_env.control_timestep() == pytest.approx(0.03)
    assert env.physics.model.opt.timestep == pytest.approx(0.002)
    for k in range(1000):
        obs, _, terminated, truncated, _ = env.step(np.zeros(3))
        assert not terminated
        assert truncated == (k == 999)
    assert obs[-1] == 1.0


def test_same_seed_same_rollout_and_different_seed_differs():
    def rollout(seed):
        env = envs.make_state_env("swim", n_joints=5)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(50):
            out.append(env.step(np.full(5, 0.5))[0])
        return np.stack(out)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3), rollout(4))


def test_state_restore_continues_bit_for_bit():
    env = envs.make_state_env("swim", n_joints=5)
    env.reset(seed=0)
    for _ in range(37):
        env.step(np.full(5, 0.3))
    state = env.get_state()
    actions = np.random.default_rng(1).uniform(-1, 1, (1100, 5))
    reference = [env.step(a) for a in actions]  # crosses the time limit
    env.reset()
    other = envs.make_state_env("swim", n_joints=5)
    other.reset(seed=99)
    other.set_state(state)
    for a, ref in zip(actions, reference):
        out = other.step(a)
        np.testing.assert_array_equal(out[0], ref[0])
        assert out[1:4] == ref[1:4]
        if out[3]:
            break


def test_unknown_env_id_and_too_few_joints_are_clear_errors():
    with pytest.raises(envs.UnknownEnvError, match="unknown environment id 'dmc:foo-bar'"):
        envs.make_state_env("dmc:foo-bar")
    with pytest.raises(envs.UnknownEnvError, match="unknown environment id 'walker'"):
        envs.make_state_env("walker")
    with pytest.raises(ValueError, match="n_joints must be >= 2"):
        envs.make_state_env("swim", n_joints=1)


def test_body_variants_change_the_physics():
    base = envs.make_state_env("swim", n_joints=3)
    longer = envs.make_state_env("swim", n_joints=3, length_scale=1.5, viscosity=0.1, density=1000)
    for env in (base, longer):
        env.reset(seed=0)
    assert longer.physics.model.opt.viscosity == 0.1
    assert longer.physics.model.opt.density == 1000
    seg = longer.physics.named.model.body_pos["segment_0"]
    assert seg[1] == pytest.approx(1.5 * base.physics.named.model.body_pos["segment_0"][1])
