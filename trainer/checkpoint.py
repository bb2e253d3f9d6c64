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

Safe to open from others: a checkpoint holds only tensors, numpy arrays and scalars, and plain
containers and values (dict, list, tuple, str, int, float, bool, None); ``save`` refuses
anything else, and ``load_checkpoint`` reads with ``torch.load(weights_only=True)``, which
resolves no global outside torch's tensor rebuilders and the numpy ones allow-listed in
``SAFE_GLOBALS``. A file that names any other global (an object whose ``__reduce__`` would run
code) is refused with one line before anything in it runs. ``trusted=True`` (``train.py
--trust-checkpoint``) reads a checkpoint of one's own with full pickle, for files written by
an older version of the toolkit.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from configs.errors import CheckpointError, ForeignCheckpointError  # noqa: F401 (re-export)
from trainer.files import remove_quietly, with_path

FORMAT_VERSION = 1
TRUST_FLAG = "--trust-checkpoint"

# numpy's own pickle of arrays, dtypes and scalars (``ndarray.__reduce__``: ``_reconstruct`` +
# ``__setstate__`` with the raw bytes, ``bytes()`` for an empty array; a dtype is rebuilt as an
# instance of its class, e.g. ``numpy.dtypes.Float64DType``, of the bool and numeric types only);
# numpy 1 named the module ``numpy.core.multiarray``. These, and torch's own tensor rebuilders,
# are the only globals a checkpoint may name.
_multiarray = np._core.multiarray
NUMPY_DTYPES = frozenset(type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG")
SAFE_GLOBALS = [np.ndarray, np.dtype, bytes, _multiarray._reconstruct, _multiarray.scalar,
                (_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
                (_multiarray.scalar, "numpy.core.multiarray.scalar"),
                *sorted(NUMPY_DTYPES, key=str)]
PLAIN = (str, int, float, bool, bytes, type(None), torch.Tensor, torch.nn.Parameter)




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


def foreign_value(obj: Any, where: str = "") -> str | None:
    """What the first value outside the checkpoint format is and where (``"a
    collections.defaultdict at trainer.window"``), or None. The format: tensors, numpy arrays
    and scalars of the bool and numeric dtypes, and dicts, lists and tuples of them and of str,
    int, float, bool, bytes and None; exact types, since a subclass (a ``defaultdict``, a named
    tuple, an ``IntEnum``) is pickled by its class."""
    kind = type(obj)
    if kind in (dict, OrderedDict):
        for k, v in obj.items():
            found = foreign_value(k, f"{where} (a key)") or \
                foreign_value(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
        return None
    if kind in (list, tuple):
        for i, v in enumerate(obj):
            found = foreign_value(v, f"{where}[{i}]")
            if found:
                return found
        return None
    at = f" at {where}" if where else ""
    if kind is np.ndarray or isinstance(obj, np.generic):
        return None if type(obj.dtype) in NUMPY_DTYPES else \
            f"a numpy value of dtype {obj.dtype}{at}"
    if kind in PLAIN:
        return None
    return f"a {kind.__module__}.{kind.__qualname__}{at}"


def plain_containers(obj: Any) -> Any:
    """``obj`` with every other dict, list and tuple subclass made a plain one (for a trusted
    checkpoint of an older format, so that the next checkpoint is in the format again)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = plain_containers(v)
        return obj if type(obj) in (dict, OrderedDict) else dict(obj)
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        items = [plain_containers(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    found = foreign_value(obj)
    if found:  # a bug in an agent's state_dict: its checkpoint would not load safely
        raise TypeError(f"cannot checkpoint {found} (a checkpoint holds only tensors, arrays "
                        f"and plain values)")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
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


def _refusal(error: pickle.UnpicklingError) -> str | None:
    """What a weights-only load refused (``"a reference to posix.system"``), or None when the
    pickle stream is damaged."""
    text = str(error)
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:  # torch names a builtin without its module
        name = named.group(1)
        return f"a reference to {name if '.' in name else 'builtins.' + name}"
    if "Unsupported operand" in text or "Weights only load failed" not in text:
        return None
    return "a value outside the checkpoint format"


def load_checkpoint(path: str | Path, map_location: str = "cpu", trusted: bool = False,
                    mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint, raising ``CheckpointError`` with one clear line on any problem.

    The load is weights-only: a file that names a global outside ``SAFE_GLOBALS`` or holds a
    value outside the format (``foreign_value``) is refused before anything in it runs.
    ``trusted``: full pickle, for one's own checkpoints of an older format. ``mmap``: map the
    tensors' storage instead of reading it (a cheap look at a large file).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        if trusted:
            obj = torch.load(p, map_location=map_location, weights_only=False, mmap=mmap)
        else:
            with torch.serialization.safe_globals(SAFE_GLOBALS):
                obj = torch.load(p, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        refused = _refusal(e)
        if refused is None:
            raise CheckpointError(f"checkpoint {p} is corrupt or unreadable "
                                  f"(UnpicklingError)") from None
        raise ForeignCheckpointError(_foreign(p, refused)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"checkpoint {p} is corrupt or unreadable ({type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {p} is not a checkpoint of format {FORMAT_VERSION}")
    if trusted:
        return plain_containers(obj)
    found = foreign_value(obj)
    if found:
        raise ForeignCheckpointError(_foreign(p, found))
    return obj


def _foreign(path: Path, what: str) -> str:
    return (f"checkpoint {path} holds {what}, which a safe load refuses (a checkpoint holds only "
            f"tensors, arrays and plain values); nothing in it was run. Never trust such a file "
            f"from someone else; your own run's checkpoint from an older version resumes with "
            f"python train.py {TRUST_FLAG} [CONFIG.yaml] [key=value ...]")


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
