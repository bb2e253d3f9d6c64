"""Config section of PPO's MLP Gaussian actor (``agents/policies/actors.py``), torch-free.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.base import StrictModel


class MLPActorConfig(StrictModel):
    """An MLP Gaussian actor with a learned state-independent std."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = Field([256, 256], description="hidden layer sizes")
    activation: Literal["tanh", "relu"] = "tanh"
    log_std_init: float = Field(0.0, description="head linear only: initial log std of the noise")
    head: Literal["linear", "tonic"] = Field(
        "linear", description="linear: linear mean, std exp(log_std) (SB3); tonic: tanh on the "
        "mean, std softplus(rho) clamped to [1e-4, 1], rho = 0 at init (std 0.693)")

    @model_validator(mode="after")
    def _log_std_init_needs_linear_head(self) -> "MLPActorConfig":
        if self.head == "tonic" and self.log_std_init != 0.0:
            raise ValueError("log_std_init applies to head 'linear' only (tonic: std softplus(0))")
        return self
