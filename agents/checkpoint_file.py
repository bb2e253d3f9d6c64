"""The checkpoint file format and its safe reading: what a checkpoint may hold, ``load_checkpoint``.

This is the one reader of checkpoint files; it sits below ``trainer/`` so that ``agents`` (an
encoder initialised from another run's checkpoint, ``agents/encoder_init.py``) reads checkpoints
without importing the trainer. Writing, rotation, RNG capture and the resume point are
``trainer/checkpoint.py``'s.

Safe to open from others: a checkpoint holds only tensors, numpy arrays and scalars, and plain
containers and values (dict, list, tuple, str, int, float, bool, None); saving refuses
anything else (``foreign_value``), and ``load_checkpoint`` reads with
``torch.load(weights_only=True)``, which resolves no global outside torch's tensor rebuilders and
the numpy ones allow-listed in ``SAFE_GLOBALS``. A file that names any other global (an object
whose ``__reduce__`` would run code) is refused with one line before anything in it runs.
``trusted=True`` (``train.py --trust-checkpoint``) reads a checkpoint of one's own with full
pickle, for files written by an older version of the toolkit.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from configs.errors import CheckpointError, ForeignCheckpointError  # noqa: F401 (re-export)

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
