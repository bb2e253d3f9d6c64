"""Typed, validated run configuration: every default lives here.

A run config is a YAML preset (``configs/*.yaml``) plus ``key=value`` overrides, validated by these
pydantic models (unknown keys, wrong types and out-of-range values are errors). Units: ``steps``
and every ``*_every`` interval count *agent steps* (calls to ``env.step``); with action repeat
``k`` one agent step is ``k`` simulator frames.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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

    id: str = Field("swim", description="'swim' or 'dmc:<domain>-<task>' (e.g. dmc:walker-run)")
    n_joints: int = Field(5, ge=2, description="swim only: number of joints N (links = N + 1)")
    length_scale: float = Field(1.0, gt=0, description="swim only: link length multiplier")
    density: float | None = Field(None, ge=0, description="swim only: fluid density (None: 3000)")
    viscosity: float | None = Field(None, ge=0, description="swim only: fluid viscosity (None: 0)")
    body: BodyConfig = Field(default_factory=BodyConfig,
                             description="dm_control body changes (multipliers, 1 = stock)")
    time_feature: bool = Field(True, description="append the time feature -1 + 2k/T to observations")
    pixels: PixelConfig | None = Field(None, description="pixel observations; None = state")


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


class MLPActorConfig(StrictModel):
    """An MLP Gaussian actor with a learned state-independent std."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = Field([256, 256], description="hidden layer sizes")
    activation: Literal["tanh", "relu"] = "tanh"
    log_std_init: float = Field(0.0, description="initial log std of the action noise")


class PPOConfig(StrictModel):
    """Clipped-ratio PPO with GAE and a KL early stop (defaults: tonic / NCAP paper setup)."""

    name: Literal["ppo"] = "ppo"
    actor: Annotated[Union[NCAPActorConfig, MLPActorConfig], Field(discriminator="type")] = Field(
        default_factory=NCAPActorConfig)
    critic_hidden: list[Annotated[int, Field(gt=0)]] = Field([256, 256], description="critic MLP")
    critic_activation: Literal["tanh", "relu"] = "tanh"
    segment: int = Field(4096, ge=2, description="on-policy steps collected per update")
    iterations: int = Field(80, ge=1, description="optimisation passes (epochs) per segment")
    minibatch: int | None = Field(None, ge=1, description="minibatch size; None = full segment")
    clip: float = Field(0.2, gt=0, description="PPO ratio clip epsilon")
    kl_target: float | None = Field(0.015, gt=0, description="stop actor updates above this KL")
    actor_lr: float = Field(3e-4, gt=0)
    critic_lr: float = Field(1e-3, gt=0)
    gamma: float = Field(0.99, gt=0, le=1)
    lam: float = Field(0.97, ge=0, le=1, description="GAE lambda")
    normalize_advantages: bool = True
    entropy_coef: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(None, gt=0, description="global grad-norm clip; None = off")
    normalize_observations: bool = Field(True, description="running mean/std obs normaliser")

    @model_validator(mode="after")
    def _minibatch_fits(self) -> "PPOConfig":
        if self.minibatch is not None and self.minibatch > self.segment:
            raise ValueError(f"minibatch ({self.minibatch}) must be <= segment ({self.segment})")
        return self


class FixedRRConfig(StrictModel):
    """A constant replay ratio: gradient updates per agent step (``agents/schedules.py``)."""

    type: Literal["fixed"] = "fixed"
    rr: float = Field(0.5, gt=0, description="updates per agent step (DrQ-v2: 0.5 = 1 per 2 steps)")
    period: int = Field(1, ge=1, description="release the due updates in bursts every this many "
                        "agent steps (NCAP paper's DDPG: rr 1, period 50 = 50 updates every 50)")


class OffPolicyMLPActorConfig(StrictModel):
    """DrQ-v2's actor: trunk (``feature_dim``), MLP ReLU ``hidden_dim`` x 2, tanh mean."""

    type: Literal["mlp"] = "mlp"


