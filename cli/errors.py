"""Turn expected user errors into one line on stderr and a non-zero exit code.

``error_line`` is the one formatter of that line, used by every subcommand (``one_line_errors``)
and by ``train.py`` for whatever a subcommand lets through.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, NoReturn

from configs.errors import USER_ERRORS
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


# The expected errors all live in configs/errors.py, which imports nothing, so light commands
# (report, the sweep driver) name them without importing torch or MuJoCo.
EXIT_USER_ERROR = 2


def user_errors() -> tuple[type[Exception], ...]:
    return (*USER_ERRORS, FileNotFoundError, MissingDependencyError, UsageError)


def error_line(error: BaseException) -> str:
    """``error: <message>`` in one line: an ``OSError`` as ``<file>: <reason>`` (``<file> ->
    <file2>`` for a rename), anything else as the first line of its message (its class name
    when the message is empty), without a doubled ``error:`` prefix."""
    if isinstance(error, OSError) and error.filename is not None:
        target = f"{error.filename} -> {error.filename2}" if error.filename2 else error.filename
        text = f"{target}: {error.strerror or error}"
    else:
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else type(error).__name__
    return f"error: {text[len('error: '):] if text.startswith('error: ') else text}"


def one_line_errors(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """Decorator: expected errors print ``error: <message>`` and return exit code 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str]) -> int:
        try:
            return main(argv)
        except Exception as e:
            if not isinstance(e, user_errors()):
                raise
            print(error_line(e), file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper
