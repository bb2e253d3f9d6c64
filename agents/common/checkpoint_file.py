"""The checkpoint file format and its safe reading: what a checkpoint may hold, ``load_checkpoint``.

This is the one reader of checkpoint files; it sits below ``trainer/`` so that ``agents`` (an
encoder initialised from another run's checkpoint, ``agents/offpolicy/encoder_init.py``) reads
checkpoints without importing the trainer. Writing, rotation, RNG capture and the resume point are
``trainer/checkpoint.py``'s.

Safe to open from others: a checkpoint holds only tensors, numpy arrays and scalars, and plain
containers and values (dict, list, tuple, str, int, float, bool, None); saving refuses
anything else (``foreign_value``), and ``load_checkpoint`` reads with
``torch.load(weights_only=True)``, which resolves no global outside torch's tensor rebuilders and
the numpy ones allow-listed in ``SAFE_GLOBALS``. A file that names any other global (an object
whose ``__reduce__`` would run code) is refused with one line before anything in it runs.
``trusted=True`` (``train.py --trust-checkpoint``) reads a checkpoint of one's own with full
pickle, for files written by an older version of the toolkit.

Bombs: before anything is read, the file must be a zip archive (``torch.save``'s format) whose
central directory is honest and small to inflate (``archive_problem``): the records' packed
sizes fit in the file, and their declared sizes exceed their packed sizes by at most
``BIOEMBODIED_MAX_INFLATE_MIB`` (default 512 MiB) in all. ``torch.save`` stores records
uncompressed, so a real checkpoint inflates by 0 bytes at any size (a DrQ-v2 checkpoint with a
full 10^6-slot replay at 84 px, ~20 GiB, loads; its cost is its size on disk), while a 1 MB
record of zeros that would inflate to 3 GiB is refused. After the safe load the value is walked
once per object (memo by ``id``), iteratively: a value that contains itself, nests deeper than
``MAX_DEPTH`` or expands to more than ``MAX_VALUES`` values (a shared value counted at every
use: 60 levels of ``x = [x, x]`` are 61 lists but 2^60 paths to their one leaf) is refused, so
nothing after the load walks a bomb. Every refusal is one ``CheckpointError`` line naming the
file.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from configs.errors import (CheckpointError, ConfigError, CorruptFileError,  # noqa: F401
                            ForeignCheckpointError, echo)

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
CONTAINERS = (dict, OrderedDict, list, tuple)
MAX_DEPTH = 64             # nesting of containers (a real checkpoint: under 10)
MAX_VALUES = 10_000_000    # values, a shared one counted at every use (a real one: thousands)
LAYOUT = {"step": int, "config": dict, "agent": dict}   # what every reader relies on
INFLATE_ENV = "BIOEMBODIED_MAX_INFLATE_MIB"
DEFAULT_INFLATE_MIB = 512


def inflate_limit() -> int:
    """The bytes an archive's records may inflate by in all (``INFLATE_ENV``, in MiB)."""
    raw = os.environ.get(INFLATE_ENV)
    if raw is None:
        return DEFAULT_INFLATE_MIB << 20
    if not raw.strip().isdigit():
        raise ConfigError(f"{INFLATE_ENV}={echo(raw)}: must be a whole number of MiB")
    return int(raw) << 20


def archive_problem(path: Path) -> str | None:
    """Why the zip archive at ``path`` (a checkpoint, a ``probe.npz``) may not be read, from its
    central directory alone, or None (module docstring): ``"corrupt or unreadable (...)"`` or
    ``"refused: ..."``. Read errors of the file itself (``OSError``) are the caller's."""
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        return ("corrupt or unreadable (not a complete zip archive: truncated, or not written "
                "by torch.save or numpy)")
    on_disk = path.stat().st_size
    packed = sum(r.compress_size for r in records)
    if packed > on_disk:
        return (f"corrupt or unreadable (its records claim {packed:,} bytes, the file holds "
                f"{on_disk:,})")
    inflated = sum(max(r.file_size - r.compress_size, 0) for r in records)
    limit = inflate_limit()
    if inflated > limit:
        return (f"refused: its compressed records would inflate by {inflated:,} bytes, past "
                f"the limit of {limit >> 20} MiB (a zip bomb?); for a file you trust, raise "
                f"the limit with {INFLATE_ENV}=<MiB>")
    return None


def check_archive(path: Path) -> None:
    """A one-line ``CorruptFileError`` naming ``path`` when ``archive_problem`` refuses it (a
    data file such as ``probe.npz``; ``load_checkpoint`` does the same for checkpoints)."""
    problem = archive_problem(path)
    if problem:
        raise CorruptFileError(f"{path} is {problem}")


def _leaf_problem(obj: Any) -> str | None:
    """What a non-container value outside the format is (``"a collections.Counter"``)."""
    kind = type(obj)
    if kind is np.ndarray or isinstance(obj, np.generic):
        return None if type(obj.dtype) in NUMPY_DTYPES else f"a numpy value of dtype {obj.dtype}"
    return None if kind in PLAIN else f"a {kind.__module__}.{kind.__qualname__}"


def _children(obj: Any):
    """``(child, step)`` of a container; a step names the child's place (``_where``)."""
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            yield k, ("key", k)
            yield v, ("value", k)
    else:
        for i, v in enumerate(obj):
            yield v, ("index", i)


