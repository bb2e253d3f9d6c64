"""The Ray Tune backend of ``train.py sweep``: one Tune trial per ``(grid point, seed)``.

Locally Ray is embedded (started for the sweep, one CPU per ``torch_threads`` of a trial, as many
trials at once as the cores allow); with an address it joins an existing cluster and ships this
repository as the job's working directory (the sweep folder must then be on storage every node
sees, e.g. NFS). Tune's own files go to ``<sweep>/ray/``; its console output is silenced and
replaced by ``SweepProgress``. Call ``trainer.sweep.ray_env.ray_environment`` before importing
this module.

Each trial runs ``trainer.sweep.trial.run_trial`` in a class ``Trainable``'s ``step``, which Ray
executes in the worker's main thread, where the trainer can install its SIGINT/SIGTERM
handlers. Actors are reused across trials, so a worker imports torch and MuJoCo once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import ray
from ray import tune
from ray.tune.experiment import Trial as TuneTrial
from tqdm import tqdm

from trainer.sweep.ray_env import local_cpus
from trainer.sweep.spec import Trial
from trainer.sweep.trial import run_trial
from trainer.sweep.record import read_record, write_record
from configs.loader import config_to_dict
from trainer.rundir import REPO_ROOT, RunDir

STOP_FILE = ".stop"
TUNE_DIR = "ray"
REFRESH_S = 2.0
# Shipped to a cluster as the working directory, minus these.
EXCLUDES = [".venv", ".git", "runs", "bench/results", "**/__pycache__", "*.pt"]


def connect(address: str | None) -> bool:
    """Start embedded Ray (``address`` None) or join a cluster; True if this call started Ray.

    Says so on stderr before and after, with the time it took: a fixed cost of every sweep
    (README, "Sweeps"), which would otherwise read as a hang before the first trial."""
    if ray.is_initialized():
        return False
    where = f"local, {local_cpus()} CPUs" if address is None else f"joining {address}"
    print(f"starting Ray ({where}) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    _init(address)
    print(f"Ray started in {time.perf_counter() - t0:.1f} s; each worker then imports torch and "
          "MuJoCo once before its first trial", file=sys.stderr, flush=True)
    return True


def _init(address: str | None) -> None:
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        # Workers Ray prestarts for a new driver never host Tune's trial actors; on a small
        # machine they only slow the start-up down (about 1 s of 4 on 2 cores).
        ray.init(num_cpus=local_cpus(), _system_config={"prestart_worker_first_driver": False},
                 **quiet)
    else:
        env_vars = {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
        ray.init(address=address, **quiet, runtime_env={
            "working_dir": str(REPO_ROOT), "excludes": EXCLUDES, "env_vars": env_vars})


class SweepTrainable(tune.Trainable):
    """A Tune trial that trains one run folder to completion in a single ``step``."""

    def setup(self, config: dict[str, Any]) -> None:
        self.trial = config["trial"]

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.trial = new_config["trial"]
        return True

    def step(self) -> dict[str, Any]:
        result = run_trial(self.trial["config"], self.trial["stop_file"])
        return {**result, "done": True}


def best_eval(run_dir: Path) -> float | None:
    """The best ``mean_return`` in a run folder's ``eval.csv`` so far."""
    _, values = RunDir(run_dir).eval_curve()
    finite = [float(v) for v in values if math.isfinite(v)]
    return max(finite) if finite else None


