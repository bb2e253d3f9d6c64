"""The agent interface the trainer loop talks to, and nothing else.

The loop (``trainer/loop.py``) knows no algorithm, circuit or observation type. Anything with
these methods trains through it:

=====================================  ===========================================================
``act(obs, explore) -> action``        one action for one env (numpy in, numpy out); ``explore``
                                       False means the deterministic evaluation action
``observe(transition)``                store one ``Transition`` (rollout segment or replay)
``updates_due(step) -> int``           how many ``update()`` calls to run now, given the number
                                       of agent steps taken so far (on-policy: 1 when the
                                       segment is full; off-policy: the replay-ratio schedule)
``update() -> dict[str, float]``       one update; returns metrics to log. Keys beginning with
                                       ``loss`` are checked for NaN/Inf by the loop
``on_episode_end(info)``               hook for per-episode schedules (e.g. Adaptive RR)
``state_dict(include_replay)``         everything needed for exact resume (weights, optimisers,
``load_state_dict(state)``             normalisers, schedules, replay, counters); must be
                                       picklable by ``torch.save``
``policy_for_body(obs_space, ...)``    optional: a callable policy for another body (transfer)
``begin_episode(explore)``             optional: called by every rollout outside the training
                                       loop (evaluation, render, transfer, activity) right after
                                       ``env.reset()``; agents with per-episode state (a circuit
                                       that counts its own steps) reset it here. In training the
                                       agent resets such state in ``on_episode_end``
``attach_run(run_dir, make_env)``      optional: called once by ``trainer.api.train`` after the
                                       run folder is prepared (fresh or resumed); agents that
                                       keep files of their own there (a probe set, a record of
                                       a transferred encoder) write or read them here;
                                       ``make_env(seed)`` builds another env of the run's config
``pending_metrics()``                  optional: per-update metrics the agent keeps on its device
``-> dict[str, list[float]]``          instead of returning them from ``update()`` (which may
                                       then return ``{}``), read back in one transfer: every
                                       value since the last call, in update order. The loop calls
                                       it before each log row, evaluation and checkpoint, checks
                                       ``loss*`` values for NaN/Inf as it checks ``update()``'s
                                       and logs them the same way
``records()``                          optional: rows the agent produced since the last call
``-> dict[str, list[dict]]``           (e.g. ``rr_checks``: each Adaptive-RR check;
                                       ``interventions``: each Reset/ReDo), by table name; each
                                       row has a ``step``. Drained with ``pending_metrics`` and
                                       appended to ``<run_dir>/<table>.csv`` (rows past the
                                       checkpoint are dropped on resume)
``summary() -> dict``                  optional: facts merged into ``summary.json`` at the end
                                       of a run (e.g. the Adaptive-RR switch step and frame)
=====================================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

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


@runtime_checkable
class Agent(Protocol):
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray: ...

    def observe(self, transition: Transition) -> None: ...

    def updates_due(self, step: int) -> int: ...

    def update(self) -> dict[str, float]: ...

    def on_episode_end(self, info: dict[str, Any]) -> None: ...

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
