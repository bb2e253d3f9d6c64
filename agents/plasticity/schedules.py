"""Schedules an off-policy agent owns: the replay ratio (updates per agent step) and sigma(step).

Replay ratio (RR) = gradient updates per **agent step** (DrQ-v2's one update every 2 agent steps
is RR 0.5 = one update per 4 frames at action repeat 2). A schedule is an object with

* ``updates_due(agent_step) -> int``: updates to run now; called once per agent step once
  updates may start (a repeated ``agent_step`` adds nothing);
* ``observe(metrics)``: the metrics of each update (Adaptive RR reads the critic FAU here);
* ``on_episode_end(info)``: per-episode hook (Adaptive RR checks FAU every I episodes);
* ``state_dict()`` / ``load_state_dict()`` for exact resume;
* ``rr`` (the current ratio, logged per update), and optionally ``pop_records()`` (tables for
  the run folder) and ``summary()`` (facts for ``summary.json``).

``agents.protocols.RRSchedule`` is the complete, typed interface. A new schedule is one new
file: its config section (a ``StrictModel`` with a ``type``), its class with
``from_config(cfg, frames_per_step)``, and ``configs.registry.register("rr_schedule", ...)``;
the agent and the loop never change. The exploration std ``sigma(step)`` is a tiny parsed
string, as in DrQ-v2 (``agents/plasticity/schedules_config.py``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch

from agents.protocols import RRSchedule
from agents.plasticity.triggers import Labels, MetricTrigger
from agents.plasticity.schedules_config import linear_std, parse_std_schedule  # noqa: F401 (re-export)
from configs import registry


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

    @classmethod
    def from_config(cls, cfg, frames_per_step: int = 1) -> "FixedReplayRatio":
        """From ``FixedRRConfig`` (``frames_per_step`` is not needed)."""
        return cls(cfg.rr, cfg.period)

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

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        """A fixed ratio keeps no tables."""
        return {}

    def summary(self) -> dict[str, Any]:
        """A fixed ratio has nothing to add to ``summary.json``."""
        return {}

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


class AdaptiveReplayRatio:
    """Adaptive RR (Ma et al. 2024, "Revisiting Plasticity in Visual RL"; notes sec. 8.4).

    Start at ``low`` (0.5) and switch **once and permanently** to ``high`` (2) when the critic's
    FAU has settled. Exactly the reference code's rule, with ``I = interval`` (50) episodes and
    ``e`` the number of episodes completed (1 at the end of the first):

    1. ``last`` starts as the FAU of the very first update;
    2. at the end of episode ``e = 0 (mod I)``, once updates have started (``last`` is set) and
       that episode had updates: ``avg`` = the mean critic FAU over the updates of that **one
       episode** (the reference resets its running sum at ``e = I - 1`` and reads it at
       ``e = 0 (mod I)``: the same window); if ``|avg - last| <= threshold`` (absolute; the
       paper writes <, the code <=) and RR is still ``low``: switch to ``high`` and record the
       step and frame; then ``last <- avg``.

    Updates run after the loop's episode-end hook in the same agent step, so "the updates of
    an episode" are those after its predecessor's end, as in the reference loop.

    **Window** (``window = W``, 1 by default = the paper's rule; *our variant for W > 1*): ``avg``
    is the mean critic FAU over the updates of the last ``W`` episodes with updates before the
    check (pooled per update), so single-episode FAU noise (on CPU runs above the 1e-3
    threshold) shrinks by about ``sqrt(W)``. With ``W > 1`` the first check only records its
    window mean as ``last`` (decision ``first window``): comparing a W-episode mean with one
    update's FAU would be noise.

    **Trough guard** (``trough_guard``, off by default; *our variant, not the paper's*): a check
    may switch only if ``avg`` exceeds the lowest checked FAU so far (``last``'s initial value
    included) by more than ``threshold``, i.e. FAU has risen from its early minimum; it guards
    against the false switch of a check pair straddling the trough (notes sec. 8.5).

    The rule itself is a ``levelled`` metric trigger on ``fau/critic`` that fires once
    (``agents/plasticity/triggers.py``): the adaptive RR is one instance of the metric-triggered
    decisions that interventions use too.

    Per-update FAU may be a device tensor: it is summed on its device (float64) and read back
    only at a check, or when the records are drained. ``pop_records`` returns two tables:
    ``rr_checks`` (every check: ``episode``, ``step``, ``frame``, ``fau``, ``previous_fau``,
    ``change``, ``decision``, ``rr`` after it) and ``fau_episodes`` (every episode with updates:
    its mean critic FAU and update count, to measure the single-episode noise the threshold
    faces).
    """

    FAU_KEY = "fau/critic"

    def __init__(self, low: float = 0.5, high: float = 2.0, interval: int = 50,
                 threshold: float = 1e-3, trough_guard: bool = False, frames_per_step: int = 1,
                 window: int = 1):
        if not (low > 0 and high > 0):
            raise ValueError(f"replay ratios must be > 0 (got low {low}, high {high})")
        if interval < 1 or not threshold > 0:
            raise ValueError(f"need interval >= 1 and threshold > 0 (got {interval}, {threshold})")
        if window < 1:
            raise ValueError(f"window must be >= 1 episode (got {window})")
        self.window = int(window)
        self.low, self.high = float(low), float(high)
        self.interval, self.threshold = int(interval), float(threshold)
        self.trough_guard = bool(trough_guard)
        self.frames_per_step = int(frames_per_step)
        self._ratio = FixedReplayRatio(low)
        self.switched = False
        self.switch_step: int | None = None
        self.switch_episode: int | None = None
        # the switch rule is a levelled-off trigger on the critic FAU that fires once
        self._rule = MetricTrigger(self.FAU_KEY, "levelled", self.threshold, every=self.interval,
                                   window=self.window, once=True, trough_guard=self.trough_guard,
                                   labels=Labels(fire="switch", done="already switched"))
        self.checks: list[dict[str, Any]] = []
        self._episodes: list[tuple[int, int, torch.Tensor | float, int]] = []

    @classmethod
    def from_config(cls, cfg, frames_per_step: int = 1) -> "AdaptiveReplayRatio":
        """From ``AdaptiveRRConfig``; ``frames_per_step`` converts switch steps to frames."""
        return cls(cfg.low, cfg.high, cfg.interval, cfg.threshold, cfg.trough_guard,
                   frames_per_step, cfg.window)

    @property
    def rr(self) -> float:
        return self._ratio.rr

    @property
    def switch_frame(self) -> int | None:
        return None if self.switch_step is None else self.switch_step * self.frames_per_step

    def updates_due(self, agent_step: int) -> int:
        return self._ratio.updates_due(agent_step)

    def observe(self, metrics: dict[str, Any]) -> None:
        """Add one update's critic FAU (a float or a 0-d tensor, summed where it lives)."""
        self._rule.observe(metrics)

    def on_episode_end(self, info: dict[str, Any]) -> None:
        episode, step = int(info["episode"]), int(info["step"])
        total, count = self._rule.pending
        if count:
            self._episodes.append((episode, step, total, count))
        if self._rule.end_episode(episode, step):
            self.switched, self.switch_step, self.switch_episode = True, step, episode
            self._ratio = self._ratio_at(self.high)
        for row in self._rule.pop_rows():
            self.checks.append({"episode": row["episode"], "step": row["step"],
                                "frame": row["step"] * self.frames_per_step, "fau": row["value"],
                                "previous_fau": row["previous"], "change": row["change"],
                                "decision": row["decision"], "rr": self.rr})

    def _ratio_at(self, rr: float) -> FixedReplayRatio:
        """A fixed ratio ``rr`` that carries on this one's credit (no update lost or added)."""
        ratio = FixedReplayRatio(rr)
        ratio.load_state_dict({**self._ratio.state_dict(), "rr": rr})
        return ratio

    def _episode_rows(self) -> list[dict[str, Any]]:
        device = next((s.device for _, _, s, _ in self._episodes if isinstance(s, torch.Tensor)),
                      "cpu")
        sums = [torch.as_tensor(s, dtype=torch.float64, device=device)
                for _, _, s, _ in self._episodes]
        values = torch.stack(sums).tolist() if sums else []   # one transfer for all episodes
        return [{"episode": e, "step": t, "frame": t * self.frames_per_step, "fau": v / n,
                 "updates": n} for (e, t, _, n), v in zip(self._episodes, values)]

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        """``{"rr_checks": [...], "fau_episodes": [...]}`` since the last call (class doc)."""
        out = {"rr_checks": self.checks, "fau_episodes": self._episode_rows()}
        self.checks, self._episodes = [], []
        return out

    def summary(self) -> dict[str, Any]:
        """The switch, for ``summary.json`` (None while RR is still ``low``)."""
        return {"rr_switch_episode": self.switch_episode, "rr_switch_step": self.switch_step,
                "rr_switch_frame": self.switch_frame, "rr_final": self.rr}

    def state_dict(self) -> dict[str, Any]:
        """The whole state (FAU sums read back as floats; exact for float64 sums), in the
        schedule's own keys (checkpoints of earlier versions load)."""
        rule = self._rule.state_dict()
        return {"ratio": self._ratio.state_dict(), "switched": self.switched,
                "switch_step": self.switch_step, "switch_episode": self.switch_episode,
                "last": rule["last"], "lowest": rule["lowest"], "sum": rule["sum"],
                "count": rule["count"], "recent": rule["recent"],
                "checks": list(self.checks),
                "episodes": [(e, t, float(s), n) for e, t, s, n in self._episodes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._ratio.load_state_dict(state["ratio"])
        self.switched, self.switch_step = state["switched"], state["switch_step"]
        self.switch_episode = state["switch_episode"]
        self._rule.load_state_dict({
            "fired_steps": [self.switch_step] if self.switched else [], "rows": [],
            "last": state["last"], "lowest": state["lowest"], "sum": state["sum"],
            "count": state["count"], "recent": state.get("recent", [])})
        self.checks = list(state["checks"])
        self._episodes = list(state["episodes"])


def make_rr_schedule(cfg, frames_per_step: int = 1) -> RRSchedule:
    """The replay-ratio schedule a config section describes: the implementation registered
    under its ``type`` (``configs/registry.py``; built-ins in
    ``agents/plasticity/schedules_config.py``)."""
    return registry.build("rr_schedule", cfg.type)(cfg, frames_per_step=frames_per_step)
