"""Every figure the toolkit draws keeps its key, titles and axis labels inside the figure and off
the axes' data area, whatever the number of groups (1, 6, 12) and the labels' length (250
characters), measured with matplotlib's renderer extents. Hand-made data, no training."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_hex

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (1, 6, 12)
LONG = 250


def label(i: int, long: bool) -> str:
    """A group label: short, or 250 characters of a sweep's config keys (spaces included)."""
    short = f"ncap_swim_ppo (agent.plasticity.type=redo, agent.actor_lr={i})"
    return (short + "".join(f" agent.k{j}={i}" for j in range(40)))[:LONG] if long else short


@pytest.fixture
def figures(monkeypatch):
    """The figures the drawing functions close after saving, kept for measuring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    close("all")


def overlap_px(a, b) -> float:
    """The area (pixels) two display boxes share."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def inside(box, frame, tol: float = 1.0) -> bool:
    return (box.x0 >= frame.x0 - tol and box.y0 >= frame.y0 - tol and box.x1 <= frame.x1 + tol
            and box.y1 <= frame.y1 + tol)


def texts_of(fig) -> dict[str, object]:
    """Every non-empty title and axis label of ``fig``, by a name for the failure message."""
    found = {}
    if fig._suptitle is not None and fig._suptitle.get_text():
        found["suptitle"] = fig._suptitle
    for i, ax in enumerate(fig.axes):
        for name, text in (("title", ax.title), ("left title", ax._left_title),
                           ("right title", ax._right_title), ("x label", ax.xaxis.label),
                           ("y label", ax.yaxis.label)):
            if text.get_text() and text.get_visible():
                found[f"axes {i} {name}"] = text
    return found


def assert_fits(fig, what: str) -> list:
    """The figure's legends and titles lie inside it and off every axes' data area, and its
    axis labels inside it; returns the legends."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    areas = [ax.get_window_extent(renderer) for ax in fig.axes]
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for i, legend in enumerate(legends):
        box = legend.get_window_extent(renderer)
        assert inside(box, frame), f"{what}: legend {i} {box} leaves the figure {frame}"
        for j, area in enumerate(areas):
            assert overlap_px(box, area) < 1.0, f"{what}: legend {i} covers axes {j}'s data"
    for name, text in texts_of(fig).items():
        box = text.get_window_extent(renderer)
        assert inside(box, frame), f"{what}: {name} {box} leaves the figure {frame}"
        if "title" in name:
            for j, area in enumerate(areas):
                assert overlap_px(box, area) < 1.0, f"{what}: {name} covers axes {j}'s data"
    for i, ax in enumerate(fig.axes):  # each axis with its drawn tick labels and its label
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            box = axis.get_tightbbox(renderer) if ax.axison else None
            assert box is None or inside(box, frame), f"{what}: axes {i}'s {name} axis is cut"
    return legends


def entries(legends) -> list[str]:
    """The legends' entry texts without the wrapping (whitespace removed)."""
    return ["".join(t.get_text().split()) for legend in legends for t in legend.get_texts()]


def full(labels) -> list[str]:
    return ["".join(text.split()) for text in labels]


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("long", (False, True))
def test_plot_panels_show_every_group_in_a_key_that_fits(tmp_path, figures, count, long):
    """``plot`` (two panels, adaptive-RR switches) and ``report``'s learning curves."""
    from trainer.analysis import plots

    names = [label(i, long) for i in range(count)]
    returns = {n: [{0: 0.0, 1000: float(i), 2000: 2.0 * i}, {0: 1.0, 1000: i + 1.0}]
               for i, n in enumerate(names)}
    fau = {n: [{1000: 0.5, 2000: 0.4}] for n in names}
    switches = {names[0]: [1500, None]}
    plots.plot_panels({"return": returns, "fau/critic": fau}, tmp_path / "p.png", "step",
                      "t" * LONG if long else "", switches)
    plots.plot_curves(returns, tmp_path / "c.png", "step")
    panels, curves = figures
    expected = full([f"{n} (n=2)" for n in names] + [f"{names[0]}: RR switch"])
    assert entries(assert_fits(panels, "plot")) == expected, "every group once, in full"
    assert entries(assert_fits(curves, "report curves")) == expected[:-1]
    shades = {to_hex(h.get_color()) for h in panels.legends[0].legend_handles[:count]}
    assert len(shades) == count, f"{count} groups drawn in {len(shades)} colours"
    for ax in panels.axes:
        height = ax.get_window_extent().height / panels.dpi
        assert height >= 2.5, f"a panel keeps its height whatever the key ({height:.2f} in)"


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("long", (False, True))
def test_transfer_figure_fits_its_key_and_a_long_run_name(tmp_path, figures, count, long):
    from trainer.posthoc.transfer import TransferRow, plot_transfer

    policies = [label(i, long) for i in range(count)]
    rows = [TransferRow(policy=p, env="swimmer", body={"n_joints": n, "length_scale": s},
                        mean_return=float(n * i), std_return=1.0, min_return=0.0,
                        max_return=1.0, episodes=2, seed=0,
                        returns=f"{n * i - 1.0} {n * i + 1.0}")
            for i, p in enumerate(policies) for n in (4, 6, 8) for s in (0.8, 1.0)]
    title = ("runs/" + "n" * LONG + "/seed0 (checkpoint step 20,480)") if long else "runs/x"
    plot_transfer(rows, tmp_path / "transfer.png", title)
    (fig,) = figures
    assert entries(assert_fits(fig, "transfer")) == full(policies)
    assert fig._suptitle.get_text().count("\n") <= 1, "the title takes at most two lines"


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("long", (False, True))
def test_report_transfer_figure_fits_its_key(tmp_path, figures, count, long):
    from trainer.analysis.report import plot_transfer

    names = [label(i, long) for i in range(count)]
    groups = {name: {"transfer": [
        {"policy": policy, "n_joints": n, "density": d, "mean_return": float(i + n),
         "mean_ci": [i + n - 1.0, i + n + 1.0]}
        for policy in ("trained", "random") for n in (4, 6) for d in (1.0, 2.0)]}
        for i, name in enumerate(names)}
    plot_transfer(groups, tmp_path / "transfer.png")
    (fig,) = figures
    assert entries(assert_fits(fig, "report transfer")) == full(
        [f"{name}: {policy}" for name in names for policy in ("trained", "random")])


