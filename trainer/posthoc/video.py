"""Videos of deterministic rollouts of any run: a camera view, what a pixel agent sees, text and
the circuit's live activity, written as MP4 (and GIF).

One frame per agent step, drawn after the step's action by ``envs.render.Renderer`` (the same
renderer the pixel observations use) from the task's own camera (``envs.pixels.default_camera``:
swim ``tracking1``, quadruped 2, else 0) or the one asked for. Panels, left to right:

* the camera view, ``width x height``;
* ``agent_view`` (pixel agents): the newest image of the agent's own observation (its size,
  profile and camera), upscaled to ``height x height`` by pixel repetition (nearest neighbour);
* ``activity`` (NCAP policies): ``circuits.panel.activity_panel``, ``0.9 height`` wide; for the
  quadruped's circuit ``circuits.quadruped_panel.quadruped_panel`` (captioned with its drive
  and period when no caption is given).

``text`` writes the step and the return so far on the camera view. Every check (camera, panels
the policy cannot show) runs before a file is opened, so a refused request writes nothing.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from circuits.panel import activity_panel
from circuits.quadruped_panel import quadruped_caption, quadruped_panel
from configs.loader import ConfigError
from envs.pixels import PixelEnv
from envs.render import Renderer
from trainer.files import check_writable, replacing
from trainer.rollout import Step, agent_rollout, circuit_of, spinal_of


def draw_text(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """``frame`` with ``lines`` written top-left on a translucent dark box."""
    img = Image.fromarray(frame).convert("RGBA")
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(10, frame.shape[0] // 20)
    font = ImageFont.load_default(size=size)
    width = max(draw.textlength(line, font=font) for line in lines)
    draw.rectangle([4, 4, 12 + width, 8 + len(lines) * (size + 3)], fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        draw.text((8, 6 + i * (size + 3)), line, fill=(255, 255, 255, 255), font=font)
    return np.asarray(Image.alpha_composite(img, layer).convert("RGB"))


def agent_view(obs: np.ndarray, height: int) -> np.ndarray:
    """The newest RGB image of a channel-first frame stack ``(3 m, H, W)``, upscaled to
    ``height x height`` by nearest neighbour."""
    image = np.ascontiguousarray(obs[-3:].transpose(1, 2, 0))
    return np.asarray(Image.fromarray(image).resize((height, height), Image.NEAREST))


@dataclass
class Video:
    """What ``write_video`` wrote: paths, frame count, the rollout's return and its speed."""

    paths: list[Path]
    frames: int
    episode_return: float
    renders_per_second: float
    frames_per_second: float
    steps: list[Step] = field(repr=False)


def write_video(agent, env, out: str | Path, seed: int, steps: int, *, label: str = "",
                size: tuple[int, int] = (320, 240), fps: int = 30, camera: int | str = 0,
                profile: str = "fast", text: bool = False, activity: bool = False,
                show_agent_view: bool = False, caption: str = "", gif: bool = False) -> Video:
    """Roll out ``agent`` on ``env`` (episode seed ``seed``, at most ``steps`` agent steps) and
    write ``out`` (.mp4, or .gif) and, with ``gif``, the GIF beside the MP4 (module docstring).

    ``size`` is ``(width, height)`` of the camera view (even numbers, for H.264); ``label``
    starts the text line; ``caption`` is written under the activity panel.
    """
    out = Path(out)
    width, height = size
    spinal = spinal_of(agent)
    if activity and circuit_of(agent) is None and spinal is None:
        raise ConfigError("activity panels need an NCAP circuit policy "
                          f"(this one's actor is {type(getattr(agent, 'actor', agent)).__name__})")
    panel = activity_panel if spinal is None else quadruped_panel
    if spinal is not None and not caption:
        caption = quadruped_caption(spinal)
    if show_agent_view and not isinstance(env, PixelEnv):
        raise ConfigError("the agent view needs a pixel agent (this run's env.pixels is not set: "
                          "its policy reads states, not images)")
    gif_only = out.suffix.lower() == ".gif"
    paths = [out] + ([out.with_suffix(".gif")] if gif and not gif_only else [])
    for path in paths:
        check_writable(path)  # a read-only folder names the file, not ffmpeg's broken pipe
    renderer = Renderer(env.physics, height, width, camera, profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel_width = 2 * (int(height * 0.9) // 2)
    with contextlib.ExitStack() as outputs:  # temporary names, moved over paths at the end
        tmps = [outputs.enter_context(replacing(path)) for path in paths]
        writers = [imageio.get_writer(path, mode="I", duration=1000 / fps, loop=0)
                   if path.suffix.lower() == ".gif" else
                   imageio.get_writer(path, fps=fps, macro_block_size=2) for path in tmps]
        recorded: list[Step] = []
        render_seconds, t0 = 0.0, time.perf_counter()
        try:
            for step in agent_rollout(agent, env, seed, steps):
                recorded.append(step)
                t_render = time.perf_counter()
                frame = renderer()
                render_seconds += time.perf_counter() - t_render
                if text:
                    frame = draw_text(frame, [f"step {step.k}/{steps}  {label}".rstrip(),
                                              f"return {step.episode_return:.1f}"])
                parts = [frame]
                if show_agent_view:
                    parts.append(agent_view(step.next_obs, height))
                if activity:
                    parts.append(panel(step.activity, height, panel_width, caption))
                frame = np.concatenate(parts, axis=1) if len(parts) > 1 else frame
                for w in writers:
                    w.append_data(frame)
        finally:
            for w in writers:
                w.close()
            renderer.close()
    n = len(recorded)
    return Video(paths=paths, frames=n, episode_return=recorded[-1].episode_return,
                 renders_per_second=n / render_seconds,
                 frames_per_second=n / (time.perf_counter() - t0), steps=recorded)
