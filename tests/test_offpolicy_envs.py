"""The off-policy agent over several envs (issue 36): ``trainer.num_envs: N`` with one replay
stream per env (``agents/offpolicy/replay.py``, ``StreamReplay``), batched acting and the
replay ratio per agent step (``agents/offpolicy/acting.py``). n-step targets and auxiliary
windows stay within one env's own steps; sampling is uniform over all stored transitions; a
resumed run is bit for bit the uninterrupted one; pixel envs run in the workers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.common.base import Transition
from agents.offpolicy.replay import StreamReplay, VectorReplay
from configs.loader import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
DDPG = ROOT / "configs/mlp_swim_ddpg.yaml"
TINY = ["agent.batch_size=8", "agent.hidden_dim=16", "agent.replay_capacity=600",
        "agent.explore_steps=60", "agent.seed_frames=90", "agent.rr_schedule.period=1",
        "agent.rr_schedule.rr=0.5", "trainer.eval_every=300", "trainer.eval_episodes=1",
        "trainer.log_every=150", "trainer.checkpoint_every=300", "trainer.eval_at_start=false",
        "trainer.progress=false", "trainer.tensorboard=false"]
GAMMA, N_STEP, A = 0.9, 3, 2


# --- a hand-made two-env stream ----------------------------------------------------------------
def _env_sequence(env: int, steps: int, ends: dict[int, str], rng) -> list[dict]:
    """One env's transitions: observation ``[env, id, 0]`` with a new ``id`` per distinct
    observation; ``ends[t]`` is ``"term"`` or ``"trunc"`` at step ``t`` (then a reset)."""
    seq, ident = [], 0
    obs = np.array([env, ident, 0.0], np.float32)
    for t in range(steps):
        ident += 1
        nxt = np.array([env, ident, 0.0], np.float32)
        end = ends.get(t)
        seq.append({"obs": obs, "action": rng.uniform(-1, 1, A).astype(np.float32),
                    "reward": float(rng.normal()), "next_obs": nxt,
                    "terminated": end == "term", "truncated": end == "trunc"})
        if end:
            ident += 1
            obs = np.array([env, ident, 0.0], np.float32)
        else:
            obs = nxt
    return seq


def _stream_replay(capacity: int, n: int = 2, seed: int = 3) -> StreamReplay:
    c = [capacity // n + (i < capacity % n) for i in range(n)]
    return StreamReplay([VectorReplay(c[i], 3, A, N_STEP, GAMMA, seed) for i in range(n)], seed)


def _feed(replay, seqs: list[list[dict]]) -> None:
    """Every env's step ``t`` in one ``add`` (arrays over envs), as the loop hands them."""
    for t in range(len(seqs[0])):
        rows = [s[t] for s in seqs]
        replay.add(Transition(*(np.array([r[k] for r in rows]) for k in
                                ("obs", "action", "reward", "next_obs", "terminated",
                                 "truncated"))))


def _two_envs(steps: int = 40):
    rng = np.random.default_rng(0)
    return [_env_sequence(0, steps, {6: "term", 17: "trunc", 30: "term"}, rng),
            _env_sequence(1, steps, {2: "trunc", 3: "term", 11: "trunc", 25: "trunc"}, rng)]


@pytest.mark.parametrize("capacity", [400, 50])   # 50: each stream's ring wraps around
def test_each_sampled_target_and_window_is_its_own_envs_hand_computation(capacity):
    """Two envs fed interleaved (different rewards, terminations and time limits): every
    sampled n-step return, discount, next observation and K-step window equals a plain loop
    over that env's own sequence; no window reads another env."""
    seqs = _two_envs()
    replay = _stream_replay(capacity)
    _feed(replay, seqs)
    K = 4
    by_obs = {(int(tr["obs"][0]), int(tr["obs"][1])): (i, t)
              for i, s in enumerate(seqs) for t, tr in enumerate(s)}
    seen = set()
    for _ in range(20):
        b = replay.sample(64, window=K)
        for row in range(64):
            env, t = by_obs[(int(b["obs"][row, 0]), int(b["obs"][row, 1]))]
            seen.add(env)
            seq = seqs[env]
            ret, j = 0.0, 0
            while j < N_STEP and t + j < len(seq):
                ret += GAMMA ** j * seq[t + j]["reward"]
                j += 1
                if seq[t + j - 1]["terminated"] or seq[t + j - 1]["truncated"]:
                    break
            last = seq[t + j - 1]
            assert b["reward"][row, 0] == pytest.approx(ret, rel=1e-5, abs=1e-6)
            assert b["discount"][row, 0] == pytest.approx(
                0.0 if last["terminated"] else GAMMA ** j, rel=1e-6)
            assert np.array_equal(b["next_obs"][row], last["next_obs"])
            assert np.array_equal(b["action"][row], seq[t]["action"])
            valid_last = 0
            for k in range(K):
                valid = t + k < len(seq) and not any(
                    seq[t + i]["terminated"] or seq[t + i]["truncated"] for i in range(k))
                assert b["window_mask"][row, k] == valid, (env, t, k)
                if valid:
                    valid_last = k
                    assert np.array_equal(b["window_action"][row, k], seq[t + k]["action"])
                    assert b["window_reward"][row, k] == np.float32(seq[t + k]["reward"])
                else:
                    assert not b["window_action"][row, k].any()
                assert np.array_equal(b["window_obs"][row, k],
                                      seq[t + valid_last]["next_obs"]), (env, t, k)
                assert b["window_obs"][row, k, 0] == env, "a window read another env's steps"
    assert seen == {0, 1}


