"""``python train.py gait <RUN_DIR | CKPT.pt | CONFIG.yaml> [body lists] [options]``.

Measures how a policy's body moves on a grid of bodies of its task (the body lists of
``transfer``; unset lists keep the policy's own body): for a swimmer the undulation's period
and frequency, wavelength (body lengths and segments), amplitude, forward speed and slip, with a
curvature kymograph per body, beside the worm's frequency and wavelength against viscosity
(Fang-Yen et al. 2010); for a legged dm_control body (quadruped, walker, cheetah, hopper) stride
frequency, duty factor and phase offset per foot and speed, with a footfall diagram. Writes
gait.csv, gait.md and gait.png to the run folder (a config's untrained policy:
runs/<name>/untrained; or --out) and prints the table, e.g.

  python train.py gait configs/ncap_swim_ppo.yaml --viscosity 0 0.5 2 8 --episodes 5
  python train.py gait runs/quadruped/seed0 --mass 0.5 1 2 --steps 500

The rules are in trainer/posthoc/gait_swim.py and gait_legs.py. An episode without rhythm is
left out of its body's row and counted (column ``rhythmic``); no rhythmic episode on any body, a
rollout too short to show two cycles after the first, or a task with no gait reading stops the
command with one line (exit 2); nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli import count
from cli.errors import ArgumentParser, one_line_errors, seed_arg
from cli.transfer_cmd import add_body_arguments, bodies_from_arguments, check_body_arguments
from configs.plugins import TRUST_FLAG, TRUST_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python train.py gait", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    add_body_arguments(parser, "joint counts N (default: the policy's own)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per body (default 5)")
    parser.add_argument("--steps", type=int, default=600,
                        help="control steps per episode (default 600 = 18 s; >= 3 periods)")
    parser.add_argument("--seed", type=seed_arg, default=None,
                        help="first episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the run folder; runs/<name>/untrained "
                             "for a config)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    return parser


@one_line_errors
def main(argv: list[str]) -> int:
    from trainer.api import load_run_config
    from trainer.files import check_writable
    from trainer.posthoc.gait_output import OUTPUT_NAMES, markdown, write_outputs
    from trainer.posthoc.gait_rollout import gait_rows, gait_task
    from trainer.posthoc.transfer import default_out_dir

    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if args.steps < 6:
        parser.error(f"--steps must be >= 6 (three cycles of at least two steps; got {args.steps})")
    check_body_arguments(parser, args)
    cfg, _ = load_run_config(args.target, args.overrides, args.trust_plugins)
    gait_task(cfg.env.id)
    bodies, trained_on = bodies_from_arguments(args, cfg, None, None)
    out = args.out or default_out_dir(args.target, cfg.name)
    for name in OUTPUT_NAMES:
        check_writable(out / name)
    t0 = time.perf_counter()
    label, rows = gait_rows(args.target, bodies, args.episodes, args.steps, args.seed,
                            args.overrides, trust_plugins=args.trust_plugins)
    seconds = time.perf_counter() - t0
    title = f"{label} on {cfg.env.id} (trained on {trained_on}): {args.target}"
    paths = write_outputs(rows, out, title)
    print(markdown(rows, title))
    print(f"{count(len(bodies), 'body', 'bodies')} x {count(args.episodes, 'episode')} of "
          f"{args.steps} steps in {seconds:.1f} s")
    for kind, path in paths.items():
        print(f"  {kind:<9} {path}")
    return 0
