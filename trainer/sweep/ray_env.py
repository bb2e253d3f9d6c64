"""Process settings for Ray, applied before ``ray`` is imported (Ray reads them at import).

* quiet: no Tune status tables, no auto-written Tune result files, no usage statistics;
* an embedded (local) Ray gets a fresh random token for its token authentication, passed by
  environment, so Ray does not write ``~/.ray/auth_token`` into the user's home, and its
  workers find this repository on ``PYTHONPATH`` whatever the current directory.

Settings the user already exported win.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys

from trainer.rundir import REPO_ROOT

QUIET = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
         "RAY_USAGE_STATS_ENABLED": "0", "TUNE_DISABLE_SIGINT_HANDLER": "1"}


class MissingDependencyError(RuntimeError):
    """An optional extra a command needs is not installed; the message says how to install it."""


INSTALL_HINT = 'pip install -e ".[sweep]"  (or: pip install "ray[tune]")'


def require_ray() -> None:
    """Raise ``MissingDependencyError`` (one line: how to install) when Ray Tune is missing."""
    if importlib.util.find_spec("ray") is None:  # does not import ray
        raise MissingDependencyError(
            f"sweeps run on Ray Tune, which is not installed: {INSTALL_HINT}")


def ray_environment(local: bool) -> None:
    """Quiet Ray; for an embedded (``local``) Ray also its token and the workers' PYTHONPATH."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    if not local:
        return
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, paths)])
    if "RAY_AUTH_MODE" not in os.environ and "ray" not in sys.modules:
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


def local_cpus() -> int:
    """Cores this process may use (CPU affinity, e.g. a container's limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
