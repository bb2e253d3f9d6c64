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

from configs.errors import ConfigError
from envs.gl_backend import INSTALL_HINT, RenderBackendError

PROFILES: tuple[str, ...] = ("standard", "fast")

_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software")

_GL_INFO: dict[str, object] | None = None


def gl_context(width: int, height: int):
    """A new OpenGL context of the process's backend, made through dm_control.

    Every GL context of the toolkit is one of dm_control's: dm_control remembers which of its
    contexts is current on each thread and skips ``make_current`` when it believes its own
    already is. A context made current behind its back (``mujoco.GLContext``) would make
    ``physics.render`` draw into that other context's framebuffer (noise in the standard
    profile's images beside a fast video). Use as ``with ctx.make_current() as c:
    c.call(fn)``; free with ``ctx.free()``.
    """
    from dm_control import _render

    return _render.Renderer(max_width=width, max_height=height)


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
        ctx = gl_context(1, 1)
        from OpenGL import GL

        with ctx.make_current() as current:
            renderer, vendor, version = current.call(
                lambda: [GL.glGetString(k).decode() for k in
                         (GL.GL_RENDERER, GL.GL_VENDOR, GL.GL_VERSION)])
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
    agent-view panels (``trainer.posthoc.video``) all draw through it.

    * ``standard``: ``physics.render(height, width, camera_id)``, dm_control's own pixels. The
      model's offscreen buffer is enlarged to the image size if dm_control has not yet made its
      GL context; an image larger than an existing context's buffer is refused with one line.
    * ``fast``: its own GL context (``gl_context``) and MuJoCo render context, made with no
      multisampling, no shadow map and a buffer of the image size (set on the model only while
      the context is made, then restored, so a standard renderer of the same physics keeps its
      visuals), and the reflection, skybox and shadow scene flags off. Makes its GL context
      current before every draw and before freeing its MuJoCo render context (freeing with
      another context current corrupts that live renderer's framebuffer).

    Renderers of both profiles may share a process and a physics: each draws only into its
    own context, so an image never depends on what else renders (tests/test_pixels.py).
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
        self._context = None
        self._exit_hook = None
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
        self._gl = gl_context(width, height)
        quality, glob = model.vis.quality, model.vis.global_
        saved = (quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight)
        quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight = 0, 0, width, height
        try:
            with self._gl.make_current() as current:
                self._context = current.call(mujoco.MjrContext, model,
                                             mujoco.mjtFontScale.mjFONTSCALE_150)
                current.call(mujoco.mjr_setBuffer, mujoco.mjtFramebuffer.mjFB_OFFSCREEN,
                             self._context)
        finally:
            quality.offsamples, quality.shadowsize, glob.offwidth, glob.offheight = saved
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
        mujoco.mjv_updateScene(self._model, self._data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        with self._gl.make_current() as current:
            current.call(self._draw)
        return self._pixels[::-1].copy()  # OpenGL rows run bottom-up

    def _draw(self) -> None:
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(self._pixels, None, self._rect, self._context)

    def close(self) -> None:
        """Free the fast profile's GL context (dm_control owns and frees the standard one)."""
        if self._gl is None:
            return
        gl, self._gl = self._gl, None
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
        if not gl.terminated:  # dm_control frees its contexts at exit too
            if self._context is not None:
                with gl.make_current() as current:
                    current.call(self._context.free)
            gl.free()

    def __del__(self) -> None:
        self.close()


def _register_for_exit(renderer: Renderer) -> None:
    """Free ``renderer``'s MuJoCo render context at exit while its GL context still lives.

    dm_control frees each GL context at exit with an ``atexit`` handler registered when the
    context is made; ``atexit`` runs handlers last-in first-out, so this one, registered after
    the renderer's context exists, runs first. It holds the renderer weakly and is removed by
    ``close``.
    """
    ref = weakref.ref(renderer)

    def close_at_exit() -> None:
        live = ref()
        if live is not None:
            live.close()

    renderer._exit_hook = close_at_exit
    atexit.register(close_at_exit)
