"""Video frames of a rollout: the tracking-camera image, on-frame text, a live circuit panel.

Rendering reuses ``envs.render`` (GL backend probe, the ``fast`` visuals) at any ``height x
width`` (``envs.render``'s renderers are square, for pixel observations):

* ``standard`` - dm_control's default visuals, ``physics.render(h, w, camera_id)``; only the
  offscreen buffer is enlarged when the image is larger than the model's (pixels unchanged);
* ``fast`` - ``envs.render.apply_fast_visuals`` (no multisampling, shadows or reflections; a
  buffer of the image size) drawn by ``mujoco.Renderer`` with the reflection, skybox and shadow
  scene flags off.

The activity panel redraws the NCAP paper's interpretability view each frame: the head
oscillator pair (O_d, O_v) on top, then per joint (head first) the B-neurons (B_d, B_v), the
muscles (M_d, M_v) as discs whose brightness is the graded activity in [0, 1] (dorsal orange,
ventral blue), and the torque ``a = M_d - M_v`` as a signed bar.
Drawn with Pillow (a matplotlib dependency), a few hundred microseconds per frame.
"""

from __future__ import annotations

import mujoco
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from envs.render import PROFILES, apply_fast_visuals, resolve_camera

DORSAL = np.array([255, 150, 40])
VENTRAL = np.array([60, 150, 255])
OFF = np.array([45, 45, 52])
PANEL_BG = (24, 24, 30)


class FrameRenderer:
    """``render() -> (height, width, 3) uint8`` of ``physics`` through ``camera``, by profile."""

    def __init__(self, physics, height: int, width: int, camera: int | str, profile: str):
        if profile not in PROFILES:
            raise ValueError(f"unknown render profile '{profile}' (choose {', '.join(PROFILES)})")
        self.profile = profile
        self._physics = physics
        self._size = (height, width)
        model = physics.model.ptr
        self._camera_id = resolve_camera(model, camera)
        self._renderer = None
        if profile == "fast":
            apply_fast_visuals(model, max(height, width))
            self._renderer = mujoco.Renderer(model, height, width)
            for flag in (mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX,
                         mujoco.mjtRndFlag.mjRND_SHADOW):
                self._renderer.scene.flags[flag] = 0
            self._camera = mujoco.MjvCamera()
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            self._camera.fixedcamid = self._camera_id
        else:
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
            model.vis.global_.offheight = max(model.vis.global_.offheight, height)

    def render(self) -> np.ndarray:
        if self._renderer is None:
            h, w = self._size
            return self._physics.render(height=h, width=w, camera_id=self._camera_id)
        self._renderer.update_scene(self._physics.data.ptr, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_text(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """``frame`` with ``lines`` written top-left on a translucent dark box."""
    img = Image.fromarray(frame).convert("RGBA")
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(10, frame.shape[0] // 20)
    font = _font(size)
    width = max(draw.textlength(line, font=font) for line in lines)
    draw.rectangle([4, 4, 12 + width, 8 + len(lines) * (size + 3)], fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        draw.text((8, 6 + i * (size + 3)), line, fill=(255, 255, 255, 255), font=font)
    return np.asarray(Image.alpha_composite(img, layer).convert("RGB"))


def _shade(colour: np.ndarray, level: float) -> tuple[int, int, int]:
    level = float(np.clip(level, 0.0, 1.0))
    return tuple(int(c) for c in OFF + (colour - OFF) * level)


def activity_panel(activity: dict[str, np.ndarray], height: int, width: int,
                   caption: str = "") -> np.ndarray:
    """The circuit's activity at one control step as a ``(height, width, 3)`` uint8 image,
    ``caption`` (e.g. the weights) written along the bottom."""
    n = activity["b_d"].shape[-1]
    img = Image.new("RGB", (width, height), PANEL_BG)
    draw = ImageDraw.Draw(img)
    line = max(11, height // 20)
    font = _font(line - 2)
    top, bottom = 2.4 * line, 1.4 * line
    row = (height - top - bottom) / n
    r = max(2.0, min(row * 0.36, width / 30, line * 0.45))
    cols = [0.20, 0.32, 0.48, 0.60]
    bar_x, bar_w = 0.68 * width, 0.28 * width
    # header line 1: the head oscillator pair, in the columns of the B-neurons it drives
    y = 0.6 * line
    draw.text((0.06 * width, y), "osc", fill=(160, 160, 160), font=font, anchor="mm")
    for x, key, colour in ((cols[0], "oscillator_d", DORSAL), (cols[1], "oscillator_v", VENTRAL)):
        cx = x * width
        draw.ellipse([cx - r, y - r, cx + r, y + r], fill=_shade(colour, activity[key]))
    # header line 2: column labels
    y = 1.7 * line
    for x, label in zip(cols + [bar_x / width + bar_w / width / 2],
                        ["Bd", "Bv", "Md", "Mv", "torque"]):
        draw.text((x * width, y), label, fill=(200, 200, 200), font=font, anchor="mm")
    for j in range(n):
        cy = top + (j + 0.5) * row
        draw.text((0.06 * width, cy), f"{j + 1}", fill=(160, 160, 160), font=font, anchor="mm")
        for x, key, colour in zip(cols, ("b_d", "b_v", "muscle_d", "muscle_v"),
                                  (DORSAL, VENTRAL, DORSAL, VENTRAL)):
            cx = x * width
            draw.ellipse([cx - r, cy - r, cx + r, cy + r],
                         fill=_shade(colour, activity[key][j]))
        mid = bar_x + bar_w / 2
        draw.line([mid, cy - r, mid, cy + r], fill=(110, 110, 110))
        torque = float(activity["action"][j])
        colour = tuple(int(c) for c in (DORSAL if torque > 0 else VENTRAL))
        x0, x1 = sorted((mid, mid + torque * bar_w / 2))
        draw.rectangle([x0, cy - r * 0.6, x1, cy + r * 0.6], fill=colour)
    draw.text((width / 2, height - bottom / 2), caption, fill=(170, 170, 170), font=font,
              anchor="mm")
    return np.asarray(img)
