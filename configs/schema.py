"""Typed, validated run configuration: the run, env and trainer sections, and the schema
that collects every registered component section.

A run config is a YAML preset (``configs/*.yaml``) plus ``key=value`` overrides, validated by these
pydantic models (unknown keys, wrong types and out-of-range values are errors). Units: ``steps``
and every ``*_every`` interval count *agent steps* (calls to ``env.step``); with action repeat
``k`` one agent step is ``k`` simulator frames.

The components' own sections (agents, actors, replay-ratio schedules, auxiliary losses,
interventions) are declared beside their implementations (the ``config`` modules of
``agents/``, ``circuits/*_config.py``) and registered by name (``configs/registry.py``); ``agent``
here is the tagged union of every registered agent section. This module imports no torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from configs import registry
from configs.base import StrictModel
from configs.registry import section

registry.load_builtins()

# the component sections, importable from here as before the registry
from agents.auxiliary.config import (AuxConfig, ContrastiveAuxConfig,  # noqa: E402,F401
                               HorizonFaithfulAuxConfig, HorizonStabilisedAuxConfig,
                               NegativesAuxConfig, OneStepAuxConfig, RewardAuxConfig,
                               RolloutAuxConfig)
from agents.es.config import ESConfig, ESMLPActorConfig  # noqa: E402,F401
from agents.plasticity.interventions_config import ReDoConfig, ResetConfig  # noqa: E402,F401
from agents.offpolicy.config import (DrQV2Config, EncoderInitConfig,  # noqa: E402,F401
                                     OffPolicyConfig, OffPolicyMLPActorConfig,
                                     RepresentationConfig)
from agents.policies.config import MLPActorConfig  # noqa: E402,F401
from agents.ppo.config import PPOConfig  # noqa: E402,F401
from agents.plasticity.schedules_config import AdaptiveRRConfig, FixedRRConfig  # noqa: E402,F401
from circuits.ncap_config import NCAPActorConfig, NCAPCircuitConfig  # noqa: E402,F401
from circuits.ncap_plus_config import NCAPPlusActorConfig  # noqa: E402,F401


class PixelConfig(StrictModel):
    """Pixel observations (``envs/pixels.py``): DrQ-v2's render, action repeat and frame stack.

    One agent step is ``action_repeat`` simulator frames; the run logs both counts.
    """

    size: int = Field(84, ge=1, description="image height = width in pixels")
    frame_stack: int = Field(3, ge=1, description="stacked RGB images per observation")
    action_repeat: int = Field(2, ge=1, description="frames per agent step (rewards summed)")
    profile: Literal["standard", "fast"] = Field(
        "standard", description="render profile: standard = dm_control's default pixels (use for "
        "results); fast = no shadows/reflections/multisampling (smoke tests, CPU)")
    camera: int | str | None = Field(
        None, description="camera index or name; None = 0 (quadruped: 2, swim: tracking1)")


class NavigateTargetConfig(StrictModel):
    """Navigate only: where the target is drawn (stock dm_control swimmer: +-2 m, or +-0.3 m with
    probability 0.2), uniformly in a square box centred on the origin."""

    box: float = Field(2.0, gt=0, description="half-width (m) of the far target box")
    near_box: float = Field(0.3, gt=0, description="half-width (m) of the near target box")
    near_probability: float = Field(0.2, ge=0, le=1, description="chance of the near box")


class BodyConfig(StrictModel):
    """Body changes of a dm_control domain (``envs/dmc_bodies.py``): multipliers, 1.0 = stock.

    Applied to the MJCF before compiling; a change a domain does not define is refused when the
    env is built. The swimmer's body is ``n_joints``, ``length_scale``, ``density``, ``viscosity``.
    """

    length: float = Field(1.0, gt=0, description="dmc: limb length scale (radii kept)")
    mass: float = Field(1.0, gt=0, description="dmc: mass and inertia scale (all bodies)")
    gear: float = Field(1.0, gt=0, description="dmc: actuator strength scale (motor gear; "
                        "servo kp, kv)")
    damping: float = Field(1.0, gt=0, description="dmc: joint damping scale")
    friction: float = Field(1.0, gt=0, description="dmc: friction scale of every contact "
                            "(floor included)")


class EnvConfig(StrictModel):
    """Which environment and body to train on (see ``envs/factory.py``)."""

    id: str = Field("swim", description="'swim', 'navigate' or 'dmc:<domain>-<task>' (e.g. "
                    "dmc:walker-run)")
    n_joints: int = Field(5, ge=2, description="swim/navigate: number of joints N (links = N + 1)")
    length_scale: float = Field(1.0, gt=0, description="swim only: link length multiplier")
    density: float | None = Field(None, ge=0, description="swim only: fluid density (None: 3000)")
    viscosity: float | None = Field(None, ge=0, description="swim only: fluid viscosity (None: 0)")
    body: BodyConfig = Field(default_factory=BodyConfig,
                             description="dm_control body changes (multipliers, 1 = stock)")
    time_feature: bool = Field(True, description="append the time feature -1 + 2k/T to observations")
    unit_actions: bool = Field(False, description="actions in [-1, 1] per actuator, mapped "
                               "affinely onto the task's action spec (DrQ-v2, tonic); the "
                               "off-policy agent needs it where the spec is not [-1, 1] "
                               "(dmc:quadruped-*)")
    pixels: PixelConfig | None = Field(None, description="pixel observations; None = state")
    target: NavigateTargetConfig = Field(default_factory=NavigateTargetConfig)


class TrainerConfig(StrictModel):
    """The agent-agnostic loop: evaluation, logging, checkpoints."""

    eval_every: int = Field(10_000, ge=1, description="agent steps between evaluations")
    eval_episodes: int = Field(5, ge=1, description="episodes per evaluation")
    eval_seed_offset: int = Field(10_000, ge=0, description="eval env seeds: seed + offset + i")
    eval_actions: Literal["mean", "sampled"] = Field(
        "mean", description="evaluate the mean action, or sampled actions with seeded noise "
        "that moves no training RNG (tonic)")
    eval_seeding: Literal["fixed", "continuing"] = Field(
        "fixed", description="fixed: episode i of every evaluation starts from seed + offset + i;"
        " continuing: one eval env seeded seed + offset, never reseeded (tonic)")
    eval_at_start: bool = Field(True, description="evaluate the initial policy at step 0")
    log_every: int = Field(1_000, ge=1, description="agent steps between metrics.csv rows")
    checkpoint_every: int = Field(10_000, ge=1, description="agent steps between checkpoints")
    keep_checkpoints: int = Field(3, ge=1, description="periodic checkpoints kept (plus best)")
    save_replay: bool = Field(True, description="include replay buffers in checkpoints")
    resume_from: str | None = Field(
        None, min_length=1, description="checkpoint to resume from instead of checkpoints/last.pt "
        "(a file name in checkpoints/ or a path), e.g. the newest intact one if last.pt is corrupt")
    progress: bool = Field(True, description="show progress: a bar on a terminal, else a "
                           "plain line every progress_seconds (nohup, a log file)")
    progress_seconds: float = Field(30.0, gt=0, description="seconds between plain progress "
                                    "lines when the output is not a terminal")
    tensorboard: bool = Field(True, description="write TensorBoard event files under tb/")
    num_envs: int = Field(1, ge=1, description="training envs stepped together (envs/vector.py): "
                          "the policy acts on all N in one batched call; steps count env steps "
                          "over all envs (1: one env, the loop as before)")
    env_workers: int | None = Field(None, ge=1, description="worker processes the num_envs envs "
                                    "are spread over (1: in this process); None: the largest "
                                    "min(num_envs, cores)")

    @model_validator(mode="after")
    def _workers_share_envs(self) -> "TrainerConfig":
        k, n = self.env_workers, self.num_envs
        if k is not None and k > n:
            raise ValueError(f"env_workers={k} is more than num_envs={n} (a worker steps at "
                             "least one env)")
        return self


def name_max(path: Path) -> int:
    """The longest file or folder name (bytes) the file system holding ``path`` allows:
    ``os.pathconf(NAME_MAX)`` of ``path``'s nearest existing parent, else 255 (the common limit).

    ``name`` is the only piece of a run's paths the user chooses: every other component
    (``seed<k>``, at most 14 bytes; ``checkpoints``; the longest file a run writes,
    ``tb/events.out.tfevents.<time>.<host>...``, named by TensorBoard within the host name's
    own limit) is fixed and short, so a name within the limit makes every path writable.
    """
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        return os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


class RunConfig(StrictModel):
    """One training run."""

    name: str = Field("run", min_length=1, description="experiment name (default run folder)")
    steps: int = Field(100_000, ge=1, description="total agent steps to train")
    seed: int = Field(0, ge=0, lt=2**31, description="run seed (< 2^31)")
    run_dir: str | None = Field(None, description="run folder; None = runs/<name>/seed<seed>")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int | None = Field(1, ge=1, description="torch intra-op threads (None: torch)")
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: section("agent") = Field(default_factory=PPOConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    plugins: list[str] = Field(default_factory=list, description="plug-in files (.py) or "
                               "modules imported before validation; they register components "
                               "(configs/registry.py)")

    @field_validator("trainer")
    @classmethod
    def _envs_fit_the_agent(cls, v: TrainerConfig, info) -> TrainerConfig:
        """``trainer.num_envs > 1`` needs an agent whose config class says it steps several
        envs at once (``vector_envs = True``, ``trainer/loop.py``) and ``steps`` a multiple of
        it."""
        agent, steps = info.data.get("agent"), info.data.get("steps")
        if v.num_envs == 1 or agent is None:
            return v
        if not getattr(type(agent), "vector_envs", False):
            raise ValueError(f"num_envs={v.num_envs}: agent '{agent.name}' steps one env at a "
                             "time; set trainer.num_envs=1 (several envs: ppo, es, offpolicy, "
                             "drqv2)")
        actor = getattr(agent, "actor", None)
        reason = actor.one_env_only() if hasattr(actor, "one_env_only") else None
        if reason:
            raise ValueError(f"num_envs={v.num_envs}: agent.actor.type '{actor.type}': "
                             f"{reason}; set trainer.num_envs=1")
        if steps is not None and steps % v.num_envs:
            raise ValueError(f"num_envs={v.num_envs} must divide steps={steps} (each loop step "
                             "is one env step of every env)")
        return v

    @field_validator("name")
    @classmethod
    def _name_stays_in_runs(cls, v: str) -> str:
        """``name`` is one folder inside ``runs/`` (``runs/<name>/seed<k>``, ``runs/sweeps/
        <name>``): a shared preset cannot make a run write outside it. ``run_dir`` chooses any
        folder, as the user's explicit choice."""
        if v in (".", "..") or any(c in v for c in "/\\\0"):
            raise ValueError("name must be one folder name inside runs/ (no '/', '\\', '.' or "
                             "'..'); set run_dir to write the run elsewhere")
        limit = name_max(Path("runs") / v)
        if len(v.encode()) > limit:
            raise ValueError(f"{len(v.encode())} bytes long, over the {limit} bytes a folder "
                             "name may have on this file system (runs/<name>/seed<k>): give a "
                             "shorter name")
        return v

    def resolved_run_dir(self) -> str:
        return self.run_dir or f"runs/{self.name}/seed{self.seed}"
