"""Forest plot of paired comparisons (issue 22): one row per cell, one panel per outcome metric
(at most ``PER_ROW`` panels side by side; more metrics wrap onto further rows).

A cell is ``{"labels": [A, B], "results": {metric: result}}`` with each result a
``trainer.analysis.stats.paired_comparison`` (or ``difference_summary``) of ``B - A``. A row shows
that cell's per-seed differences (dots), their median (a tick) and its bootstrap 95% interval (a
bar, red when the result *separates*: its interval excludes zero with at least
``stats.MIN_PAIRS`` pairs; blue otherwise, also for an interval that excludes zero on fewer
pairs); a dashed line marks zero. The rows are the
figures already computed, not recomputed. Used by ``python train.py compare`` (one row per arm
and seed set) and ``bench/paired_plot.py``.
"""

from __future__ import annotations

from pathlib import Path

from configs import figure_layout
from configs.safe_files import replacing
from trainer.analysis.stats import MIN_PAIRS

LONG_NAME = 30  # longer row names are numbered on the axis and written in full in the key
PER_ROW = 4     # panels (metrics) per row of the figure; more metrics wrap onto further rows


def plot(cells: list[dict], names: list[str], out: Path, title: str | None = None) -> None:
    """The forest plot (module docstring); the key below says what dots, ticks and bars are,
    and lists row names longer than ``LONG_NAME`` characters in full (the axis numbers them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    metrics = list(cells[0]["results"])
    pairs = {tuple(c["labels"]) for c in cells}   # "B - A" only if every row compares one pair
    xlabel = "paired difference (see each row)"
    if len(pairs) == 1:
        a, b = pairs.pop()
        xlabel = f"{b} - {a}"
    cols = min(len(metrics), PER_ROW)
    grid_rows = -(-len(metrics) // cols)
    fig, grid = plt.subplots(grid_rows, cols,
                             figsize=(5 * cols, grid_rows * (0.7 * len(cells) + 1.6)),
                             squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(metrics):]:   # the last row's unused places
        ax.set_visible(False)
    numbered = any(len(name) > LONG_NAME for name in names)
    shown = [f"[{i}]" for i in range(1, len(names) + 1)] if numbered else names
    for ax, metric in zip(axes, metrics):
        for row, cell in enumerate(cells):
            r = cell["results"][metric]
            y = len(cells) - 1 - row
            ax.scatter(r["differences"], [y] * len(r["differences"]), s=14, alpha=0.5,
                       color="tab:gray", zorder=5)
            lo, hi = r["median_ci"]
            color = "tab:red" if r["separates"] else "tab:blue"
            ax.plot([lo, hi], [y, y], color=color, linewidth=3, zorder=3)
            ax.plot([r["median_difference"]] * 2, [y - 0.2, y + 0.2], color="black", zorder=4)
        ax.axvline(0.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_yticks(range(len(cells)))
        ax.set_yticklabels([f"{n} (n = {c['results'][metric]['n']})"
                            for n, c in zip(reversed(shown), reversed(cells))])
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(xlabel)
    key = {Line2D([], [], ls="", marker="o", ms=4, alpha=0.5, color="tab:gray"):
           "one seed's difference",
           Line2D([], [], ls="", marker="|", ms=10, color="black"): "median difference",
           Line2D([], [], lw=3, color="tab:red"): "95% bootstrap interval of the median: "
                                                   f"separates (excludes 0; paired: n >= {MIN_PAIRS})",
           Line2D([], [], lw=3, color="tab:blue"): "95% bootstrap interval of the median: "
                                                    f"does not separate (includes 0, or n < "
                                                    f"{MIN_PAIRS})"}
    if numbered:
        key.update({Line2D([], [], ls=""): f"{number} {name}"
                    for number, name in zip(shown, names)})
    figure_layout.finish(fig, list(key), list(key.values()), title=title or "",
                         key_fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
