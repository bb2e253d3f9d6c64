"""Config sections of the replay-ratio schedules (``agents/plasticity/schedules.py``) and the
exploration std schedule's parser; torch-free, registered under their ``type``.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Literal

from pydantic import Field

from configs.base import StrictModel
from configs.registry import register


class FixedRRConfig(StrictModel):
    """A constant replay ratio: gradient updates per agent step
    (``agents/plasticity/schedules.py``)."""

    type: Literal["fixed"] = "fixed"
    rr: float = Field(0.5, gt=0, description="updates per agent step (DrQ-v2: 0.5 = 1 per 2 steps)")
    period: int = Field(1, ge=1, description="release the due updates in bursts every this many "
                        "agent steps (NCAP paper's DDPG: rr 1, period 50 = 50 updates every 50)")


class AdaptiveRRConfig(StrictModel):
    """Adaptive RR (Ma et al. 2024): ``low`` until the critic FAU settles, then ``high`` for good.

    The rule (``agents/plasticity/schedules.py``): every ``interval`` episodes, the mean critic
    FAU over the updates of the one episode before the check is compared with the previous
    check's; the first switch with ``|change| <= threshold`` is permanent. ``trough_guard`` is our
    variant.
    """

    type: Literal["adaptive"] = "adaptive"
    low: float = Field(0.5, gt=0, description="updates per agent step before the switch")
    high: float = Field(2.0, gt=0, description="updates per agent step after the switch")
    interval: int = Field(50, ge=1, description="episodes between FAU checks (paper: 50)")
    threshold: float = Field(1e-3, gt=0, lt=1, description="switch when |FAU change| <= this")
    trough_guard: bool = Field(False, description="our variant, not the paper's: switch only "
                               "once FAU has risen above its lowest checked value by > threshold")
    window: int = Field(1, ge=1, description="episodes whose FAU is pooled at a check (1: the "
                        "paper's rule; > 1: our variant, robust to per-episode FAU noise)")


register("rr_schedule", "fixed", FixedRRConfig, "agents.plasticity.schedules:FixedReplayRatio.from_config")
register("rr_schedule", "adaptive", AdaptiveRRConfig,
         "agents.plasticity.schedules:AdaptiveReplayRatio.from_config")


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
