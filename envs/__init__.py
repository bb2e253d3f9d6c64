"""Environments: the NCAP swim task on N-joint swimmers, any dm_control task, pixel wrappers."""

from envs.factory import (UnknownEnvError, make_env, make_state_env, parse_dmc_id,
                          register_gymnasium_ids)
from envs.swim import BodySpec

register_gymnasium_ids()

__all__ = ["BodySpec", "UnknownEnvError", "make_env", "make_state_env", "parse_dmc_id",
           "register_gymnasium_ids"]