@pytest.mark.parametrize("capacity, steps, sampleable", [(400, 600, (197, 100)),
                                                         (2000, 300, (300, 300))])
def test_sampling_is_uniform_over_all_stored_transitions_of_all_envs(capacity, steps,
                                                                     sampleable):
    """Env 0 in 99-step episodes, env 1 in 1-step episodes (a reset slot per transition).
    Full rings of 200 slots (600 steps): env 0 keeps 198 transitions, the oldest without its
    observation (overwritten: not sampleable), env 1 keeps 100. Rings of 1000 (300 steps,
    partly filled: 303 and 600 slots): 300 each. 150k draws: each env gets its share of the
    sampleable transitions and every one of them ``1 / total`` (chi-square, 5 sd)."""
    rng = np.random.default_rng(1)
    seqs = [_env_sequence(0, steps, {t: "trunc" for t in range(98, steps, 99)}, rng),
            _env_sequence(1, steps, {t: "term" for t in range(steps)}, rng)]
    replay = _stream_replay(capacity, seed=11)
    _feed(replay, seqs)
    total = sum(sampleable)
    counts: dict[tuple[int, int], int] = {}
    draws = 0
    for _ in range(300):
        obs = replay.sample(500)["obs"]
        draws += len(obs)
        for key in map(tuple, obs[:, :2].astype(int)):
            counts[key] = counts.get(key, 0) + 1
    env1 = sum(v for (env, _), v in counts.items() if env == 1) / draws
    assert env1 == pytest.approx(sampleable[1] / total, abs=0.01), env1
    assert len(counts) == total, "every sampleable transition is drawn"
    expected = draws / total   # Pearson's chi-square against uniform: mean df, sd sqrt(2 df)
    chi2, df = sum((v - expected) ** 2 / expected for v in counts.values()), total - 1
    assert chi2 < df + 5 * math.sqrt(2 * df), (chi2, df)


def test_stream_replay_state_round_trips_exactly():
    """A saved and reloaded StreamReplay (through torch.save) stores and samples exactly as
    the original, windows included; a one-stream state is refused with the env count."""
    import io

    seqs = _two_envs(60)
    a = _stream_replay(70, seed=5)
    _feed(a, [s[:45] for s in seqs])
    a.sample(16)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    b = _stream_replay(70, seed=99)
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=False))
    for replay in (a, b):
        _feed(replay, [s[45:] for s in seqs])
    for _ in range(3):
        x, y = a.sample(32, window=3), b.sample(32, window=3)
        assert x.keys() == y.keys()
        for k in x:
            assert np.array_equal(x[k], y[k]), k
    one = VectorReplay(70, 3, A, N_STEP, GAMMA, 0)
    with pytest.raises(ValueError, match="1 env stream"):
        b.load_state_dict(one.state_dict())


def test_capacity_is_the_total_over_the_env_streams():
    from agents.offpolicy.replay import make_replay

    cfg = load_config(DDPG, ["agent.replay_capacity=1001", "agent.n_step=3"]).agent
    replay = make_replay(cfg, (7,), False, A, seed=0, num_envs=3)
    assert [s.capacity for s in replay.streams] == [334, 334, 333]
    assert replay.capacity == 1001
    with pytest.raises(ConfigError, match="replay_capacity=8 over trainer.num_envs=8"):
        make_replay(load_config(DDPG, ["agent.replay_capacity=8"]).agent, (7,), False, A, 0,
                    num_envs=8)


