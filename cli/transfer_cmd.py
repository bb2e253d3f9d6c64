"""``python train.py transfer <RUN_DIR | CKPT.pt | CONFIG.yaml> [--joints N ...] [options]``.

Evaluates one policy zero-shot on a grid of swimmer bodies (every combination of --joints,
--length-scale, --density, --viscosity; unset physical lists keep the policy's own body), beside
the untrained default NCAP circuit and uniform random actions on the same bodies and seeds.
Writes transfer.csv, transfer.md and transfer.png to the run folder (a config's untrained policy:
runs/<name>/untrained; or --out) and prints the table, e.g.

  python train.py transfer runs/ncap_swim_ppo/seed0 --joints 2 3 4 5 6 7 9 11 13 --episodes 5

A policy whose parameter shapes depend on N (MLP, unshared circuit) is refused for other N.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors

DEFAULT_JOINTS = [2, 3, 4, 5, 6, 7, 9, 11, 13]


@one_line_errors
def main(argv: list[str]) -> int:
    from cli.transfer import default_out_dir, markdown_table, transfer_rows, write_outputs
    from envs.bodies import body_grid, body_of
    from trainer.api import load_run_config

    parser = ArgumentParser(prog="python train.py transfer", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument("--joints", type=int, nargs="+", default=DEFAULT_JOINTS,
                        help=f"joint counts N (default {' '.join(map(str, DEFAULT_JOINTS))})")
    parser.add_argument("--length-scale", type=float, nargs="+", default=None,
                        help="link length multipliers (default: the policy's own)")
    parser.add_argument("--density", type=float, nargs="+", default=None,
                        help="fluid densities (default: the policy's own; stock 3000)")
    parser.add_argument("--viscosity", type=float, nargs="+", default=None,
                        help="fluid viscosities (default: the policy's own; stock 0)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per body (default 5)")
    parser.add_argument("--seed", type=int, default=None,
                        help="first episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the run folder; runs/<name>/untrained "
                             "for a config)")
    parser.add_argument("--no-references", action="store_true",
                        help="skip the untrained-circuit and random-action rows")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if min(args.joints) < 2:
        parser.error(f"--joints: a swimmer has at least 2 joints (got {min(args.joints)})")

    cfg, _ = load_run_config(args.target, args.overrides)
    own = body_of(cfg.env)
    bodies = body_grid(args.joints, args.length_scale or [own.length_scale],
                       args.density or [own.density], args.viscosity or [own.viscosity])
    t0 = time.perf_counter()
    label, rows = transfer_rows(args.target, bodies, args.episodes, args.seed, args.overrides,
                                references=not args.no_references)
    seconds = time.perf_counter() - t0
    out = args.out or default_out_dir(args.target, cfg.name)
    paths = write_outputs(rows, out, f"{label} (trained on N={own.n_joints}): {args.target}")
    print(markdown_table(rows))
    print(f"{len(bodies)} bodies x {len(rows) // len(bodies)} policy rows x {args.episodes} "
          f"episodes in {seconds:.1f} s")
    for kind, path in paths.items():
        print(f"  {kind:<9} {path}")
    return 0
