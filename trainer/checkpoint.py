"""Atomic checkpoints with rotation, RNG capture and clear errors for missing/corrupt files.

A checkpoint holds the agent's full state (weights, optimisers, normalisers, schedules, replay),
the training env's exact state, the loop's counters and every RNG (python, numpy, torch), so a
resumed run continues bit for bit. Files are written to ``*.tmp`` and renamed (``os.replace``),
so a crash never leaves a half-written checkpoint; ``last.pt`` is a hard link to the newest
``step_*.pt`` (no second copy); the ``keep`` newest periodic files are kept, plus ``best.pt``.
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or of the wrong format."""


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


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _link_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # file systems without hard links
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


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

    def save_best(self, obj: dict[str, Any]) -> Path:
        path = self.dir / "best.pt"
        _save_atomic({"format_version": FORMAT_VERSION, **obj}, path)
        return path


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint, raising ``CheckpointError`` with one clear line on any problem."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"checkpoint {p} is corrupt or unreadable ({type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {p} is not a checkpoint of format {FORMAT_VERSION}")
    return obj
