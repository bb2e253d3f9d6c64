"""Config sections of the quadruped circuit (``circuits/quadruped.py``), torch-free; the agents
that take it as their actor register it (``agents/ppo/config.py``, ``agents/offpolicy/config.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from configs.base import StrictModel


class QuadrupedCircuitConfig(StrictModel):
    """The quadruped's spinal circuit as a deterministic actor (off-policy agents: exploration
    noise from ``std_schedule``)."""

    type: Literal["ncap_quadruped"] = "ncap_quadruped"
    drive: float = Field(1.0, gt=0, le=3, description="brainstem drive d: step period "
                         "T = swing_time + stance_time / d; walk at d <= 1, trot at d >= 2")
    swing_time: float = Field(0.25, gt=0, le=2, description="seconds of the swing (flexor) "
                              "half-cycle, at any drive")
    stance_time: float = Field(0.35, gt=0, le=5, description="seconds of the stance "
                               "(extensor) half-cycle at drive 1")
    signed: bool = Field(True, description="excitatory/inhibitory sign constraints")


class QuadrupedActorConfig(QuadrupedCircuitConfig):
    """The quadruped circuit as PPO's actor, with a fixed Gaussian exploration std."""

    sigma: float = Field(0.1, gt=0, description="fixed std of the Gaussian exploration noise")
