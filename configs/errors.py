"""The user-facing error classes, in one module that imports nothing of the project.

Every module that reports bad input (agents, envs, circuits, configs, trainer) raises one of
these; the command line turns any of them into one line ``error: ...`` and exit code 2
(``train.py``, ``cli/errors.py``). Keeping them here lets low-level modules raise them without
importing the config loader (and its schema) or the trainer: dependencies point one way,
``trainer -> agents/envs -> configs.errors``.

The modules that first defined them re-export them (``configs.loader.ConfigError``,
``envs.factory.UnknownEnvError``, ``trainer.checkpoint.CheckpointError`` ...), so existing
imports keep working.

``echo`` is the one way an error line shows a value the user gave: a short repr that never
walks a whole structure (``reprlib``: a few levels, a few items each, cut to ``ECHO_CHARS``), so
a hostile file (an alias bomb, a shared-reference pickle) cannot make the message itself huge.
"""

from __future__ import annotations

import reprlib

ECHO_CHARS = 80
_ECHO = reprlib.Repr()
_ECHO.maxlevel, _ECHO.maxstring, _ECHO.maxother, _ECHO.maxlong = 3, ECHO_CHARS, ECHO_CHARS, 40
_ECHO.maxlist = _ECHO.maxtuple = _ECHO.maxdict = _ECHO.maxset = 6


def echo(value: object) -> str:
    """``repr(value)`` for an error line, at most ``ECHO_CHARS`` characters (module docstring)."""
    try:
        text = _ECHO.repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<an int of {value.bit_length()} bits>" if isinstance(value, int) else \
            f"<a {type(value).__name__}>"
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS - 3] + "..."


class ConfigError(ValueError):
    """A config problem, with a one-line message that names the key."""


class UnknownEnvError(ValueError):
    """Raised for an environment id the factory cannot build."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or of the wrong format."""


class ForeignCheckpointError(CheckpointError):
    """A checkpoint that names a global or holds a value outside the format (nothing in it
    ran): a file from someone else, or one's own from an older version (``trusted``)."""


class RunDirLockedError(RuntimeError):
    """Another process holds the run folder's writer lock."""


class CorruptFileError(ValueError):
    """A run folder's file that exists but cannot be parsed."""


class DivergenceError(RuntimeError):
    """A loss became NaN or Inf; the run stopped before writing anything from that state.

    Raised by the loop when it checks ``update()``'s or ``pending_metrics()``'s losses, and by
    an agent that defers its metrics as soon as it sees a non-finite loss flag on its own (e.g.
    read with the action it transfers anyway), before the diverged policy acts."""


class EnvWorkerError(RuntimeError):
    """A training env's worker process died (``envs/vector.py``); the run stopped without
    saving that state, its last checkpoint stays good."""


def no_run_folder(path) -> ConfigError:
    """The one message of every command (``evaluate``, ``render``, ``transfer``, ``activity``,
    ``plot``, ``report`` ...) given a path where nothing is."""
    return ConfigError(f"no run folder or preset at {path}")


# every error above that means bad input or a bad run folder (exit code 2, one line)
USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, UnknownEnvError, CheckpointError,
                                            RunDirLockedError, CorruptFileError, DivergenceError,
                                            EnvWorkerError)
