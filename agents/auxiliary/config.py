"""Config sections of the auxiliary losses (``agents/auxiliary/``), torch-free, registered under
their ``type``; ``AuxConfig`` collects every registered loss type.

The package's ``__init__`` imports nothing, so importing this module imports no torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from configs.base import StrictModel
from configs.registry import register, section


class _AuxLossConfig(StrictModel):
    """Fields every auxiliary loss has: its weight lambda and an optional metric label."""

    weight: float = Field(1.0, ge=0, description="lambda: the loss's multiplier")
    label: str | None = Field(None, min_length=1, description="metric label (default: the type)")


class OneStepAuxConfig(_AuxLossConfig):
    """(A) One-step latent prediction, EMA target, cosine loss (BYOL / SPR with K = 1)."""

    type: Literal["one_step"] = "one_step"
    hidden: int = Field(512, ge=1, description="dynamics MLP width")
    shuffle_actions: bool = Field(False, description="control (S): permute actions in the batch")


class RolloutAuxConfig(_AuxLossConfig):
    """(B) K-step latent rollout (SPR), EMA targets, step weights ``rho^(k-1)``."""

    type: Literal["rollout"] = "rollout"
    k: int = Field(5, ge=1, description="rollout steps K (SPR: 5)")
    rho: float = Field(1.0, gt=0, le=1, description="step weight w_k = rho^(k-1) (TD-MPC2: 0.5)")
    hidden: int = Field(512, ge=1, description="dynamics MLP width")
    shuffle_actions: bool = Field(False, description="control (S): permute actions in the batch")


class HorizonFaithfulAuxConfig(_AuxLossConfig):
    """(C-faithful) Fang & Stachenfeld's discounted-horizon prediction plus repulsion."""

    type: Literal["horizon_faithful"] = "horizon_faithful"
    gamma: float = Field(0.5, ge=0, lt=1, description="prediction horizon discount")
    temperature: float = Field(5.0, gt=0, description="repulsion temperature C")
    pos_weight: float = Field(1e-2, ge=0, description="lambda_pos of the prediction term")
    neg_weight: float = Field(1e-1, ge=0, description="lambda_neg of the repulsion terms")
    hidden: int = Field(512, ge=1, description="dynamics MLP width")


class HorizonStabilisedAuxConfig(_AuxLossConfig):
    """(C-stabilised) EMA-target, (1 - gamma)-normalised discounted-horizon prediction."""

    type: Literal["horizon_stabilised"] = "horizon_stabilised"
    gamma: float = Field(0.5, ge=0, lt=1, description="prediction horizon discount")
    distance: Literal["cosine", "mse"] = Field("cosine", description="D: 2 - 2 cos, or MSE")
    neg_weight: float = Field(0.0, ge=0, description="optional random-pair repulsion weight")
    temperature: float = Field(5.0, gt=0, description="repulsion temperature C")
    hidden: int = Field(512, ge=1, description="dynamics MLP width")


class ContrastiveAuxConfig(_AuxLossConfig):
    """(D) TACO-style temporal contrastive InfoNCE of (z_t, action sequence) vs z_{t+K}."""

    type: Literal["contrastive"] = "contrastive"
    k: int = Field(3, ge=1, description="steps K between anchor and positive (TACO: 3)")
    hidden: int = Field(256, ge=1, description="action-encoder and projection MLP width")


class RewardAuxConfig(_AuxLossConfig):
    """(E) Reward prediction: the discounted K-step reward sum from z_t and the action sequence."""

    type: Literal["reward"] = "reward"
    k: int = Field(1, ge=1, description="steps summed (TACO: its K)")
    discount: float = Field(0.99, ge=0, le=1, description="gamma of the reward sum (TACO: the "
                            "agent's 0.99; 1.0 = the plain sum)")
    hidden: int = Field(256, ge=1, description="reward MLP width")


class NegativesAuxConfig(_AuxLossConfig):
    """Control (N): repulsion only (F&S "MF+N"), no prediction."""

    type: Literal["negatives"] = "negatives"
    temperature: float = Field(5.0, gt=0, description="repulsion temperature C")
    neighbour: bool = Field(True, description="also repel consecutive states z_t, z_{t+1}")


register("aux_loss", "one_step", OneStepAuxConfig,
         "agents.auxiliary.rollout:LatentRollout.one_step")
register("aux_loss", "rollout", RolloutAuxConfig,
         "agents.auxiliary.rollout:LatentRollout.from_config")
register("aux_loss", "horizon_faithful", HorizonFaithfulAuxConfig,
         "agents.auxiliary.horizon:HorizonFaithful.from_config")
register("aux_loss", "horizon_stabilised", HorizonStabilisedAuxConfig,
         "agents.auxiliary.horizon:HorizonStabilised.from_config")
register("aux_loss", "contrastive", ContrastiveAuxConfig,
         "agents.auxiliary.contrastive:TemporalContrastive.from_config")
register("aux_loss", "reward", RewardAuxConfig,
         "agents.auxiliary.reward:RewardPrediction.from_config")
register("aux_loss", "negatives", NegativesAuxConfig,
         "agents.auxiliary.repulsion:NegativesOnly.from_config")


class AuxConfig(StrictModel):
    """Auxiliary losses on the encoder's latent ``z = g(f(aug(o)))`` (``agents/auxiliary``)."""

    losses: section("aux_loss", many=True) = Field(
        default_factory=list, description="list of {type, weight, ...}; [] = none (DrQ-v2)")
    latent: Literal["trunk", "projection"] = Field(
        "trunk", description="g: the critic's trunk (shared) or a projection of its own")
    routing: Literal["critic", "separate"] = Field(
        "critic", description="critic: added to L_Q before the encoder/critic Adam step; "
        "separate: an Adam step of its own over encoder, g and heads (CURL/TACO)")
    target_tau: float = Field(0.01, gt=0, le=1, description="EMA rate of every target copy")

    @model_validator(mode="after")
    def _labels_unique(self) -> "AuxConfig":
        labels = [loss.label or loss.type for loss in self.losses]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise ValueError(f"two losses are labelled '{label}': give one a label")
        return self
