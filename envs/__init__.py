"""Environments: the NCAP swim task on N-joint swimmers, any dm_control task, pixel wrappers."""

from envs.gl_backend import preflight

preflight()  # a missing GL library fails here in one line, not deep inside dm_control's import

from envs.factory import (UnknownEnvError, make_env, make_state_env,  # noqa: E402
                          parse_dmc_id, register_gymnasium_ids)
from envs.swim import BodySpec  # noqa: E402

register_gymnasium_ids()

__all__ = ["BodySpec", "UnknownEnvError", "make_env", "make_state_env", "parse_dmc_id",
           "register_gymnasium_ids"]
