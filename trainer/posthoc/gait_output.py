"""``gait.csv``, ``gait.md`` and ``gait.png`` of ``gait_rollout.gait_rows``, beside the worm.

The worm reference (``data/fang_yen_2010.csv``: C. elegans frequency and wavelength against the
medium's viscosity, Fang-Yen et al. 2010, PNAS, PMC2996704) is drawn on normalised axes:
frequency relative to the lowest load, wavelength in body lengths; the comparison is of shapes,
not a fit. Each row says where it was read (``source``) and how (``read_how``: ``text``,
``figure``, or ``secondary`` for a third party's copy of the paper's values); the rows there
now are secondary (the paper's figures could not be reached here; the file's header names the
copy). Uncertainties the source does not give are blank and drawn without a bar.

**Viscosity mapping (a modelling choice)**: the swim task's ``viscosity`` is MuJoCo's
``opt.viscosity``, in Pa s (``envs.swim.BodySpec``); it is read literally as the paper's
viscosity, plus water's: ``eta [mPa s] = 1 + 1000 v``. The stock medium (``v = 0``, drag from
the density term alone) sits at water (1 mPa s), ``v = 0.5`` at 501 mPa s, ``v = 8`` at 8001
mPa s. The swimmer is 0.6 m long at N = 5, the worm 1 mm: equal viscosities do not make
equal loads, so only the direction and shape of each curve compare.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from configs import figure_layout
from trainer.files import replacing, write_atomic
from trainer.posthoc.gait_rollout import GaitRow
from trainer.posthoc.transfer import HEADERS, body_keys, varied_keys

WORM_FILE = Path(__file__).parent / "data" / "fang_yen_2010.csv"
WATER_MPA_S = 1.0
OUTPUT_NAMES = ("gait.csv", "gait.md", "gait.png")
SWIM_TABLE = (("period_steps", "period (steps)", "{:.1f}"), ("frequency_hz", "f (Hz)", "{:.3f}"),
              ("wavelength_segments", "λ (segments)", "{:.2f}"),
              ("wavelength_body", "λ (body lengths)", "{:.2f}"),
              ("wavelength_kymo_segments", "λ kymograph (segments)", "{:.2f}"),
              ("amplitude_rad", "amplitude (rad)", "{:.2f}"),
              ("speed_bl_s", "speed (L/s)", "{:.3f}"), ("slip", "slip U/V", "{:.2f}"),
              ("return", "return (all episodes)", "{:.1f}"))
SWIM_PLOTS = (("frequency_hz", "frequency (Hz)"), ("wavelength_body", "wavelength (body lengths)"),
              ("amplitude_rad", "amplitude (rad)"), ("speed_bl_s", "forward speed (L/s)"))
MAX_KYMOGRAPHS = 12


def paper_viscosity(v: float) -> float:
    """The swim task's viscosity ``v`` (Pa s) as the paper's, in mPa s: ``1 + 1000 v``."""
    return WATER_MPA_S + 1000.0 * v


def worm_reference(path: Path = WORM_FILE) -> list[dict[str, float | str]]:
    """The data rows of the worm file (``#`` lines are its header comment), numbers as floats
    (a blank uncertainty as NaN)."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = []
    for rec in csv.DictReader(lines):
        rows.append({k: (v if k in ("source", "read_how") else
                         float(v) if v.strip() else math.nan) for k, v in rec.items()})
    return rows


def write_csv(rows: Sequence[GaitRow], path: Path) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0].as_dict()))
    writer.writeheader()
    writer.writerows(r.as_dict() for r in rows)
    write_atomic(path, text.getvalue())


