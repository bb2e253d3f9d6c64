"""``python train.py render <RUN_DIR | CKPT.pt | CONFIG.yaml> --out rollout.mp4 [options]``.

Writes an MP4 (and with --gif a GIF beside it; --out x.gif writes only the GIF) of one
deterministic rollout of any run (swim or
any dm_control task, any agent), headless, seen by the task's own camera (swim: tracking1,
quadruped: 2, else 0; --camera picks another by index or name), e.g.

  python train.py render runs/ncap_swim_ppo/seed0 --out /tmp/x.mp4 --joints 7 --steps 100
  python train.py render configs/ncap_swim_ppo.yaml --out swim.mp4 --text --activity --gif
  python train.py render runs/drqv2_cheetah_run/seed1 --out cheetah.mp4 --agent-view

One frame per agent step, showing the body after that step's action. --text writes the step, the
return so far and the body (N or the task, and every body parameter changed from its default); --agent-view (pixel agents) adds what the agent sees, its own images upscaled;
--activity adds a side panel with the circuit's live activity (oscillator, B-neurons, muscles,
torque per joint; NCAP policies only); --activity-png also saves the rollout's activity heatmaps
and the circuit diagram. Profiles: fast (default; no multisampling, shadows or reflections) or
standard (dm_control's default visuals). Prints the GL backend, the GL renderer and the
frames/s; if no backend works it says what to install or set (MUJOCO_GL=egl needs libegl1;
MUJOCO_GL=osmesa PYOPENGL_PLATFORM=osmesa needs libosmesa6).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.errors import ArgumentParser, one_line_errors, seed_arg
from configs.loader import ConfigError
from configs.plugins import TRUST_FLAG, TRUST_HELP


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> ``(width, height)``; both even (H.264 needs even sizes)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240 (got '{text}')") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size needs even width and height >= 16 (got {text})")
    return w, h


def parse_camera(text: str) -> int | str:
    """A camera index (``2``) or name (``tracking1``)."""
    return int(text) if text.lstrip("-").isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python train.py render", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, checkpoint .pt or config YAML (untrained)")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    parser.add_argument("--out", type=Path, required=True, help="output video (.mp4 or .gif)")
    parser.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    parser.add_argument("--joints", type=int, default=None,
                        help="swim only: render on a swimmer with this many joints")
    parser.add_argument("--steps", type=int, default=300, help="agent steps = frames (300)")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="WxH (320x240)")
    parser.add_argument("--fps", type=int, default=30, help="video frames per second (30)")
    parser.add_argument("--camera", type=parse_camera, default=None,
                        help="camera index or name (default: the task's own)")
    parser.add_argument("--seed", type=seed_arg, default=None,
                        help="episode seed (default: run seed + trainer.eval_seed_offset)")
    parser.add_argument("--text", action="store_true", help="write step, return and body on frames")
    parser.add_argument("--profile", choices=("fast", "standard"), default="fast",
                        help="render profile of the camera view (default fast)")
    parser.add_argument("--agent-view", action="store_true",
                        help="pixel agents: show the agent's own images beside the camera view")
    parser.add_argument("--activity", action="store_true",
                        help="side panel with the circuit's live activity (NCAP only)")
    parser.add_argument("--activity-png", type=Path, default=None,
                        help="also write activity heatmaps + circuit diagram to this PNG")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    return parser


def body_label(env_cfg) -> str:
    """The body on ``--text``'s line: the swimmer's ``N=<joints>`` or the dm_control task, then
    every body parameter that differs from its default (``configs.schema``), e.g.
    ``N=5 length_scale=1.5`` or ``dmc:cheetah-run length=1.2 mass=2``."""
    from configs.schema import BodyConfig, EnvConfig

    if env_cfg.id == "swim":
        changed = {k: getattr(env_cfg, k) for k in ("length_scale", "density", "viscosity")
                   if getattr(env_cfg, k) != EnvConfig.model_fields[k].default}
        head = f"N={env_cfg.n_joints}"
    else:
        changed = {k: v for k, v in env_cfg.body.model_dump().items()
                   if v != BodyConfig.model_fields[k].default}
        head = env_cfg.id
    return " ".join([head, *(f"{k}={v:g}" for k, v in changed.items())])


@one_line_errors
def main(argv: list[str]) -> int:
    from envs.render import gl_info  # first: importing envs checks MUJOCO_GL before mujoco loads

    from circuits.plots import activity_figure, weight_caption
    from envs.pixels import default_camera
    from trainer.api import load_policy, load_run_config
    from trainer.files import check_writable
    from trainer.rollout import Rollout, circuit_of
    from trainer.posthoc.video import write_video

    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    if args.steps < 1 or args.fps < 1:
        parser.error("--steps and --fps must be >= 1")
    if args.out.suffix.lower() not in (".mp4", ".gif"):
        parser.error(f"--out must be an .mp4 or .gif file (got {args.out})")
    for path in [args.out, args.out.with_suffix(".gif")][:1 + args.gif] + \
            [args.activity_png] * bool(args.activity_png):
        check_writable(path)
    info = gl_info()  # one-line error with the fix when no GL backend works
    if args.joints:
        env_id = load_run_config(args.target, args.overrides, args.trust_plugins)[0].env.id
        if env_id != "swim":
            raise ConfigError(f"--joints applies to the swim task; this run's env.id is '{env_id}'")
    overrides = args.overrides + ([f"env.n_joints={args.joints}"] if args.joints else [])
    cfg, agent, env = load_policy(args.target, overrides, trust_plugins=args.trust_plugins)
    circuit = circuit_of(agent)
    if args.activity_png and circuit is None:
        raise ConfigError("--activity-png needs an NCAP circuit policy "
                          f"(this one's actor is {type(agent.actor).__name__})")
    seed = cfg.seed + cfg.trainer.eval_seed_offset if args.seed is None else args.seed
    camera = default_camera(cfg.env.id) if args.camera is None else args.camera
    video = write_video(agent, env, args.out, seed, args.steps, size=args.size, fps=args.fps,
                        camera=camera, profile=args.profile, text=args.text,
                        activity=args.activity, show_agent_view=args.agent_view, gif=args.gif,
                        label=body_label(cfg.env),
                        caption=weight_caption(circuit) if circuit is not None else "")
    width, height = args.size
    print(f"render: MUJOCO_GL={info['backend']}, GL renderer '{info['renderer']}', profile "
          f"{args.profile} {width}x{height}: {video.renders_per_second:.0f} renders/s "
          f"({video.frames_per_second:.0f} frames/s end to end incl. physics, policy, overlays, "
          "encoding)")
    print(f"wrote {video.frames} frames, return {video.episode_return:.1f}: "
          + " and ".join(map(str, video.paths)))
    if args.activity_png:
        rollout = Rollout.from_steps(video.steps, float(env.dm_env.control_timestep()))
        activity_figure(rollout, circuit, args.activity_png,
                        title=f"{cfg.name}, N={cfg.env.n_joints}, seed {seed}")
        print(f"wrote activity picture: {args.activity_png}")
    return 0
