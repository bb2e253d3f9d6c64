"""Where a benchmark writes its outputs: every file beside one stem.

A benchmark's ``--out`` (or ``--name``) is a stem, e.g. ``bench/results/arr_return_rr2_vs_rr0.5``,
and its outputs are ``<stem>.json``, ``<stem>.md`` and ``<stem>.png``. ``Path.with_suffix`` would
treat the tail after the last dot as a suffix and replace it (``..._rr0`` + ``.md``), so the
suffix is appended instead.
"""
from __future__ import annotations

from pathlib import Path


def beside(stem: Path | str, suffix: str) -> Path:
    """``stem`` with ``suffix`` appended: ``beside("r/rr0.5", ".md") == Path("r/rr0.5.md")``."""
    if not suffix.startswith("."):
        raise ValueError(f"suffix must start with '.': {suffix!r}")
    stem = Path(stem)
    return stem.with_name(stem.name + suffix)
