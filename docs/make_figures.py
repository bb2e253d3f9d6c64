"""Render the figures the documentation shows, from tiny runs, through ``train.py`` itself::

    MUJOCO_GL=egl python docs/make_figures.py            # about 3 minutes on 2 CPU cores

Writes ``docs/figures/``:

* ``transfer.png``: ``transfer`` of the untrained NCAP circuit (``configs/ncap_swim_ppo.yaml``) on
  swimmers of 2, 3, 5, 7 and 9 joints, one episode each, beside uniform random actions;
* ``activity.png``: ``activity`` of the same circuit on a 7-joint body, 200 steps;
* ``rollout_frame.png``: the last frame of ``render --activity --text`` (7 joints, 60 steps);
* ``compare.png``: the forest plot of ``compare`` of a tiny experiment (NCAP with PPO,
  exploration σ 0.1 against σ 0.3, 3 seeds × 2,048 steps; Ray Tune runs the six trials);
* ``curves.png``: ``plot`` of the same experiment's run folders.

The runs are far too short to say anything about learning: the figures show what each command
draws, not a result (BENCHMARKS.md has the results). Temporary run folders go to a fresh
temporary folder (``--keep DIR`` to keep them there instead).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
PRESET = "configs/ncap_swim_ppo.yaml"  # relative to ROOT, as the figures' titles show it

EXPERIMENT = """\
# A tiny experiment for the documentation's figures (docs/make_figures.py): not a result.
name: docs_sigma
description: NCAP + PPO, exploration sigma 0.1 against 0.3, 3 seeds x 2,048 steps.
base: {preset}
run_dir: {run_dir}
overrides: [steps=2048, agent.segment=1024, trainer.eval_every=512, trainer.eval_episodes=1,
            trainer.progress=false, trainer.tensorboard=false, torch_threads=1]
arms:
  sigma0.1: []
  sigma0.3: [agent.actor.sigma=0.3]
control: sigma0.1
seeds: [0, 1, 2]
metrics:
  - final: 2
  - auc
"""


def train_py(*args: str) -> None:
    """Run ``python train.py ARGS`` in the repository root; stop on failure."""
    cmd = [sys.executable, str(ROOT / "train.py"), *args]
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    took = time.monotonic() - start
    print(f"[{took:5.1f} s] python train.py {' '.join(args)}", flush=True)
    if result.returncode != 0:
        print(result.stdout[-3000:], file=sys.stderr)
        raise SystemExit(f"error: python train.py {args[0]} failed (exit {result.returncode})")


def last_frame(video: Path, out: Path) -> None:
    """Save the last frame of an MP4 as a PNG."""
    import imageio.v2 as imageio

    frame = None
    with imageio.get_reader(video) as reader:
        for frame in reader:
            pass
    if frame is None:
        raise SystemExit(f"error: {video} has no frames")
    imageio.imwrite(out, frame)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the temporary run folders in this folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    FIGURES.mkdir(parents=True, exist_ok=True)
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bioembodied_figures_"))
    tmp.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        train_py("transfer", str(PRESET), "--joints", "2", "3", "5", "7", "9", "--episodes", "1",
                 "--out", str(tmp / "transfer"))
        shutil.copyfile(tmp / "transfer" / "transfer.png", FIGURES / "transfer.png")

        train_py("activity", str(PRESET), "--out", str(FIGURES / "activity.png"),
                 "--joints", "7", "--steps", "200")

        train_py("render", str(PRESET), "--out", str(tmp / "rollout.mp4"), "--joints", "7",
                 "--steps", "60", "--activity", "--text")
        last_frame(tmp / "rollout.mp4", FIGURES / "rollout_frame.png")

        spec = tmp / "docs_sigma.yaml"
        spec.write_text(EXPERIMENT.format(preset=ROOT / PRESET, run_dir=tmp / "experiment"))
        train_py("compare", str(spec), "--max-concurrent", "2")
        shutil.copyfile(tmp / "experiment" / "compare.png", FIGURES / "compare.png")

        train_py("plot", str(tmp / "experiment"), "--out", str(FIGURES / "curves.png"))
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"figures in {FIGURES.relative_to(ROOT)} ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