def fake_rollout(steps: int = 90, joints: int = 6):
    """What ``activity_figure`` reads of a ``trainer.rollout.Rollout``, made by hand."""
    rng = np.random.default_rng(0)
    square = ((np.arange(steps) // 15) % 2).astype(float)
    activity = {"oscillator_d": square, "oscillator_v": 1.0 - square}
    activity.update({k: rng.random((steps, joints)) for k in ("b_d", "b_v", "muscle_d",
                                                              "muscle_v")})
    return SimpleNamespace(activity=activity, control_timestep=0.02,
                           joints=rng.normal(size=(steps, joints)), rewards=np.ones(steps))


@pytest.mark.parametrize("long", (False, True))
def test_activity_oscillator_shares_the_heatmaps_time_axis_and_its_key_fits(tmp_path, figures,
                                                                            long):
    from circuits.ncap import NCAPSwimmerCircuit
    from circuits.plots import activity_figure

    title = ("runs/" + "n" * LONG + "/seed0") if long else "ncap_swim_ppo"
    activity_figure(fake_rollout(), NCAPSwimmerCircuit(n_joints=6, shared=True),
                    tmp_path / "activity.png", title)
    (fig,) = figures
    (legend,) = assert_fits(fig, "activity")
    assert entries([legend]) == ["O_d", "O_v"]
    renderer = fig.canvas.get_renderer()
    timed = [ax for ax in fig.axes if ax.get_xlim() == fig.axes[0].get_xlim()]
    assert len(timed) == 4, "the oscillator and three heatmaps share the time axis"
    spans = {(round(b.x0), round(b.x1)) for b in (ax.get_window_extent(renderer) for ax in timed)}
    assert len(spans) == 1, f"time axes drawn over different widths: {spans}"


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("long", (False, True))
def test_paired_forest_plot_titles_and_key_fit(tmp_path, figures, count, long):
    sys.path.insert(0, str(ROOT / "bench"))
    import paired_plot

    def cell(i):
        d = [float(i + k) for k in range(-3, 4)]
        return {"labels": ["lr_default", "lr3e-3"], "results": {m: {
            "differences": d, "median_ci": [i - 1.0, i + 1.0], "median_difference": float(i),
            "separates": i % 2 == 0, "n": len(d)} for m in ("final", "auc")}}

    # short names as BENCHMARKS.md gives them: the right panel's title used to lose its end
    names = [label(i, True) if long else f"adaptive w{i} - RR 0.5" for i in range(count)]
    paired_plot.plot([cell(i) for i in range(count)], names, tmp_path / "forest.png",
                     "T" * LONG if long else "paired differences")
    (fig,) = figures
    shown = entries(assert_fits(fig, "paired plot"))
    for name in names:
        assert any("".join(name.split()) in entry for entry in shown) or any(
            "".join(name.split()) in "".join(t.get_text().split())
            for t in fig.axes[0].get_yticklabels()), f"row {name[:20]}... named nowhere"


@pytest.mark.parametrize("n_metrics", (1, 4, 5, 11))
def test_forest_plot_of_many_metrics_wraps_into_rows_of_at_most_four_panels(tmp_path, figures,
                                                                          n_metrics):
    """quadruped_walk's 11 metrics made one row of 11 panels (6,050 px wide): a row holds at most
    4 panels, every metric keeps its own titled panel, and the figure still fits."""
    from trainer.analysis import forest

    metrics = [f"metric{k}" for k in range(n_metrics)]
    cells = [{"labels": ["mlp", "ncap"], "results": {m: {
        "differences": [1.0, 2.0, 3.0], "median_ci": [1.0, 3.0], "median_difference": 2.0,
        "separates": False, "n": 3} for m in metrics}}]
    forest.plot(cells, ["ncap"], tmp_path / "forest.png", "quadruped_walk")
    (fig,) = figures
    assert_fits(fig, "forest plot")
    panels = [ax for ax in fig.axes if ax.get_title() in metrics]
    assert sorted(ax.get_title() for ax in panels) == sorted(metrics)
    rows: dict[float, int] = {}
    for ax in panels:
        y = round(ax.get_position().y0, 3)
        rows[y] = rows.get(y, 0) + 1
    assert max(rows.values()) == min(n_metrics, 4) and len(rows) == -(-n_metrics // 4)
    assert not [ax for ax in fig.axes if ax.get_visible() and ax not in panels], \
        "an empty panel is drawn"
