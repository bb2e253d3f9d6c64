"""Config sections of the NCAP swimmer circuit (``circuits/ncap.py``), torch-free; the agents
that take it as their actor register it (``agents/*_config.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from configs.base import StrictModel


class NCAPCircuitConfig(StrictModel):
    """The NCAP swimmer circuit as a deterministic actor (``circuits/ncap.py``): off-policy
    agents (exploration noise from ``std_schedule``) and ES (perturbed weights)."""

    type: Literal["ncap"] = "ncap"
    shared: bool = Field(True, description="share weights over segments (4 params) or not (6N)")
    signed: bool = Field(True, description="excitatory/inhibitory sign constraints")
    constant_init: bool = Field(True, description="constant-magnitude init (+1/-1) or random")
    oscillator_period: int = Field(60, ge=2, description="head oscillator period in control steps")
    proprioception: bool = Field(True, description="include the proprioceptive pathway")
    head_oscillator: bool = Field(True, description="include the head oscillator")


class NCAPActorConfig(NCAPCircuitConfig):
    """The NCAP swimmer circuit as PPO's actor, with a fixed Gaussian exploration std."""

    sigma: float = Field(0.1, gt=0, description="fixed std of the Gaussian exploration noise")
