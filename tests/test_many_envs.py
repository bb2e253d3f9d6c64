"""Many environments per run (issue 36): ``trainer.num_envs`` envs over ``trainer.env_workers``
processes (``envs/vector.py``, the loop's several-env path in ``trainer/loop.py``, PPO's
batched segment). Each env steps as a lone env would; GAE runs along each env's own steps;
results do not depend on the worker count; a resumed run is bit for bit the uninterrupted one;
no worker outlives a killed trainer; a dying worker stops the run with one line naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from configs.loader import ConfigError, load_config
from tests.conftest import assert_one_line_refusal, run_cli

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "configs/mlp_swim_ppo.yaml"
TINY = ["agent.segment=510", "agent.iterations=4", "agent.critic_hidden=[32,32]",
        "trainer.eval_every=600", "trainer.eval_episodes=1", "trainer.log_every=300",
        "trainer.checkpoint_every=600", "trainer.progress=false", "trainer.tensorboard=false"]


# --- the envs ----------------------------------------------------------------------------------
def test_each_env_steps_and_resets_as_a_lone_env_would():
    """Two in-process envs against two envs stepped by hand: the same observations, rewards
    and flags; at the time limit the step returns the episode's last observation (time
    feature +1, the bootstrap state) and the next action reads the reset one (-1)."""
    from configs.schema import EnvConfig
    from envs.factory import make_env
    from envs.vector import VectorEnv, env_seed

    cfg = EnvConfig(id="swim", n_joints=2)
    vec = VectorEnv(cfg, 2, 1, seed=7)
    hand = [make_env(cfg, seed=env_seed(7, i)) for i in range(2)]
    obs, _ = vec.reset(seed=7)
    assert np.array_equal(obs, np.stack([e.reset(seed=env_seed(7, i))[0]
                                         for i, e in enumerate(hand)]))
    assert not np.array_equal(obs[0], obs[1]), "the two envs must start apart"
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(1001):
        actions = rng.uniform(-1, 1, (2, 2)).astype(np.float32)
        reached, reward, terminated, truncated, after = vec.step(actions)
        for i, env in enumerate(hand):
            o, r, te, tr, _ = env.step(actions[i])
            assert np.array_equal(reached[i], o) and reward[i] == r
            assert (terminated[i], truncated[i]) == (te, tr)
            if te or tr:
                ends += 1
                assert reached[i][-1] == 1.0 and after[i][-1] == -1.0
                o = env.reset()[0]
            assert np.array_equal(after[i], o)
    assert ends == 2, "each env's 1000-step episode ended once"


def test_env_state_moves_between_worker_layouts_exactly():
    """``get_state`` of one VectorEnv restored into another (fresh, other seed) continues it
    exactly: each env's physics and task RNG travel."""
    from configs.schema import EnvConfig
    from envs.vector import VectorEnv

    cfg = EnvConfig(id="swim", n_joints=2)
    a, b = VectorEnv(cfg, 3, 1, seed=1), VectorEnv(cfg, 3, 1, seed=2)
    a.reset(seed=1)
    b.reset(seed=2)
    rng = np.random.default_rng(1)
    for _ in range(995):  # into the last steps of the episode: the resets come after the copy
        a.step(rng.uniform(-1, 1, (3, 2)).astype(np.float32))
    b.set_state(a.get_state())
    for _ in range(10):
        actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        for x, y in zip(a.step(actions), b.step(actions)):
            assert np.array_equal(x, y)


def test_default_workers_never_exceed_the_cores_or_the_envs():
    from envs.vector import default_workers

    assert [default_workers(n, cores=2) for n in (1, 2, 3, 8)] == [1, 2, 2, 2]
    assert default_workers(3, cores=16) == 3
    assert default_workers(4) <= len(os.sched_getaffinity(0))


# --- PPO's segment over envs -------------------------------------------------------------------
def test_gae_over_envs_is_each_envs_own_gae():
    """``gae`` on ``[T, N]`` arrays equals a hand loop along each env's steps alone."""
    from agents.ppo.agent import gae

    rng = np.random.default_rng(3)
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    r, v, nv = rng.normal(size=(T, N)), rng.normal(size=(T, N)), rng.normal(size=(T, N))
    term = np.zeros((T, N), bool)
    trunc = np.zeros((T, N), bool)
    term[2, 0], trunc[4, 1], trunc[1, 2], term[5, 2] = True, True, True, True
    got = gae(r, v, nv, term, trunc, gamma, lam)
    for i in range(N):
        last = 0.0
        for t in reversed(range(T)):
            delta = r[t, i] + gamma * (0.0 if term[t, i] else nv[t, i]) - v[t, i]
            last = delta + (0.0 if term[t, i] or trunc[t, i] else gamma * lam * last)
            assert got[t, i] == pytest.approx(last, abs=1e-12), (t, i)


