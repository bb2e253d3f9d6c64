"""The off-policy agent's config section (``agents/offpolicy/agent.py``) and what plugs into it,
torch-free: actor types (kind ``offpolicy.actor``), the replay-ratio schedule and auxiliary
losses (the sections of every registered ``rr_schedule`` and ``aux_loss``), Reset and ReDo;
registered as agents ``offpolicy`` and ``drqv2``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from agents.auxiliary.config import AuxConfig
from agents.plasticity.interventions_config import L2InitConfig
from agents.plasticity.interventions_config import ReDoConfig, ResetConfig, ShrinkPerturbConfig  # noqa: F401 (re-export)
from agents.plasticity.schedules_config import FixedRRConfig, parse_std_schedule
from circuits.ncap_config import NCAPCircuitConfig
from circuits.quadruped_config import QuadrupedCircuitConfig
from configs.base import StrictModel
from configs.registry import keyed_sections, register, section


class OffPolicyMLPActorConfig(StrictModel):
    """DrQ-v2's actor: trunk (``feature_dim``), MLP ReLU ``hidden_dim`` x 2, tanh mean."""

    type: Literal["mlp"] = "mlp"


register("offpolicy.actor", "mlp", OffPolicyMLPActorConfig, "agents.offpolicy.nets:mlp_offpolicy_actor")
register("offpolicy.actor", "ncap", NCAPCircuitConfig, "agents.offpolicy.nets:ncap_offpolicy_actor")
register("offpolicy.actor", "ncap_quadruped", QuadrupedCircuitConfig,
         "agents.offpolicy.nets:quadruped_offpolicy_actor")


class RepresentationConfig(StrictModel):
    """Representation metrics on a fixed probe set (``agents/plasticity/representation.py``)."""

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


@keyed_sections("intervention")
class OffPolicyConfig(StrictModel):
    """One off-policy actor-critic for states and pixels (``agents/offpolicy/agent.py``).

    Defaults are DrQ-v2's (Yarats et al. 2021); the DDPG presets of the NCAP paper set
    ``double_q``, ``target_actor``, ``noisy_updates`` and ``normalize_observations``. The encoder
    follows the observations: DrQ-v2's conv net + random shift for uint8 pixels (``env.pixels``),
    none for state vectors. Step counts are agent steps except ``seed_frames`` (frames, as in
    DrQ-v2's config; the same as agent steps for state envs).
    """

    # steps several envs at once (trainer.num_envs > 1; a replay stream per env)
    vector_envs: ClassVar[bool] = True

    name: Literal["offpolicy"] = "offpolicy"
    actor: section("offpolicy.actor") = Field(default_factory=OffPolicyMLPActorConfig)
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
    rr_schedule: section("rr_schedule") = Field(default_factory=FixedRRConfig)
    aux: AuxConfig = Field(default_factory=AuxConfig)
    representation: RepresentationConfig = Field(default_factory=RepresentationConfig)
    encoder_init: EncoderInitConfig | None = Field(None, description="transfer: start from "
                                                   "another run's encoder")
    hidden_norm: Literal["none", "layernorm"] = Field(
        "none", description="LayerNorm before each hidden activation of the actor and critic "
        "MLPs (a plasticity remedy; Lyle et al. 2023)")
    activation: Literal["relu", "crelu"] = Field(
        "relu", description="hidden activation of the actor and critic MLPs; crelu = "
        "[relu(x), relu(-x)], twice the width (Abbas et al. 2023); not with ReDo")
    weight_metrics_every: int | None = Field(
        None, ge=1, description="every N updates log grad_norm/, weight/, weight_change/ of "
        "encoder, actor, critic and srank/erank of the critic's penultimate features (null: off)")
    plasticity_metrics: bool = Field(True, description="log FAU of encoder and actor and the "
                                     "tau-dormant ratios (0, 0.025) of actor and critic")
    critic_fau: bool = Field(True, description="log fau/critic at every update (the adaptive "
                             "replay ratio reads it); false with plasticity_metrics false: no "
                             "per-update plasticity metric at all (SB3-like, the fastest)")
    l2_init: L2InitConfig | None = Field(None, description="regenerative L2-init: an L2 "
                                         "penalty towards the initial weights (null: off)")
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
        parse_std_schedule(v)
        return v

    @model_validator(mode="after")
    def _adaptive_reads_fau(self):
        schedule = self.rr_schedule   # the config section (not a schedule object)
        if not self.critic_fau and schedule.type == "adaptive":
            raise ValueError("critic_fau: false, but the adaptive replay ratio reads fau/critic")
        return self


@keyed_sections("intervention")
class DrQV2Config(OffPolicyConfig):
    """DrQ-v2 from pixels (``agents/drqv2.py``): the off-policy agent with its paper defaults,
    refusing state observations."""

    name: Literal["drqv2"] = "drqv2"


def check_run_config(cfg) -> None:
    """Observation and intervention options that contradict the env config (one-line
    ``ConfigError``), found before any env is built."""
    from agents.plasticity.interventions import check_interventions
    from agents.offpolicy.checks import check_observation_options

    check_observation_options(cfg.agent, pixels=cfg.env.pixels is not None)
    check_interventions(cfg.agent, pixels=cfg.env.pixels is not None)


register("agent", "offpolicy", OffPolicyConfig, "agents.offpolicy.agent:OffPolicyAgent",
         check="agents.offpolicy.config:check_run_config")
register("agent", "drqv2", DrQV2Config, "agents.offpolicy.agent:OffPolicyAgent",
         check="agents.offpolicy.config:check_run_config")