class OffPolicyConfig(StrictModel):
    """One off-policy actor-critic for states and pixels (``agents/offpolicy.py``).

    Defaults are DrQ-v2's (Yarats et al. 2021); the DDPG presets of the NCAP paper set
    ``double_q``, ``target_actor``, ``noisy_updates`` and ``normalize_observations``. The encoder
    follows the observations: DrQ-v2's conv net + random shift for uint8 pixels (``env.pixels``),
    none for state vectors. Step counts are agent steps except ``seed_frames`` (frames, as in
    DrQ-v2's config; the same as agent steps for state envs).
    """

    name: Literal["offpolicy"] = "offpolicy"
    actor: Annotated[Union[OffPolicyMLPActorConfig, NCAPCircuitConfig],
                     Field(discriminator="type")] = Field(default_factory=OffPolicyMLPActorConfig)
    batch_size: int = Field(256, ge=1, description="replay batch per update (walker: 512)")
    n_step: int = Field(3, ge=1, description="n-step return length (walker: 1)")
    gamma: float = Field(0.99, gt=0, le=1, description="discount per agent step")
    lr: float = Field(1e-4, gt=0, description="Adam lr of encoder, actor and critic")
    feature_dim: int | None = Field(50, ge=1, description="trunk output size (LayerNorm + tanh); "
                                    "null = no trunk (DDPG's plain MLPs)")
    hidden_dim: int = Field(1024, ge=1, description="actor and Q-head hidden width")
    conv_channels: int | None = Field(None, ge=1, description="pixels only: channels of the 4 "
                                      "encoder conv layers (null: 32)")
    replay_capacity: int = Field(1_000_000, ge=8, description="replay slots (~transitions)")
    double_q: bool = Field(True, description="two Q heads and min(Q1, Q2) (DrQ-v2, TD3); false = "
                           "one Q head (DDPG)")
    target_actor: bool = Field(False, description="a Polyak target actor picks the next action "
                               "in the critic target (DDPG); false = the online actor (DrQ-v2)")
    noisy_updates: bool = Field(True, description="sample a ~ pi with sigma(step), clipped by "
                                "std_clip, in the critic target and the actor loss (DrQ-v2); "
                                "false = the deterministic mean (DDPG)")
    normalize_observations: bool = Field(False, description="states only: running mean/std "
                                         "normaliser in front of critic and MLP actor")
    critic_tau: float = Field(0.01, gt=0, le=1, description="target critic Polyak rate")
    std_schedule: str = Field("linear(1.0,0.1,500000)",
                              description="exploration std: a number or linear(init,final,steps) "
                              "in agent steps (easy 100000, medium 500000)")
    std_clip: float = Field(0.3, gt=0, description="noise clip in the updates (none when acting)")
    explore_steps: int = Field(2000, ge=0, description="uniform-random actions for this many "
                               "agent steps")
    seed_frames: int = Field(4000, ge=0, description="no updates before this many frames")
    augment_pad: int | None = Field(None, ge=0, description="pixels only: random-shift padding in "
                                    "pixels (0 = off; null: 4)")
    rr_schedule: Annotated[Union[FixedRRConfig], Field(discriminator="type")] = Field(
        default_factory=FixedRRConfig)

    @field_validator("std_schedule")
    @classmethod
    def _std_schedule_parses(cls, v: str) -> str:
        from agents.schedules import parse_std_schedule

        parse_std_schedule(v)
        return v


class DrQV2Config(OffPolicyConfig):
    """DrQ-v2 from pixels (``agents/drqv2.py``): the off-policy agent with its paper defaults,
    refusing state observations."""

    name: Literal["drqv2"] = "drqv2"


class ESMLPActorConfig(StrictModel):
    """A deterministic MLP actor for ES: raw observation -> tanh(MLP) (NCAP paper: 64x64 tanh)."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = Field([64, 64], description="hidden layer sizes")
    activation: Literal["tanh", "relu"] = "tanh"


class ESConfig(StrictModel):
    """OpenAI-style evolution strategies (``agents/es.py``), the NCAP paper's settings.

    One training episode evaluates one population member; an update is due once the whole
    generation has been evaluated. Every env step counts toward ``steps``.
    """

    name: Literal["es"] = "es"
    actor: Annotated[Union[NCAPCircuitConfig, ESMLPActorConfig], Field(discriminator="type")] = (
        Field(default_factory=NCAPCircuitConfig))
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


AgentConfig = Annotated[Union[PPOConfig, OffPolicyConfig, DrQV2Config, ESConfig],
                        Field(discriminator="name")]


class TrainerConfig(StrictModel):
    """The agent-agnostic loop: evaluation, logging, checkpoints."""

    eval_every: int = Field(10_000, ge=1, description="agent steps between evaluations")
    eval_episodes: int = Field(5, ge=1, description="episodes per evaluation")
    eval_seed_offset: int = Field(10_000, ge=0, description="eval env seeds: seed + offset + i")
    eval_at_start: bool = Field(True, description="evaluate the initial policy at step 0")
    log_every: int = Field(1_000, ge=1, description="agent steps between metrics.csv rows")
    checkpoint_every: int = Field(10_000, ge=1, description="agent steps between checkpoints")
    keep_checkpoints: int = Field(3, ge=1, description="periodic checkpoints kept (plus best)")
    save_replay: bool = Field(True, description="include replay buffers in checkpoints")
    resume_from: str | None = Field(
        None, min_length=1, description="checkpoint to resume from instead of checkpoints/last.pt "
        "(a file name in checkpoints/ or a path), e.g. the newest intact one if last.pt is corrupt")
    progress: bool = Field(True, description="show a progress bar")
    tensorboard: bool = Field(True, description="write TensorBoard event files under tb/")


class RunConfig(StrictModel):
    """One training run."""

    name: str = Field("run", min_length=1, description="experiment name (default run folder)")
    steps: int = Field(100_000, ge=1, description="total agent steps to train")
    seed: int = Field(0, ge=0)
    run_dir: str | None = Field(None, description="run folder; None = runs/<name>/seed<seed>")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int | None = Field(1, ge=1, description="torch intra-op threads (None: torch)")
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: AgentConfig = Field(default_factory=PPOConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    def resolved_run_dir(self) -> str:
        return self.run_dir or f"runs/{self.name}/seed{self.seed}"
