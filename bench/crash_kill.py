#!/usr/bin/env python
"""SIGKILL campaign: kill training processes at random points, resume, compare bit for bit.

For each case (a PPO state run, a tiny DrQ-v2 pixel run) the same ``python train.py ...``
command runs twice: once uninterrupted (the reference) and once killed with SIGKILL again and
again, each time restarted with the same command, until the kill budget is spent, then left to
finish. Kills cycle through three triggers (3 of every 5 at a random step):

* ``random step``: once the process has logged a row at or past a step drawn uniformly from the
  two checkpoint intervals after its resume point, plus a random delay of up to one logging
  interval (mid-segment, in an update, an evaluation, a log or checkpoint write: wherever it
  lands). Kill points spread over the whole run and every attempt makes progress;
* ``checkpoint write``: once the process trains (a row past its resume point), the first moment
  a ``checkpoints/*.tmp`` file exists (polled every 0.2 ms), i.e. while a checkpoint is written;
* ``start-up``: a delay drawn uniformly from the start-up time (imports, lock, loading the
  checkpoint, restoring, repairing the logs).

After every kill the script records where it landed: the last logged step, whether a checkpoint
write was cut (a ``*.tmp`` in ``checkpoints/`` written by this attempt), whether a CSV row was cut
(an incomplete last line). At the end the crashed run must equal the reference: every tensor and
counter of ``last.pt`` and ``best.pt`` (agent with optimisers and replay, env state, RNGs; timing
counters excluded), and ``metrics.csv`` / ``eval.csv`` row for row without the timing columns.
Prints a table and writes ``bench/results/crash_kill.{json,md}``.

    nice -n 15 python bench/crash_kill.py --ppo-kills 20 --pixel-kills 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.files import read_csv_rows  # noqa: E402
from bench.outputs import beside  # noqa: E402

TIMING = {"steps_per_second", "train_seconds", "seconds", "window_seconds"}
PPO = ["configs/ncap_swim_ppo.yaml", "steps=12000", "agent.segment=512", "agent.iterations=4",
       "agent.critic_hidden=[32,32]", "trainer.eval_every=2000", "trainer.eval_episodes=1",
       "trainer.log_every=250", "trainer.checkpoint_every=1000", "trainer.progress=false",
       "trainer.tensorboard=false"]
PIXEL = ["configs/drqv2_tiny.yaml", "steps=1600", "env.pixels.size=32", "agent.batch_size=16",
         "agent.replay_capacity=4000", "agent.explore_steps=100", "agent.seed_frames=200",
         "trainer.eval_every=500", "trainer.eval_episodes=1", "trainer.log_every=100",
         "trainer.checkpoint_every=200", "trainer.progress=false", "trainer.tensorboard=false"]


def command(args: list[str], run_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *args, f"run_dir={run_dir}"]


def differences(a, b, path: str = "") -> list[str]:
    """Paths where two checkpoint trees differ (timing counters and the run folder ignored)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in one" for k in a.keys() ^ b.keys()]
        for k in a.keys() & b.keys():
            if k not in TIMING and k != "run_dir":
                out += differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return [] if a.shape == b.shape and torch.equal(a, b) else [path]
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return [] if np.array_equal(a, b) else [path]
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return []
    return [] if type(a) is type(b) and a == b else [path]


def csv_rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_csv_rows(path)[1]]


def tmp_files(run: Path) -> set[str]:
    return {p.name for p in run.glob("checkpoints/*.tmp")}


def partial_csv_lines(run: Path) -> list[str]:
    return [name for name in ("metrics.csv", "eval.csv")
            if (run / name).exists() and (run / name).stat().st_size
            and not (run / name).read_bytes().endswith(b"\n")]


def logged_step(run: Path) -> int:
    rows = read_csv_rows(run / "metrics.csv")[1]
    return int(float(rows[-1]["step"])) if rows else -1


class Attempt:
    """Whether a restarted process has begun training: it has replaced ``metrics.csv`` (the log
    repair on resume writes a new file; a fresh run removes it first) and logged a row past its
    resume point. Rows an earlier attempt logged past that point do not count."""

    def __init__(self, run: Path, resume: int):
        self.path, self.resume = run / "metrics.csv", resume
        self.inode = self._inode()
        self.seen_missing = False
        self.started = False

    def _inode(self) -> int | None:
        try:
            return self.path.stat().st_ino
        except FileNotFoundError:
            return None

    def poll(self) -> bool:
        if not self.started:
            inode = self._inode()
            self.seen_missing |= inode is None
            self.started = (inode is not None and (inode != self.inode or self.seen_missing)
                            and logged_step(self.path.parent) > self.resume)
        return self.started


def kill_when(proc: subprocess.Popen, attempt: Attempt, trigger: str, target: int,
              delay: float) -> str:
    """SIGKILL ``proc`` at the trigger; returns ``killed`` or ``finished`` (ended before it)."""
    run = attempt.path.parent
    start = time.perf_counter()
    armed_at = None
    while proc.poll() is None:
        now = time.perf_counter()
        if trigger == "start-up":
            attempt.poll()
            if now - start >= delay:
                break
            time.sleep(0.005)
        elif trigger == "random step":
            if armed_at is None and attempt.poll() and logged_step(run) >= target:
                armed_at = now
            if armed_at is not None and now - armed_at >= delay:
                break
            time.sleep(0.002)
        else:
            if armed_at is None and attempt.poll():
                armed_at = now
            if armed_at is not None and tmp_files(run):
                break
            time.sleep(0.0002 if armed_at else 0.002)
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "killed"