def test_ppo_segment_fills_after_segment_over_n_steps_of_each_env():
    from agents import make_agent
    from envs.factory import make_env
    from agents.common.base import Transition

    cfg = load_config(MLP, [*TINY, "agent.segment=12", "trainer.num_envs=4", "steps=12"])
    env = make_env(cfg.env, seed=0)
    agent = make_agent(cfg, env.observation_space, env.action_space, env=env)
    d = env.observation_space.shape[0]
    obs = np.zeros((4, d))
    for t in range(3):
        assert agent.updates_due(4 * t) == 0
        actions = agent.act(obs, explore=True)
        assert actions.shape == (4, env.action_space.shape[0])
        agent.observe(Transition(obs, actions, np.ones(4), obs, np.zeros(4, bool),
                                 np.zeros(4, bool)))
    assert agent.updates_due(12) == 1
    assert np.isfinite(agent.update()["loss/critic"])


def test_ppo_update_over_envs_equals_one_env_fed_each_envs_steps_in_turn():
    """Two envs' segments (each ending at a time limit) in one N = 2 update against a one-env
    agent fed env 0's steps then env 1's: GAE stays within each env, so the two updates see
    the same transitions, advantages and returns (full-batch means: equal up to summation
    order)."""
    from agents import make_agent
    from agents.common.base import Transition
    from envs.factory import make_env
    from trainer.checkpoint import seed_everything

    args = [*TINY, "agent.segment=40", "agent.iterations=3", "agent.kl_target=null"]
    one = load_config(MLP, [*args, "steps=40"])
    two = load_config(MLP, [*args, "steps=40", "trainer.num_envs=2"])
    env = make_env(one.env, seed=0)
    agents = []
    for cfg in (one, two):
        seed_everything(0)
        agents.append(make_agent(cfg, env.observation_space, env.action_space, env=env))
    a1, a2 = agents
    rng = np.random.default_rng(5)
    T, d, a = 20, env.observation_space.shape[0], env.action_space.shape[0]
    obs = rng.normal(size=(T + 1, 2, d))
    act = rng.uniform(-1, 1, size=(T, 2, a)).astype(np.float32)
    rew = rng.normal(size=(T, 2))
    trunc = np.zeros((T, 2), bool)
    trunc[-1] = True
    trunc[7, 1] = True  # env 1 also hits a time limit mid-segment
    for i in range(2):
        for t in range(T):
            a1.observe(Transition(obs[t, i], act[t, i], rew[t, i], obs[t + 1, i], False,
                                  trunc[t, i]))
    for t in range(T):
        a2.observe(Transition(obs[t], act[t], rew[t], obs[t + 1], np.zeros(2, bool), trunc[t]))
    m1, m2 = a1.update(), a2.update()
    for k in ("loss/critic", "loss/actor", "value_mean", "advantage_std"):
        assert m2[k] == pytest.approx(m1[k], rel=1e-5, abs=1e-7), k
    for p1, p2 in zip(a1.critic.parameters(), a2.critic.parameters()):
        assert torch.allclose(p1, p2, rtol=1e-4, atol=1e-6)


# --- ES: the population over envs -------------------------------------------------------------
ES = ROOT / "configs/ncap_swim_es.yaml"
ES_TINY = ["trainer.eval_every=3000", "trainer.eval_episodes=1", "trainer.log_every=1000",
           "trainer.checkpoint_every=3000", "trainer.eval_at_start=false",
           "trainer.progress=false", "trainer.tensorboard=false"]


