"""Metric-triggered decisions: fire when a logged metric levels off or crosses a threshold.

A trigger watches one per-update metric (e.g. ``fau/critic`` or ``dormant0.025/critic``), pools
it per episode, and decides at the end of every ``every``-th episode with updates (``e = 0 mod
every``, ``e`` the number of episodes completed). The checked value ``v`` is the mean of the
metric over the updates of the last ``window`` episodes with updates (pooled per update).
Episodes that end at the same agent step (several envs, ``trainer.num_envs``: the loop closes
them one after another before that step's updates) share the updates before it: the first
of them with ``e = 0 mod every`` is checked on them, the others are not (one check per
window); with one env no two episodes end at one step.

Conditions:

* ``levelled`` -- the Adaptive RR rule generalised (Ma et al. 2024; notes sec. 8.4): fire when
  ``|v - v_prev| <= threshold``, ``v_prev`` being the previous check's value. With ``window = 1``
  ``v_prev`` starts as the metric of the very first update (the paper's code); with ``window >
  1`` the first check only records ``v`` (decision ``first window``). ``trough_guard`` (our
  variant) also requires ``v`` to exceed the lowest value checked so far by more than
  ``threshold``;
* ``above`` / ``below`` -- fire when ``v > threshold`` / ``v < threshold`` (e.g. a dormant
  ratio above 0.3).

After a fire, checks before ``agent step >= fired step + cooldown`` decide ``cooldown``; with
``once`` the trigger never fires again (``already fired``). Every check is one row (``episode``,
``step``, ``value``, ``previous``, ``change``, ``decision``) for a CSV such as ``rr_checks.csv``.
Per-update values may be 0-d device tensors: they are summed where they live (float64) and read
back only at a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONDITIONS = ("levelled", "above", "below")


@dataclass
class Labels:
    """The decision words written to the rows (the Adaptive RR keeps its historic ones)."""
    fire: str = "fire"
    keep: str = "keep"
    changing: str = "keep (changing)"
    trough: str = "keep (trough guard)"
    done: str = "already fired"
    first: str = "first window"
    cooldown: str = "cooldown"


@dataclass
class MetricTrigger:
    """One metric, one condition (module docstring). ``observe`` per update, ``end_episode`` per
    episode; ``end_episode`` returns True when the trigger fires."""

    metric: str
    condition: str = "levelled"
    threshold: float = 1e-3
    every: int = 1
    window: int = 1
    cooldown: int = 0
    once: bool = False
    trough_guard: bool = False
    labels: Labels = field(default_factory=Labels)

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)} "
                             f"(got {self.condition!r})")
        if self.every < 1 or self.window < 1 or self.cooldown < 0:
            raise ValueError(f"need every >= 1, window >= 1, cooldown >= 0 (got {self.every}, "
                             f"{self.window}, {self.cooldown})")
        if self.condition == "levelled" and not self.threshold > 0:
            raise ValueError(f"levelled needs threshold > 0 (got {self.threshold})")
        self.fired_steps: list[int] = []
        self.rows: list[dict[str, Any]] = []
        self._last: Any = None      # previous check's value (or the first update's)
        self._lowest: float | None = None
        self._sum: Any = 0.0
        self._count = 0
        self._recent: list[tuple[Any, int]] = []
        self._shared_step: int | None = None   # the step of the last end with updates
        self._checked_step: int | None = None  # the step of the last check

    @property
    def fired(self) -> bool:
        return bool(self.fired_steps)

    @property
    def pending(self) -> tuple[Any, int]:
        """This episode's sum of the metric and its update count so far."""
        return self._sum, self._count

    def observe(self, metrics: dict[str, Any]) -> None:
        """Add one update's value of ``metric`` (a float or a 0-d tensor)."""
        value = metrics[self.metric]
        value = value.detach().double() if hasattr(value, "detach") else float(value)
        if self._last is None and self.window == 1 and self.condition == "levelled":
            self._last = value
        self._sum = self._sum + value
        self._count += 1

    def end_episode(self, episode: int, step: int) -> bool:
        """Close an episode; check at ``episode = 0 mod every``. True when it fires."""
        fired = False
        if self._count:
            self._recent = [*self._recent, (self._sum, self._count)][-self.window:]
            self._shared_step = step
        shared = step == self._shared_step and step != self._checked_step
        if (self._count or shared) and episode % self.every == 0:
            self._checked_step = step
            fired = self._check(episode, step)
        self._sum, self._count = 0.0, 0
        return fired

    def _check(self, episode: int, step: int) -> bool:
        value = float(sum(s for s, _ in self._recent)) / sum(n for _, n in self._recent)
        row = {"episode": episode, "step": step, "value": value, "previous": None,
               "change": None}
        if self.condition == "levelled" and self._last is None:
            self.rows.append({**row, "decision": self.labels.first})
            self._last = self._lowest = value
            return False
        previous = None if self._last is None else float(self._last)
        if previous is not None:
            self._lowest = previous if self._lowest is None else min(self._lowest, previous)
            row.update(previous=previous, change=value - previous)
        decision = self._decide(value, previous, step)
        self.rows.append({**row, "decision": decision})
        if self._lowest is not None:
            self._lowest = min(self._lowest, value)
        self._last = value
        if decision == self.labels.fire:
            self.fired_steps.append(step)
            return True
        return False

    def _decide(self, value: float, previous: float | None, step: int) -> str:
        if self.once and self.fired:
            return self.labels.done
        if self.fired and step < self.fired_steps[-1] + self.cooldown:
            return self.labels.cooldown
        if self.condition == "above":
            return self.labels.fire if value > self.threshold else self.labels.keep
        if self.condition == "below":
            return self.labels.fire if value < self.threshold else self.labels.keep
        if abs(value - previous) > self.threshold:
            return self.labels.changing
        if self.trough_guard and not value - self._lowest > self.threshold:
            return self.labels.trough
        return self.labels.fire

    def pop_rows(self) -> list[dict[str, Any]]:
        rows, self.rows = self.rows, []
        return rows

    def state_dict(self) -> dict[str, Any]:
        return {"fired_steps": list(self.fired_steps), "rows": list(self.rows),
                "last": None if self._last is None else float(self._last),
                "lowest": self._lowest, "sum": float(self._sum), "count": self._count,
                "recent": [(float(s), n) for s, n in self._recent]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fired_steps = list(state["fired_steps"])
        self.rows = list(state["rows"])
        self._last, self._lowest = state["last"], state["lowest"]
        self._sum, self._count = state["sum"], state["count"]
        self._recent = [tuple(r) for r in state["recent"]]
