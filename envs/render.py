"""Offscreen rendering of dm_control physics: GL backend facts, the two render profiles, a doctor.

The backend is chosen by the ``MUJOCO_GL`` environment variable, read when ``mujoco`` and
``dm_control`` are first imported (so set it before importing them): ``egl`` (GPU, or Mesa's
software llvmpipe on a CPU-only machine), ``osmesa`` (software; also set
``PYOPENGL_PLATFORM=osmesa``) or ``glfw`` (needs a display). ``envs.gl_backend.preflight``
checks the choice before the import; ``gl_info`` / ``doctor_line`` report what renders.

Render profiles (an explicit config choice, never switched silently):

* ``standard`` - dm_control's default visuals through ``physics.render(h, w, camera_id)``: the
  exact pixels of ``dm_control.suite.wrappers.pixels``. Use it for every published number.
* ``fast`` - the same scene with multisampling, shadows and reflections off and an offscreen
  buffer of the image size, drawn directly with MuJoCo's renderer (``mjr_render``) with the
  reflection, skybox and shadow scene flags off (``Renderer``).
  Different pixels (black sky), 10-30x faster under software rendering; for smoke tests,
  debugging and CPU-only work.
"""

from __future__ import annotations

import atexit
import os
import time
import weakref
from typing import Callable

import mujoco
import numpy as np

from configs.loader import ConfigError
from envs.gl_backend import INSTALL_HINT, RenderBackendError

PROFILES: tuple[str, ...] = ("standard", "fast")

_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software")

_GL_INFO: dict[str, object] | None = None


def gl_info() -> dict[str, object]:
    """Facts about the OpenGL backend MuJoCo renders with (probed once per process).

    Returns ``{"backend", "pyopengl_platform", "renderer", "vendor", "version", "software"}``;
    ``software`` is True for Mesa's CPU rasterisers (llvmpipe, softpipe), where rendering costs
    ~10-40 ms per frame. Raises ``RenderBackendError`` if no GL context can be created.
    """
    global _GL_INFO
    if _GL_INFO is not None:
        return dict(_GL_INFO)
    backend = os.environ.get("MUJOCO_GL", "") or "unset (glfw)"
    try:
        ctx = mujoco.GLContext(1, 1)
        ctx.make_current()
        from OpenGL import GL

        renderer, vendor, version = (GL.glGetString(k).decode() for k in
                                     (GL.GL_RENDERER, GL.GL_VENDOR, GL.GL_VERSION))
        ctx.free()
    except Exception as e:  # every backend failure mode must end in the same one-line hint
        raise RenderBackendError(
            f"no working OpenGL backend (MUJOCO_GL={backend}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no GL context'}); {INSTALL_HINT}") from None
    _GL_INFO = {"backend": backend, "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM", ""),
                "renderer": renderer, "vendor": vendor, "version": version,
                "software": any(s in renderer.lower() for s in _SOFTWARE_RENDERERS)}
    return dict(_GL_INFO)


def measure_fps(render: Callable[[], np.ndarray], n: int = 20) -> float:
    """Renders per second of ``render`` over ``n`` calls, after one warm-up call."""
    render()
    t0 = time.perf_counter()
    for _ in range(n):
        render()
    return n / (time.perf_counter() - t0)


def doctor_line(info: dict[str, object] | None = None, fps: float | None = None,
                what: str = "") -> str:
    """One line for humans: backend, GL renderer, optional renders/s and a software warning."""
    info = info or gl_info()
    line = f"render: MUJOCO_GL={info['backend']}, GL renderer '{info['renderer']}'"
    if fps is not None:
        line += f", {what + ': ' if what else ''}{fps:.0f} renders/s"
    if info["software"]:
        line += (" (software rendering: the standard profile runs at ~25-60 renders/s per core; "
                 "use a GPU node for real runs or profile=fast for smoke tests)")
    return line


def resolve_camera(model, camera: int | str) -> int:
    """Camera index of ``camera`` (an index or a name) in ``model``; one-line error if absent."""
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
    if isinstance(camera, str):
        if camera not in names:
            raise ConfigError(f"camera '{camera}' not in this model (cameras: {names})")
        return names.index(camera)
    if not 0 <= camera < model.ncam:
        raise ConfigError(f"camera {camera} out of range: this model has {model.ncam} cameras "
                         f"{names}")
    return camera


