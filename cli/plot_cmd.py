"""``python train.py plot <RUN_DIR> [<RUN_DIR> ...] --out curves.png [--group-by name]``.

Learning curves from the runs' ``eval.csv``: runs are grouped by a config key (default ``name``;
any dotted key works, e.g. ``agent.actor.signed``), and each group is drawn as the mean
evaluation return over its runs (seeds) with a 95% confidence band for the mean,

    mean +- t_{0.975, n-1} * s / sqrt(n)        (Student t, n runs with that step, s = sample std)

A folder without eval.csv stands for its sub-folders that have one (``runs/<name>`` ->
``runs/<name>/seed*``). The x axis is agent steps (``--x frames`` for simulator frames). E.g.

  python train.py plot runs/ncap_swim_ppo runs/mlp_swim_ppo --out curves.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors
from trainer.curves import expand_runs, group_curves, plot_curves


@one_line_errors
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python train.py plot", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (or their parents)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--group-by", default="name", help="config key to group runs by (name)")
    parser.add_argument("--x", choices=("step", "frames"), default="step", help="x axis (step)")
    parser.add_argument("--title", default="", help="plot title")
    args = parser.parse_args(argv)
    groups = group_curves(expand_runs(args.runs), args.group_by, args.x)
    summary = plot_curves(groups, args.out, args.x, args.title)
    print(f"| {args.group_by} | runs | final return (mean ± 95% CI) |\n|---|---|---|")
    for name, n, mean, half in summary:
        print(f"| {name} | {n} | {mean:.1f} ± {half:.1f} |")
    print(f"wrote {args.out}")
    return 0