class SweepProgress(tune.Callback):
    """Live view: finished / running / failed trials and the best evaluation return so far.

    A progress bar on a terminal (refreshed every ``REFRESH_S``), and one line per finished
    trial on stdout. ``outcomes`` maps a trial's name to how it ended.
    """

    def __init__(self, total: int):
        self.total = total
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.running: dict[str, Path] = {}
        self.best: tuple[float, str] | None = None
        self.last_refresh = 0.0
        self.bar = tqdm(total=total, desc="sweep", unit="trial", file=sys.stderr,
                        disable=not sys.stderr.isatty(), dynamic_ncols=True)

    @staticmethod
    def _trial(trial: TuneTrial) -> tuple[str, Path]:
        info = trial.config["trial"]
        return info["name"], Path(info["config"]["run_dir"])

    def _note_best(self, value: float | None, name: str) -> None:
        if value is None or not math.isfinite(value):
            return
        if self.best is None or value > self.best[0]:
            self.best = (value, name)

    def status(self) -> str:
        failed = sum(o["status"] == "failed" for o in self.outcomes.values())
        best = f"best eval {self.best[0]:.1f} ({self.best[1]})" if self.best else "best eval n/a"
        return f"{len(self.running)} running, {failed} failed, {best}"

    def _finish(self, trial: TuneTrial, outcome: dict[str, Any]) -> None:
        name, _ = self._trial(trial)
        self.running.pop(name, None)
        self.outcomes[name] = outcome
        self._note_best(outcome.get("best_eval_return"), name)
        if outcome["status"] == "failed":
            detail = outcome["error"]
        elif outcome["status"] == "complete":
            detail = (f"final eval {outcome['final_eval_return']:.1f}, "
                      f"best {outcome['best_eval_return']:.1f} ({outcome['seconds']:.0f} s)")
        elif outcome["status"] == "interrupted":
            detail = f"stopped at step {outcome['env_steps']}, resumable"
        else:
            detail = "the sweep was stopping"
        self.bar.update()
        self.bar.set_postfix_str(self.status(), refresh=False)
        tqdm.write(f"[{len(self.outcomes)}/{self.total}] {outcome['status']:<11} {name}: {detail}"
                   f" | {self.status()}", file=sys.stdout)

    def on_trial_start(self, iteration: int, trials: list[TuneTrial], trial: TuneTrial,
                       **info: Any) -> None:
        name, run_dir = self._trial(trial)
        self.running[name] = run_dir

    def on_trial_complete(self, iteration: int, trials: list[TuneTrial], trial: TuneTrial,
                          **info: Any) -> None:
        self._finish(trial, dict(trial.last_result))

    def on_trial_error(self, iteration: int, trials: list[TuneTrial], trial: TuneTrial,
                       **info: Any) -> None:
        _, run_dir = self._trial(trial)
        record = read_record(run_dir) or {}
        error = (record.get("error") if record.get("status") == "failed"
                 else f"worker process failed (Ray's error log: {trial.error_file})")
        if record.get("status") != "failed":
            write_record(run_dir, {**record, "status": "failed", "error": error})
        self._finish(trial, {"status": "failed", "error": error})

    def on_step_end(self, iteration: int, trials: list[TuneTrial], **info: Any) -> None:
        now = time.monotonic()
        if now - self.last_refresh < REFRESH_S:
            return
        self.last_refresh = now
        for name, run_dir in self.running.items():
            self._note_best(best_eval(run_dir), name)
        self.bar.set_postfix_str(self.status())

    def close(self) -> None:
        self.bar.close()


@contextlib.contextmanager
def graceful_stop(stop_file: Path) -> Iterator[None]:
    """First SIGINT/SIGTERM: create ``stop_file`` (trials checkpoint and end); second: abort."""
    def request_stop(signum, frame) -> None:
        stop_file.touch()
        print("\nstopping: running trials checkpoint and end; rerun the same command to resume "
              "(Ctrl+C again to abort now)", file=sys.stderr, flush=True)
        for s in handlers:
            signal.signal(s, signal.default_int_handler)

    handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def trial_resources(config: dict[str, Any]) -> dict[str, float]:
    """One CPU per torch thread of the trial."""
    return {"cpu": config["trial"]["config"]["torch_threads"]}


def run_trials(trials: list[Trial], sweep_dir: Path, address: str | None,
               max_concurrent: int | None) -> dict[str, dict[str, Any]]:
    """Run ``trials`` as one Tune experiment; returns ``{trial name: outcome}``.

    Each trial asks for ``torch_threads`` CPUs; at most ``max_concurrent`` run at once (default:
    as many as the CPUs allow).
    """
    stop_file = sweep_dir / STOP_FILE
    stop_file.unlink(missing_ok=True)
    shutil.rmtree(sweep_dir / TUNE_DIR, ignore_errors=True)
    payloads = [{"name": t.name, "config": config_to_dict(t.cfg), "stop_file": str(stop_file)}
                for t in trials]
    started = connect(address)
    # Tune logs each failed trial's traceback; SweepProgress prints one line, trial.json keeps it.
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    progress = SweepProgress(len(trials))
    try:
        tuner = tune.Tuner(
            tune.with_resources(SweepTrainable, trial_resources),
            param_space={"trial": tune.grid_search(payloads)},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=True,
                                        trial_dirname_creator=lambda trial: trial.trial_id),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(sweep_dir / TUNE_DIR), verbose=0,
                callbacks=[progress],
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))
        with graceful_stop(stop_file):
            tuner.fit()
    finally:
        progress.close()
        stop_file.unlink(missing_ok=True)
        if started:
            ray.shutdown()
    return progress.outcomes