class Renderer:
    """``render() -> (height, width, 3) uint8`` of ``physics`` through ``camera``, by profile.

    The one renderer of the toolkit: pixel observations (``envs.pixels``), videos and their
    agent-view panels (``trainer.video``) all draw through it.

    * ``standard``: ``physics.render(height, width, camera_id)``, dm_control's own pixels. The
      model's offscreen buffer is enlarged to the image size if dm_control has not yet made its
      GL context; an image larger than an existing context's buffer is refused with one line.
    * ``fast``: its own GL context and MuJoCo render context, made with no multisampling, no
      shadow map and a buffer of the image size (set on the model only while the context is
      made, then restored, so a standard renderer of the same physics keeps its visuals), and
      the reflection, skybox and shadow scene flags off. Owns its GL context and makes it
      current before every draw and before freeing its MuJoCo render context
      (``mujoco.Renderer.close`` frees with whatever context is current, which corrupts another
      live renderer's framebuffer when several envs share a process).
    """

    def __init__(self, physics, height: int, width: int, camera: int | str,
                 profile: str = "standard"):
        if profile not in PROFILES:
            raise ValueError(f"unknown render profile '{profile}' (choose one of "
                             f"{', '.join(PROFILES)})")
        self.profile = profile
        self.height, self.width = height, width
        self._physics = physics
        self._gl = None
        model = physics.model.ptr
        self.camera = resolve_camera(model, camera)
        if profile == "standard":
            glob = model.vis.global_
            glob.offwidth, glob.offheight = max(glob.offwidth, width), max(glob.offheight, height)
            try:
                self()
            except ValueError as e:  # dm_control's context exists with a smaller buffer
                raise ConfigError(f"image {width}x{height} does not fit the offscreen buffer "
                                  f"this physics already renders with ({str(e).splitlines()[0]}); "
                                  "use a smaller size") from None
            return
        self._model, self._data = model, physics.data.ptr
        self._gl = mujoco.GLContext(width, height)
        self._gl.make_current()
        quality, glob = model.vis.quality, model.vis.global_
        saved = (quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight)
        quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight = 0, 0, width, height
        try:
            self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        finally:
            quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight = saved
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._scene = mujoco.MjvScene(model, maxgeom=10_000)
        for flag in (mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX,
                     mujoco.mjtRndFlag.mjRND_SHADOW):
            self._scene.flags[flag] = 0
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = self.camera
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._pixels = np.empty((height, width, 3), np.uint8)
        _register_for_exit(self)

    def __call__(self) -> np.ndarray:
        if self.profile == "standard":
            return self._physics.render(height=self.height, width=self.width,
                                        camera_id=self.camera)
        self._gl.make_current()
        mujoco.mjv_updateScene(self._model, self._data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(self._pixels, None, self._rect, self._context)
        return self._pixels[::-1].copy()  # OpenGL rows run bottom-up

    def close(self) -> None:
        """Free the fast profile's GL context (dm_control owns and frees the standard one)."""
        if self._gl is None:
            return
        self._gl.make_current()
        self._context.free()
        self._gl.free()
        self._gl = None

    def __del__(self) -> None:
        self.close()


_LIVE_FAST: "weakref.WeakSet[Renderer]" = weakref.WeakSet()
_exit_hook_registered = False


def _close_live_fast_renderers() -> None:
    for renderer in list(_LIVE_FAST):
        renderer.close()


def _register_for_exit(renderer: Renderer) -> None:
    """Close live fast renderers at exit, before MuJoCo's EGL ``atexit`` terminates the display.

    ``atexit`` runs handlers last-in first-out; registering after the first GL context exists
    puts this handler ahead of the backend's own clean-up.
    """
    global _exit_hook_registered
    if not _exit_hook_registered:
        atexit.register(_close_live_fast_renderers)
        _exit_hook_registered = True
    _LIVE_FAST.add(renderer)