def campaign(name: str, args: list[str], kills: int, out: Path, rng: random.Random) -> dict:
    ref, run = out / f"{name}_reference", out / f"{name}_killed"
    t0 = time.perf_counter()
    done = subprocess.run(command(args, ref), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} reference run failed: {done.stderr.strip()[-300:]}")
    reference_seconds = time.perf_counter() - t0
    startup = startup_seconds(args, out / f"{name}_startup")
    log: list[dict] = []
    errors: list[str] = []
    steps = int(next(a for a in args if a.startswith("steps=")).split("=")[1])
    interval = {k: int(next(a for a in args if a.startswith(f"trainer.{k}=")).split("=")[1])
                for k in ("checkpoint_every", "log_every")}
    log_seconds = reference_seconds / steps * interval["log_every"]
    t0 = time.perf_counter()
    while len(log) < kills:
        trigger = {1: "checkpoint write", 3: "start-up"}.get(len(log) % 5, "random step")
        last = run / "checkpoints" / "last.pt"
        resume = load_checkpoint(last)["step"] if last.exists() else 0
        target = rng.randint(resume + 1, max(resume + 1, min(
            steps - interval["log_every"], resume + 2 * interval["checkpoint_every"])))
        delay = rng.uniform(0, startup) if trigger == "start-up" else rng.uniform(0, log_seconds)
        before = tmp_files(run)
        attempt = Attempt(run, resume)
        stderr = out / f"{name}_stderr.txt"
        with stderr.open("w") as err:
            proc = subprocess.Popen(command(args, run), cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=err)
            outcome = kill_when(proc, attempt, trigger, target, delay)
        if outcome == "finished":
            if proc.returncode != 0:
                errors.append(stderr.read_text().strip()[-300:])
            break
        reached = logged_step(run)
        log.append({"trigger": trigger, "resumed_from": resume,
                    "target": target if trigger == "random step" else None,
                    "logged_step_at_kill": reached,
                    "phase": "training" if attempt.poll() else "start-up",
                    "cut_checkpoint_write": sorted(tmp_files(run) if attempt.started
                                                   else tmp_files(run) - before),
                    "cut_csv_row": partial_csv_lines(run)})
    final = subprocess.run(command(args, run), cwd=ROOT, capture_output=True, text=True)
    if final.returncode != 0:
        errors.append(final.stderr.strip()[-300:])
    crashed_seconds = time.perf_counter() - t0
    diffs = []
    for ckpt in ("last.pt", "best.pt"):
        a, b = (load_checkpoint(p / "checkpoints" / ckpt) for p in (ref, run))
        diffs += [f"{ckpt}{d}" for d in differences(a, b)]
    for table in ("metrics.csv", "eval.csv"):
        ra, rb = csv_rows(ref / table), csv_rows(run / table)
        if ra != rb:
            diffs.append(f"{table}: {len(ra)} vs {len(rb)} rows, first difference at row "
                         f"{next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), min(len(ra), len(rb)))}")
    return {"case": name, "command": "python train.py " + " ".join(args), "kills": len(log),
            "kills_by_trigger": {t: sum(e["trigger"] == t for e in log)
                                 for t in ("random step", "checkpoint write", "start-up")},
            "kills_in_training": sum(e["phase"] == "training" for e in log),
            "kills_cutting_a_checkpoint_write": sum(bool(e["cut_checkpoint_write"]) for e in log),
            "kills_cutting_a_csv_row": sum(bool(e["cut_csv_row"]) for e in log),
            "resume_errors": errors, "differences": diffs[:20],
            "identical": not diffs and not errors,
            "metrics_rows": len(csv_rows(ref / "metrics.csv")),
            "eval_rows": len(csv_rows(ref / "eval.csv")),
            "startup_seconds": round(startup, 1), "reference_seconds": round(reference_seconds, 1),
            "crashed_seconds": round(crashed_seconds, 1), "kill_log": log}


def markdown(results: list[dict]) -> str:
    lines = ["| case | kills | random step / checkpoint write / start-up | landed in training | "
             "cut a checkpoint write | cut a CSV row | resume errors | differences vs "
             "uninterrupted |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        k = r["kills_by_trigger"]
        lines.append(f"| {r['case']} | {r['kills']} | {k['random step']} / "
                     f"{k['checkpoint write']} / {k['start-up']} | {r['kills_in_training']} | "
                     f"{r['kills_cutting_a_checkpoint_write']} | {r['kills_cutting_a_csv_row']} "
                     f"| {len(r['resume_errors'])} | {len(r['differences'])} |")
    return "\n".join(lines) + "\n"


def startup_seconds(args: list[str], run: Path) -> float:
    """Seconds from process start to its first metrics row (a run of one logging interval)."""
    short = [a for a in args if not a.startswith("steps=")] + ["steps=1"]
    t0 = time.perf_counter()
    subprocess.run(command(short, run), cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ppo-kills", type=int, default=20)
    parser.add_argument("--pixel-kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--work", type=Path, default=Path("/tmp/crash_kill"),
                        help="folder for the run folders (emptied first)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crash_kill")
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    rng = random.Random(args.seed)
    results = []
    if args.ppo_kills:
        results.append(campaign("ppo", PPO, args.ppo_kills, args.work, rng))
    if args.pixel_kills:
        results.append(campaign("pixel", PIXEL, args.pixel_kills, args.work, rng))
    table = markdown(results)
    print(table)
    for r in results:
        print(f"{r['case']}: {r['command']}\n  reference {r['reference_seconds']} s, crashed run "
              f"{r['crashed_seconds']} s; errors {r['resume_errors']}; differences "
              f"{r['differences']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    beside(args.out, ".json").write_text(json.dumps(results, indent=2) + "\n")
    beside(args.out, ".md").write_text(table)


if __name__ == "__main__":
    main()
