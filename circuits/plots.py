"""Pictures of the NCAP swimmer circuit: activity over a rollout, and the wiring with its weights.

``activity_figure`` writes one PNG with

* heatmaps against time (x, seconds) and joint index (y, head = joint 1 at the top) of the
  normalised joint angle ``qh_j = clip(q_j / (2 pi / (N + 1)), -1, 1)``, the B-neuron drive
  ``b_d - b_v`` and the torque ``a = m_d - m_v``. The head oscillator starts a bend at joint 1;
  proprioception hands it to joint 2 one step later, and so on, so the travelling wave shows as
  diagonal bands sloping down the body, with the oscillator's square wave on top, on the same
  time axis (the colour bars have a column of their own; the trace's key sits above it);
* the circuit diagram (``draw_circuit``): the head segment (oscillator O -> B_1; for NCAP+'s
  ``oscillator: proprioceptive``, which has no oscillator, the head's bistable switch pair S,
  switched by the head's own bending, ``head_source``) and a body segment (proprioception
  q_{j-1} -> B_j), each with ipsilateral B -> M excitation ``i`` and contralateral B -> M
  inhibition ``c``. Excitatory synapses are red arrows, inhibitory ones blue
  bars; line width grows with |w| and every weight's value is written on it. Weights are the
  effective ones (after the sign clamp of a sign-constrained circuit); an unshared circuit shows
  the mean over segments and sides, its range in brackets. An NCAP+ circuit
  (``circuits/ncap_plus.py``) lists its further parameters (tone, velocity, steering weights,
  period, duty cycle, gain coefficients and the resulting gain per joint) above the diagram.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.ncap import NCAPSwimmerCircuit  # noqa: E402
from configs import figure_layout  # noqa: E402
from configs.safe_files import replacing  # noqa: E402

EXCITATORY_COLOUR = "#c0392b"
INHIBITORY_COLOUR = "#2471a3"


def effective_weights(circuit: NCAPSwimmerCircuit) -> dict[str, np.ndarray]:
    """``{"o", "p", "i", "c"}`` -> the weights the forward pass uses (sign clamp applied)."""
    with torch.no_grad():
        return {k: circuit.weight(k).detach().cpu().numpy() for k in ("o", "p", "i", "c")}


def extra_parameters(circuit) -> dict[str, float]:
    """NCAP+ parameters beyond o, p, i, c (tone, v, turn, speed, T, duty, alpha_k); {} for NCAP."""
    readable = getattr(circuit, "readable", None)
    if readable is None:
        return {}
    return {k: v for k, v in readable().items() if k not in ("o", "p", "i", "c")}


def weight_caption(circuit: NCAPSwimmerCircuit) -> str:
    """One line, e.g. ``o=+1.00 p=+1.00 i=+1.00 c=-1.00`` (unshared: means over segments);
    NCAP+ appends its other parameters (``tone=+0.50 ... T=60.0 duty=0.50``)."""
    prefix = "" if circuit.shared else "mean "
    words = [f"{k}={float(w.mean()):+.2f}" for k, w in effective_weights(circuit).items()]
    words += [f"{k}={v:.1f}" if k == "T" else f"{k}={v:.2f}" if k == "duty" else f"{k}={v:+.2f}"
              for k, v in extra_parameters(circuit).items()]
    return prefix + "  ".join(words)


EXTRA_LABELS = {"tone": "tonic drive -> every M", "v": "joint velocity v_{j-1} -> B_j",
                "turn": "turn r -> Bd_1, l -> Bv_1", "speed": "brake (1 - s) -> every B",
                "T": "oscillator period (steps)", "duty": "oscillator duty cycle"}


def _weight_label(w: np.ndarray) -> str:
    if w.size == 1:
        return f"{float(w):+.2f}"
    return f"{float(w.mean()):+.2f} [{float(w.min()):+.2f}, {float(w.max()):+.2f}]"


def _synapse(ax, start, end, w: np.ndarray, name: str, label_offset=(0.0, 0.0)) -> None:
    value = float(w.mean())
    excitatory = value >= 0
    colour = EXCITATORY_COLOUR if excitatory else INHIBITORY_COLOUR
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>" if excitatory else "-[", color=colour,
                                lw=0.8 + 1.6 * min(abs(value), 3.0), shrinkA=14, shrinkB=14,
                                mutation_scale=14))
    mx = (start[0] + end[0]) / 2 + label_offset[0]
    my = (start[1] + end[1]) / 2 + label_offset[1]
    ax.text(mx, my, f"{name} {_weight_label(w)}", color=colour, fontsize=7.5, ha="center",
            va="center", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))


def _neuron(ax, xy, label: str, colour: str) -> None:
    ax.add_patch(plt.Circle(xy, 0.22, fc=colour, ec="black", lw=0.8, zorder=3))
    ax.text(*xy, label, ha="center", va="center", fontsize=8, zorder=4)


def head_source(circuit) -> tuple[str, str]:
    """What drives joint 1's B-neurons, as (neuron letter, trace title): the oscillator O, or
    for ``oscillator: proprioceptive`` (no oscillator) the head's bistable switch pair S,
    reported in ``activity`` as ``oscillator_d/_v``."""
    if getattr(circuit, "oscillator", None) == "proprioceptive":
        return "S", "head switches (no oscillator: bistable, on the head's own bending)"
    return "O", "head oscillator"


def draw_circuit(ax, circuit: NCAPSwimmerCircuit, n_joints: int | None = None) -> None:
    """The head segment above one body segment, with every weight (module docstring); NCAP+'s
    other parameters are listed above the diagram (with the gain of each of ``n_joints``)."""
    w = effective_weights(circuit)
    letter = head_source(circuit)[0]
    ax.set_xlim(-0.5, 3.5)
    ax.set_ylim(-1.3, 7.0)
    ax.set_aspect("equal")
    ax.axis("off")
    for y0, title, key, j in ((4.0, "head segment (joint 1)", "o", "1"),
                              (0.0, "body segment (joint j >= 2)", "p", "j")):
        src = {"d": (0.0, y0 + 2.0), "v": (0.0, y0)}
        b = {"d": (1.5, y0 + 2.0), "v": (1.5, y0)}
        m = {"d": (3.0, y0 + 2.0), "v": (3.0, y0)}
        ax.text(1.5, y0 + 2.55, title, ha="center", fontsize=9, weight="bold")
        for side, colour in (("d", "#fde3c8"), ("v", "#d3e4f5")):
            _neuron(ax, src[side], f"{letter}{side}" if key == "o" else f"q{side}\nj-1",
                    "#eeeeee")
            _neuron(ax, b[side], f"B{side}\n{j}", colour)
            _neuron(ax, m[side], f"M{side}\n{j}", colour)
            _synapse(ax, src[side], b[side], w[key], key, (0.0, 0.3))
            _synapse(ax, b[side], m[side], w["i"], "i", (0.0, 0.3 if side == "d" else -0.3))
        _synapse(ax, b["d"], m["v"], w["c"], "c", (-0.45, 0.5))
        _synapse(ax, b["v"], m["d"], w["c"], "c", (-0.45, -0.5))
        ax.text(3.0, y0 - 0.45, f"a_{j} = Md - Mv", ha="center", va="top", fontsize=8)
    extras = extra_parameters(circuit)
    if extras:
        lines = [f"{k} = {v:+.2f}   {EXTRA_LABELS.get(k, 'muscle gain coefficient (Legendre)')}"
                 if k not in ("T", "duty") else f"{k} = {v:.2f}   {EXTRA_LABELS[k]}"
                 for k, v in extras.items()]
        if n_joints is not None and getattr(circuit, "gain", None) is not None:
            with torch.no_grad():
                gains = circuit.gains(n_joints).cpu().numpy()
            lines.append("gain g_j = " + " ".join(f"{g:.2f}" for g in gains))
        ax.text(1.5, 7.4, "\n".join(lines), ha="center", va="bottom", fontsize=7.5,
                family="monospace")
        ax.set_ylim(-1.3, 7.6 + 0.45 * len(lines))
    ax.text(1.5, -1.1, "red arrow: excitatory   blue bar: inhibitory\n"
            "d = dorsal, v = ventral; line width ~ |w|", ha="center", va="center", fontsize=7.5,
            color="dimgray")


def _heatmap(ax, cax, values: np.ndarray, dt: float, title: str, cmap: str = "coolwarm") -> None:
    t_end = values.shape[0] * dt
    im = ax.imshow(values.T, aspect="auto", cmap=cmap, vmin=-1, vmax=1, interpolation="nearest",
                   extent=(0, t_end, values.shape[1] + 0.5, 0.5))
    ax.set_ylabel("joint")
    ax.set_title(title, fontsize=9, loc="left")
    ax.figure.colorbar(im, cax=cax)


def activity_figure(rollout, circuit: NCAPSwimmerCircuit, path: str | Path, title: str) -> None:
    """Activity heatmaps of ``rollout`` (``trainer.rollout.Rollout``) and the circuit diagram."""
    act, dt = rollout.activity, rollout.control_timestep
    n = rollout.joints.shape[1]
    q_hat = np.clip(rollout.joints / (2 * np.pi / (n + 1)), -1, 1)
    fig = plt.figure(figsize=(13, 8))
    # the colour bars have a column of their own, so the oscillator's time axis spans exactly
    # the heatmaps' (a colour bar taken from a heatmap's axes would shorten it alone)
    grid = fig.add_gridspec(4, 3, width_ratios=[2.2, 0.04, 1], height_ratios=[0.35, 1, 1, 1])
    osc = fig.add_subplot(grid[0, 0])
    t = np.arange(len(rollout.rewards)) * dt
    letter, head_title = head_source(circuit)
    osc.step(t, act["oscillator_d"], where="post", color="#e67e22", label=f"{letter}_d")
    osc.step(t, act["oscillator_v"] * 0.96, where="post", color="#2e86c1", label=f"{letter}_v")
    osc.set_xlim(0, len(t) * dt)
    osc.set_yticks([0, 1])
    osc.set_title(head_title, fontsize=9, loc="left")
    # above the trace, on the title's line (right-aligned): it never covers the square wave
    osc.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False,
               borderaxespad=0.1)
    panels = [(q_hat, "joint angle / limit  (q_hat)"),
              (act["b_d"] - act["b_v"], "B-neurons  (B_d - B_v)"),
              (act["muscle_d"] - act["muscle_v"], "muscles = torque  (M_d - M_v)")]
    for row, (values, name) in enumerate(panels, start=1):
        ax = fig.add_subplot(grid[row, 0], sharex=osc)
        _heatmap(ax, fig.add_subplot(grid[row, 1]), values, dt, name)
    ax.set_xlabel("time (s)")
    draw_circuit(fig.add_subplot(grid[:, 2]), circuit, n)
    figure_layout.finish(fig, title=f"{title}: return {rollout.rewards.sum():.1f} over {len(t)} "
                         "steps", title_fontsize=11)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