def _table(rows: Sequence[GaitRow], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    keys = body_keys(rows)
    head = [HEADERS[k] for k in keys] + ["rhythmic"] + [name for _, name, _ in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r.body[k]:g}" for k in keys] + [f"{r.rhythmic}/{r.episodes}"]
        cells += [f"{fmt.format(r.mean[k])} ± {fmt.format(r.std[k])}" for k, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def leg_columns(rows: Sequence[GaitRow]) -> list[tuple[str, str, str]]:
    cols = [("stride_period_steps", "stride period (steps)", "{:.1f}"),
            ("stride_frequency_hz", "stride f (Hz)", "{:.2f}"),
            ("speed_m_s", "speed (m/s)", "{:.2f}"), ("return", "return (all episodes)", "{:.1f}")]
    for foot in rows[0].feet:
        cols += [(f"duty_{foot}", f"duty {foot}", "{:.2f}"),
                 (f"phase_{foot}", f"phase {foot}", "{:.2f}")]
    return cols


def markdown(rows: Sequence[GaitRow], title: str) -> str:
    """The table (mean ± std over episodes) and the rules it was read with."""
    first = rows[0]
    seeds = f"{first.seed}" + (f"..{first.seed + first.episodes - 1}" if first.episodes > 1 else "")
    out = [f"# Gait: {title}", ""]
    if first.kymograph is not None:
        out += _table(rows, SWIM_TABLE)
        out += ["", f"Mean ± std over the rhythmic ones (column `rhythmic`) of {first.episodes} "
                f"deterministic episodes seeded {seeds}, measured over the whole cycles after the "
                "first (trainer/posthoc/gait_swim.py). "
                "λ is the phase-lag wavelength (phase lag between neighbouring joints at the "
                "dominant frequency); the kymograph column reads it from the time lag between "
                "neighbouring rows of the curvature kymograph. Body length L = N + 1 links; "
                "slip = forward speed / wave speed along the body (λ f).", "",
                "Worm reference (Fang-Yen et al. 2010, PNAS, PMC2996704): "
                + worm_note() + " Viscosity mapping (a modelling choice): the swim task's "
                "viscosity v (MuJoCo, Pa s) is read as 1 + 1000 v mPa s (water at v = 0); "
                "the comparison is of shapes, not a fit."]
    else:
        out += _table(rows, leg_columns(rows))
        out += ["", f"Mean ± std over the rhythmic ones (column `rhythmic`) of {first.episodes} "
                f"deterministic episodes seeded {seeds}, over the whole strides after the first "
                "(trainer/posthoc/gait_legs.py; a phase's mean and std on the circle): duty = "
                "fraction of time on the ground; phase = stance phase lag behind "
                f"{first.feet[0]} (cycles)."]
    return "\n".join(out) + "\n"


def worm_note() -> str:
    n = len(worm_reference())
    if n == 0:
        return ("no values yet: the stored copies of the paper reachable when this was built "
                "held only its abstract (both wavelength and frequency fall as the load rises); "
                "see trainer/posthoc/data/fang_yen_2010.csv.")
    how = sorted({str(r["read_how"]) for r in worm_reference()})
    second = (" read from a secondary copy of the paper's values (named in the file's header; "
              "no uncertainty given)" if how == ["secondary"] else f" (read as: {', '.join(how)})")
    return f"{n} points from trainer/posthoc/data/fang_yen_2010.csv,{second}."


def _line_groups(rows: Sequence[GaitRow], key: str) -> dict[str, list[GaitRow]]:
    """Rows grouped by the body columns other than ``key`` (one line each), sorted by ``key``."""
    others = [k for k in varied_keys(rows) if k != key]
    groups: dict[str, list[GaitRow]] = {}
    for r in rows:
        name = ", ".join(f"{HEADERS[k]} {r.body[k]:g}" for k in others) or r.policy
        groups.setdefault(name, []).append(r)
    return {n: sorted(g, key=lambda r: r.body[key]) for n, g in groups.items()}


def plot(rows: Sequence[GaitRow], path: Path, title: str) -> None:
    """Top: each measure against the varied body parameter (mean ± std over episodes, one line
    per combination of the other parameters); for a swimmer, beside them the worm comparison
    (frequency relative to the lowest viscosity, wavelength in body lengths, against viscosity
    in mPa s, ``paper_viscosity``). Bottom: one curvature kymograph per body (swim, at most
    ``MAX_KYMOGRAPHS``) or footfall diagram (legs), first episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    swim = rows[0].kymograph is not None
    key = (varied_keys(rows) or body_keys(rows)[:1])[0]
    measures = list(SWIM_PLOTS) if swim else \
        [("stride_frequency_hz", "stride frequency (Hz)"), ("speed_m_s", "speed (m/s)")] + \
        [(f"duty_{f}", f"duty factor {f}") for f in rows[0].feet]
    shown = list(rows[:MAX_KYMOGRAPHS])
    top = len(measures) + (2 if swim else 0)
    ncol = max(top, min(len(shown), 6))
    nbottom = math.ceil(len(shown) / ncol)
    fig = plt.figure(figsize=(3.0 * ncol, 2.8 * (1 + nbottom)))
    grid = fig.add_gridspec(1 + nbottom, ncol)
    groups = _line_groups(rows, key)
    colours = dict(zip(groups, figure_layout.colours(len(groups))))
    for i, (m, label) in enumerate(measures):
        ax = fig.add_subplot(grid[0, i])
        for name, sel in groups.items():
            xs = [r.body[key] for r in sel]
            ys = np.array([r.mean[m] for r in sel])
            err = np.array([r.std[m] for r in sel])
            ax.errorbar(xs, ys, yerr=err, fmt="o-", ms=3, capsize=2, label=name,
                        color=colours[name])
        if m.endswith("_hz") or m.startswith("duty_"):  # a rate or fraction: from zero
            ax.set_ylim(0, 1.05 if m.startswith("duty_") else 1.25 * _top(ax))
        ax.set_xlabel(HEADERS[key])
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    if swim:
        _worm_panels(fig, grid, len(measures), rows, groups, colours)
    for i, r in enumerate(shown):
        ax = fig.add_subplot(grid[1 + i // ncol, i % ncol])
        where = ", ".join(f"{HEADERS[k]} {r.body[k]:g}" for k in varied_keys(rows)) or r.policy
        if swim:
            k = r.kymograph
            lim = float(np.abs(k.curvature).max()) or 1.0
            ax.imshow(k.curvature.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                      origin="upper", interpolation="nearest",
                      extent=(0, k.time_s[-1], k.position[-1] + 0.5 * k.position[0],
                              k.position[0] * 0.5))
            ax.set_xlabel("time (s)")
            ax.set_ylabel("position s/L (head 0)", fontsize=8)
            ax.set_title(f"curvature κL: {where}", fontsize=8)
        else:
            c = r.contacts
            t = np.arange(1, len(c) + 1) * r.dt
            for j in range(c.shape[1]):
                on = c[:, j] > 0
                ax.fill_between(t, j - 0.4, j + 0.4, where=on, step="mid", color="k")
            ax.set_yticks(range(c.shape[1]), r.feet, fontsize=7)
            ax.set_xlabel("time (s)")
            ax.set_title(f"footfalls (black: stance): {where}", fontsize=8)
    figure_layout.finish(fig, *figure_layout.handles_and_labels(fig.axes), title=title,
                         key_fontsize=8)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _top(ax) -> float:
    """The largest finite value drawn in ``ax`` (1 when there is none: every episode of every
    body without rhythm)."""
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines] or [[]])
    values = values[np.isfinite(values)]
    return float(values.max()) if len(values) and values.max() > 0 else 1.0


def _worm_panels(fig, grid, col: int, rows, groups, colours) -> None:
    """Frequency relative to the lowest load and wavelength (body lengths) against viscosity
    (mPa s, log): ours by ``paper_viscosity``, the worm's rows from ``worm_reference``."""
    worm = worm_reference()
    panels = (("frequency_hz", "frequency / frequency at lowest load", "frequency_hz",
               "frequency_err_hz", True),
              ("wavelength_body", "wavelength (body lengths)", "wavelength_body",
               "wavelength_err_body", False))
    for i, (ours, label, theirs, theirs_err, relative) in enumerate(panels):
        ax = fig.add_subplot(grid[0, col + i])
        for name, sel in groups.items():
            sel = sorted(sel, key=lambda r: r.body["viscosity"])
            xs = [paper_viscosity(r.body["viscosity"]) for r in sel]
            ys = np.array([r.mean[ours] for r in sel])
            ax.plot(xs, ys / ys[0] if relative else ys, "o-", ms=3, color=colours[name])
        if worm:
            ws = sorted(worm, key=lambda w: w["viscosity_mPa_s"])
            xs = [w["viscosity_mPa_s"] for w in ws]
            ys = np.array([w[theirs] for w in ws])
            err = np.array([w[theirs_err] for w in ws])
            scale = ys[0] if relative else 1.0
            second = all(w["read_how"] == "secondary" for w in ws)
            ax.errorbar(xs, ys / scale, yerr=err / scale, fmt="s--", ms=3, color="0.4",
                        label="C. elegans (Fang-Yen et al. 2010"
                        + (", secondary copy)" if second else ")"))
        else:
            ax.text(0.5, 0.97, "worm values not read yet\n(data/fang_yen_2010.csv)",
                    transform=ax.transAxes, ha="center", va="top", fontsize=7, color="0.4")
        if relative:  # from zero, the lowest load's 1 well inside the axes
            ax.set_ylim(0, 1.25 * max(1.0, _top(ax)))
        else:  # from zero too, so that each curve's fraction lost reads as its drop
            ax.set_ylim(0, 1.1 * _top(ax))
        ax.set_xscale("log")
        ax.set_xlabel("viscosity (mPa s) = 1 + 1000 v", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.set_title("vs the worm (shapes, not a fit)", fontsize=8)
        ax.grid(alpha=0.3)


def write_outputs(rows: Sequence[GaitRow], out_dir: str | Path, title: str) -> dict[str, Path]:
    """``gait.csv``, ``gait.md``, ``gait.png`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "gait.csv", "markdown": out_dir / "gait.md",
             "plot": out_dir / "gait.png"}
    write_csv(rows, paths["csv"])
    write_atomic(paths["markdown"], markdown(rows, title))
    plot(rows, paths["plot"], title)
    return paths