def _where(parent: str, step: tuple[str, Any]) -> str:
    """The place of a child (``agent.critic[2]``), cut to its first 80 characters."""
    kind, k = step
    if kind == "index":
        where = f"{parent}[{k}]"
    elif kind == "key":
        where = f"{parent} (a key)"
    else:
        name = k[:40] if isinstance(k, str) else echo(k)
        where = f"{parent}.{name}" if parent else name
    return where if len(where) <= 80 else where[:77] + "..."


def checkpoint_problem(obj: Any) -> tuple[str, bool] | None:
    """``(what and where, foreign)`` of the first value outside the checkpoint format, or None.

    The format: tensors, numpy arrays and scalars of the bool and numeric dtypes, and dicts,
    lists and tuples of them and of str, int, float, bool, bytes and None; exact types, since
    a subclass (a ``defaultdict``, a named tuple, an ``IntEnum``) is pickled by its class
    (``foreign``: ``"a collections.defaultdict at trainer.window"``). Its shape is bounded (not
    foreign): no container inside itself, ``MAX_DEPTH`` levels, ``MAX_VALUES`` values with a
    shared one counted at every use. One iterative pass, each container walked once (its
    expanded size remembered by ``id``), so a value of 2^60 paths costs its 61 lists."""
    sizes: dict[int, int] = {}      # id -> expanded size of a container walked to its end
    on_path: set[int] = set()       # ids of the containers being walked
    stack: list[list] = [[None, "", iter([(obj, ("root", None))]), 0]]  # container, where,
    while True:                                                         # children, size
        frame = stack[-1]
        item = next(frame[2], None)
        if item is None:
            if len(stack) == 1:
                return None
            stack.pop()
            on_path.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[3]
            add = frame[3]
        else:
            child, step = item
            i = id(child)
            if type(child) in CONTAINERS and i not in sizes:
                where = "" if step[0] == "root" else _where(frame[1], step)
                if i in on_path:
                    return f"a value that contains itself at {where or 'the top'}", False
                if len(stack) > MAX_DEPTH:
                    return f"values nested deeper than {MAX_DEPTH} levels at {where}", False
                on_path.add(i)
                stack.append([child, where, _children(child), 1])
                continue
            found = None if type(child) in CONTAINERS else _leaf_problem(child)
            if found:
                where = "" if step[0] == "root" else _where(frame[1], step)
                return f"{found} at {where}" if where else found, True
            add = sizes[i] if type(child) in CONTAINERS else 1
        parent = stack[-1]
        parent[3] += add
        if parent[3] > MAX_VALUES:
            return (f"more than {MAX_VALUES:,} values (a shared value counted at every use) "
                    f"under {parent[1] or 'the top'}"), False


def foreign_value(obj: Any) -> str | None:
    """What the first value outside the checkpoint format is and where, or None
    (``checkpoint_problem``, for the writer: a checkpoint it would refuse to read)."""
    found = checkpoint_problem(obj)
    return found[0] if found else None


def _layout_problem(obj: dict[str, Any]) -> str | None:
    """Which of the keys every reader relies on (``LAYOUT``) is missing or of another type."""
    for key, kind in LAYOUT.items():
        if key not in obj:
            return f"it has no '{key}'"
        if not isinstance(obj[key], kind) or isinstance(obj[key], bool):
            return (f"its '{key}' is a {type(obj[key]).__name__}, not "
                    f"{'an integer' if kind is int else 'a mapping'}")
    return None


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

    The archive is checked first (``archive_problem``: a zip, honest sizes, little to inflate).
    The load is weights-only: a file that names a global outside ``SAFE_GLOBALS`` or holds a
    value outside the format (``checkpoint_problem``) is refused before anything in it runs;
    so is one of a bombing shape (shared, self-containing or deep values) or without the keys
    every reader relies on (``LAYOUT``: an integer ``step``, mappings ``config`` and ``agent``).
    ``trusted``: full pickle, for one's own checkpoints of an older format. ``mmap``: map the
    tensors' storage instead of reading it (a cheap look at a large file).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        problem = archive_problem(p)
    except OSError as e:
        raise _unreadable(p, e.strerror or type(e).__name__) from None
    if problem:
        raise CheckpointError(f"checkpoint {_named(p)} is {problem}")
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
    except OSError as e:
        raise _unreadable(p, e.strerror or type(e).__name__) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, IndexError, KeyError,
            TypeError, AttributeError) as e:
        raise _unreadable(p, type(e).__name__) from None
    if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {p} is not a checkpoint of format {FORMAT_VERSION}")
    if trusted:
        obj = plain_containers(obj)
    else:
        found = checkpoint_problem(obj)
        if found and found[1]:
            raise ForeignCheckpointError(_foreign(p, found[0]))
        if found:
            raise CheckpointError(f"checkpoint {p} holds {found[0]}: not a checkpoint this "
                                  "toolkit writes; refused")
    problem = _layout_problem(obj)
    if problem:
        raise CheckpointError(f"checkpoint {p} is not a checkpoint of this toolkit ({problem})")
    return obj


def _unreadable(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {_named(path)} is corrupt or unreadable ({why})")


def _named(path: Path) -> str:
    """``path``, and where it leads when it is a symbolic link (a planted one shows)."""
    return f"{path} (a link to {os.readlink(path)})" if path.is_symlink() else str(path)


def _foreign(path: Path, what: str) -> str:
    return (f"checkpoint {path} holds {what}, which a safe load refuses (a checkpoint holds only "
            f"tensors, arrays and plain values); nothing in it was run. Never trust such a file "
            f"from someone else; your own run's checkpoint from an older version resumes with "
            f"python train.py {TRUST_FLAG} [CONFIG.yaml] [key=value ...]")
