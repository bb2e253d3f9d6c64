"""Environments: the NCAP swim task on N-joint swimmers, any dm_control task, pixel wrappers.

Importing ``envs`` (the only package that imports MuJoCo and dm_control) chooses headless EGL
rendering when ``MUJOCO_GL`` is unset, as ``train.py`` does, so the Python API renders where the
command line does and never tries GLFW's display first.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco / dm_control read it, as train.py

from envs.gl_backend import preflight  # noqa: E402

preflight()  # a missing GL library fails here in one line, not deep inside dm_control's import

from envs.factory import (UnknownEnvError, make_env, make_state_env,  # noqa: E402
                          parse_dmc_id, register_gymnasium_ids)
from envs.swim import BodySpec  # noqa: E402

register_gymnasium_ids()

__all__ = ["BodySpec", "UnknownEnvError", "make_env", "make_state_env", "parse_dmc_id",
           "register_gymnasium_ids"]
