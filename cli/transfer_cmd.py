"""``python train.py transfer <RUN_DIR | CKPT.pt | CONFIG.yaml> [body lists] [options]``.

Evaluates one policy zero-shot on a grid of bodies of its own task (every combination of the
given lists; unset lists keep the policy's own body), beside the run's untrained policy and
uniform random actions on the same bodies and seeds. Writes transfer.csv, transfer.md and
transfer.png to the run folder (a config's untrained policy: runs/<name>/untrained; or --out)
and prints the table, e.g.

  python train.py transfer runs/ncap_swim_ppo/seed0 --joints 2 3 4 5 6 7 9 11 13 --episodes 5
  python train.py transfer runs/cheetah/seed0 --length 0.8 1 1.2 --mass 0.5 1 2 --episodes 5

Swim: --joints (default 2 3 4 5 6 7 9 11 13), --length-scale, --density, --viscosity. A policy
whose parameter shapes depend on N (MLP, unshared circuit) is refused for other N.
dm_control: multipliers --length, --mass, --gear, --damping, --friction (default grid: --length
0.8 1 1.2 --mass 0.5 1 2); a multiplier a domain does not define is refused.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli import count
from cli.errors import ArgumentParser, one_line_errors, seed_arg
from configs.loader import ConfigError
from configs.plugins import TRUST_FLAG, TRUST_HELP

DEFAULT_JOINTS = [2, 3, 4, 5, 6, 7, 9, 11, 13]
DEFAULT_DMC_GRID = {"length": [0.8, 1.0, 1.2], "mass": [0.5, 1.0, 2.0]}
# trainer.posthoc.transfer.write_outputs
OUTPUT_FILES = ("transfer.csv", "transfer.md", "transfer.png")
SWIM_OPTIONS = ("joints", "length_scale", "density", "viscosity")
DMC_OPTIONS = ("length", "mass", "gear", "damping", "friction")


def add_body_arguments(parser: argparse.ArgumentParser, joints_help: str) -> None:
    """The body lists of ``transfer`` (and ``gait``): swim ``--joints --length-scale --density
    --viscosity``, dm_control multipliers ``--length --mass --gear --damping --friction``."""
    swim = parser.add_argument_group("swim bodies")
    swim.add_argument("--joints", type=int, nargs="+", default=None, help=joints_help)
    swim.add_argument("--length-scale", type=float, nargs="+", default=None,
                      help="link length multipliers (default: the policy's own)")
    swim.add_argument("--density", type=float, nargs="+", default=None,
                      help="fluid densities (default: the policy's own; stock 3000)")
    swim.add_argument("--viscosity", type=float, nargs="+", default=None,
                      help="fluid viscosities (default: the policy's own; stock 0)")
    dmc = parser.add_argument_group("dm_control bodies (multipliers of the stock value)")
    for name, what in (("length", "limb length"), ("mass", "mass and inertia"),
                       ("gear", "actuator strength"), ("damping", "joint damping"),
                       ("friction", "contact friction")):
        dmc.add_argument(f"--{name}", type=float, nargs="+", default=None,
                         help=f"{what} multipliers")


def check_body_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (one line) a swimmer of fewer than 2 joints, a length scale <= 0, a negative
    density or viscosity; dm_control multipliers are checked by ``env.body``."""
    if args.joints and min(args.joints) < 2:
        parser.error(f"--joints: a swimmer has at least 2 joints (got {min(args.joints)})")
    for option in ("length_scale", "density", "viscosity"):  # dm_control: env.body checks
        values, positive = getattr(args, option) or [], option == "length_scale"
        bad = [v for v in values if v < 0 or (positive and v == 0)]
        if bad:
            parser.error(f"--{option.replace('_', '-')} must be {'> 0' if positive else '>= 0'} "
                         f"(got {bad[0]:g})")


def bodies_from_arguments(args: argparse.Namespace, cfg, default_joints: list[int] | None,
                          default_dmc: dict[str, list[float]] | None) -> tuple[list, str]:
    """``(bodies, trained_on)``: the grid of the given lists (unset lists keep the policy's own
    body; ``default_joints`` / ``default_dmc`` when nothing is given, None: the own body)."""
    from envs.bodies import body_grid, body_of, dmc_body_grid

    own = body_of(cfg.env)
    swim = cfg.env.id == "swim"
    given = [o for o in (DMC_OPTIONS if swim else SWIM_OPTIONS) if getattr(args, o) is not None]
    if given:
        raise ConfigError(f"--{given[0].replace('_', '-')} does not apply to env.id="
                          f"'{cfg.env.id}' (swim: --{', --'.join(SWIM_OPTIONS).replace('_', '-')}"
                          f"; dm_control: --{', --'.join(DMC_OPTIONS)})")
    if swim:
        bodies = body_grid(args.joints or default_joints or [own.n_joints],
                           args.length_scale or [own.length_scale],
                           args.density or [own.density], args.viscosity or [own.viscosity])
        return bodies, f"N={own.n_joints}"
    lists = {k: getattr(args, k) for k in DMC_OPTIONS if getattr(args, k) is not None}
    if not lists:
        lists = dict(default_dmc or {})
    bodies = dmc_body_grid(**{k: lists.get(k, [getattr(own, k)]) for k in DMC_OPTIONS})
    return bodies, ", ".join(f"{k} x{v:g}" for k, v in own.changed.items()) or "the stock body"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python train.py transfer", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    add_body_arguments(parser, f"joint counts N (default {' '.join(map(str, DEFAULT_JOINTS))})")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per body (default 5)")
    parser.add_argument("--seed", type=seed_arg, default=None,
                        help="first episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the run folder; runs/<name>/untrained "
                             "for a config)")
    parser.add_argument("--no-references", action="store_true",
                        help="skip the untrained-policy and random-action rows")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    return parser


@one_line_errors
def main(argv: list[str]) -> int:
    from trainer.api import load_run_config
    from trainer.files import check_writable
    from trainer.posthoc.transfer import (default_out_dir, markdown_table, transfer_rows,
                                          write_outputs)

    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    check_body_arguments(parser, args)
    cfg, _ = load_run_config(args.target, args.overrides, args.trust_plugins)
    bodies, trained_on = bodies_from_arguments(args, cfg, DEFAULT_JOINTS, DEFAULT_DMC_GRID)
    out = args.out or default_out_dir(args.target, cfg.name)
    for name in OUTPUT_FILES:
        check_writable(out / name)
    t0 = time.perf_counter()
    label, rows = transfer_rows(args.target, bodies, args.episodes, args.seed, args.overrides,
                                references=not args.no_references,
                                trust_plugins=args.trust_plugins)
    seconds = time.perf_counter() - t0
    paths = write_outputs(rows, out, f"{label} on {cfg.env.id} (trained on {trained_on}): "
                                     f"{args.target}")
    print(markdown_table(rows))
    policies = len(rows) // len(bodies)
    print(f"{count(len(bodies), 'body', 'bodies')} x {count(policies, 'policy row')} x "
          f"{count(args.episodes, 'episode')} in {seconds:.1f} s")
    for kind, path in paths.items():
        print(f"  {kind:<9} {path}")
    return 0