def test_es_members_run_in_parallel_and_update_as_one_env_would():
    """Four envs, population 8: env i takes the next member when its episode starts (env
    order), acts as that member would in a one-env run, and its return is that member's
    fitness whatever order the episodes end in: the update equals the one-env agent's fed the
    same fitness member by member."""
    from agents import make_agent
    from envs.factory import make_env

    one = load_config(ES, ["steps=8000"])
    four = load_config(ES, ["steps=8000", "trainer.num_envs=4"])
    env = make_env(one.env, seed=0)
    a1 = make_agent(one, env.observation_space, env.action_space, env=env)
    a4 = make_agent(four, env.observation_space, env.action_space, env=env)
    rng = np.random.default_rng(0)
    fitness = rng.normal(size=8) * 100
    expected = []
    for m in range(8):  # the one-env agent: members one after the other, two steps each
        o = rng.normal(size=(2, env.observation_space.shape[0]))
        expected.append((o, [a1.act(o[0], True), a1.act(o[1], True)]))
        a1.on_episode_end({"return": float(fitness[m])})
    for first, end_order in ((0, [2, 0, 3, 1]), (4, [1, 3, 0, 2])):
        obs = [np.stack([expected[first + i][0][k] for i in range(4)]) for k in range(2)]
        for k in range(2):
            acts = a4.act(obs[k], True)
            for i in range(4):
                assert np.array_equal(acts[i], expected[first + i][1][k]), (first + i, k)
        for i in end_order:
            assert a4.updates_due(0) == 0
            a4.on_episode_end({"return": float(fitness[first + i]), "env": i})
    assert a1.updates_due(0) == a4.updates_due(0) == 1
    a1.update()
    a4.update()
    assert torch.equal(a1.theta, a4.theta)


@pytest.mark.slow
def test_es_over_two_workers_resumes_bit_for_bit_mid_generation(tmp_path):
    """ES, population 2 on 2 envs over 2 workers (a generation: 2 x 1000 steps): 3000 + stop
    + 1000 steps (the stop in the middle of the second generation) equals 4000 in one go."""
    from tests.test_trainer import read_csv
    from trainer.api import train
    from trainer.checkpoint import load_checkpoint

    args = [*ES_TINY, "agent.population=2", "trainer.num_envs=2", "trainer.env_workers=2"]
    train(load_config(ES, [*args, "steps=4000", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(ES, [*args, "steps=3000", f"run_dir={tmp_path / 'b'}"]))
    train(load_config(ES, [*args, "steps=4000", f"run_dir={tmp_path / 'b'}"]))
    sa, sb = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in "ab")
    assert sa["agent"]["updates"] == 2 and sa["step"] == sb["step"] == 4000
    for key in ("theta", "noise"):
        assert torch.equal(sa["agent"][key], sb["agent"][key]), key
    assert torch.equal(sa["agent"]["envs"]["params"], sb["agent"]["envs"]["params"])
    for name in ("metrics.csv", "eval.csv"):
        assert read_csv(tmp_path / "a" / name) == read_csv(tmp_path / "b" / name), name


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["configs/ncap_plus_proprio_swim_ppo.yaml"])
def test_several_envs_are_refused_for_an_agent_that_steps_one(preset):
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / preset, ["trainer.num_envs=4"])
    msg = str(e.value)
    assert "\n" not in msg and "trainer.num_envs=1" in msg and "num_envs=4" in msg


@pytest.mark.parametrize("override, words", [
    (["trainer.num_envs=3", "steps=1000"], ("num_envs=3", "steps=1000")),
    (["trainer.num_envs=2", "trainer.env_workers=3"], ("env_workers=3", "num_envs=2")),
])
def test_envs_that_do_not_fit_are_refused_on_load(override, words):
    with pytest.raises(ConfigError) as e:
        load_config(MLP, ["steps=1200", *override])
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words)


def test_a_segment_the_envs_cannot_share_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = run_cli([str(MLP), *TINY, "steps=1200", "trainer.num_envs=4",
                            f"run_dir={tmp_path / 'r'}"], capsys)
    assert_one_line_refusal(code, err, "agent.segment=510", "trainer.num_envs=4")
    assert not (tmp_path / "r").exists()


# --- runs --------------------------------------------------------------------------------------
def _args(n: int, k: int, steps: int, run: Path) -> list[str]:
    return [*TINY, f"steps={steps}", f"run_dir={run}", f"trainer.num_envs={n}",
            f"trainer.env_workers={k}"]


@pytest.mark.slow
def test_n3_k2_resumes_bit_for_bit_and_matches_one_process(tmp_path):
    """N = 3 envs on K = 2 workers: 600 steps + stop + 600 equals 1200 in one go, and so does
    the run started with the envs in this process (K = 1) and resumed on two workers."""
    from tests.test_trainer import assert_same_run
    from trainer.api import train

    train(load_config(MLP, _args(3, 2, 1200, tmp_path / "a")))
    train(load_config(MLP, _args(3, 2, 600, tmp_path / "b")))
    summary = train(load_config(MLP, _args(3, 2, 1200, tmp_path / "b")))
    assert summary["resumed_from_step"] == 600 and summary["env_steps"] == 1200
    assert_same_run(tmp_path / "a", tmp_path / "b")
    train(load_config(MLP, _args(3, 1, 600, tmp_path / "c")))
    train(load_config(MLP, _args(3, 2, 1200, tmp_path / "c")))
    assert_same_run(tmp_path / "a", tmp_path / "c")


