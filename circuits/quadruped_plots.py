"""Pictures of the quadruped circuit (``circuits/quadruped.py``) over one rollout.

``quadruped_activity_figure`` writes one PNG with, against time (seconds):

* rhythm generation per leg: ``F - E`` (flexor minus extensor half-centre: red = swing,
  blue = stance), legs FL, FR, BR, BL top to bottom;
* motor output per joint: the 12 actions (yaw, lift, extend of each leg) in actuator units;
* a footfall diagram: a black bar per leg wherever its toe is loaded (``l > 0.5``, the load the
  circuit reads from the toe's force sensor, ``l = clamp((-f_z - 3) / 3, 0, 1)``);

beside the circuit's wiring as text, with the effective weight (sign clamp applied) on every
connection, the drive, the step period and the phase offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.quadruped import INIT, LEGS  # noqa: E402
from configs import figure_layout  # noqa: E402
from configs.safe_files import replacing  # noqa: E402

STANCE_LOAD = 0.5
JOINTS = ("yaw", "lift", "extend")
LABELS = {"fu": "flexor F -> up", "lu": "load -> up", "ru": "retraction -> up",
          "ed": "extensor E -> down", "ld": "load -> down", "af": "A_f -> fwd",
          "ab": "A_b -> back", "ee": "extensor E -> ext", "ff": "flexor F -> flx"}


@dataclass
class QuadrupedRecord:
    """Arrays over time first: ``flexor``, ``extensor``, ``load`` ``[T, 4]``, ``actions
    [T, 12]``, ``rewards [T]``."""

    flexor: np.ndarray
    extensor: np.ndarray
    load: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    control_timestep: float


def record_quadruped(steps, actor, control_timestep: float) -> QuadrupedRecord:
    """The circuit's activity along ``steps`` (``trainer.rollout.Step`` s of one deterministic
    rollout of ``actor``'s agent, e.g. ``agent_rollout``); the clock is the control step since
    reset (what the time feature encodes, and what an ES actor counts itself)."""
    rows = {"flexor": [], "extensor": [], "load": [], "actions": [], "rewards": []}
    for step in steps:
        with torch.inference_mode():
            act = actor.activity(torch.as_tensor(step.obs, dtype=torch.float32),
                                 torch.tensor(float(step.k - 1)))
        for name in ("flexor", "extensor", "load"):
            rows[name].append(act[name].numpy().copy())
        rows["actions"].append(step.action)
        rows["rewards"].append(step.reward)
    return QuadrupedRecord(**{k: np.array(v) for k, v in rows.items()},
                           control_timestep=control_timestep)


def _heatmap(ax, cax, values: np.ndarray, dt: float, title: str, labels: list[str],
             vmax: float) -> None:
    im = ax.imshow(values.T, aspect="auto", cmap="coolwarm", vmin=-vmax, vmax=vmax,
                   interpolation="nearest",
                   extent=(0, values.shape[0] * dt, values.shape[1] - 0.5, -0.5))
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    ax.figure.colorbar(im, cax=cax)


def footfalls(load: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per leg, the ``(start, length)`` step runs with ``load > STANCE_LOAD``."""
    runs = []
    for leg in load.T > STANCE_LOAD:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], leg.astype(int), [0]])))
        runs.append([(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2])])
    return runs


def wiring_text(circuit) -> str:
    """The wiring with every effective weight, the drive, period and offsets."""
    with torch.no_grad():
        w = {k: float(circuit.weight(k)) for k in INIT}
    lines = [f"drive d = {circuit.drive:g}   period T = {circuit.period:.3f} s",
             f"swing {circuit.swing_time:g} s, stance {circuit.stance_time / circuit.drive:.3f} s",
             "offsets psi (FL FR BR BL) = " + " ".join(
                 f"{float(p) / math.pi:.2f}pi" for p in circuit.offsets),
             "",
             "RG (per leg): F = [sin phi]+, E = [-sin phi]+",
             "             A_f = [-cos phi]+, A_b = [cos phi]+",
             "",
             "PF:  up   = s(w_fu F + w_lu l + w_ru p-)",
             "     down = s(w_ed E + w_ld l)",
             "     fwd  = s(w_af A_f)   back = s(w_ab A_b)",
             "     ext  = s(w_ee E)     flx  = s(w_ff F)",
             "",
             "lift = down - up   yaw = side (fwd - back)",
             "extend = ext - flx",
             "",
             "weights (shared by the four legs):"]
    lines += [f"  w_{k} = {v:+.2f}  {'(-)' if k == 'lu' else '(+)'} {LABELS[k]}"
              for k, v in w.items()]
    return "\n".join(lines)


def quadruped_activity_figure(record: QuadrupedRecord, circuit, path: str | Path,
                              title: str) -> None:
    """The PNG of the module docstring for ``record`` and ``circuit``."""
    dt, n = record.control_timestep, len(record.rewards)
    fig = plt.figure(figsize=(14, 8))
    grid = fig.add_gridspec(3, 3, width_ratios=[2.2, 0.04, 1], height_ratios=[0.8, 1.6, 0.8])
    rg = fig.add_subplot(grid[0, 0])
    _heatmap(rg, fig.add_subplot(grid[0, 1]), record.flexor - record.extensor, dt,
             "rhythm generation  F - E  (red: flexor / swing, blue: extensor / stance)",
             list(LEGS), 1.0)
    motor = fig.add_subplot(grid[1, 0], sharex=rg)
    labels = [f"{leg} {joint}" for leg in LEGS for joint in JOINTS]
    _heatmap(motor, fig.add_subplot(grid[1, 1]), record.actions, dt,
             "motor output per joint (action)", labels, 1.1)
    feet = fig.add_subplot(grid[2, 0], sharex=rg)
    for i, runs in enumerate(footfalls(record.load)):
        feet.broken_barh([(a * dt, b * dt) for a, b in runs], (i - 0.35, 0.7), color="black")
    feet.set_ylim(len(LEGS) - 0.5, -0.5)
    feet.set_yticks(range(len(LEGS)), list(LEGS), fontsize=7)
    feet.set_xlim(0, n * dt)
    feet.set_title(f"footfalls: toe loaded (l > {STANCE_LOAD})", fontsize=9, loc="left")
    feet.set_xlabel("time (s)")
    text = fig.add_subplot(grid[:, 2])
    text.axis("off")
    text.text(0.0, 1.0, wiring_text(circuit), va="top", ha="left", family="monospace",
              fontsize=8, transform=text.transAxes)
    figure_layout.finish(fig, title=f"{title}: return {record.rewards.sum():.1f} over {n} steps",
                         title_fontsize=11)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
