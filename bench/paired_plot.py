"""Forest plot of paired comparisons (issue 22): one row per cell, one panel per outcome metric.

Each input is a JSON written by ``bench/paired.py --out``. A row shows that cell's per-seed
differences (B - A, dots), their median (a tick) and its bootstrap 95% interval (a bar); a dashed
line marks zero, so a cell *separates* when its bar does not cross the line. The rows are the
figures ``paired.py`` printed, not recomputed.

With two or more cells it also prints (and writes beside the figure, ``.md``) the contrast of each
cell with the first: how much larger B's effect is there, ``median(d_cell) - median(d_first)``
with a bootstrap 95% interval (``trainer.analysis.stats.contrast``). A claim such as "the loss
helps most at small width" is a contrast, not two separate readings. A contrast needs every cell
to compare the same pair of arms (``labels``): cells of different pairs (``arr - rr0.5`` beside
``arr - rr2``) are drawn, and a warning names two of them instead of the contrast.

    python bench/paired_plot.py bench/results/aux_fd8_paired10.json \\
        bench/results/aux_fd16_paired10.json bench/results/aux_fd50_paired10.json \\
        --names "fd 8" "fd 16" "fd 50" --out bench/results/aux_capacity_paired.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.analysis.forest import LONG_NAME, plot  # noqa: E402,F401 (the drawing moved there)
from trainer.analysis.stats import contrast  # noqa: E402


def load_cells(paths: list[Path]) -> list[dict]:
    """The ``paired.py`` results; ValueError naming the first file that is not one."""
    cells = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None
        if not isinstance(data, dict) or not {"results", "labels"} <= data.keys():
            raise ValueError(f"{path}: not a bench/paired.py result (no 'results' and 'labels')")
        cells.append(data)
    return cells


def pair_of(cell: dict) -> tuple[str, str]:
    """The ``(A, B)`` arms a cell compares (its differences are B - A)."""
    a, b = cell["labels"]
    return a, b


def contrast_table(cells: list[dict], names: list[str]) -> str:
    """Markdown: each cell's effect minus the first cell's, per metric, with its interval."""
    a, b = cells[0]["labels"]
    lines = [f"Contrast of ({b} - {a}) between cells: cell minus {names[0]}", "",
             "| cell | metric | n | contrast [95% CI] | reading |", "|---|---|---|---|---|"]
    for name, cell in zip(names[1:], cells[1:]):
        for metric, r in cell["results"].items():
            c = contrast(cells[0]["results"][metric]["differences"], r["differences"])
            reading = "separates" if c["separates"] else "does not separate"
            lines.append(f"| {name} | {metric} | {c['n'][1]} vs {c['n'][0]} | {c['contrast']:+.1f} "
                         f"[{c['ci'][0]:+.1f}, {c['ci'][1]:+.1f}] | {reading} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+", help="bench/paired.py JSON files, one per row")
    ap.add_argument("--names", nargs="+", default=None, help="row names (default: file stems)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", type=Path, required=True, help="the figure (.png)")
    args = ap.parse_args(argv)
    names = args.names or [p.stem for p in args.results]
    if len(names) != len(args.results):
        print(f"error: {len(names)} names for {len(args.results)} result files", file=sys.stderr)
        return 2
    try:
        cells = load_cells(args.results)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if len({tuple(c["results"]) for c in cells}) != 1:
        print("error: the result files compare different metrics", file=sys.stderr)
        return 2
    pairs = {path: pair_of(cell) for path, cell in zip(args.results, cells)}
    plot(cells, names, args.out, args.title)
    print(f"wrote {args.out}")
    if len(set(pairs.values())) > 1:
        (a, b), (path, (c, d)) = pairs[args.results[0]], next(
            (p, pair) for p, pair in pairs.items() if pair != pairs[args.results[0]])
        print(f"warning: no contrast between cells: {args.results[0]} compares {b} - {a}, "
              f"{path} compares {d} - {c} (a contrast needs one pair in every cell)",
              file=sys.stderr)
    elif len(cells) > 1:
        text = contrast_table(cells, names)
        print(text)
        args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
