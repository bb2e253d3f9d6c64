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
