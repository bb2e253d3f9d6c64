"""The OpenGL backend choice, checked *before* ``mujoco`` / ``dm_control`` are imported.

Both read ``MUJOCO_GL`` once, at import, and crash there with a long traceback when the backend's
library is missing. ``preflight()`` turns those cases into one line that says what to install
or set. This module must not import mujoco or dm_control.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

from configs.errors import ConfigError

INSTALL_HINT = ("on a headless machine set MUJOCO_GL=egl (needs libEGL, e.g. apt install "
                "libegl1) or MUJOCO_GL=osmesa PYOPENGL_PLATFORM=osmesa (needs libosmesa6), "
                "before Python imports mujoco or dm_control")

# MUJOCO_GL value -> (shared library it loads, PYOPENGL_PLATFORM it needs, install hint)
_NEEDS = {
    "egl": ("EGL", "egl", "libEGL (apt install libegl1; on NVIDIA nodes the driver's libEGL)"),
    "osmesa": ("OSMesa", "osmesa", "libOSMesa (apt install libosmesa6)"),
}
_VALID = ("", "egl", "osmesa", "glfw", "disable", "disabled", "off", "false", "0")  # dm_control's


class RenderBackendError(ConfigError):
    """No working OpenGL backend; the one-line message says what to install or set.

    A ``ConfigError`` because the backend is configured by environment variables, so the CLI
    reports it as one line like any other set-up error.
    """


def preflight() -> None:
    """Raise ``RenderBackendError`` if ``MUJOCO_GL`` names a backend that cannot load.

    Checks the value, the backend's shared library and ``PYOPENGL_PLATFORM``; an unset
    ``MUJOCO_GL`` is left to dm_control's own fallback (glfw, egl, osmesa). Only meaningful
    before mujoco is imported.
    """
    if not sys.platform.startswith("linux"):
        return
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    if backend not in _VALID:
        raise RenderBackendError(f"MUJOCO_GL={backend!r} is not a backend "
                                 f"(use egl, osmesa or glfw); {INSTALL_HINT}")
    if backend not in _NEEDS:
        return
    library, platform, install = _NEEDS[backend]
    if ctypes.util.find_library(library) is None:
        raise RenderBackendError(f"MUJOCO_GL={backend} needs {install}, which is not installed; "
                                 f"{INSTALL_HINT}")
    pyopengl = os.environ.get("PYOPENGL_PLATFORM", "")
    if pyopengl and pyopengl != platform:
        raise RenderBackendError(f"MUJOCO_GL={backend} needs PYOPENGL_PLATFORM={platform} "
                                 f"(or unset), got PYOPENGL_PLATFORM={pyopengl}")
