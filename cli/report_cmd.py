"""``python train.py report <FOLDER>``: aggregate the run folders under FOLDER into a report.

Writes FOLDER/report.md, report.json, learning_curves.png (and transfer.png when run folders
hold transfer.csv): per config (runs whose config.yaml differ only by seed, wherever they are
under FOLDER, labelled by name and every key that differs: the groups `plot` draws), the final
and best evaluation return as mean, median and IQM with a 95% bootstrap
confidence interval, failed runs with their errors, and learning curves with confidence bands.
E.g. ``python train.py report runs/sweeps/lr``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli import count
from cli.errors import ArgumentParser, one_line_errors
from configs.errors import no_run_folder
from trainer.analysis.report import write_report


@one_line_errors
def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python train.py report", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a sweep folder or a folder of run folders")
    args = parser.parse_args(argv)
    if not Path(args.folder).exists():
        raise no_run_folder(args.folder)
    data = write_report(args.folder)
    runs = sum(len(g["runs"]) for g in data["configs"].values())
    print(f"report: {args.folder}/report.md ({count(runs, 'run')} in "
          f"{count(len(data['configs']), 'config')})")
    return 0
