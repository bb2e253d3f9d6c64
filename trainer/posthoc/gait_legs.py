"""Footfall measures of a legged body from its feet's contacts (numpy only).

Input: ``contact[t, i]`` (1 while foot ``i`` touches the ground after control step ``t + 1``,
else 0) and the torso's forward position ``x[t]`` (m), steps of ``dt`` seconds. Rules:

* **stride period** ``P`` (steps; ``P dt`` s; stride frequency ``1 / (P dt)`` Hz): the dominant
  period of the contact signals (``gait_swim.dominant_period``: every foot's detrended contact
  pooled; a foot that never lifts, or never lands, adds nothing); the measures use the last
  ``floor(T / P) - 1 >= 2`` whole strides (``gait_swim.whole_cycles``: the first is a
  transient).
* **duty factor** of foot ``i``: the fraction of the window it is on the ground.
* **phase offset** of foot ``i`` (cycles, in ``[0, 1)``): how far its stance lags foot 0's,
  ``(arg z_0 - arg z_i) / 2 pi mod 1`` with ``z`` the contact signal's complex amplitude at
  ``1 / P`` (``gait_swim.fundamental``): for a square stance wave ``arg z`` marks the middle of
  the stance, so a trot's diagonal feet read 0 and the others 0.5. NaN for a foot that never
  lifts or never lands (no phase).
* **speed** (m/s): ``(x_end - x_start) / seconds`` over the window.
"""

from __future__ import annotations

import numpy as np

from trainer.posthoc.gait_swim import dominant_period, fundamental, whole_cycles


def duty_factors(contact: np.ndarray) -> np.ndarray:
    """Fraction of steps each foot (column) is on the ground."""
    return np.asarray(contact, dtype=float).mean(axis=0)


def phase_offsets(contact: np.ndarray, period: float) -> np.ndarray:
    """Each foot's stance phase lag behind foot 0's, in cycles ``[0, 1)`` (module docstring)."""
    c = np.asarray(contact, dtype=float)
    z = fundamental(c, period)
    moving = c.std(axis=0) > 0
    if not moving[0]:
        return np.full(c.shape[1], np.nan)
    offsets = np.mod((np.angle(z[0]) - np.angle(z)) / (2 * np.pi), 1.0)
    offsets[np.isclose(offsets, 1.0)] = 0.0
    offsets[~moving] = np.nan
    return offsets


LEG_MEASURES = ("stride_period_steps", "stride_period_s", "stride_frequency_hz", "speed_m_s")


def leg_measures(feet: tuple[str, ...]) -> tuple[str, ...]:
    """The keys ``leg_gait`` returns for these feet."""
    return LEG_MEASURES + tuple(f"{kind}_{foot}" for foot in feet for kind in ("duty", "phase"))


def leg_gait(contact: np.ndarray, x: np.ndarray, dt: float,
             feet: tuple[str, ...]) -> dict[str, float]:
    """Stride period/frequency, speed, and per foot ``duty_<foot>``, ``phase_<foot>``."""
    c = np.asarray(contact, dtype=float)
    period = dominant_period(c, "foot contacts")
    w = whole_cycles(len(c), period)
    seconds = (len(c[w]) - 1) * dt
    out = {"stride_period_steps": period, "stride_period_s": period * dt,
           "stride_frequency_hz": 1.0 / (period * dt),
           "speed_m_s": float((x[w][-1] - x[w][0]) / seconds)}
    for foot, d, p in zip(feet, duty_factors(c[w]), phase_offsets(c[w], period)):
        out[f"duty_{foot}"] = float(d)
        out[f"phase_{foot}"] = float(p)
    return out
