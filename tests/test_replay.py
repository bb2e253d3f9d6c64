"""Frame replay: stacks and n-step targets equal a brute-force computation; memory; resume."""

from __future__ import annotations

import numpy as np
import pytest

from agents.common.base import Transition
from agents.offpolicy.replay import FrameReplay

C, H = 3, 4          # tiny frames: 3 x 4 x 4
STACK, N, GAMMA = 3, 3, 0.9


def make_episodes(lengths_and_ends, seed=0):
    """Transitions of consecutive episodes with unique frames; ``ends``: 'term' | 'trunc' | None
    (None = the episode is still running)."""
    rng = np.random.default_rng(seed)
    episodes = []
    for length, end in lengths_and_ends:
        frames = [rng.integers(0, 256, (C, H, H), dtype=np.uint8) for _ in range(length + 1)]

        def stack(k):
            return np.concatenate([frames[max(k - i, 0)] for i in range(STACK - 1, -1, -1)])

        steps = []
        for t in range(length):
            last = t == length - 1
            steps.append(Transition(stack(t), rng.uniform(-1, 1, 2).astype(np.float32),
                                    float(rng.normal()), stack(t + 1),
                                    terminated=last and end == "term",
                                    truncated=last and end == "trunc"))
        episodes.append(steps)
    return episodes


def brute_force(episodes, n=N, gamma=GAMMA):
    """Every (obs, action, R, discount, next_obs) by walking the episodes directly."""
    out = []
    for steps in episodes:
        for t, tr in enumerate(steps):
            ret, j = 0.0, 0
            while j < n and t + j < len(steps):
                ret += gamma ** j * steps[t + j].reward
                j += 1
                if steps[t + j - 1].terminated or steps[t + j - 1].truncated:
                    break
            last = steps[t + j - 1]
            out.append((tr.obs, tr.action, ret, 0.0 if last.terminated else gamma ** j,
                        last.next_obs))
    return out


def fill(replay, episodes):
    for steps in episodes:
        for tr in steps:
            replay.add(tr)


def key(obs, action):
    return obs.tobytes() + action.tobytes()


def assert_samples_match(replay, expected, batch=512):
    table = {key(o, a): (r, d, nxt) for o, a, r, d, nxt in expected}
    b = replay.sample(batch)
    for i in range(batch):
        k = key(b["obs"][i], b["action"][i])
        assert k in table, "sampled a transition whose frame stack or action was never stored"
        r, d, nxt = table[k]
        assert b["reward"][i, 0] == pytest.approx(r, rel=1e-5, abs=1e-5), "n-step return differs"
        assert b["discount"][i, 0] == pytest.approx(d, rel=1e-6), "n-step discount differs"
        np.testing.assert_array_equal(b["next_obs"][i], nxt, "n-step next observation differs")
    return b


def make_replay(capacity=1000, seed=0, n=N):
    return FrameReplay(capacity, (C, H, H), STACK, 2, n, GAMMA, seed)


def test_stacks_and_nstep_targets_match_brute_force_across_episode_ends():
    episodes = make_episodes([(5, "trunc"), (2, "term"), (1, "term"), (7, "trunc"), (4, None)])
    replay = make_replay()
    fill(replay, episodes)
    assert len(replay) == sum(len(e) for e in episodes)
    b = assert_samples_match(replay, brute_force(episodes))
    assert len({key(b["obs"][i], b["action"][i]) for i in range(len(b["obs"]))}) == len(replay), \
        "a batch of 512 should cover all 19 transitions"


def test_termination_stops_bootstrap_and_truncation_bootstraps():
    episodes = make_episodes([(1, "term"), (1, "trunc")])
    replay = make_replay(n=1)
    fill(replay, episodes)
    b = replay.sample(64)
    terminal = np.array([np.array_equal(o, episodes[0][0].obs) for o in b["obs"]])
    assert terminal.any() and not terminal.all()
    np.testing.assert_array_equal(b["discount"][terminal, 0], 0.0)
    np.testing.assert_allclose(b["discount"][~terminal, 0], GAMMA)


def test_unfinished_episode_is_sampleable_at_once_with_shorter_windows():
    (steps,) = make_episodes([(2, None)])
    replay = make_replay()
    replay.add(steps[0])
    b = replay.sample(8)
    np.testing.assert_array_equal(b["obs"], np.broadcast_to(steps[0].obs, b["obs"].shape))
    np.testing.assert_allclose(b["discount"], GAMMA)  # only 1 of n = 3 steps exists yet
    np.testing.assert_allclose(b["reward"][:, 0], steps[0].reward, rtol=1e-6)
    replay.add(steps[1])
    assert_samples_match(replay, brute_force([steps]))


def test_ring_buffer_overwrites_oldest_and_never_samples_broken_stacks():
    episodes = make_episodes([(9, "trunc"), (6, "term"), (8, None)], seed=3)
    replay = make_replay(capacity=12)
    fill(replay, episodes)
    assert replay.size == 12 and len(replay) == 11  # 3 of episode 2 + 8 of episode 3
    expected = brute_force(episodes)
    # transitions whose obs stack is still fully stored: the newest ones that fit
    b = assert_samples_match(replay, expected, batch=256)
    newest = episodes[2][-5:]
    sampled = {key(b["obs"][i], b["action"][i]) for i in range(256)}
    assert {key(tr.obs, tr.action) for tr in newest} <= sampled


