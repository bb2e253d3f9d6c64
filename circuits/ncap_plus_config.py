"""Config section of the NCAP+ circuit (``circuits/ncap_plus.py``), torch-free; PPO registers it
as an actor (``agents/ppo/config.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from configs.base import StrictModel


class NCAPPlusActorConfig(StrictModel):
    """NCAP+ (``circuits/ncap_plus.py``): NCAP with switchable extensions, swim or navigate.

    All switches off is the NCAP circuit (shared, signed, constant init). ``steering`` adds the
    speed and turn inputs of the navigation circuit (navigate task only).
    """

    type: Literal["ncap_plus"] = "ncap_plus"
    oscillator: Literal["square", "smooth", "proprioceptive"] = Field(
        "square", description="head oscillator wave, or proprioceptive: no oscillator, bistable "
        "B-neurons switched by the body (circuits/proprioceptive.py)")
    head_switch: float = Field(0.8, gt=0, lt=1, description="proprioceptive: the head "
                               "B-neurons' threshold on the head's own normalised bending")
    body_switch: float = Field(0.05, gt=0, lt=1, description="proprioceptive: the body "
                               "B-neurons' threshold on the normalised bending in front")
    period: float = Field(60.0, ge=4, le=400, description="initial oscillator period (steps)")
    duty: float = Field(0.5, gt=0, lt=1, description="initial duty cycle (fraction on per side)")
    learn_period: bool = Field(False, description="train the period (needs oscillator smooth)")
    learn_duty: bool = Field(False, description="train the duty cycle (needs oscillator smooth)")
    timing_lr_scale: float = Field(1.0, gt=0, description="learning rate of the learned period "
                                   "and duty cycle = actor lr x this (PPO)")
    sharpness: float = Field(10.0, gt=0, description="smooth wave: logistic slope kappa")
    muscle_tone: float | None = Field(None, ge=0, description="tonic muscle drive init (None: "
                                      "off); gives the contralateral weight c a gradient")
    leak: float = Field(0.0, ge=0, lt=1, description="graded-neuron leak slope (0: NCAP clamp)")
    velocity: float | None = Field(None, ge=0, description="joint-velocity proprioception "
                                   "weight init (None: off)")
    velocity_tau: float = Field(0.3, gt=0, description="velocity scale (s): vh = qdot tau / limit")
    gain_profile: int = Field(0, ge=0, le=4, description="Legendre coefficients of the muscle "
                              "gain along the body (0: off)")
    steering: Literal["hardcoded", "learned"] | None = Field(
        None, description="navigate: speed/turn inputs from the target (None: off)")
    n_turn_joints: int = Field(1, ge=1, description="steering: joints the turn inputs reach")
    brain_init: Literal["default", "steering_rule"] = Field(
        "default", description="steering learned: the 2 -> 3 brain starts from nn.Linear's "
        "default init (the authors') or from the hard-coded steering rule")
    sigma: float = Field(0.1, gt=0, description="fixed std of the Gaussian exploration noise")

    def one_env_only(self) -> str | None:
        """Why this actor cannot act on several envs in one batch (``trainer.num_envs``), or
        None: the proprioceptive rhythm keeps one episode's switch states in the actor."""
        if self.oscillator == "proprioceptive":
            return "the proprioceptive rhythm keeps one episode's switch states"
        return None

    @model_validator(mode="after")
    def _timing_needs_smooth_wave(self) -> "NCAPPlusActorConfig":
        for key in ("learn_period", "learn_duty"):
            if getattr(self, key) and self.oscillator != "smooth":
                raise ValueError(f"{key} needs oscillator 'smooth' (a square wave has no "
                                 "gradient with respect to its timing)")
        if self.oscillator == "proprioceptive":
            for key in ("velocity", "steering"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} does not combine with oscillator 'proprioceptive' "
                                     "(it adds to the graded B-neuron input the switches replace)")
        return self
