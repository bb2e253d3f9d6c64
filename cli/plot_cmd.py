"""``python train.py plot <RUN_DIR> [<RUN_DIR> ...] --out curves.png [--metric M ...]``.

Curves of any logged metric for one or several runs (``trainer/analysis/plots.py``): runs that
differ only by seed form a group (labelled by name and the config keys that differ between runs
of that name, e.g. a sweep's grid keys), or ``--group-by`` one config key (any dotted key, e.g.
``agent.rr_schedule.type``); each group is drawn as the mean over its runs with the 95%
percentile-bootstrap interval of that mean (the interval ``report`` uses), one panel per
``--metric``: ``return`` (evaluation return, the default), ``eval/<column>`` or any
``metrics.csv`` column (``fau/critic``, ``rr``, ``loss/critic``, ...).
Adaptive-RR runs get a dashed line at their switch. A folder without eval.csv stands for the run
folders at any depth below it (``runs/<name>`` -> ``runs/<name>/seed*``; a sweep folder -> its
trials); a folder with none among others that have some (a sweep's ``ray/``) is skipped. The x
axis is agent steps (``--x frames`` for simulator frames). E.g.

  python train.py plot runs/ncap_swim_ppo runs/mlp_swim_ppo --out curves.png
  python train.py plot runs/sweeps/lr --out lr.png          # one curve per grid point
  python train.py plot runs/arr runs/rr2 --metric return --metric fau/critic --metric rr \\
      --x frames --out arr.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors
from configs.errors import no_run_folder
from configs.figure_layout import check_figure_path
from trainer.analysis.plots import BAND, GROUP_BY_CONFIG, RETURN, plot_runs


@one_line_errors
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python train.py plot", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (or their parents)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output figure (.png, or .pdf, .svg, ...: any suffix matplotlib "
                             "writes)")
    parser.add_argument("--metric", action="append", default=None,
                        help="metric to draw, repeatable (default: return)")
    parser.add_argument("--group-by", default=GROUP_BY_CONFIG,
                        help="config key to group runs by (default: the whole config but the "
                             "seed)")
    parser.add_argument("--x", choices=("step", "frames"), default="step", help="x axis (step)")
    parser.add_argument("--title", default="", help="plot title")
    args = parser.parse_args(argv)
    check_figure_path(args.out)
    for path in args.runs:
        if not path.exists():
            raise no_run_folder(path)
    summary, switches = plot_runs(args.runs, args.metric or [RETURN], args.out, args.x,
                                  args.group_by, args.title)
    column = "group" if args.group_by == GROUP_BY_CONFIG else args.group_by
    print(f"| metric | {column} | runs | final value: mean [{BAND}] |\n|---|---|---|---|")
    for metric, name, n, mean, low, high in summary:
        print(f"| {metric} | {name} | {n} | {mean:.4g} [{low:.4g}, {high:.4g}] |")
    for name, points in switches.items():
        shown = ", ".join("none" if p is None else f"{p:,}" for p in points)
        print(f"RR switch ({args.x}) of {name}: {shown}")
    print(f"wrote {args.out}")
    return 0
