"""The off-policy agent for states and circuits: vector replay, DDPG parts, presets, bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.common.base import Transition
from agents.offpolicy.agent import OffPolicyAgent
from agents.offpolicy.replay import VectorReplay
from agents.plasticity.schedules import FixedReplayRatio
from conftest import act_observe_update
from configs.loader import ConfigError, load_config
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TIMING_COLUMNS = {"steps_per_second", "train_seconds", "seconds"}
QUIET = ["trainer.progress=false", "trainer.tensorboard=false", "trainer.eval_episodes=1"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(f)]


# --- vector replay ----------------------------------------------------------------------------
def brute_force_n_step(rewards, ends, terminal, t, n, gamma):
    """``(R, discount, j)`` of the transition at index ``t`` of a flat step list."""
    total, j = 0.0, 0
    for i in range(n):
        if t + i >= len(rewards):
            break
        total += gamma ** i * rewards[t + i]
        j = i + 1
        if ends[t + i]:
            break
    discount = 0.0 if terminal[t + j - 1] else gamma ** j
    return total, discount, j


def test_vector_replay_n_step_returns_match_brute_force_across_episode_ends():
    rng = np.random.default_rng(0)
    n, gamma, dim = 3, 0.9, 4
    replay = VectorReplay(capacity=200, obs_dim=dim, action_dim=1, n_step=n, gamma=gamma, seed=0)
    steps = []  # (obs, reward, next_obs, terminated, truncated)
    obs = rng.normal(size=dim)
    for length, terminated in ((5, False), (2, True), (7, False), (4, False)):
        for k in range(length):
            nxt = rng.normal(size=dim)
            last = k == length - 1
            steps.append((obs, float(rng.normal()), nxt, terminated and last, last and not terminated))
            replay.add(Transition(obs, np.zeros(1, np.float32), steps[-1][1], nxt,
                                  steps[-1][3], steps[-1][4]))
            obs = rng.normal(size=dim) if last else nxt
    rewards = [s[1] for s in steps]
    ends = [s[3] or s[4] for s in steps]
    terminal = [s[3] for s in steps]
    assert len(replay) == len(steps)
    assert replay.bytes_per_transition == 4 * dim + 4 + 14
    batch = replay.sample(500)
    assert batch["obs"].shape == (500, dim) and batch["obs"].dtype == np.float32
    seen = set()
    for i in range(500):
        t = next(t for t, s in enumerate(steps)
                 if np.array_equal(batch["obs"][i], s[0].astype(np.float32)))
        seen.add(t)
        R, discount, j = brute_force_n_step(rewards, ends, terminal, t, n, gamma)
        assert batch["reward"][i, 0] == pytest.approx(R, rel=1e-5), f"R of step {t}"
        assert batch["discount"][i, 0] == pytest.approx(discount), f"discount of step {t}"
        np.testing.assert_array_equal(batch["next_obs"][i], steps[t + j - 1][2].astype(np.float32))
    assert len(seen) == len(steps), "sampling must reach every stored transition"


def test_vector_replay_resumes_exactly():
    rng = np.random.default_rng(1)
    a = VectorReplay(50, 3, 2, 2, 0.99, seed=3)
    for k in range(80):  # wraps the ring
        a.add(Transition(rng.normal(size=3), rng.uniform(-1, 1, 2), float(k), rng.normal(size=3),
                         False, k % 20 == 19))
    b = VectorReplay(50, 3, 2, 2, 0.99, seed=99)
    b.load_state_dict({k: (v.clone() if torch.is_tensor(v) else v)
                       for k, v in a.state_dict().items()})
    batch_a, batch_b = a.sample(64), b.sample(64)
    for key, value in batch_a.items():
        np.testing.assert_array_equal(value, batch_b[key], err_msg=key)


# --- schedules ----------------------------------------------------------------------------------
def test_replay_ratio_period_releases_50_updates_every_50_steps():
    s = FixedReplayRatio(1, period=50)
    due = [s.updates_due(t) for t in range(10_000, 10_201)]
    assert due[0] == 50 and sum(due) == 250
    assert [t for t, d in zip(range(10_000, 10_201), due) if d] == [10_000, 10_050, 10_100,
                                                                     10_150, 10_200]


# --- the circuit as an off-policy actor ---------------------------------------------------------
def ncap_ddpg(tmp_path, *extra: str):
    return load_config(ROOT / "configs" / "ncap_swim_ddpg.yaml",
                       [*QUIET, f"run_dir={tmp_path}", "agent.explore_steps=0",
                        "agent.seed_frames=64", "agent.batch_size=32", *extra])


def test_ncap_actor_under_ddpg_keeps_four_parameters_and_its_signs(tmp_path):
    cfg = ncap_ddpg(tmp_path, "agent.lr=0.5")
    env, agent, _ = build(cfg)
    assert [p.numel() for p in agent.actor.parameters()] == [1, 1, 1, 1]
    assert agent.trainable_parameters()["actor"] == 4
    # training alone leaves every raw weight on its side (o, p, i grow, c gets no gradient):
    # start p and c past their bounds, so that only the clamp keeps the signs
    with torch.no_grad():
        agent.actor.circuit.weights["p"].fill_(-0.5)
        agent.actor.circuit.weights["c"].fill_(0.5)
    obs = act_observe_update(agent, env, 128, seed=0)
    assert agent.updates > 0
    circuit = agent.actor.circuit
    raw = {k: float(v.detach()) for k, v in circuit.weights.items()}
    assert raw["o"] != 1.0 and raw["i"] != 1.0, f"the actor did not learn: {raw}"
    # past its bound a raw weight gets zero gradient (the paper's caveat): it stays there
    assert (raw["p"], raw["c"]) == (-0.5, 0.5), raw
    for name in ("o", "p", "i"):
        assert float(circuit.weight(name)) >= 0.0, f"excitatory {name} became negative"
    assert float(circuit.weight("c")) <= 0.0, "inhibitory c became positive"
    assert circuit.weight("p").item() == 0.0 and circuit.weight("c").item() == 0.0
    # the actor reads the raw observation: its action is the circuit's on joint angles and time
    x = torch.as_tensor(obs, dtype=torch.float32)[None]
    t = torch.round((x[:, -1] + 1) * 500)
    np.testing.assert_allclose(agent.act(obs, explore=False),
                               circuit(x[:, :5], t)[0].detach().numpy(), atol=1e-6)


# --- presets through the loop -------------------------------------------------------------------
SMALL = ["agent.explore_steps=100", "agent.seed_frames=200", "agent.batch_size=16",
         "agent.hidden_dim=16"]
# preset -> (overrides, total steps, resume point); the resume point is an evaluation step
PRESETS = {
    "ncap_swim_ddpg": (SMALL, 800, 400),
    "mlp_swim_ddpg": (SMALL, 800, 400),
    "offpolicy_cartpole_swingup": ([*SMALL, "agent.feature_dim=8"], 800, 400),
    "offpolicy_cheetah_run": ([*SMALL, "agent.feature_dim=8"], 800, 400),
    # population 2 of 1000-step episodes: 2400 steps cross one ES update (at 2000); step 1500
    # is mid-episode of the first generation's second member
    "ncap_swim_es": (["agent.population=2"], 2400, 1500),
    "mlp_swim_es": (["agent.population=2", "agent.actor.hidden=[8]"], 2400, 1500),
}


def assert_same_state(x, y, where: str) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_same_state(x[k], y[k], f"{where}.{k}")
    elif torch.is_tensor(x):
        assert torch.equal(x, y), f"{where} differs after resume"
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, y, err_msg=where)
    else:
        assert x == y, f"{where} differs after resume"


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_trains_evaluates_checkpoints_and_resumes_exactly(preset, tmp_path):
    """A run in one go vs interrupted at an evaluation step and resumed: identical agent state
    (weights, optimisers, replay or ES generation, counters) and logs."""
    overrides, total, split = PRESETS[preset]
    path = ROOT / "configs" / f"{preset}.yaml"
    args = [*QUIET, *overrides, f"trainer.eval_every={split}", f"trainer.log_every={split // 2}",
            f"trainer.checkpoint_every={split}"]
    a = train(load_config(path, [*args, f"steps={total}", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(path, [*args, f"steps={split}", f"run_dir={tmp_path / 'b'}"]))
    b = train(load_config(path, [*args, f"steps={total}", f"run_dir={tmp_path / 'b'}"]))
    assert b["resumed_from_step"] == split and a["status"] == b["status"] == "complete"
    assert np.isfinite(a["final_eval_return"]) and a["final_eval_return"] == b["final_eval_return"]
    sa = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["agent"]
    sb = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["agent"]
    assert sa["updates"] == sb["updates"] > 0
    assert_same_state(sa, sb, "agent")
    for log in ("metrics.csv", "eval.csv"):
        assert read_csv(tmp_path / "a" / log) == read_csv(tmp_path / "b" / log), f"{log} differs"
    assert [int(r["step"]) for r in read_csv(tmp_path / "a" / "eval.csv")] == [
        *range(0, total, split), total]


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("args, key", [
    (["configs/ncap_swim_ddpg.yaml", "env.id=dmc:cheetah-run"], "agent.actor.type"),
    (["configs/ncap_swim_ddpg.yaml", "env.time_feature=false"], "env.time_feature"),
    (["configs/ncap_swim_es.yaml", "env.id=dmc:cartpole-swingup"], "agent.actor.type"),
    (["configs/offpolicy_cartpole_swingup.yaml", "agent.augment_pad=4"], "agent.augment_pad"),
    (["configs/offpolicy_cartpole_swingup.yaml", "agent.conv_channels=16"], "agent.conv_channels"),
    (["configs/drqv2_tiny.yaml", "agent.normalize_observations=true"],
     "agent.normalize_observations"),
    (["configs/drqv2_tiny.yaml", "agent.name=offpolicy", "agent.actor.type=ncap"],
     "agent.actor.type"),
    (["configs/ncap_swim_es.yaml", "agent.population=7"], "agent.population"),
])
def test_bad_agent_body_combinations_stop_with_one_line(args, key, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, f"run_dir={run}",
                           "trainer.progress=false"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "GLFW" not in ln
             and "warnings.warn" not in ln]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and key in lines[0], proc.stderr
    assert not run.exists(), "nothing may be written on bad input"


def test_drqv2_on_states_points_to_the_offpolicy_agent():
    cfg = load_config(ROOT / "configs" / "drqv2_tiny.yaml")
    with pytest.raises(ConfigError, match="agent.name=offpolicy"):
        OffPolicyAgent(cfg.agent, gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (1,)))
    # the rule is the name's: the same settings under agent.name=offpolicy take states
    agent = OffPolicyAgent(cfg.agent.model_copy(update={"name": "offpolicy", "augment_pad": None,
                                                        "conv_channels": None}),
                           gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (1,)))
    assert agent.replay.frames.dtype == np.float32 and agent.encoder_opt is None


def test_drqv2_without_pixels_is_refused_from_the_config_before_any_env():
    from agents import check_agent_config

    cfg = load_config(ROOT / "configs" / "drqv2_tiny.yaml",
                      ["env.pixels=null", "agent.conv_channels=null", "agent.augment_pad=null"])
    with pytest.raises(ConfigError, match=r"agent\.name: drqv2 needs uint8 pixel observations"):
        check_agent_config(cfg)
    check_agent_config(load_config(ROOT / "configs" / "drqv2_tiny.yaml",
                                   ["env.pixels=null", "agent.name=offpolicy",
                                    "agent.conv_channels=null", "agent.augment_pad=null"]))
