"""Schedules an off-policy agent owns: the replay ratio (updates per agent step) and sigma(step).

Replay ratio (RR) = gradient updates per **agent step** (DrQ-v2's one update every 2 agent steps
is RR 0.5 = one update per 4 frames at action repeat 2). A schedule is an object with

* ``updates_due(agent_step) -> int``: updates to run now; called once per agent step once
  updates may start (a repeated ``agent_step`` adds nothing);
* ``observe(metrics)``: the metrics of each update (Adaptive RR reads the critic FAU here);
* ``on_episode_end(info)``: per-episode hook (Adaptive RR checks FAU every I episodes);
* ``state_dict()`` / ``load_state_dict()`` for exact resume.

A new schedule is a new class here plus its config section; the agent never changes.
The exploration std ``sigma(step)`` is a tiny parsed string, as in DrQ-v2.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Any, Callable


class FixedReplayRatio:
    """A constant RR: the credit ``c <- c + rr`` per new agent step; ``floor(c)`` updates are due.

    ``rr = 0.5`` gives one update every 2 agent steps, ``rr = 2`` two updates every step. The
    credit is an exact fraction, so no update is lost or added to rounding over a long run.
    With ``period = P > 1`` the updates come in bursts: nothing on other steps, and on agent
    steps divisible by ``P`` the credit grows by ``rr P`` (tonic's DDPG, as the NCAP paper ran
    it: ``rr = 1, P = 50`` = 50 updates every 50 steps).
    """

    def __init__(self, rr: float, period: int = 1):
        if not rr > 0:
            raise ValueError(f"replay ratio must be > 0 (got {rr})")
        if period < 1:
            raise ValueError(f"replay-ratio period must be >= 1 (got {period})")
        self.rr = float(rr)
        self.period = int(period)
        self._rr = Fraction(rr).limit_denominator(1_000_000)
        self._credit = Fraction(0)
        self._last_step: int | None = None

    def updates_due(self, agent_step: int) -> int:
        if agent_step == self._last_step:
            return 0
        self._last_step = agent_step
        if agent_step % self.period:
            return 0
        self._credit += self._rr * self.period
        due = math.floor(self._credit)
        self._credit -= due
        return due

    def observe(self, metrics: dict[str, float]) -> None:
        """A fixed ratio ignores update metrics."""

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """A fixed ratio ignores episode ends."""

    def state_dict(self) -> dict[str, Any]:
        return {"rr": self.rr, "period": self.period,
                "credit": (self._credit.numerator, self._credit.denominator),
                "last_step": self._last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rr = state["rr"]
        self.period = state.get("period", 1)
        self._rr = Fraction(self.rr).limit_denominator(1_000_000)
        self._credit = Fraction(*state["credit"])
        self._last_step = state["last_step"]


def make_rr_schedule(cfg) -> FixedReplayRatio:
    """The replay-ratio schedule a config section (``type: fixed``) describes."""
    if cfg.type == "fixed":
        return FixedReplayRatio(cfg.rr, cfg.period)
    raise ValueError(f"unknown replay-ratio schedule '{cfg.type}'")


_LINEAR = re.compile(r"^linear\(([^,]+),([^,]+),([^,]+)\)$")


def linear_std(agent_step: int, init: float, final: float, duration: float) -> float:
    """``sigma = (1 - mix) init + mix final`` with ``mix = clip(agent_step / duration, 0, 1)``."""
    mix = min(max(agent_step / duration, 0.0), 1.0)
    return (1.0 - mix) * init + mix * final


def parse_std_schedule(text: str) -> Callable[[int], float]:
    """``"0.2"`` (constant) or ``"linear(init,final,duration)"`` -> ``sigma(agent_step)``.

    ``duration`` counts **agent steps** (DrQ-v2: ``linear(1.0,0.1,500000)`` decays over 1M
    frames at action repeat 2). Raises ``ValueError`` with one line for anything else.
    """
    compact = text.replace(" ", "")
    match = _LINEAR.match(compact)
    try:
        numbers = [float(g) for g in match.groups()] if match else [float(compact)] * 2 + [1.0]
    except ValueError:
        numbers = None
    if numbers is None or min(numbers) < 0 or numbers[2] == 0:
        raise ValueError(f"bad std schedule '{text}': expected a std >= 0 or "
                         "'linear(init,final,duration)' with duration > 0 in agent steps")
    init, final, duration = numbers
    return functools.partial(linear_std, init=init, final=final, duration=duration)
