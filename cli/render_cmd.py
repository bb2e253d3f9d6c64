"""``python train.py render <RUN_DIR | CKPT.pt | CONFIG.yaml> --out rollout.mp4 [options]``.

Writes an MP4 (and with --gif a GIF beside it) of one deterministic rollout, headless, seen by
the swimmer's tracking camera (``tracking1``), e.g.

  python train.py render runs/ncap_swim_ppo/seed0 --out /tmp/x.mp4 --joints 7 --steps 100
  python train.py render configs/ncap_swim_ppo.yaml --out swim.mp4 --text --activity --gif

One frame per control step (0.03 s; --fps 30 is about real time), showing the body after that
step's action. --text writes the step and the return so far; --activity adds a side panel with
the circuit's live activity (oscillator, B-neurons, muscles, torque per joint; NCAP policies
only); --activity-png also saves the rollout's activity heatmaps and the circuit diagram.
Profiles: fast (default; no multisampling, shadows or reflections) or standard (dm_control's
default visuals). Prints the GL backend, the GL renderer and the frames/s; if no backend works it
says what to install or set (MUJOCO_GL=egl needs libegl1; MUJOCO_GL=osmesa
PYOPENGL_PLATFORM=osmesa needs libosmesa6).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors
from configs.loader import ConfigError

CAMERA = "tracking1"


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> ``(width, height)``; both even (H.264 needs even sizes)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240 (got '{text}')") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size needs even width and height >= 16 (got {text})")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python train.py render", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    parser.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    parser.add_argument("--joints", type=int, default=None,
                        help="render on a swimmer with this many joints (default: the policy's)")
    parser.add_argument("--steps", type=int, default=300, help="control steps = frames (300)")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="WxH (320x240)")
    parser.add_argument("--fps", type=int, default=30, help="video frames per second (30)")
    parser.add_argument("--seed", type=int, default=None,
                        help="episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--text", action="store_true", help="write step and return on frames")
    parser.add_argument("--profile", choices=("fast", "standard"), default="fast",
                        help="render profile (default fast)")
    parser.add_argument("--activity", action="store_true",
                        help="side panel with the circuit's live activity (NCAP only)")
    parser.add_argument("--activity-png", type=Path, default=None,
                        help="also write activity heatmaps + circuit diagram to this PNG")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    return parser


@one_line_errors
def main(argv: list[str]) -> int:
    from envs.render import gl_info  # first: importing envs checks MUJOCO_GL before mujoco loads

    import imageio.v2 as imageio
    import numpy as np

    from circuits.plots import activity_figure, weight_caption
    from cli.frames import FrameRenderer, activity_panel, draw_text
    from cli.rollout import Rollout, circuit_of, rollout_steps
    from trainer.api import load_policy

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps < 1 or args.fps < 1:
        parser.error("--steps and --fps must be >= 1")
    if args.out.suffix.lower() != ".mp4":
        parser.error(f"--out must be an .mp4 file (got {args.out})")
    info = gl_info()  # one-line error with the fix when no GL backend works
    overrides = args.overrides + ([f"env.n_joints={args.joints}"] if args.joints else [])
    cfg, agent, env = load_policy(args.target, overrides)
    if cfg.env.id != "swim":
        raise ConfigError(f"render follows the swimmer's tracking camera; env.id is "
                          f"'{cfg.env.id}', not 'swim'")
    circuit = circuit_of(agent)
    if (args.activity or args.activity_png) and circuit is None:
        raise ConfigError("--activity/--activity-png need an NCAP circuit policy "
                          f"(this one's actor is {type(agent.actor).__name__})")
    width, height = args.size
    seed = cfg.seed + cfg.trainer.eval_seed_offset if args.seed is None else args.seed
    renderer = FrameRenderer(env.physics, height, width, CAMERA, args.profile)
    caption = weight_caption(circuit) if circuit is not None else ""
    panel_width = 2 * (int(height * 0.9) // 2)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    gif_path = args.out.with_suffix(".gif")
    writers = [imageio.get_writer(args.out, fps=args.fps, macro_block_size=2)]
    if args.gif:
        writers.append(imageio.get_writer(gif_path, mode="I", duration=1000 / args.fps, loop=0))
    recorded = []
    render_seconds, t0 = 0.0, time.perf_counter()
    try:
        for step in rollout_steps(agent, env, seed, args.steps):
            recorded.append(step)
            t_render = time.perf_counter()
            frame = renderer.render()
            render_seconds += time.perf_counter() - t_render
            if args.text:
                frame = draw_text(frame, [f"step {step.k}/{args.steps}  N={cfg.env.n_joints}",
                                          f"return {step.episode_return:.1f}"])
            if args.activity:
                panel = activity_panel(step.activity, height, panel_width, caption)
                frame = np.concatenate([frame, panel], axis=1)
            for w in writers:
                w.append_data(frame)
    finally:
        for w in writers:
            w.close()
        renderer.close()
    seconds = time.perf_counter() - t0
    n = len(recorded)
    print(f"render: MUJOCO_GL={info['backend']}, GL renderer '{info['renderer']}', profile "
          f"{args.profile} {width}x{height}: {n / render_seconds:.0f} renders/s "
          f"({n / seconds:.0f} frames/s end to end incl. physics, policy, overlays, encoding)")
    print(f"wrote {n} frames, return {recorded[-1].episode_return:.1f}: {args.out}"
          + (f" and {gif_path}" if args.gif else ""))
    if args.activity_png:
        rollout = Rollout.from_steps(recorded, float(env.dm_env.control_timestep()))
        activity_figure(rollout, circuit, args.activity_png,
                        title=f"{cfg.name}, N={cfg.env.n_joints}, seed {seed}")
        print(f"wrote activity picture: {args.activity_png}")
    return 0
