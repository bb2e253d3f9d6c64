"""Representation metrics on synthetic matrices with known answers, and the probe set."""

from __future__ import annotations

import numpy as np
import pytest

from agents.plasticity.representation import (ProbeSet, collect_probe_set, dormant_fraction,
                                   effective_rank, load_or_collect, pairwise_cosine,
                                   participation_ratio, representation_metrics, ridge_r2,
                                   silent_fraction, srank)


def rank_r(n, d, r, seed=0):
    """An ``n x d`` matrix of rank ``r`` with ``r`` equal singular values."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, r)))
    v, _ = np.linalg.qr(rng.normal(size=(d, r)))
    return u @ v.T


@pytest.mark.parametrize("r", [1, 3, 7])
def test_srank_erank_and_participation_ratio_recover_a_known_rank(r):
    z = rank_r(400, 16, r)
    assert srank(z) == r
    assert effective_rank(z) == pytest.approx(r, rel=1e-6)
    # centred columns of u v^T keep r equal variances up to the mean removal
    assert participation_ratio(z) == pytest.approx(r, rel=0.05)


def test_collapse_to_one_point_is_rank_one_cosine_one_and_zero_variance():
    z = np.tile(np.random.default_rng(1).normal(size=(1, 8)), (100, 1))
    assert srank(z) == 1
    assert pairwise_cosine(z) == pytest.approx(1.0)
    assert participation_ratio(z) == 0.0
    metrics = representation_metrics(z, ProbeSet(z, z[:, :2], z[:, 2:4], np.arange(100) % 4, {}))
    assert metrics["repr/feature_var"] == pytest.approx(0.0, abs=1e-20)
    iso = np.random.default_rng(2).normal(size=(4000, 8))
    assert abs(pairwise_cosine(iso)) < 0.02
    assert participation_ratio(iso) == pytest.approx(8, rel=0.05)
    assert srank(iso) == 8


def test_dormant_and_silent_units_count_dead_columns():
    z = np.random.default_rng(3).normal(size=(50, 10))
    z[:, :3] = 0.0            # dead: dormant at tau = 0, silent
    z[:, 3] = 1e-4            # tiny but alive: dormant at 0.025, not at 0
    z[:, 4] = -np.abs(z[:, 4])  # never positive: silent (F&S), not dormant
    assert dormant_fraction(z, 0.0) == pytest.approx(0.3)
    assert dormant_fraction(z, 0.025) == pytest.approx(0.4)
    assert silent_fraction(z) == pytest.approx(0.4)


def test_linear_state_gives_r2_near_one_and_random_latent_near_zero():
    rng = np.random.default_rng(4)
    state = rng.normal(size=(2000, 5))
    mixing = rng.normal(size=(5, 12))
    z = np.tanh(0.1 * state @ mixing)     # nearly linear, tanh-bounded like the trunk
    assert ridge_r2(z[:1000], state[:1000], z[1000:], state[1000:], alpha=1e-3) > 0.99
    noise = rng.normal(size=(2000, 12))
    assert abs(ridge_r2(noise[:1000], state[:1000], noise[1000:], state[1000:])) < 0.05


class CountingEnv:
    """A 2-d point whose state is its observation: lets the probe-set test stay physics-free
    where only the bookkeeping is checked (the real-physics probe is in the e2e test)."""

    class _Data:
        def __init__(self):
            self.qpos, self.qvel = np.zeros(2), np.zeros(2)

    class _Physics:
        def __init__(self):
            self.data = CountingEnv._Data()

    def __init__(self, length=12):
        import gymnasium as gym

        self.length = length
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.physics = self._Physics()

    def reset(self, seed=None):
        self.t = 0
        self.physics.data.qpos = np.random.default_rng(seed).normal(size=2)
        self.physics.data.qvel = np.zeros(2)
        return self.physics.data.qpos.astype(np.float32), {}

    def step(self, action):
        self.t += 1
        self.physics.data.qvel = np.asarray(action, np.float64)
        self.physics.data.qpos = self.physics.data.qpos + self.physics.data.qvel
        return self.physics.data.qpos.astype(np.float32), 0.0, False, self.t >= self.length, {}

    def close(self):
        pass


class ClockEnv(CountingEnv):
    """``CountingEnv`` whose ``qvel`` shows the steps taken in the episode: ``(t, t)``."""

    def step(self, action):
        out = super().step(action)
        self.physics.data.qvel = np.full(2, float(self.t))
        return out


def test_probe_set_is_deterministic_strided_and_saved_once(tmp_path):
    a = collect_probe_set(CountingEnv(), episodes=4, stride=3, seed=7)
    assert len(a.obs) == 4 * 4 and list(np.bincount(a.episode)) == [4] * 4
    np.testing.assert_array_equal(a.obs, a.qpos.astype(np.float32))
    # strided: steps 0, 3, 6, 9 of each 12-step episode; episode e starts from seed 7 + e
    clock = collect_probe_set(ClockEnv(), episodes=2, stride=3, seed=7)
    assert clock.qvel[:, 0].tolist() == [0.0, 3.0, 6.0, 9.0] * 2
    assert clock.episode.tolist() == [0] * 4 + [1] * 4
    for e in range(2):
        np.testing.assert_array_equal(clock.qpos[4 * e],
                                      np.random.default_rng(7 + e).normal(size=2))
    made = []

    def make_env(seed):
        made.append(seed)
        return CountingEnv()

    b = load_or_collect(tmp_path, make_env, 4, 3, 7)
    c = load_or_collect(tmp_path, make_env, 4, 3, 7)
    assert made == [7], "the saved probe set is reused"
    for name in ("obs", "qpos", "qvel", "episode"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(b, name), getattr(c, name))
    metrics = representation_metrics(np.c_[c.qpos, c.qvel, np.ones(len(c.obs))], c, ridge=1e-6)
    assert metrics["repr/probe_r2"] == pytest.approx(1.0, abs=1e-6), "the state itself is linear"
    assert isinstance(ProbeSet.load(tmp_path / "probe.npz").meta["stride"], int)
