"""Config rules of the off-policy agent that depend on the observations (pixels or states).

``trainer.api.build`` applies them from the config alone (``pixels = env.pixels is set``,
through ``agents.check_agent_config``) before any env is made; the agent applies them again
from its observation space. ``agent.name: drqv2`` is the off-policy agent with the rule that
its observations are pixels (DrQ-v2, Yarats et al. 2021); ``agent.name: offpolicy`` takes both.
"""

from __future__ import annotations

import numpy as np

from configs.errors import ConfigError


def is_pixel_space(space) -> bool:
    """uint8 observations ``(3 m, H, H)`` (``envs.pixels.PixelEnv``)."""
    shape = tuple(space.shape)
    return (space.dtype == np.uint8 and len(shape) == 3 and shape[0] % 3 == 0
            and shape[1] == shape[2])


def check_observation_options(cfg, pixels: bool, got: str = "") -> None:
    """``drqv2`` on states, pixel-only options (and ``encoder_init``) on states and the reverse
    are one-line errors;
    ``got`` describes the observations (the agent's check)."""
    if cfg.name == "drqv2" and not pixels:
        raise ConfigError("config error: agent.name: drqv2 needs uint8 pixel observations "
                          "(3 m, H, H): set env.pixels, or use agent.name=offpolicy for states"
                          + (f" (got {got})" if got else ""))
    if not pixels:
        for key in ("conv_channels", "augment_pad"):
            if getattr(cfg, key) is not None:
                raise ConfigError(f"config error: agent.{key}: applies to pixel observations "
                                  "only (env.pixels is null)")
        if cfg.encoder_init is not None:
            raise ConfigError("config error: agent.encoder_init: needs pixel observations "
                              "(a state run has no encoder to transfer)")
    elif cfg.normalize_observations:
        raise ConfigError("config error: agent.normalize_observations: applies to state "
                          "observations only (pixels are scaled by the encoder)")
    if pixels and cfg.actor.type in ("ncap", "ncap_quadruped"):
        raise ConfigError(f"config error: agent.actor.type: the {cfg.actor.type} circuit reads "
                          "joint angles and its clock from state observations; set "
                          "env.pixels=null")


def check_spaces(cfg, observation_space, action_space) -> bool:
    """The agent's check of its spaces: the observation rules above, actions in ``[-1, 1]``,
    observations flat state vectors or uint8 pixels. Returns whether they are pixels."""
    shape = tuple(observation_space.shape)
    pixels = is_pixel_space(observation_space)
    check_observation_options(cfg, pixels, got=f"{observation_space.dtype} {shape}")
    if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
        raise ConfigError(f"config error: agent.name: {cfg.name} needs actions in [-1, 1] "
                          f"(got [{action_space.low}, {action_space.high}]; set "
                          "env.unit_actions: true to map [-1, 1] onto them)")
    if not pixels and len(shape) != 1:
        raise ConfigError(f"config error: agent.name: {cfg.name} needs flat state vectors or "
                          f"uint8 pixels (3 m, H, H) (got {observation_space.dtype} {shape})")
    return pixels
