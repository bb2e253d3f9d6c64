"""Turn expected user errors into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import functools
import sys
from typing import Callable

from configs.loader import ConfigError
from envs.factory import UnknownEnvError
from trainer.checkpoint import CheckpointError
from trainer.loop import DivergenceError

USER_ERRORS = (ConfigError, UnknownEnvError, CheckpointError, DivergenceError, FileNotFoundError)
EXIT_USER_ERROR = 2


def one_line_errors(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """Decorator: expected errors print ``error: <message>`` and return exit code 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str]) -> int:
        try:
            return main(argv)
        except USER_ERRORS as e:
            msg = str(e)
            print(f"error: {msg[len('error: '):] if msg.startswith('error: ') else msg}",
                  file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper
