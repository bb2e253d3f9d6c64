"""The ES agent's config section (``agents/es/agent.py``) and its actors, torch-free, registered as
agent ``es`` and as kind ``es.actor``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from circuits.ncap_config import NCAPCircuitConfig
from circuits.quadruped_config import QuadrupedCircuitConfig
from configs.base import StrictModel
from configs.errors import ConfigError
from configs.registry import register, section


class ESMLPActorConfig(StrictModel):
    """A deterministic MLP actor for ES: raw observation -> tanh(MLP) (NCAP paper: 64x64 tanh)."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = Field([64, 64], description="hidden layer sizes")
    activation: Literal["tanh", "relu"] = "tanh"


register("es.actor", "ncap", NCAPCircuitConfig, "agents.es.agent:ncap_es_actor")
register("es.actor", "mlp", ESMLPActorConfig, "agents.es.agent:mlp_es_actor")
register("es.actor", "ncap_quadruped", QuadrupedCircuitConfig, "agents.policies.quadruped_actor:quadruped_es_actor")


class ESConfig(StrictModel):
    """OpenAI-style evolution strategies (``agents/es/agent.py``), the NCAP paper's settings.

    One training episode evaluates one population member; an update is due once the whole
    generation has been evaluated. Every env step counts toward ``steps``.
    """

    # steps several envs at once (trainer.num_envs > 1: members evaluated in parallel)
    vector_envs: ClassVar[bool] = True

    name: Literal["es"] = "es"
    actor: section("es.actor") = Field(default_factory=NCAPCircuitConfig)
    population: int = Field(8, ge=2, description="members per generation (even: antithetic pairs)")
    sigma: float = Field(0.02, gt=0, description="std of the parameter perturbations")
    lr: float = Field(0.01, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.005, ge=0, description="L2 weight decay of Adam")
    grad_clip: float | None = Field(1.0, gt=0, description="clamp the ES gradient element-wise "
                                    "to [-clip, clip]; null = off")

    @field_validator("population")
    @classmethod
    def _population_even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"population must be even (antithetic pairs), got {v}")
        return v


def check_run_config(cfg) -> None:
    """ES options that contradict the rest of the run config (one-line ``ConfigError``)."""
    if cfg.trainer.eval_actions == "sampled":
        raise ConfigError("config error: trainer.eval_actions: ES members act deterministically "
                          "(exploration is in the weights); use trainer.eval_actions=mean")


register("agent", "es", ESConfig, "agents.es.agent:ESAgent", check="agents.es.config:check_run_config")
