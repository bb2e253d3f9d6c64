"""Turn expected user errors into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, NoReturn

from trainer.sweep.ray_env import MissingDependencyError


class UsageError(ValueError):
    """A bad command-line argument (argparse's error, raised instead of printing the usage)."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line: raises ``UsageError``."""

    def error(self, message: str) -> NoReturn:
        required = "the following arguments are required: "
        if message.startswith(required):  # parse_intermixed_args counts nargs="*" as required
            names = [n for n in message[len(required):].split(", ") if n != "overrides"]
            message = required + ", ".join(names)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


MAX_SEED = 2**31 - 1  # numpy seeds are < 2**32; episode seeds count up from the one given


def seed_arg(text: str) -> int:
    """argparse type of ``--seed``: an integer in ``0..MAX_SEED``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is an integer (got '{text}')") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is in 0..{MAX_SEED} (got {text})")
    return value


# Expected errors by module, looked up only in modules already imported (an exception cannot
# come from a module that was never imported), so light commands (report, the sweep driver)
# do not import torch and MuJoCo just to name these classes.
USER_ERRORS = {"configs.loader": "ConfigError", "envs.factory": "UnknownEnvError",
               "trainer.checkpoint": "CheckpointError", "trainer.loop": "DivergenceError",
               "trainer.rundir": "RunDirLockedError", "trainer.files": "CorruptFileError"}
EXIT_USER_ERROR = 2


def user_errors() -> tuple[type[Exception], ...]:
    loaded = tuple(getattr(sys.modules[m], name) for m, name in USER_ERRORS.items()
                   if m in sys.modules)
    return (*loaded, FileNotFoundError, MissingDependencyError, UsageError)


def one_line_errors(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """Decorator: expected errors print ``error: <message>`` and return exit code 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str]) -> int:
        try:
            return main(argv)
        except Exception as e:
            if not isinstance(e, user_errors()):
                raise
            msg = str(e)
            print(f"error: {msg[len('error: '):] if msg.startswith('error: ') else msg}",
                  file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper
