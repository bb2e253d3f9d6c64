"""One factory for every environment the toolkit trains on.

Environment ids:

* ``swim`` - the NCAP swim task on an N-joint swimmer (``n_joints`` >= 2, default 5);
* ``navigate`` - target reaching on the same body (``envs/navigate.py``; ``target`` box);
* ``dmc:<domain>-<task>`` - any dm_control suite task, e.g. ``dmc:walker-run``,
  ``dmc:cartpole-swingup``, ``dmc:swimmer-swimmer6``.

Gymnasium ids are registered too: ``BioEmbodied/Swim-v0`` (kwarg ``n_joints``) and
``BioEmbodied/DMC-v0`` (kwarg ``task="walker-run"``), so ``gymnasium.make("BioEmbodied/Swim-v0",
n_joints=7)`` works anywhere.
"""

from __future__ import annotations

import gymnasium as gym
from dm_control import suite

from configs.errors import ConfigError, UnknownEnvError  # noqa: F401 (re-export)
from envs.dmc import DMCEnv
from envs.dmc_bodies import BodyChanges, apply_changes
from envs.pixels import PixelEnv, default_camera
from envs.navigate import TargetBox, make_navigate_dm_env
from envs.swim import BodySpec, make_swim_dm_env

SWIM_ID = "swim"
NAVIGATE_ID = "navigate"
DMC_PREFIX = "dmc:"



def dmc_task_names() -> list[str]:
    return [f"{d}-{t}" for d, t in suite.ALL_TASKS]


def parse_dmc_id(env_id: str) -> tuple[str, str]:
    """``"dmc:walker-run"`` -> ``("walker", "run")``; raises ``UnknownEnvError`` otherwise."""
    name = env_id[len(DMC_PREFIX):]
    domain, _, task = name.partition("-")
    if (domain, task) not in suite.ALL_TASKS:
        raise UnknownEnvError(
            f"unknown environment id '{env_id}': expected 'swim', 'navigate' or "
            f"'dmc:<domain>-<task>', e.g. dmc:walker-run (known dm_control tasks: {', '.join(dmc_task_names())})"
        )
    return domain, task


def make_state_env(env_id: str = SWIM_ID, seed: int | None = None, n_joints: int = 5,
                   time_feature: bool = True, length_scale: float = 1.0,
                   density: float | None = None, viscosity: float | None = None,
                   body: BodyChanges | None = None,
                   render_mode: str | None = "rgb_array",
                   target: TargetBox | None = None, unit_actions: bool = False) -> DMCEnv:
    """Build a state-observation env by id (see module docstring).

    ``body`` changes a dm_control domain's body (``envs.dmc_bodies``; None = stock); the
    swimmer's body is ``n_joints``, ``length_scale``, ``density`` and ``viscosity``. Either kind
    given to the other task is refused with one line (never ignored).
    ``unit_actions``: actions in ``[-1, 1]`` mapped onto the task's spec (``envs.dmc.DMCEnv``).
    ``render_mode`` exists for gymnasium's API; only ``"rgb_array"`` (or None) is supported.
    """
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be 'rgb_array' or None (got {render_mode!r})")
    body_changes = body or BodyChanges()
    if env_id in (SWIM_ID, NAVIGATE_ID) and body_changes.changed:
        raise ConfigError(f"config error: env.body.{next(iter(body_changes.changed))}: "
                          "applies to dm_control domains; the swimmer's body is env.n_joints, "
                          "env.length_scale, env.density and env.viscosity")
    if env_id.startswith(DMC_PREFIX):
        swim_keys = {"n_joints": n_joints != 5, "length_scale": length_scale != 1.0,
                     "density": density is not None, "viscosity": viscosity is not None}
        given = [k for k, changed in swim_keys.items() if changed]
        if given:
            raise ConfigError(f"config error: env.{given[0]}: applies to the swim and navigate "
                              f"tasks, not {env_id}; a dm_control body changes through "
                              "env.body.length, env.body.mass, env.body.gear, env.body.damping "
                              "and env.body.friction")
    if env_id == SWIM_ID:
        body = BodySpec(n_joints=n_joints, length_scale=length_scale, density=density,
                        viscosity=viscosity)
        env = DMCEnv(make_swim_dm_env(body, seed=seed), time_feature=time_feature,
                     camera_id="tracking1", unit_actions=unit_actions)
        env.body = body
        return env
    if env_id == NAVIGATE_ID:
        body = BodySpec(n_joints=n_joints, length_scale=length_scale, density=density,
                        viscosity=viscosity)
        env = DMCEnv(make_navigate_dm_env(body, target or TargetBox(), seed=seed),
                     time_feature=time_feature, camera_id="tracking1",
                     unit_actions=unit_actions)
        env.body = body
        return env
    if env_id.startswith(DMC_PREFIX):
        domain, task = parse_dmc_id(env_id)
        dm_env = suite.load(domain, task, task_kwargs={"random": seed})
        apply_changes(dm_env, domain, task, body_changes)
        env = DMCEnv(dm_env, time_feature=time_feature, unit_actions=unit_actions)
        env.body_changes = body_changes
        return env
    raise UnknownEnvError(
        f"unknown environment id '{env_id}': expected 'swim', 'navigate' or "
        "'dmc:<domain>-<task>', e.g. dmc:walker-run"
    )


def _make_dmc_gym(task: str = "cartpole-swingup", **kwargs) -> DMCEnv:
    return make_state_env(DMC_PREFIX + task, **kwargs)


def register_gymnasium_ids() -> None:
    if "BioEmbodied/Swim-v0" not in gym.registry:
        gym.register("BioEmbodied/Swim-v0", entry_point="envs.factory:make_state_env",
                     kwargs={"env_id": SWIM_ID}, max_episode_steps=None)
    if "BioEmbodied/DMC-v0" not in gym.registry:
        gym.register("BioEmbodied/DMC-v0", entry_point="envs.factory:_make_dmc_gym")


def make_env(env_cfg, seed: int | None = None):
    """Build the env a run config describes (``configs.schema.EnvConfig``).

    With ``env_cfg.pixels`` set, the state env is wrapped by ``envs.pixels.PixelEnv`` (its state
    observations, time feature included, are not used).
    """
    pixels = env_cfg.pixels
    state_env = make_state_env(env_cfg.id, seed=seed, n_joints=env_cfg.n_joints,
                               time_feature=env_cfg.time_feature and pixels is None,
                               length_scale=env_cfg.length_scale, density=env_cfg.density,
                               viscosity=env_cfg.viscosity,
                               body=BodyChanges(**env_cfg.body.model_dump()),
                               target=TargetBox(**env_cfg.target.model_dump()),
                               unit_actions=env_cfg.unit_actions)
    if pixels is None:
        return state_env
    camera = default_camera(env_cfg.id) if pixels.camera is None else pixels.camera
    return PixelEnv(state_env, size=pixels.size, frame_stack=pixels.frame_stack,
                    action_repeat=pixels.action_repeat, profile=pixels.profile, camera=camera)