# --- the agent ---------------------------------------------------------------------------------
def _agent(overrides: list[str], n: int):
    from agents import make_agent
    from envs.factory import make_env

    cfg = load_config(DDPG, [*TINY, "steps=600", f"trainer.num_envs={n}", *overrides])
    env = make_env(cfg.env, seed=0)
    return make_agent(cfg, env.observation_space, env.action_space, env=env), env


def test_one_env_keeps_the_one_ring_and_the_one_env_protocol():
    agent, env = _agent([], 1)
    assert type(agent.replay) is VectorReplay and agent.replay.capacity == 600
    obs = env.reset(seed=0)[0]
    action = agent.act(obs, explore=True)
    assert action.shape == env.action_space.shape
    agent.observe(Transition(obs, action, 1.0, obs, False, False))
    assert agent.step == 1 and len(agent.replay) == 1


@pytest.mark.parametrize("rr, period, n", [(0.5, 1, 3), (2.0, 1, 4), (1.0, 50, 3),
                                           (0.3, 1, 2)])
def test_updates_after_s_agent_steps_are_the_one_env_rules(rr, period, n):
    """With N envs the updates due after ``S`` agent steps (the loop's step grows by N) equal
    the one-env rule's: ``floor(rr P #{s <= S: s >= seed, s = 0 mod P})``."""
    over = [f"agent.rr_schedule.rr={rr}", f"agent.rr_schedule.period={period}"]
    agent, env = _agent(over, n)
    seed_steps = agent.seed_steps
    d, a = env.observation_space.shape[0], env.action_space.shape[0]
    obs = np.zeros((n, d), np.float32)
    total = 0
    for step in range(n, 300 + 1, n):
        agent.observe(Transition(obs, np.zeros((n, a), np.float32), np.zeros(n), obs,
                                 np.zeros(n, bool), np.zeros(n, bool)))
        assert agent.step == step
        total += agent.updates_due(step)
        assert agent.updates_due(step) == 0, "a repeated step adds nothing"
        hand = math.floor(rr * period * sum(1 for s in range(seed_steps, step + 1)
                                            if s % period == 0) + 1e-9)
        assert total == hand, (step, total, hand)


def test_batched_act_reads_each_row_and_draws_noise_per_row():
    """``act(obs[3])``: row ``i``'s mean action is the one-observation action of ``obs[i]``
    (the evaluation call), and each row draws its own noise; uniform rows while exploring."""
    agent, env = _agent(["agent.explore_steps=0", "agent.std_schedule=linear(0.1,0.1,1)"], 3)
    obs = np.stack([env.reset(seed=s)[0] for s in range(3)]).astype(np.float32)
    mean = agent.act(obs, explore=False)
    assert mean.shape == (3, env.action_space.shape[0])
    for i in range(3):   # equal up to the batched matmul's last bits
        assert np.allclose(agent.act(obs[i], explore=False), mean[i], atol=1e-6), i
    assert not np.allclose(mean[0], mean[1]), "the rows' observations differ"
    noise = agent.act(np.repeat(obs[:1], 3, axis=0), explore=True) - mean[0]
    assert not np.allclose(noise[0], noise[1]) and not np.allclose(noise[1], noise[2]), \
        "each env draws its own noise"
    agent.cfg = agent.cfg.model_copy(update={"explore_steps": 10})
    uniform = agent.act(obs, explore=True)
    assert uniform.shape == (3, env.action_space.shape[0]) and np.abs(uniform).max() <= 1
    assert not np.allclose(uniform[0], uniform[1])


