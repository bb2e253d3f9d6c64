"""``python train.py represent <RUN_DIR> [--checkpoint NAME ...]``.

Representation metrics (effective rank, participation ratio, pairwise cosine, feature
variance, dormant units, linear-probe R^2 of qpos/qvel) of a run's checkpoints on its fixed
probe set; every periodic checkpoint and best.pt by default. Writes representation.csv to the
run folder and prints the table, e.g.

  python train.py represent runs/drqv2_cheetah_run/seed0 --checkpoint best last
"""

from __future__ import annotations

import argparse

from cli.errors import ArgumentParser, one_line_errors

COLUMNS = ("repr/srank", "repr/participation_ratio", "repr/pairwise_cos", "repr/feature_var",
           "repr/dormant_0.025", "repr/probe_r2_qpos", "repr/probe_r2_qvel")


@one_line_errors
def main(argv: list[str]) -> int:
    from configs.plugins import TRUST_FLAG, TRUST_HELP
    from trainer.posthoc.represent import measure, write_report

    parser = ArgumentParser(prog="python train.py represent", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run folder")
    parser.add_argument("--checkpoint", nargs="+", default=None,
                        help="checkpoints to measure: step_0000050000, best, last or file names "
                             "(default: every step_*.pt and best.pt)")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    args = parser.parse_args(argv)
    rows = measure(args.run_dir, args.checkpoint, trust_plugins=args.trust_plugins)
    path = write_report(args.run_dir, rows)
    print("| checkpoint | step | " + " | ".join(c[len("repr/"):] for c in COLUMNS) + " |")
    print("|" + "---|" * (len(COLUMNS) + 2))
    for row in rows:
        print(f"| {row['checkpoint']} | {row['step']} | "
              + " | ".join(f"{row[c]:.3g}" for c in COLUMNS) + " |")
    print(f"  representation.csv  {path}")
    return 0
