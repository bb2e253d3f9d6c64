"""A live picture of the NCAP circuit at one control step, for the side panel of a video.

Redraws the NCAP paper's interpretability view each frame: the head oscillator pair (O_d, O_v)
on top, then per joint (head first) the B-neurons (B_d, B_v), the muscles (M_d, M_v) as discs
whose brightness is the graded activity in [0, 1] (dorsal orange, ventral blue), and the torque
``a = M_d - M_v`` as a signed bar. Drawn with Pillow (a matplotlib dependency), a few hundred
microseconds per frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DORSAL = np.array([255, 150, 40])
VENTRAL = np.array([60, 150, 255])
OFF = np.array([45, 45, 52])
PANEL_BG = (24, 24, 30)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


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
