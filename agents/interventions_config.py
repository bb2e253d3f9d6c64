"""Config sections of the plasticity interventions Reset, ReDo and Shrink & Perturb
(``agents/interventions.py``),
torch-free, registered under their key in the off-policy agent's config.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from configs.base import StrictModel
from configs.registry import register


class ResetConfig(StrictModel):
    """Periodic Reset (Nikishin et al. 2022): re-initialise ``modules`` and their Adam state.

    ``count`` resets at agent steps ``k * steps / (count + 1)``, ``k = 1..count``, evenly spaced
    inside the run (none at its end); the replay buffer (and any module not named) is kept.
    """

    count: int = Field(10, ge=1, description="resets over the run (ARR paper: 10; quadruped 5)")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules to reset (the critic's target "
        "is set to the fresh critic); encoder only for pixel agents")


class ReDoConfig(StrictModel):
    """ReDo (Sokar et al. 2023): periodically re-initialise tau-dormant hidden units.

    The period has an explicit unit: ``every_steps`` (agent steps; ReDo runs on the first
    update at or after each multiple) or ``every_updates`` (gradient updates); set exactly one.
    The ARR paper (Ma et al. 2024, sec. 8.6 of our notes) compares against ReDo with "a
    1000-step period" and releases no ReDo code; its DrQ-v2 code base counts ``step`` in agent
    steps (frames are ``frame``), and ReDo's own code checks its period on the training-step
    counter, so the ARR presets use ``every_steps: 1000`` [uncertain: the paper does not say
    more]. The two units differ by the replay ratio: at RR 2, 1000 agent steps are 2000 updates.
    Scope (``modules``): the hidden Linear layers of the actor and the critic, and with
    ``encoder`` (pixel agents) the 4 conv layers too, a channel being a unit (the last conv's
    outgoing weights are the trunks' columns that read its pixels). ReDo's reference recycler
    treats every hidden layer, conv layers included: ``[encoder, actor, critic]``. The ARR paper
    does not say which layers its ReDo comparison treats; the ARR presets keep ``[actor,
    critic]``, our default [uncertain].
    """

    every_steps: int | None = Field(None, ge=1, description="agent steps between ReDo steps "
                                    "(ARR presets: 1000)")
    every_updates: int | None = Field(None, ge=1, description="updates between ReDo steps")
    tau: float = Field(0.025, ge=0, lt=1, description="dormant if score <= tau")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules whose hidden layers ReDo treats "
        "(encoder: the conv layers, pixel agents; ReDo's reference: all three)")

    @model_validator(mode="before")
    @classmethod
    def _renamed_every(cls, data: Any) -> Any:
        if isinstance(data, dict) and "every" in data:
            raise ValueError("'every' was renamed: use every_updates (its old meaning: updates "
                             "between ReDo steps) or every_steps (agent steps, the ARR presets' "
                             "unit)")
        return data

    @model_validator(mode="after")
    def _one_period(self) -> "ReDoConfig":
        if (self.every_steps is None) == (self.every_updates is None):
            raise ValueError("set exactly one of every_steps (agent steps) and every_updates")
        return self


class ShrinkPerturbConfig(StrictModel):
    """Shrink & Perturb (Ash & Adams 2020): ``theta <- shrink * theta + perturb * theta_init'``
    for every parameter of ``modules``, ``theta_init'`` a fresh initialisation drawn at each
    application (``agents/shrink_perturb.py``). ``perturb: null`` means ``1 - shrink``
    (Plasticine's convex form). Period as ReDo's: exactly one of ``every_steps`` (agent steps)
    and ``every_updates``. Plasticine applies it after every policy update with shrink
    0.999999; periodic use with a stronger shrink (e.g. 0.8 every 10k updates) is the other
    common setting. The Adam state and the target networks are left as they are.
    """

    shrink: float = Field(..., gt=0, le=1, description="lambda in (0, 1]: the weight kept")
    perturb: float | None = Field(None, ge=0, description="sigma: the fresh init's share "
                                  "(null: 1 - shrink)")
    every_steps: int | None = Field(None, ge=1, description="agent steps between applications")
    every_updates: int | None = Field(None, ge=1, description="updates between applications")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules shrunk and perturbed "
        "(encoder: pixel agents)")

    @model_validator(mode="after")
    def _one_period(self) -> "ShrinkPerturbConfig":
        if (self.every_steps is None) == (self.every_updates is None):
            raise ValueError("set exactly one of every_steps (agent steps) and every_updates")
        return self


register("intervention", "reset", ResetConfig, "agents.interventions:Reset")
register("intervention", "redo", ReDoConfig, "agents.interventions:ReDo")
register("intervention", "shrink_perturb", ShrinkPerturbConfig, "agents.interventions:ShrinkPerturb")
