"""Shared test setup: headless rendering, repository on sys.path, tiny run configs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before any dm_control / mujoco import

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# A PPO run small enough for tests: 512-step segments, few iterations, cheap evaluations.
TINY_PPO = ["agent.segment=512", "agent.iterations=4", "agent.critic_hidden=[32,32]",
            "trainer.eval_every=500", "trainer.eval_episodes=1", "trainer.log_every=250",
            "trainer.checkpoint_every=500", "trainer.progress=false", "trainer.tensorboard=false"]


@pytest.fixture
def tiny_ppo() -> list[str]:
    return list(TINY_PPO)


# The off-policy agent from states on cartpole-swingup (1000 agent steps per episode), shrunk
# for tests: 32-wide networks, batch 32, a small replay.
STATE_PRESET = ROOT / "configs/offpolicy_cartpole_swingup.yaml"
QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]


def tiny_state(warmup: int = 200, every: int | None = 1000, log_every: int = 250) -> list[str]:
    """Overrides of ``STATE_PRESET`` for a test run: updates after ``warmup`` uniform-random
    steps; one-episode evaluations and checkpoints every ``every`` steps (``None``: the
    preset's intervals, for tests that build the agent without training a run)."""
    out = ["agent.hidden_dim=32", "agent.feature_dim=16", "agent.batch_size=32",
           "agent.replay_capacity=5000", f"agent.explore_steps={warmup}",
           f"agent.seed_frames={warmup}"]
    if every is not None:
        out += [f"trainer.eval_every={every}", "trainer.eval_episodes=1",
                f"trainer.log_every={log_every}", f"trainer.checkpoint_every={every}"]
    return out + QUIET


def act_observe_update(agent, env, steps: int, seed: int):
    """The one-env trainer loop's inner step, ``steps`` times from ``env.reset(seed=seed)``:
    act with exploration, step, observe, then the updates due (episodes do not end within
    ``steps`` here: the tests using it stay inside one episode); returns the last observation."""
    from agents.common.base import Transition

    obs, _ = env.reset(seed=seed)
    for step in range(1, steps + 1):
        action = agent.act(obs, explore=True)
        nxt, reward, term, trunc, _ = env.step(action)
        agent.observe(Transition(obs, action, reward, nxt, term, trunc))
        obs = nxt
        for _ in range(agent.updates_due(step)):
            agent.update()
    return obs


def run_cli(argv, capsys):
    """``(exit code, stdout, stderr)`` of ``train.py``'s ``main`` run in this process."""
    import train as cli

    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_refusal(code: int, err: str, *words: str) -> None:
    """Bad input: exit code 2 and one line ``error: ...`` naming each of ``words``."""
    assert code == 2, f"exit code {code}, stderr: {err}"
    assert err.count("\n") == 1 and err.startswith("error: "), f"not one line: {err!r}"
    for word in words:
        assert word in err, f"'{word}' missing from: {err}"
