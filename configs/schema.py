"""Typed, validated run configuration: every default lives here.

A run config is a YAML preset (``configs/*.yaml``) plus ``key=value`` overrides, validated by these
pydantic models (unknown keys, wrong types and out-of-range values are errors). Units: ``steps``
and every ``*_every`` interval count *agent steps* (calls to ``env.step``); with action repeat
``k`` one agent step is ``k`` simulator frames.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

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
    pixels: PixelConfig | None = Field(None, description="pixel observations; None = state")
    target: NavigateTargetConfig = Field(default_factory=NavigateTargetConfig)


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


class NCAPPlusActorConfig(StrictModel):
    """NCAP+ (``circuits/ncap_plus.py``): NCAP with switchable extensions, swim or navigate.

    All switches off is the NCAP circuit (shared, signed, constant init). ``steering`` adds the
    speed and turn inputs of the navigation circuit (navigate task only).
    """

    type: Literal["ncap_plus"] = "ncap_plus"
    oscillator: Literal["square", "smooth"] = Field("square", description="head oscillator wave")
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

    @model_validator(mode="after")
    def _timing_needs_smooth_wave(self) -> "NCAPPlusActorConfig":
        for key in ("learn_period", "learn_duty"):
            if getattr(self, key) and self.oscillator != "smooth":
                raise ValueError(f"{key} needs oscillator 'smooth' (a square wave has no "
                                 "gradient with respect to its timing)")
        return self


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


class PPOConfig(StrictModel):
    """Clipped-ratio PPO with GAE and a KL early stop (defaults: tonic / NCAP paper setup)."""

    name: Literal["ppo"] = "ppo"
    actor: Annotated[Union[NCAPActorConfig, MLPActorConfig, NCAPPlusActorConfig],
                     Field(discriminator="type")] = Field(
        default_factory=NCAPActorConfig)
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


# --- predictive auxiliary losses (agents/auxiliary/) -----------------------------------------
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


AuxLossConfig = Annotated[Union[OneStepAuxConfig, RolloutAuxConfig, HorizonFaithfulAuxConfig,
                                HorizonStabilisedAuxConfig, ContrastiveAuxConfig,
                                RewardAuxConfig, NegativesAuxConfig],
                          Field(discriminator="type")]


class AuxConfig(StrictModel):
    """Auxiliary losses on the encoder's latent ``z = g(f(aug(o)))`` (``agents/auxiliary``)."""

    losses: list[AuxLossConfig] = Field(
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


class RepresentationConfig(StrictModel):
    """Representation metrics on a fixed probe set (``agents/representation.py``)."""

    every: int | None = Field(25_000, ge=1, description="agent steps between metrics "
                              "(25000 = 50k frames at action repeat 2); None = off")
    probe_episodes: int = Field(10, ge=2, description="held-out random-action episodes; the "
                                "linear probe fits on the first half and scores on the rest")
    probe_stride: int = Field(5, ge=1, description="keep every n-th step of each episode")
    probe_seed: int = Field(1_000_000, ge=0, description="seed of the first probe episode")
    ridge: float = Field(1.0, gt=0, description="ridge penalty of the linear probe")


class EncoderInitConfig(StrictModel):
    """Start from another run's encoder (and projection), with a fresh actor and critic."""

    run: str = Field(min_length=1, description="run folder or checkpoint .pt to take it from")
    checkpoint: str = Field("last", min_length=1, description="last, best or a file in "
                            "checkpoints/ (ignored when run is a .pt)")
    freeze: bool = Field(True, description="keep the loaded encoder (and projection) fixed")
    projection: bool = Field(True, description="also load g (the critic trunk or projection)")
class AdaptiveRRConfig(StrictModel):
    """Adaptive RR (Ma et al. 2024): ``low`` until the critic FAU settles, then ``high`` for good.

    The rule (``agents/schedules.py``): every ``interval`` episodes, the mean critic FAU over the
    updates of the one episode before the check is compared with the previous check's; the
    first switch with ``|change| <= threshold`` is permanent. ``trough_guard`` is our variant.
    """

    type: Literal["adaptive"] = "adaptive"
    low: float = Field(0.5, gt=0, description="updates per agent step before the switch")
    high: float = Field(2.0, gt=0, description="updates per agent step after the switch")
    interval: int = Field(50, ge=1, description="episodes between FAU checks (paper: 50)")
    threshold: float = Field(1e-3, gt=0, lt=1, description="switch when |FAU change| <= this")
    trough_guard: bool = Field(False, description="our variant, not the paper's: switch only "
                               "once FAU has risen above its lowest checked value by > threshold")
    window: int = Field(1, ge=1, description="episodes whose FAU is pooled at a check (1: the "
                        "paper's rule; > 1: our variant, robust to per-episode FAU noise)")


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
    obs_clip: float | None = Field(10.0, gt=0, description="normaliser: clip to +-obs_clip "
                                   "(tonic's MeanStd: null = no clip)")
    obs_std_floor: float = Field(1e-8, gt=0, description="normaliser: lower bound of the std "
                                 "(tonic's MeanStd: 0.01)")
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
    rr_schedule: Annotated[Union[FixedRRConfig, AdaptiveRRConfig],
                           Field(discriminator="type")] = Field(
        default_factory=FixedRRConfig)
    aux: AuxConfig = Field(default_factory=AuxConfig)
    representation: RepresentationConfig = Field(default_factory=RepresentationConfig)
    encoder_init: EncoderInitConfig | None = Field(None, description="transfer: start from "
                                                   "another run's encoder")
    plasticity_metrics: bool = Field(True, description="log FAU of encoder and actor and the "
                                     "tau-dormant ratios (0, 0.025) of actor and critic; the "
                                     "critic FAU is always logged")
    reset: ResetConfig | None = Field(None, description="periodic Reset of modules (null: off)")
    redo: ReDoConfig | None = Field(None, description="ReDo of tau-dormant units (null: off)")
    actor_loss: Literal["min_q", "td3"] = Field(
        "min_q", description="min_q: -mean(min(Q1, Q2)(h, a ~ pi)) (DrQ-v2); td3: "
        "-mean(Q1(h, mu(h))), the deterministic mean on the first head (TD3)")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: autocast the update's forward passes to bfloat16 (fp32 "
        "weights and Adam state); refused where the device has no native bf16")
    compile: bool = Field(False, description="torch.compile the critic and actor losses of "
                          "the update (compiled on the first update)")

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
    progress: bool = Field(True, description="show a progress bar")
    tensorboard: bool = Field(True, description="write TensorBoard event files under tb/")


class RunConfig(StrictModel):
    """One training run."""

    name: str = Field("run", min_length=1, description="experiment name (default run folder)")
    steps: int = Field(100_000, ge=1, description="total agent steps to train")
    seed: int = Field(0, ge=0, lt=2**31, description="run seed (< 2^31)")
    run_dir: str | None = Field(None, description="run folder; None = runs/<name>/seed<seed>")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int | None = Field(1, ge=1, description="torch intra-op threads (None: torch)")
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: AgentConfig = Field(default_factory=PPOConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    @field_validator("name")
    @classmethod
    def _name_stays_in_runs(cls, v: str) -> str:
        """``name`` is one folder inside ``runs/`` (``runs/<name>/seed<k>``, ``runs/sweeps/
        <name>``): a shared preset cannot make a run write outside it. ``run_dir`` chooses any
        folder, as the user's explicit choice."""
        if v in (".", "..") or any(c in v for c in "/\\\0"):
            raise ValueError("name must be one folder name inside runs/ (no '/', '\\', '.' or "
                             "'..'); set run_dir to write the run elsewhere")
        return v

    def resolved_run_dir(self) -> str:
        return self.run_dir or f"runs/{self.name}/seed{self.seed}"