@pytest.mark.slow
def test_episodes_end_per_env_and_bootstrap_from_the_last_observation(tmp_path, monkeypatch):
    """Two envs, 1200 steps each: one 1000-step episode per env; at the time limit the agent
    observes the episode's last observation (time feature +1) as ``next_obs`` and acts next
    from the reset one (-1)."""
    from agents.ppo.agent import PPOAgent
    from trainer.api import train

    seen = []
    real = PPOAgent.observe

    def observe(self, tr):
        seen.append(tr)
        real(self, tr)

    monkeypatch.setattr(PPOAgent, "observe", observe)
    summary = train(load_config(MLP, [*_args(2, 1, 2400, tmp_path / "r"), "agent.segment=600"]))
    assert summary["episodes"] == 2
    ends = [(t, i) for t, tr in enumerate(seen) for i in np.flatnonzero(tr.truncated)]
    assert ends == [(999, 0), (999, 1)]
    for t, i in ends:
        assert seen[t].next_obs[i][-1] == 1.0 and seen[t + 1].obs[i][-1] == -1.0
        assert not np.array_equal(seen[t].next_obs[i], seen[t + 1].obs[i])


@pytest.mark.slow
def test_ctrl_c_to_the_whole_process_group_stops_and_resumes_exactly(tmp_path):
    """SIGINT to the trainer and its workers at once (Ctrl-C in a terminal): the workers keep
    running, the trainer finishes its step and checkpoints every env's state; the same command
    then resumes to the uninterrupted run's result."""
    from tests.test_trainer import assert_same_run
    from trainer.api import train
    from trainer.checkpoint import load_checkpoint

    args = [*TINY, "steps=1200", "trainer.num_envs=2", "trainer.env_workers=2",
            "trainer.checkpoint_every=100000"]
    train(load_config(MLP, [*args, f"run_dir={tmp_path / 'a'}"]))
    cmd = [sys.executable, str(ROOT / "train.py"), str(MLP), *args, f"run_dir={tmp_path / 'b'}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "b" / "metrics.csv").exists() and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        _kill_family(proc)
    assert proc.returncode == 130, err.decode()[-800:]
    stopped_at = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["step"]
    assert 0 < stopped_at < 1200
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-800:]
    assert_same_run(tmp_path / "a", tmp_path / "b")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_run(tmp_path: Path, steps: int = 60000):
    cmd = [sys.executable, str(ROOT / "train.py"), str(MLP), *_args(2, 2, steps, tmp_path / "r"),
           "trainer.checkpoint_every=300", "trainer.eval_every=100000"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "r" / "checkpoints" / "last.pt").exists():
            assert time.time() < deadline and proc.poll() is None, \
                proc.stderr.read().decode()[-800:]
            time.sleep(0.1)
        workers = [p for kid in _children(proc.pid) for p in _children(kid)]  # forkserver's
        assert len(workers) == 2, workers
    except BaseException:
        _kill_family(proc)
        raise
    return proc, workers


def _kill_family(proc) -> None:
    """SIGKILL a test's trainer and whatever it started (a failed test leaves nothing)."""
    family = _descendants(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    for p in family:
        if _alive(p):
            os.kill(p, signal.SIGKILL)


@pytest.mark.slow
def test_sigkill_of_the_trainer_leaves_no_worker_process(tmp_path):
    proc, workers = _start_run(tmp_path)
    family = _descendants(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.time() + 30
    while any(_alive(p) for p in family) and time.time() < deadline:
        time.sleep(0.1)
    left = [p for p in family if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "processes outlived the killed trainer"


@pytest.mark.slow
def test_a_dying_worker_stops_the_run_with_one_line_naming_its_envs(tmp_path):
    from trainer.checkpoint import load_checkpoint

    proc, workers = _start_run(tmp_path)
    os.kill(workers[1], signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        _kill_family(proc)
    err = err.decode()
    assert proc.returncode == 2, err[-800:]
    assert err.count("\n") == 1 and err.startswith("error: env worker 1 (envs 1..1"), err
    assert "SIGKILL" in err
    state = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert state["step"] > 0 and len(state["env"]["envs"]) == 2
    assert torch.is_tensor(next(iter(state["agent"]["actor"].values())))
