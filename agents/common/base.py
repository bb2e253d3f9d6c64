"""What the trainer loop hands an agent (``Transition``) and its optional hooks.

The loop (``trainer/loop.py``) knows no algorithm, circuit or observation type. The complete,
typed interface an agent answers is ``agents.protocols.Agent`` (required members) and
``agents.protocols.AgentHooks`` (optional members, looked up with ``getattr``); the README's
architecture section shows both, generated from them (``python -m agents.protocol_tables``).
It imports nothing of ``agents`` (``agents.Agent`` is the protocol), so the protocols name
``Transition`` without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from configs.errors import DivergenceError  # noqa: F401 (re-export)


@dataclass
class Transition:
    """One environment step as the loop hands it to ``Agent.observe``.

    ``terminated`` marks a true terminal state (no bootstrap); ``truncated`` a time limit
    (bootstrap from ``next_obs``). ``next_obs`` is the observation *before* any reset.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool


def begin_episode(agent: Any, explore: bool = False) -> None:
    """Tell ``agent`` that a rollout episode starts (its optional ``begin_episode`` hook)."""
    hook = getattr(agent, "begin_episode", None)
    if hook is not None:
        hook(explore)


def attach_run(agent: Any, run_dir: Path, make_env: Callable[[int], Any]) -> None:
    """Tell ``agent`` its run folder (its optional ``attach_run`` hook)."""
    hook = getattr(agent, "attach_run", None)
    if hook is not None:
        hook(run_dir, make_env)