# --- runs --------------------------------------------------------------------------------------
def _tensors_equal(x, y, path="agent") -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys(), path
        for k in x:
            _tensors_equal(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            _tensors_equal(u, v, f"{path}[{i}]")
    elif isinstance(x, torch.Tensor):
        assert torch.equal(x, y), f"{path} differs"
    elif isinstance(x, np.ndarray):
        assert np.array_equal(x, y), f"{path} differs"
    else:
        assert x == y, f"{path}: {x!r} != {y!r}"


@pytest.mark.slow
def test_n3_k2_states_resume_bit_for_bit(tmp_path):
    """N = 3 envs over K = 2 workers, DDPG on swim: 150 steps + stop + 150 equals 300 in one
    go (that one with the envs in this process, K = 1: results do not depend on K): every
    weight, optimiser moment, replay stream (arrays and generators) and log row."""
    from tests.test_drqv2_e2e import read_csv
    from trainer.api import train
    from trainer.checkpoint import load_checkpoint

    args = [*TINY, "env.n_joints=2", "agent.seed_frames=60", "trainer.eval_every=150",
            "trainer.checkpoint_every=150", "trainer.log_every=75", "trainer.num_envs=3"]
    train(load_config(DDPG, [*args, "steps=300", "trainer.env_workers=1",
                             f"run_dir={tmp_path / 'a'}"]))
    b = [*args, "trainer.env_workers=2", f"run_dir={tmp_path / 'b'}"]
    train(load_config(DDPG, [*b, "steps=150"]))
    summary = train(load_config(DDPG, [*b, "steps=300"]))
    assert summary["resumed_from_step"] == 150 and summary["env_steps"] == 300
    sa, sb = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in "ab")
    assert sa["agent"]["updates"] == math.floor(0.5 * (300 - 60 + 1))
    assert len(sa["agent"]["replay"]["streams"]) == 3
    _tensors_equal(sa["agent"], sb["agent"])
    _tensors_equal(sa["trainer"]["obs"], sb["trainer"]["obs"], "obs")
    for name in ("metrics.csv", "eval.csv"):
        assert read_csv(tmp_path / "a" / name) == read_csv(tmp_path / "b" / name), name


@pytest.mark.slow
def test_a_tiny_pixel_run_over_two_workers_trains(tmp_path):
    """DrQ-v2 from 32x32 pixels, N = 2 envs on K = 2 workers (rendered there): updates run,
    each env's stream holds its own frames, and a single eval env acts as before."""
    from trainer.api import train
    from trainer.checkpoint import load_checkpoint

    args = ["env.pixels.size=32", "agent.batch_size=8", "agent.replay_capacity=400",
            "agent.feature_dim=16", "agent.hidden_dim=16", "agent.conv_channels=4",
            "agent.explore_steps=20", "agent.seed_frames=60", "trainer.eval_every=80",
            "trainer.eval_episodes=1", "trainer.log_every=40", "trainer.checkpoint_every=80",
            "trainer.eval_at_start=false", "trainer.progress=false",
            "trainer.tensorboard=false", "trainer.num_envs=2", "trainer.env_workers=2",
            "steps=80", f"run_dir={tmp_path / 'p'}"]
    summary = train(load_config(ROOT / "configs/drqv2_tiny.yaml", args))
    assert summary["env_steps"] == 80 and summary["final_eval_return"] is not None
    state = load_checkpoint(tmp_path / "p" / "checkpoints" / "last.pt")
    assert state["agent"]["updates"] == math.floor(0.5 * (80 - 30 + 1))
    streams = state["agent"]["replay"]["streams"]
    assert [int(s["size"]) for s in streams] == [41, 41]   # 40 steps + the reset image each
    frames = [s["frames"] for s in streams]
    assert frames[0].dtype == torch.uint8 and frames[0].shape[1:] == (3, 32, 32)
    assert not torch.equal(frames[0], frames[1]), "the two envs rendered their own frames"


@pytest.mark.parametrize("every, n", [(2, 3), (50, 8), (1, 4)])
def test_episodes_ending_together_are_checked_once_on_the_updates_before_them(every, n):
    """N envs whose episodes all end in the same loop step (DMC's fixed time limits): the
    trigger behind Adaptive RR checks once per such step that holds an episode number
    ``e = 0 mod every``, at the first such ``e``, on the mean of the updates before it (a
    plain loop over the passes); with one check per window, ``every = 1`` cannot compare a
    window with itself."""
    from agents.plasticity.triggers import MetricTrigger

    trigger = MetricTrigger("fau/critic", "above", threshold=-1.0, every=every)
    rng = np.random.default_rng(2)
    expected, episode = [], 0
    for p in range(1, 60):
        values = rng.uniform(0, 1, 5)
        for v in values:
            trigger.observe({"fau/critic": float(v)})
        ends = list(range(episode + 1, episode + n + 1))
        episode += n
        due = [e for e in ends if e % every == 0]
        if due:
            expected.append((due[0], 100 * p, float(values.mean())))
        for e in ends:
            trigger.end_episode(e, 100 * p)
    rows = [(r["episode"], r["step"], r["value"]) for r in trigger.pop_rows()]
    assert [r[:2] for r in rows] == [e[:2] for e in expected]
    assert all(r[2] == pytest.approx(e[2], abs=1e-12) for r, e in zip(rows, expected))
