"""Pixel env throughput: our ``standard`` and ``fast`` profiles vs dm_control's own pixel wrapper.

All three paths step the same task with action repeat 2 and render one ``size x size`` image per
agent step, as DrQ-v2 does (``pixels.Wrapper`` around an action-repeat loop). Throughput is
reported in agent steps/s and frames/s (= 2 x agent steps/s). Each path runs ``rounds`` times,
interleaved, and the median round is kept (the machine is shared).

    MUJOCO_GL=egl python bench/pixel_fps.py [--task cheetah-run] [--size 84] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from importlib.metadata import version
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from dm_control import suite  # noqa: E402
from dm_control.suite.wrappers import pixels  # noqa: E402

from configs.schema import EnvConfig, PixelConfig  # noqa: E402
from envs import make_env  # noqa: E402
from envs.render import doctor_line, gl_info  # noqa: E402

ACTION_REPEAT = 2
RESULTS = Path(__file__).resolve().parent / "results"


class ActionRepeat:
    """DrQ-v2's ``ActionRepeatWrapper`` (a dm_env), inside the pixel wrapper as in DrQ-v2."""

    def __init__(self, env, repeat: int):
        self._env, self._repeat = env, repeat
        self.physics = env.physics

    def step(self, action):
        reward = 0.0
        for _ in range(self._repeat):
            ts = self._env.step(action)
            reward += ts.reward or 0.0
            if ts.last():
                break
        return ts._replace(reward=reward)

    def reset(self):
        return self._env.reset()

    def observation_spec(self):
        return self._env.observation_spec()

    def action_spec(self):
        return self._env.action_spec()


class DMControlPixels:
    """The reference path: ``dm_control.suite.wrappers.pixels`` over an action-repeat wrapper
    (renders once per agent step, like DrQ-v2's ``dmc.make``)."""

    def __init__(self, task: str, size: int, seed: int):
        domain, name = task.split("-", 1)
        camera = 2 if domain == "quadruped" else 0
        env = ActionRepeat(suite.load(domain, name, task_kwargs={"random": seed}), ACTION_REPEAT)
        render_kwargs = {"height": size, "width": size, "camera_id": camera}
        self.env = pixels.Wrapper(env, pixels_only=True, render_kwargs=render_kwargs)
        self.env.reset()
        self.action_spec = self.env.action_spec()

    def step(self, action):
        ts = self.env.step(action)
        if ts.last():
            self.env.reset()
        return ts.observation["pixels"]


class Ours:
    def __init__(self, task: str, size: int, seed: int, profile: str):
        cfg = EnvConfig(id=f"dmc:{task}", pixels=PixelConfig(size=size, profile=profile,
                                                             action_repeat=ACTION_REPEAT))
        self.env = make_env(cfg, seed=seed)
        self.env.reset(seed=seed)

    def step(self, action):
        obs, _, terminated, truncated, _ = self.env.step(action)
        if terminated or truncated:
            self.env.reset()
        return obs


def time_steps(path, actions: np.ndarray) -> float:
    """Agent steps per second over ``actions``."""
    t0 = time.perf_counter()
    for a in actions:
        path.step(a)
    return len(actions) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="cheetah-run", help="dm_control <domain>-<task>")
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--steps", type=int, default=60,
                        help="agent steps per round on the slow paths (fast: 10x)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS), help="folder for pixel_fps.json/.md")
    args = parser.parse_args()

    info = gl_info()
    paths = {"dm_control pixels.Wrapper": DMControlPixels(args.task, args.size, args.seed),
             "ours, profile standard": Ours(args.task, args.size, args.seed, "standard"),
             "ours, profile fast": Ours(args.task, args.size, args.seed, "fast")}
    dim = paths["dm_control pixels.Wrapper"].action_spec.shape[0]
    rng = np.random.default_rng(args.seed)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for name, path in paths.items():  # warm-up: first renders create GL contexts
        time_steps(path, rng.uniform(-1, 1, (3, dim)))
    for _ in range(args.rounds):
        for name, path in paths.items():
            n = args.steps * (10 if "fast" in name else 1)
            rates[name].append(time_steps(path, rng.uniform(-1, 1, (n, dim))))

    base = statistics.median(rates["dm_control pixels.Wrapper"])
    rows = []
    for name, r in rates.items():
        steps = statistics.median(r)
        rows.append({"path": name, "agent_steps_per_s": steps,
                     "frames_per_s": steps * ACTION_REPEAT, "vs_dm_control": steps / base})
    header = (f"pixel env throughput: {args.task}, {args.size}x{args.size}, action repeat "
              f"{ACTION_REPEAT}, 1 render per agent step, median of {args.rounds} rounds")
    lines = [header, doctor_line(info).split(" (software")[0], "",
             "| path | agent steps/s | frames/s | vs dm_control |", "|---|---:|---:|---:|"]
    lines += [f"| {r['path']} | {r['agent_steps_per_s']:.1f} | {r['frames_per_s']:.1f} | "
              f"{r['vs_dm_control']:.2f}x |" for r in rows]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"task": args.task, "size": args.size, "action_repeat": ACTION_REPEAT,
            "rounds": args.rounds, "gl": info, "mujoco": mujoco.__version__,
            "dm_control": version("dm_control"), "cpu_count": os.cpu_count()}
    (out / "pixel_fps.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    (out / "pixel_fps.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