def test_reset_without_episode_end_closes_the_episode_as_truncated():
    (a,), (b,) = make_episodes([(1, None)], seed=1), make_episodes([(1, None)], seed=2)
    replay = make_replay(n=3)
    replay.add(a[0])
    replay.add(b[0])  # obs does not continue a: the env was reset
    batch = replay.sample(64)
    np.testing.assert_allclose(batch["discount"], GAMMA)  # each a 1-step window, bootstrapped


def test_bytes_per_transition_is_within_10_percent_of_one_frame():
    replay = FrameReplay(1000, (3, 84, 84), 3, 6, 3, 0.99, 0)
    frame = 3 * 84 * 84
    assert frame <= replay.bytes_per_transition <= 1.1 * frame, replay.bytes_per_transition
    assert replay.projected_bytes == 1000 * replay.bytes_per_slot


def test_state_dict_round_trip_resumes_sampling_exactly():
    episodes = make_episodes([(6, "trunc"), (5, None)], seed=4)
    a = make_replay(seed=7)
    fill(a, episodes[:1])
    b = make_replay(seed=99)
    b.load_state_dict(a.state_dict())
    fill(a, episodes[1:])
    fill(b, episodes[1:])
    for _ in range(3):
        sa, sb = a.sample(16), b.sample(16)
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k], f"'{k}' differs after load_state_dict")


def test_sampling_an_empty_buffer_says_why():
    with pytest.raises(ValueError, match="no transitions yet"):
        make_replay().sample(4)


# --- K-step windows (auxiliary losses) ------------------------------------------------------
def brute_force_windows(episodes, k):
    """``{key(obs, action): (next observations, actions, rewards, mask)}`` walking the
    episodes: step ``i`` is valid while it exists in the same episode."""
    out = {}
    for steps in episodes:
        for t, tr in enumerate(steps):
            obs, acts, rews, mask = [], [], [], []
            for i in range(k):
                ok = t + i < len(steps)
                last = steps[min(t + i, len(steps) - 1)]
                obs.append(last.next_obs)
                acts.append(last.action if ok else np.zeros_like(last.action))
                rews.append(last.reward if ok else 0.0)
                mask.append(ok)
            out[key(tr.obs, tr.action)] = (np.stack(obs), np.stack(acts), np.array(rews),
                                           np.array(mask))
    return out


def assert_windows_match(replay, episodes, k, batch=512):
    table = brute_force_windows(episodes, k)
    b = replay.sample(batch, window=k)
    assert b["window_obs"].shape == (batch, k, C * STACK, H, H)
    for i in range(batch):
        obs, acts, rews, mask = table[key(b["obs"][i], b["action"][i])]
        np.testing.assert_array_equal(b["window_mask"][i], mask, "window mask differs")
        np.testing.assert_array_equal(b["window_obs"][i], obs, "window observations differ")
        np.testing.assert_array_equal(b["window_action"][i], acts, "window actions differ")
        np.testing.assert_allclose(b["window_reward"][i], rews, rtol=1e-6)
    return b


def test_windows_never_cross_episode_ends_and_match_brute_force():
    episodes = make_episodes([(5, "trunc"), (2, "term"), (1, "term"), (7, "trunc"), (4, None)])
    replay = make_replay()
    fill(replay, episodes)
    b = assert_windows_match(replay, episodes, k=4)
    assert b["window_mask"][:, 0].all(), "step 0 is the sampled transition itself"
    assert not b["window_mask"].all(), "some windows must be cut by an episode end"


def test_window_masks_are_right_at_the_ring_wrap_around():
    episodes = make_episodes([(9, "trunc"), (6, "term"), (8, None)], seed=3)
    replay = make_replay(capacity=12)
    fill(replay, episodes)
    assert replay.pos < 9, "the newest episode runs over the ring's end"
    # windows starting before slot capacity - 1 and reaching past it read across the wrap
    b = assert_windows_match(replay, episodes, k=5, batch=256)
    assert not b["window_mask"][:, -1].all(), "windows reaching past the newest step are cut"


def test_window_draws_no_random_numbers_and_stores_nothing():
    episodes = make_episodes([(6, "trunc"), (5, None)], seed=4)
    a, b = make_replay(seed=5), make_replay(seed=5)
    fill(a, episodes)
    fill(b, episodes)
    plain, windowed = a.sample(32), b.sample(32, window=3)
    for name in plain:
        np.testing.assert_array_equal(plain[name], windowed[name])
    b.load_state_dict(a.state_dict())
    some = b.sample(32, window=3, window_obs=[3, 1])
    np.testing.assert_array_equal(some["window_obs"], a.sample(32, window=3)["window_obs"][:, [2, 0]])
    assert a.bytes_per_slot == b.bytes_per_slot
    with pytest.raises(ValueError, match="window"):
        b.sample(4, window=1000)
