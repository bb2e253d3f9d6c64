"""Pixel observations for any dm_control task and the swim task: DrQ-v2's observation pipeline.

One agent step of ``PixelEnv``:

* action repeat ``k`` (default 2): the action is applied for ``k`` simulator frames and the
  rewards are summed, ``r = sum_{i<k} r_i`` (an episode end inside the repeat stops it early);
  ``frame = agent_step * k``, so DMC's 1000-frame episodes are 500 agent steps;
* one render after the last repeat: a ``size x size`` RGB image (uint8) from ``camera``;
* frame stack ``m`` (default 3): the observation is the last ``m`` images concatenated
  channel-first, shape ``(3 m, size, size)``, oldest first; at reset the first image fills
  every slot.

Terminations and time limits pass through unchanged from ``envs.dmc.DMCEnv`` (time limits are
``truncated``: bootstrap through them). Actions are the task's own bounds (``[-1, 1]`` for most
dm_control tasks; the quadruped's lift and extend differ) or, with ``env.unit_actions``,
``[-1, 1]`` mapped affinely onto them (``envs.dmc.DMCEnv``). The render profile (``standard`` or ``fast``, see ``envs.render``) is an
explicit argument; the first pixel env of each profile and size in a process reports the GL
backend, the GL renderer and its measured renders/s on stderr (``env.render_report`` holds the
same facts, recorded with the run by whoever saves it).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from envs.dmc import DMCEnv
from envs.render import Renderer, doctor_line, gl_info, measure_fps

log = logging.getLogger(__name__)

#: Camera per domain where DrQ-v2 does not use camera 0 (quadruped: the zoomed-in camera 2);
#: the swim task uses ``tracking1``, which follows the swimmer.
DEFAULT_CAMERAS: dict[str, int | str] = {"quadruped": 2, "swim": "tracking1"}

_REPORTED: set[tuple] = set()


def default_camera(env_id: str) -> int | str:
    """DrQ-v2's camera for an env id: ``swim`` -> ``tracking1``, quadruped -> 2, else 0."""
    domain = env_id[len("dmc:"):].partition("-")[0] if env_id.startswith("dmc:") else env_id
    return DEFAULT_CAMERAS.get(domain, 0)


class PixelEnv(gym.Env):
    """A ``DMCEnv`` seen through a camera, with action repeat and frame stack (module docstring).

    Args:
        state_env: the state env whose physics is rendered (its observations are not used).
        size: image height = width in pixels.
        frame_stack: number of stacked images ``m``.
        action_repeat: simulator frames per agent step ``k`` (``frames_per_step``).
        profile: ``"standard"`` (dm_control's pixels) or ``"fast"`` (see ``envs.render``).
        camera: camera index or name in the model.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, state_env: DMCEnv, size: int = 84, frame_stack: int = 3,
                 action_repeat: int = 2, profile: str = "standard", camera: int | str = 0):
        for name, value in (("size", size), ("frame_stack", frame_stack),
                            ("action_repeat", action_repeat)):
            if value < 1:
                raise ValueError(f"pixels.{name} must be >= 1 (got {value})")
        self.state_env = state_env
        self.size = size
        self.frame_stack = frame_stack
        self.frames_per_step = action_repeat
        self.profile = profile
        self.render_mode = "rgb_array"
        info = gl_info()
        self._render = Renderer(state_env.physics, size, size, camera, profile)
        self.camera = self._render.camera
        self._frames: deque[np.ndarray] = deque(maxlen=frame_stack)
        self.observation_space = gym.spaces.Box(0, 255, (3 * frame_stack, size, size), np.uint8)
        self.action_space = state_env.action_space
        self.render_report = {**info, "profile": profile, "size": size, "camera": self.camera}
        key = (profile, size)
        if key not in _REPORTED:
            _REPORTED.add(key)
            self.render_report["renders_per_second"] = measure_fps(self._render)
            log.info(doctor_line(info, self.render_report["renders_per_second"],
                                 f"profile {profile} {size}x{size}"))

    @property
    def episode_steps(self) -> int:
        """Agent steps per episode: ``ceil(T / k)`` for a ``T``-frame time limit."""
        return -(-self.state_env.episode_steps // self.frames_per_step)

    @property
    def physics(self):
        return self.state_env.physics

    def _image(self) -> np.ndarray:
        """The current camera image, channel-first ``(3, size, size)`` uint8."""
        return np.ascontiguousarray(self._render().transpose(2, 0, 1))

    def _observation(self) -> np.ndarray:
        return np.concatenate(self._frames, axis=0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state_env.reset(seed=seed)
        image = self._image()
        for _ in range(self.frame_stack):
            self._frames.append(image)
        return self._observation(), {}

    def step(self, action):
        reward, terminated, truncated = 0.0, False, False
        for _ in range(self.frames_per_step):
            _, r, terminated, truncated, _ = self.state_env.step(action)
            reward += r
            if terminated or truncated:
                break
        self._frames.append(self._image())
        return self._observation(), reward, terminated, truncated, {}

    def render(self) -> np.ndarray:
        """What the agent sees now: the current ``(size, size, 3)`` image of the run's profile."""
        return self._render()

    def close(self) -> None:
        self._render.close()
        self.state_env.close()

    # --- exact save / restore -------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The state env's exact state plus the frame stack (images are not re-rendered)."""
        return {"state_env": self.state_env.get_state(), "frames": np.stack(self._frames)}

    def set_state(self, state: dict[str, Any]) -> None:
        frames = state["frames"]
        if frames.shape != (self.frame_stack, 3, self.size, self.size):
            raise ValueError(f"saved frame stack has shape {frames.shape}, this env expects "
                             f"{(self.frame_stack, 3, self.size, self.size)}")
        self.state_env.set_state(state["state_env"])
        self._frames.clear()
        self._frames.extend(f.copy() for f in frames)
