"""A live picture of the quadruped circuit (``circuits/quadruped.py``) at one control step, the
side panel of ``render --activity`` for an ``ncap_quadruped`` policy.

One row per leg, FL, FR, BR, BL top to bottom (the actuator order), each from left to right:
the rhythm generator's half-centres ``F`` (flexor / swing, red) and ``E`` (extensor / stance,
blue), the toe load ``l`` (white; ringed while ``l > 0.5``, the footfall diagram's stance rule
in ``circuits/quadruped_plots.py``), the motor-neuron pairs ``up``/``down`` (lift),
``fwd``/``back`` (yaw) and ``ext``/``flx`` (extend) as discs whose brightness is the graded
activity in [0, 1] (the swing-side neuron red, the stance-side one blue), then the leg's three
actions ``yaw``, ``lift``, ``extend`` as signed bars from a centre line (half width = 1.1
actuator units; negative red, positive blue). ``caption`` (``quadruped_caption``: the drive and
step period) runs along the bottom. Drawn with Pillow, as the swimmer's ``circuits/panel.py``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from circuits.quadruped import LEGS

SWING = np.array([235, 80, 60])
STANCE = np.array([60, 150, 255])
LOAD = np.array([240, 240, 240])
OFF = np.array([45, 45, 52])
PANEL_BG = (24, 24, 30)
STANCE_LOAD = 0.5
ACTION_RANGE = 1.1
# (activity key, colour, column label) left to right
DISCS = (("flexor", SWING, "F"), ("extensor", STANCE, "E"), ("load", LOAD, "l"),
         ("up", SWING, "up"), ("down", STANCE, "dn"), ("fwd", SWING, "fw"),
         ("back", STANCE, "bk"), ("flx", SWING, "fx"), ("ext", STANCE, "ex"))


def _shade(colour: np.ndarray, level: float) -> tuple[int, int, int]:
    level = float(np.clip(level, 0.0, 1.0))
    return tuple(int(c) for c in OFF + (colour - OFF) * level)


def quadruped_caption(circuit) -> str:
    """The circuit's drive and step period, one short line."""
    return f"drive {circuit.drive:g}, period {circuit.period:.2f} s"


def quadruped_panel(activity: dict[str, np.ndarray], height: int, width: int,
                    caption: str = "") -> np.ndarray:
    """The quadruped circuit's activity at one control step (``QuadrupedActor.activity``: each
    entry ``[4]`` per leg, ``action [12]``) as a ``(height, width, 3)`` uint8 image."""
    img = Image.new("RGB", (width, height), PANEL_BG)
    draw = ImageDraw.Draw(img)
    line = max(11, height // 20)
    font = ImageFont.load_default(size=line - 2)
    small = ImageFont.load_default(size=max(8, line - 4))
    top, bottom = 1.6 * line, 1.4 * line
    row = (height - top - bottom) / len(LEGS)
    disc_x0, disc_x1 = 0.13 * width, 0.70 * width
    step = (disc_x1 - disc_x0) / (len(DISCS) - 1)
    r = max(2.0, min(row * 0.3, step * 0.42))
    bar_x, bar_w = 0.75 * width, 0.22 * width
    for i, (_, _, label) in enumerate(DISCS):
        draw.text((disc_x0 + i * step, 0.7 * line), label, fill=(200, 200, 200), font=small,
                  anchor="mm")
    draw.text((bar_x + bar_w / 2, 0.7 * line), "y l e", fill=(200, 200, 200), font=small,
              anchor="mm")
    action = np.asarray(activity["action"]).reshape(len(LEGS), 3)
    for leg, name in enumerate(LEGS):
        cy = top + (leg + 0.5) * row
        draw.text((0.05 * width, cy), name, fill=(160, 160, 160), font=font, anchor="mm")
        for i, (key, colour, _) in enumerate(DISCS):
            cx, level = disc_x0 + i * step, float(activity[key][leg])
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_shade(colour, level))
            if key == "load" and level > STANCE_LOAD:
                draw.ellipse([cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2], outline=(255,) * 3)
        centre, half = bar_x + bar_w / 2, bar_w / 2
        bar_h = max(2.0, row / 5)
        draw.line([centre, cy - 1.6 * bar_h, centre, cy + 1.6 * bar_h], fill=(90, 90, 90))
        for j in range(3):
            y = cy + (j - 1) * 1.1 * bar_h
            a = float(np.clip(action[leg, j], -ACTION_RANGE, ACTION_RANGE)) / ACTION_RANGE
            x0, x1 = sorted((centre, centre + a * half))
            draw.rectangle([x0, y - bar_h / 2, x1, y + bar_h / 2],
                           fill=tuple(int(c) for c in (SWING if a < 0 else STANCE)))
    if caption:
        draw.text((width / 2, height - 0.7 * line), caption, fill=(150, 150, 150), font=small,
                  anchor="mm")
    return np.asarray(img)
