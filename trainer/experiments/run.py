"""An experiment's trials and post-hoc commands, run through the sweep machinery.

Each ``(arm, seed)`` is a ``trainer.sweep.spec.Trial`` (label = the arm) whose run folder is
``<run_dir>/<arm>/seed<seed>/``; the sweep backend (``trainer.sweep.ray_tune.run_trials``:
embedded local Ray or a cluster) trains them. Rerunning resumes: a trial whose ``summary.json``
says complete at its ``steps`` is reused, any other resumes from its last checkpoint, and a run
folder holding another config is refused before anything runs (``RunDir.check_same_config``).

Post-hoc commands run on each complete run folder after training, in the driver, as
``python train.py <subcommand> <run folder> <args ...>`` (``{run}`` in an argument is the run
folder; a first argument that names ``{run}`` is the target instead of the run folder, e.g.
``{run}/checkpoints/last.pt`` for the last policy rather than the best); each one's exit code is recorded in ``<run>/posthoc.json`` under the command's text,
and a command recorded with exit code 0 is not run again. A run is complete when its
``summary.json`` says so at the spec's ``steps`` (``Trial.is_finished``): a spec whose ``steps``
grew leaves its shorter runs without post hoc until they have trained on. The record holds the
steps it was made at (``_steps``); a run that trained on since gets every command again, since
their outputs describe the shorter run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from configs.safe_files import write_atomic
from trainer.experiments.spec import RUN_PLACEHOLDER, Experiment
from trainer.files import read_json
from trainer.rundir import REPO_ROOT, RunDir
from trainer.sweep.spec import Trial, make_trial

SPEC_COPY = "experiment.yaml"
POSTHOC_FILE = "posthoc.json"
RECORD_STEPS = "_steps"   # posthoc.json: the run's env steps when its record was made


def experiment_trials(exp: Experiment, seeds: list[int]) -> list[Trial]:
    """Every ``(arm, seed)`` trial, each config validated (nothing is written)."""
    return [make_trial(data, [], arm, seed, exp.arm_dir(arm, seed),
                       f"experiment {exp.path}: arms.{arm}")
            for arm, data in exp.arms.items() for seed in seeds]


def check_trials(trials: list[Trial]) -> None:
    """Refuse a run folder that holds another config (before anything runs)."""
    for trial in trials:
        RunDir(trial.run_dir).check_same_config(trial.cfg)


def write_spec(exp: Experiment) -> None:
    exp.run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(exp.run_dir / SPEC_COPY, exp.to_yaml())


def posthoc_argv(command: list[str], run: Path) -> list[str]:
    """``[subcommand, run, args...]`` with ``{run}`` in the args replaced by the run folder; a
    command whose first argument names ``{run}`` gives its own target (e.g.
    ``[transfer, "{run}/checkpoints/last.pt", ...]``) and gets no run folder inserted."""
    args = [a.replace(RUN_PLACEHOLDER, str(run)) for a in command[1:]]
    if command[1:] and RUN_PLACEHOLDER in command[1]:
        return [command[0], *args]
    return [command[0], str(run), *args]


def run_posthoc(exp: Experiment, trials: list[Trial]) -> list[str]:
    """Run the spec's post-hoc commands on every complete trial (module docstring); the
    failures as ``"<arm>/seed<k>: <command>: exit <code>"``."""
    failures = []
    for trial in trials:
        if not exp.posthoc or not trial.is_finished():
            continue
        record_file = trial.run_dir / POSTHOC_FILE
        record = read_json(record_file) or {}
        steps = trial.cfg.steps
        if record.get(RECORD_STEPS, steps) != steps:  # trained on since: outputs are stale
            record = {}
        record[RECORD_STEPS] = steps  # (a record written before _steps counts as current)
        for command in exp.posthoc:
            key = " ".join(command)
            if record.get(key) == 0:
                continue
            argv = [sys.executable, str(REPO_ROOT / "train.py"), *posthoc_argv(command,
                                                                             trial.run_dir)]
            print(f"post hoc {trial.name}: train.py {' '.join(argv[2:])}", flush=True)
            record[key] = subprocess.run(argv, cwd=REPO_ROOT).returncode
            write_atomic(record_file, json.dumps(record, indent=2) + "\n")
            if record[key] != 0:
                failures.append(f"{trial.name}: {key}: exit {record[key]}")
    return failures
