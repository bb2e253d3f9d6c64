"""PPO's config section (``agents/ppo/agent.py``) and the actors it takes, torch-free, registered as
agent ``ppo`` and as kind ``ppo.actor``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from agents.policies.config import MLPActorConfig
from circuits.ncap_config import NCAPActorConfig
from circuits.ncap_plus_config import NCAPPlusActorConfig
from circuits.quadruped_config import QuadrupedActorConfig
from configs.base import StrictModel
from configs.registry import register, section


register("ppo.actor", "ncap", NCAPActorConfig, "agents.policies.actors:ncap_ppo_actor")
register("ppo.actor", "mlp", MLPActorConfig, "agents.policies.actors:mlp_ppo_actor")
register("ppo.actor", "ncap_plus", NCAPPlusActorConfig, "agents.policies.circuit_actor:ncap_plus_ppo_actor")
register("ppo.actor", "ncap_quadruped", QuadrupedActorConfig, "agents.policies.quadruped_actor:quadruped_ppo_actor")


class PPOConfig(StrictModel):
    """Clipped-ratio PPO with GAE and a KL early stop (defaults: tonic / NCAP paper setup)."""

    # steps several envs at once (trainer.num_envs > 1: batched act/observe, trainer/loop.py)
    vector_envs: ClassVar[bool] = True

    name: Literal["ppo"] = "ppo"
    actor: section("ppo.actor") = Field(default_factory=NCAPActorConfig)
    critic_hidden: list[Annotated[int, Field(gt=0)]] = Field([256, 256], description="critic MLP")
    critic_activation: Literal["tanh", "relu"] = "tanh"
    segment: int = Field(4096, ge=2, description="on-policy steps collected per update")
    iterations: int = Field(80, ge=1, description="optimisation passes (epochs) per segment")
    minibatch: int | None = Field(None, ge=1, description="minibatch size; None = full segment")
    clip: float = Field(0.2, gt=0, description="PPO ratio clip epsilon")
    kl_target: float | None = Field(0.015, gt=0, description="stop actor updates above this KL")
    kl_stop_step: Literal["skip", "take"] = Field(
        "skip", description="the actor step whose KL first exceeds kl_target: skip it, or take "
        "it and then stop (tonic)")
    actor_lr: float = Field(3e-4, gt=0)
    critic_lr: float = Field(1e-3, gt=0)
    gamma: float = Field(0.99, gt=0, le=1)
    lam: float = Field(0.97, ge=0, le=1, description="GAE lambda")
    normalize_advantages: bool = True
    entropy_coef: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(None, gt=0, description="global grad-norm clip; None = off")
    normalize_observations: bool = Field(True, description="running mean/std obs normaliser")
    obs_clip: float | None = Field(10.0, gt=0, description="clip normalised observations to "
                                   "+-obs_clip (tonic's MeanStd: null = no clip)")
    obs_std_floor: float = Field(1e-8, gt=0, description="lower bound of the normaliser's std "
                                 "(tonic's MeanStd: 0.01)")
    weight_metrics: bool = Field(False, description="log at every update (one per segment) "
                                 "grad_norm/, weight/, weight_change/ of actor and critic, and "
                                 "on the segment srank/erank, FAU and dormant ratios of the "
                                 "critic's hidden layers (agents/plasticity/weight_metrics.py)")

    @model_validator(mode="after")
    def _minibatch_fits(self) -> "PPOConfig":
        if self.minibatch is not None and self.minibatch > self.segment:
            raise ValueError(f"minibatch ({self.minibatch}) must be <= segment ({self.segment})")
        return self


register("agent", "ppo", PPOConfig, "agents.ppo.agent:PPOAgent")
