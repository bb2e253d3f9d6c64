"""``python train.py plot <RUN_DIR> [<RUN_DIR> ...] --out curves.png [--metric M ...]``.

Curves of any logged metric for one or several runs (``trainer/plots.py``): runs are grouped by
a config key (default ``name``; any dotted key works, e.g. ``agent.rr_schedule.type``), each
group drawn as the mean over its runs (seeds) with a 95% Student-t confidence band, one panel
per ``--metric``: ``return`` (evaluation return, the default), ``eval/<column>`` or any
``metrics.csv`` column (``fau/critic``, ``rr``, ``loss/critic``, ...). Adaptive-RR runs get a
dashed line at their switch. A folder without eval.csv stands for its sub-folders that have one
(``runs/<name>`` -> ``runs/<name>/seed*``). The x axis is agent steps (``--x frames`` for
simulator frames). E.g.

  python train.py plot runs/ncap_swim_ppo runs/mlp_swim_ppo --out curves.png
  python train.py plot runs/arr runs/rr2 --metric return --metric fau/critic --metric rr \\
      --x frames --out arr.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors
from trainer.plots import RETURN, plot_runs


@one_line_errors
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python train.py plot", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (or their parents)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--metric", action="append", default=None,
                        help="metric to draw, repeatable (default: return)")
    parser.add_argument("--group-by", default="name", help="config key to group runs by (name)")
    parser.add_argument("--x", choices=("step", "frames"), default="step", help="x axis (step)")
    parser.add_argument("--title", default="", help="plot title")
    args = parser.parse_args(argv)
    summary, switches = plot_runs(args.runs, args.metric or [RETURN], args.out, args.x,
                                  args.group_by, args.title)
    print(f"| metric | {args.group_by} | runs | final value (mean ± 95% CI) |\n|---|---|---|---|")
    for metric, name, n, mean, half in summary:
        print(f"| {metric} | {name} | {n} | {mean:.4g} ± {half:.2g} |")
    for name, points in switches.items():
        shown = ", ".join("none" if p is None else f"{p:,}" for p in points)
        print(f"RR switch ({args.x}) of {name}: {shown}")
    print(f"wrote {args.out}")
    return 0
