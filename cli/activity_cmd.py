"""``python train.py activity <RUN_DIR | CKPT.pt | CONFIG.yaml> --out activity.png [options]``.

Runs one deterministic rollout of an NCAP policy and writes a PNG of the circuit's activity
(head oscillator; heatmaps of joint angle, B-neuron and muscle activity against time and joint
index, where the travelling wave is a diagonal band) beside a diagram of the circuit with its
weights and signs (see ``circuits.plots``); a quadruped-circuit policy (``ncap_quadruped``) gets
``circuits.quadruped_plots``'s picture instead. Needs no OpenGL. E.g.

  python train.py activity runs/ncap_swim_ppo/seed0 --out activity.png --joints 9 --steps 300
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors, seed_arg
from configs.loader import ConfigError


@one_line_errors
def main(argv: list[str]) -> int:
    from circuits.plots import activity_figure, weight_caption
    from trainer.rollout import circuit_of, record_rollout
    from configs.plugins import TRUST_FLAG, TRUST_HELP
    from trainer.api import load_policy
    from trainer.files import check_writable

    parser = ArgumentParser(prog="python train.py activity", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--joints", type=int, default=None,
                        help="swimmer with this many joints (default: the policy's)")
    parser.add_argument("--steps", type=int, default=300, help="control steps (300 = 9 s)")
    parser.add_argument("--seed", type=seed_arg, default=None,
                        help="episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2")
    check_writable(args.out)
    overrides = args.overrides + ([f"env.n_joints={args.joints}"] if args.joints else [])
    cfg, agent, env = load_policy(args.target, overrides, trust_plugins=args.trust_plugins)
    circuit = circuit_of(agent)
    if circuit is None and hasattr(getattr(agent, "actor", None), "spinal"):
        return quadruped_activity(cfg, agent, env, args)
    if circuit is None:
        raise ConfigError("activity pictures need an NCAP circuit policy "
                          f"(this one's actor is {type(agent.actor).__name__})")
    seed = cfg.seed + cfg.trainer.eval_seed_offset if args.seed is None else args.seed
    rollout = record_rollout(agent, env, seed, args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    activity_figure(rollout, circuit, args.out,
                    title=f"{cfg.name}, N={cfg.env.n_joints}, seed {seed}")
    print(f"weights: {weight_caption(circuit)}")
    print(f"wrote {args.out} ({len(rollout.rewards)} steps, return {rollout.rewards.sum():.1f})")
    return 0


def quadruped_activity(cfg, agent, env, args) -> int:
    """The quadruped circuit's picture (``circuits/quadruped_plots.py``)."""
    from circuits.quadruped_plots import quadruped_activity_figure, record_quadruped
    from trainer.rollout import agent_rollout

    seed = cfg.seed + cfg.trainer.eval_seed_offset if args.seed is None else args.seed
    record = record_quadruped(agent_rollout(agent, env, seed, args.steps), agent.actor,
                              float(env.dm_env.control_timestep()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    quadruped_activity_figure(record, agent.actor.spinal, args.out,
                              title=f"{cfg.name}, {cfg.env.id}, seed {seed}")
    print(f"wrote {args.out} ({len(record.rewards)} steps, return {record.rewards.sum():.1f})")
    return 0
