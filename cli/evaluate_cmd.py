"""``python train.py evaluate <CONFIG.yaml | RUN_DIR | CKPT.pt> [--episodes N] [key=value ...]``.

Evaluates the policy deterministically (a config gives its untrained initial policy) on the
(possibly overridden) body and prints the mean and std of the return and the body it ran on
(swim: joints, length scale, medium; dm_control: the body multipliers that differ from 1), e.g.
zero-shot on another body:

  python train.py evaluate runs/ncap_swim_ppo/seed0 --episodes 3 n_joints=7
  python train.py evaluate runs/cheetah/seed0 env.body.mass=2
"""

from __future__ import annotations

import argparse
import json

from cli import count
from cli.errors import ArgumentParser, one_line_errors, seed_arg


@one_line_errors
def main(argv: list[str]) -> int:
    from envs.bodies import body_columns, body_of
    from configs.plugins import TRUST_FLAG, TRUST_HELP
    from trainer.api import load_policy
    from trainer.evaluation import evaluate

    parser = ArgumentParser(prog="python train.py evaluate", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="config YAML, run folder or checkpoint .pt")
    parser.add_argument("--episodes", type=int, default=5, help="episodes (default 5)")
    parser.add_argument("--seed", type=seed_arg, default=None,
                        help="first episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. n_joints=7")
    args = parser.parse_intermixed_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    cfg, agent, env = load_policy(args.target, args.overrides, trust_plugins=args.trust_plugins)
    seed = args.seed if args.seed is not None else cfg.seed + cfg.trainer.eval_seed_offset
    returns = evaluate(agent, env, args.episodes, seed, progress=not args.json)
    body = body_columns(body_of(cfg.env), env.physics)
    if cfg.env.id != "swim":
        body = {k: v for k, v in body.items() if v != 1.0}  # the multipliers that change it
    result = {"target": args.target, "env": cfg.env.id, "body": body, "episodes": args.episodes,
              "seed": seed, "mean_return": float(returns.mean()),
              "std_return": float(returns.std()), "returns": [float(r) for r in returns]}
    if args.json:
        print(json.dumps(result))
    else:
        where = ", ".join(f"{k}={v:g}" for k, v in body.items())
        print(f"{args.target} on {cfg.env.id}{f' ({where})' if where else ''}: "
              f"return {result['mean_return']:.1f} +- {result['std_return']:.1f} "
              f"over {count(args.episodes, 'episode')} (seed{'s' * (args.episodes > 1)} "
              f"{seed}{f'..{seed + args.episodes - 1}' if args.episodes > 1 else ''})")
    return 0
