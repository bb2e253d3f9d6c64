"""Gymnasium view of a dm_control environment, with a thin hot path and exact state save/restore.

* observation: the dm_control observation dict flattened in key order (float64), optionally
  followed by a time feature ``x_k = -1 + 2 k / T`` after control step ``k`` of a ``T``-step
  episode (-1 at reset, +1 at the time limit);
* actions: the task's bounded action spec (continuous ``Box``); out-of-range actions are clipped;
  with ``unit_actions`` the space is ``[-1, 1]`` per actuator instead, clipped there and mapped
  affinely onto the spec, ``a = c + h x`` with centre ``c = (high + low) / 2`` and half-range
  ``h = (high - low) / 2`` (DrQ-v2's and tonic's action rescaling; an identity on a task whose
  spec is already ``[-1, 1]``);
* time limits are reported as ``truncated`` (bootstrap through them), never ``terminated``;
* ``reset(seed=s)`` reseeds the task's ``RandomState`` so episode starts are reproducible.

``get_state()`` / ``set_state()`` capture everything needed to continue an episode bit for bit:
MuJoCo's full integration state (``mjSTATE_INTEGRATION``: time, qpos, qvel, act, warm start,
controls, ...), the model fields tasks randomise at episode start, the task RNG and the step
counters. The trainer stores it in checkpoints for exact resume.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from dm_control.rl import control

from envs.render import Renderer

# Model fields that dm_control tasks may change in ``initialize_episode`` (target positions,
# hidden materials, medium); saved with the state so a restored episode is the same episode.
_RANDOMISED_MODEL_FIELDS = (
    "geom_pos", "geom_quat", "geom_size", "geom_rgba", "body_pos", "body_quat",
    "site_pos", "light_pos", "mat_rgba",
)


class DMCEnv(gym.Env):
    """Any ``dm_control.rl.control.Environment`` as a ``gymnasium.Env``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, dm_env: control.Environment, time_feature: bool = True,
                 render_size: tuple[int, int] = (240, 320), camera_id: int | str = 0,
                 unit_actions: bool = False):
        self.dm_env = dm_env
        self.time_feature = time_feature
        self.unit_actions = unit_actions
        self.render_mode = "rgb_array"
        self._render_size = render_size
        self._camera_id = camera_id
        self._renderer = None
        self._episode_steps = int(round(dm_env._step_limit))
        self._t = 0
        self._obs_buf: np.ndarray | None = None

        spec = dm_env.observation_spec()
        dim = sum(int(np.prod(s.shape)) for s in spec.values()) + int(time_feature)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float64)
        aspec = dm_env.action_spec()
        self._a_low = aspec.minimum.astype(np.float64)
        self._a_high = aspec.maximum.astype(np.float64)
        # the affine unit map, only where the spec is not [-1, 1] already (bit-identical there)
        self._unit = unit_actions and not (np.all(self._a_low == -1.0)
                                           and np.all(self._a_high == 1.0))
        self._a_centre = 0.5 * (self._a_high + self._a_low)
        self._a_half = 0.5 * (self._a_high - self._a_low)
        low, high = (-np.ones_like(self._a_low), np.ones_like(self._a_high)) if unit_actions \
            else (self._a_low, self._a_high)
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32),
                                           dtype=np.float32)

    @property
    def native_action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` of the task's own action spec (float64), whatever ``unit_actions``."""
        return self._a_low.copy(), self._a_high.copy()

    @property
    def episode_steps(self) -> int:
        """Control steps per episode (the time limit ``T``)."""
        return self._episode_steps

    @property
    def physics(self):
        return self.dm_env.physics

    @property
    def task(self):
        return self.dm_env.task

    def _flatten(self, observation) -> np.ndarray:
        parts = [np.asarray(v, dtype=np.float64).ravel() for v in observation.values()]
        if self.time_feature:
            parts.append(np.array([-1.0 + 2.0 * self._t / self._episode_steps]))
        return np.concatenate(parts)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.dm_env.task._random = np.random.RandomState(seed)
        self._t = 0
        ts = self.dm_env.reset()
        return self._flatten(ts.observation), {}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if self._unit:
            action = self._a_centre + self._a_half * np.clip(action, -1.0, 1.0)
        action = np.clip(action, self._a_low, self._a_high)
        ts = self.dm_env.step(action)
        self._t += 1
        obs = self._flatten(ts.observation)
        truncated = ts.last() and ts.discount > 0
        terminated = ts.last() and ts.discount == 0
        return obs, float(ts.reward or 0.0), bool(terminated), bool(truncated), {}

    def render(self) -> np.ndarray:
        """gymnasium's ``render()``: the ``render_size`` image from ``camera_id``, dm_control's
        standard visuals (``envs.render.Renderer``)."""
        if self._renderer is None:
            h, w = self._render_size
            self._renderer = Renderer(self.physics, h, w, self._camera_id, "standard")
        return self._renderer()

    def close(self) -> None:
        self.dm_env.close()

    # --- exact save / restore -------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue the current episode exactly (see module docstring)."""
        model, data = self.physics.model.ptr, self.physics.data.ptr
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        buf = np.empty(mujoco.mj_stateSize(model, spec), dtype=np.float64)
        mujoco.mj_getState(model, data, buf, spec)
        return {
            "mj_state": buf,
            "model": {f: getattr(model, f).copy() for f in _RANDOMISED_MODEL_FIELDS},
            "opt": (float(model.opt.density), float(model.opt.viscosity)),
            "task_rng": self.dm_env.task.random.get_state(),
            "dm_step_count": self.dm_env._step_count,
            "dm_reset_next_step": self.dm_env._reset_next_step,
            "t": self._t,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        model, data = self.physics.model.ptr, self.physics.data.ptr
        for f, v in state["model"].items():
            getattr(model, f)[:] = v
        model.opt.density, model.opt.viscosity = state["opt"]
        mujoco.mj_setState(model, data, state["mj_state"], mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(model, data)
        self.dm_env.task.random.set_state(state["task_rng"])
        self.dm_env._step_count = state["dm_step_count"]
        self.dm_env._reset_next_step = state["dm_reset_next_step"]
        self._t = state["t"]
