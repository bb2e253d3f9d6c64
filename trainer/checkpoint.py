"""Atomic checkpoints with rotation, RNG capture and clear errors for missing/corrupt files.

A checkpoint holds the agent's full state (weights, optimisers, normalisers, schedules, replay),
the training env's exact state, the loop's counters and every RNG (python, numpy, torch), so a
resumed run continues bit for bit. Files are written to ``*.tmp``, flushed to disk and renamed
(``os.replace``), so a crash never leaves a half-written checkpoint; ``last.pt`` is a hard link to
the newest ``step_*.pt`` (no second copy); the ``keep`` newest periodic files are kept, plus
``best.pt``. A failed write (full disk, read-only folder) removes its ``*.tmp`` and raises the
``OSError`` naming the checkpoint; the previous checkpoints are untouched.

Resuming (``resume_state``) reads ``last.pt``, or the checkpoint ``trainer.resume_from`` names.
A corrupt ``last.pt`` stops the run with one line naming the newest intact periodic checkpoint
and the key that resumes from it.

The file format and its safe reading (``load_checkpoint``, weights-only, refusing any global
outside the allow-list before anything runs) are ``agents/common/checkpoint_file.py``'s, below the
trainer, so that agents can read a checkpoint without importing it.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from agents.common.checkpoint_file import (FORMAT_VERSION, CheckpointError, ForeignCheckpointError,
                                     foreign_value, load_checkpoint)
from trainer.files import open_new, remove_quietly, with_path


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Writer:
    """A file object for ``torch.save`` that keeps the ``OSError`` of a failed write (torch
    reports it as a ``RuntimeError`` without the cause)."""

    def __init__(self, f):
        self.f = f
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    found = foreign_value(obj)
    if found:  # a bug in an agent's state_dict: its checkpoint would not load safely
        raise TypeError(f"cannot checkpoint {found} (a checkpoint holds only tensors, arrays "
                        f"and plain values)")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open_new(tmp, "wb") as f:
            writer = _Writer(f)
            try:
                torch.save(obj, writer)
            except RuntimeError:
                if writer.error is None:
                    raise
                raise writer.error from None
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # a write error or an interrupt: no temporary file is left
        remove_quietly(tmp)
        if isinstance(e, OSError):
            raise with_path(e, path) from None
        raise


def _link_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # file systems without hard links
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        remove_quietly(tmp)
        raise with_path(e, dst) from None


def step_of(path: Path) -> int | None:
    """The step in a periodic checkpoint's name (``step_0000001000.pt`` -> 1000)."""
    stem = path.stem
    return int(stem[5:]) if stem.startswith("step_") and stem[5:].isdigit() else None


class CheckpointManager:
    def __init__(self, directory: Path, keep: int):
        self.dir = directory
        self.keep = keep

    def save(self, obj: dict[str, Any], step: int) -> Path:
        obj = {"format_version": FORMAT_VERSION, **obj}
        path = self.dir / f"step_{step:010d}.pt"
        _save_atomic(obj, path)
        _link_atomic(path, self.dir / "last.pt")
        for old in sorted(self.dir.glob("step_*.pt"))[:-self.keep]:
            old.unlink()
        return path

    def drop_after(self, step: int) -> None:
        """Remove periodic checkpoints of steps after ``step``: a run resumed from ``step``
        abandons them (they are corrupt, or the user chose an older checkpoint)."""
        for p in self.dir.glob("step_*.pt"):
            if (step_of(p) or 0) > step:
                p.unlink()

    def save_best(self, obj: dict[str, Any]) -> Path:
        path = self.dir / "best.pt"
        _save_atomic({"format_version": FORMAT_VERSION, **obj}, path)
        return path


def load_agent_state(load: Callable[[dict[str, Any]], None], state: dict[str, Any],
                     path: Path) -> None:
    """``load(state["agent"])`` (an agent's ``load_policy`` or ``load_state_dict``); a state
    that does not fit the agent (another agent's, other shapes, a hostile file's) is one
    ``CheckpointError`` line naming ``path``, whatever the agent raised."""
    try:
        load(state["agent"])
    except (KeyError, IndexError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        why = " ".join(str(e).split())[:160] or type(e).__name__
        raise CheckpointError(f"checkpoint {path} does not fit this run's agent "
                              f"({type(e).__name__}: {why})") from None


def newest_intact(directory: Path, skip: Path | None = None,
                  trusted: bool = False) -> tuple[Path, int] | None:
    """``(path, step)`` of the newest periodic checkpoint that loads (``skip``: a known-bad
    file, and its hard links); None when there is none."""
    for p in sorted(directory.glob("step_*.pt"), reverse=True):
        if skip is not None and skip.exists() and os.path.samefile(p, skip):
            continue
        try:
            return p, load_checkpoint(p, trusted=trusted)["step"]
        except CheckpointError:
            continue
    return None


def resume_state(directory: Path, resume_from: str | None,
                 trusted: bool = False) -> dict[str, Any] | None:
    """The checkpoint a run in ``directory`` (its ``checkpoints/``) resumes from; None for a
    fresh run.

    ``resume_from`` (the ``trainer.resume_from`` key) names a checkpoint file, in ``directory``
    or as a path; by default ``last.pt``. Resuming from a checkpoint older than an intact
    ``last.pt`` is refused, so repeating a command that names one never discards progress.
    ``trusted``: load with full pickle (``load_checkpoint``).
    """
    last = directory / "last.pt"
    if resume_from is None:
        if not last.exists():
            return None
        try:
            return load_checkpoint(last, trusted=trusted)
        except CheckpointError as e:
            if isinstance(e, ForeignCheckpointError):
                raise
            intact = newest_intact(directory, skip=last, trusted=trusted)
            hint = (f"; the newest intact checkpoint is {intact[0]} (step {intact[1]}): resume "
                    f"from it with trainer.resume_from={intact[0].name}" if intact else
                    "; no intact periodic checkpoint is left (use another run_dir to start over)")
            raise CheckpointError(f"{e}{hint}") from None
    chosen = Path(resume_from)
    if not chosen.is_absolute() and len(chosen.parts) == 1:
        chosen = directory / chosen
    state = load_checkpoint(chosen, trusted=trusted)
    if last.exists() and not os.path.samefile(last, chosen):
        try:
            newest = load_checkpoint(last, trusted=trusted)["step"]
        except CheckpointError:
            newest = None
        if newest is not None and newest > state["step"]:
            raise CheckpointError(
                f"trainer.resume_from: {chosen} is of step {state['step']} but {last} (step "
                f"{newest}) is intact; resuming would discard {newest - state['step']} steps: "
                f"drop trainer.resume_from to go on from {last}")
    return state
