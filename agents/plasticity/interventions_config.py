"""Config sections of the plasticity interventions Reset, ReDo and Shrink & Perturb
(``agents/plasticity/interventions.py``),
torch-free, registered under their key in the off-policy agent's config.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from configs.base import StrictModel
from configs.registry import register


class TriggerConfig(StrictModel):
    """Fire an intervention on a logged per-update metric instead of a schedule
    (``agents/plasticity/triggers.py``): at the end of every ``every``-th episode with updates,
    ``v`` = the metric's mean over the last ``window`` such episodes; ``levelled``:
    ``|v - v_prev| <= threshold`` (the Adaptive RR's rule generalised), ``above`` / ``below``:
    ``v`` beyond ``threshold``. The intervention runs at the next update after a fire; no new
    fire within ``cooldown`` agent steps; ``once``: at most one fire. Every check is a row of
    ``intervention_checks.csv``."""

    metric: str = Field(..., description="a per-update metric, e.g. dormant0.025/critic, "
                        "fau/critic, loss/critic")
    condition: Literal["levelled", "above", "below"] = Field(..., description="the rule")
    threshold: float = Field(..., description="eps of levelled (> 0) or the level crossed")
    every: int = Field(1, ge=1, description="episodes between checks")
    window: int = Field(1, ge=1, description="episodes pooled per check")
    cooldown: int = Field(0, ge=0, description="agent steps after a fire without another")
    once: bool = Field(False, description="fire at most once")

    @model_validator(mode="after")
    def _positive_eps(self) -> "TriggerConfig":
        if self.condition == "levelled" and not self.threshold > 0:
            raise ValueError("levelled needs threshold > 0")
        return self


def _one_of(section, names: tuple[str, ...]) -> None:
    """Exactly one of ``names`` set (a period unit or a trigger)."""
    if sum(getattr(section, n) is not None for n in names) != 1:
        raise ValueError(f"set exactly one of {', '.join(names)}")


def _check_period(section) -> None:
    """A periodic section (ReDo, Shrink & Perturb): exactly one of ``every_steps``,
    ``every_updates`` and (where it has one) ``trigger``."""
    if section.trigger is not None:
        _one_of(section, ("every_steps", "every_updates", "trigger"))
    elif (section.every_steps is None) == (section.every_updates is None):
        raise ValueError("set exactly one of every_steps (agent steps) and every_updates")


class ResetConfig(StrictModel):
    """Periodic Reset (Nikishin et al. 2022): re-initialise ``modules`` and their Adam state.

    ``count`` resets at agent steps ``k * steps / (count + 1)``, ``k = 1..count``, evenly spaced
    inside the run (none at its end), ``steps`` being the run's at its start (a run resumed
    with a larger ``steps`` keeps them); the replay buffer (and any module not named) is kept.
    """

    count: int | None = Field(10, ge=1, description="resets over the run (ARR paper: 10; "
                              "quadruped 5); null with a trigger")
    trigger: TriggerConfig | None = Field(None, description="reset when a metric says so "
                                          "instead (count: null)")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules to reset (the critic's target "
        "is set to the fresh critic); encoder only for pixel agents")

    @model_validator(mode="before")
    @classmethod
    def _trigger_replaces_count(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("trigger") is not None:
            if data.get("count") is not None:
                raise ValueError("set either count or trigger")
            data = {**data, "count": None}
        return data

    @model_validator(mode="after")
    def _one_rule(self) -> "ResetConfig":
        _one_of(self, ("count", "trigger"))
        return self


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
    trigger: TriggerConfig | None = Field(None, description="ReDo when a metric says so")
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
        _check_period(self)
        return self


class ShrinkPerturbConfig(StrictModel):
    """Shrink & Perturb for every parameter of ``modules``
    (``agents/plasticity/shrink_perturb.py``):
    ``target: fresh`` (Ash & Adams 2020; the default) ``theta <- shrink * theta + perturb *
    theta_new``, ``theta_new`` a fresh initialisation drawn at each application; ``target:
    initial`` (Plasticine's snp) ``theta <- shrink * theta + perturb * theta(0)``, ``theta(0)``
    the module's weights at the run's start. ``perturb: null`` means ``1 - shrink`` (the convex
    form). Period as ReDo's: exactly one of ``every_steps`` (agent steps) and ``every_updates``.
    Plasticine applies it after every policy update with shrink 0.999999; periodic use with a
    stronger shrink (e.g. 0.8 every 10k updates) is the other common setting. The Adam state
    and the target networks are left as they are.
    """

    shrink: float = Field(..., gt=0, le=1, description="lambda in (0, 1]: the weight kept")
    perturb: float | None = Field(None, ge=0, description="sigma: the init's share "
                                  "(null: 1 - shrink)")
    target: Literal["fresh", "initial"] = Field(
        "fresh", description="fresh: a new draw of the init each time (Ash & Adams); initial: "
        "the weights the run started with (Plasticine)")
    every_steps: int | None = Field(None, ge=1, description="agent steps between applications")
    every_updates: int | None = Field(None, ge=1, description="updates between applications")
    trigger: TriggerConfig | None = Field(None, description="apply when a metric says so")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules shrunk and perturbed "
        "(encoder: pixel agents)")

    @model_validator(mode="after")
    def _one_period(self) -> "ShrinkPerturbConfig":
        _check_period(self)
        return self


class L2InitConfig(StrictModel):
    """Regenerative L2-init (Kumar et al. 2023): ``coef * ||theta - theta(0)||^2`` added to the
    loss of each named module (critic and encoder: the critic loss; actor: the actor loss),
    ``theta(0)`` its parameters at construction, and its fresh ones after each Reset of it
    (``agents/plasticity/l2_init.py``). Logged as ``l2_init/<module>``."""

    coef: float = Field(..., gt=0, description="lambda of the penalty (Kumar et al.: 1e-2 "
                        "to 1e-5 by task)")
    modules: list[Literal["actor", "critic", "encoder"]] = Field(
        ["actor", "critic"], min_length=1, description="modules pulled towards their init "
        "(encoder: pixel agents)")


class PlasticityInjectionConfig(StrictModel):
    """Plasticity injection (Nikishin et al. 2023) into the critic's Q heads
    (``agents/plasticity/injection.py``): ``Q(z, a) = Q_frozen(z, a) + (Q_fresh(z, a) -
    Q_twin(z, a))``, unchanged at injection, only the fresh heads training. Once at ``at_step``
    (the paper: halfway through training), or when ``trigger`` fires (each fire nests one more
    injection)."""

    at_step: int | None = Field(None, ge=1, description="agent step of the injection")
    trigger: TriggerConfig | None = Field(None, description="inject when a metric says so")
    modules: list[Literal["critic"]] = Field(
        ["critic"], min_length=1, description="the critic's Q heads (the layers after its "
        "trunk); the actor is not injected")

    @model_validator(mode="after")
    def _one_rule(self) -> "PlasticityInjectionConfig":
        _one_of(self, ("at_step", "trigger"))
        return self


register("intervention", "reset", ResetConfig, "agents.plasticity.interventions:Reset")
register("intervention", "redo", ReDoConfig, "agents.plasticity.interventions:ReDo")
register("intervention", "shrink_perturb", ShrinkPerturbConfig, "agents.plasticity.interventions:ShrinkPerturb")
register("intervention", "plasticity_injection", PlasticityInjectionConfig,
         "agents.plasticity.injection:PlasticityInjection")
