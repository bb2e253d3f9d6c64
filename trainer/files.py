"""Files of a run folder that survive crashes and full disks.

* ``write_atomic`` writes ``<file>.tmp``, flushes it to disk and renames it over ``<file>``
  (``os.replace`` is atomic on POSIX), so a reader or a crash sees the old file or the new one,
  never half of one. On any ``OSError`` the temporary file is removed and the error names the
  file being written (not its ``.tmp``), e.g. ``[Errno 28] No space left on device: '.../x'``.
* **No write follows a symbolic link**: every file the toolkit writes in a run or sweep folder
  goes through ``open_new`` / ``replacing`` / ``open_append`` (``configs/safe_files.py``), so a
  link planted in a shared folder is replaced or refused, never followed.
* ``check_writable`` meets a read-only or missing output folder before a command computes
  what it would write, naming the file.
* ``read_json`` reads ``summary.json`` / ``trial.json``, naming a garbled file in one line.
* ``read_csv_rows`` reads our numeric CSV logs (``metrics.csv``, ``eval.csv``) and tells complete
  rows from incomplete ones: a row is complete when its line ends in a newline, has one value per
  header column, every value is empty or a number, and its ``step`` is larger than the previous
  complete row's. A process killed mid-append leaves at most one incomplete last line; other
  damage (NUL bytes from a crashed file system, two writers' interleaved rows) fails the same test.
  An agent's records tables (``records=True``) may hold text and repeat a step; only their
  ``step`` must be a number that never decreases.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from configs.errors import CorruptFileError  # noqa: F401 (re-export)
from configs.safe_files import (open_append, open_new, remove_quietly,  # noqa: F401 (re-export)
                                replacing, with_path, write_atomic)



def check_writable(path: str | Path) -> None:
    """Raise the ``OSError`` writing ``path`` would meet (naming ``path``), before any work.

    Writes and removes a temporary file in ``path``'s folder, or in its nearest existing
    ancestor when the folder is still to be made (nothing is created), so a read-only folder or
    a path through a file stops a command before it computes what it would write.
    """
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    except OSError as e:
        raise with_path(e, path) from None


def read_json(path: Path) -> Any | None:
    """The parsed JSON file (``summary.json``, ``trial.json``); None if it does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise CorruptFileError(f"{path} is corrupt (not valid JSON); delete it or rerun the "
                               f"command that writes it") from None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_csv_rows(path: Path, records: bool = False) -> tuple[list[str], list[dict[str, str]], int]:
    """``(header, complete rows, number of incomplete rows)`` of a log CSV; a missing or empty
    file gives ``([], [], 0)``. ``records``: an agent's records table (``rr_checks.csv``,
    ``interventions.csv``), whose values may be text and whose steps may repeat (several rows
    per step), so only the step must be a number and no smaller than the previous row's."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], [], 0
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        return [], [], len(lines)
    header = next(csv.reader([lines[0]]))
    rows: list[dict[str, str]] = []
    bad, last_step = 0, -math.inf
    for line in lines[1:]:
        values = next(csv.reader([line]), []) if line.endswith("\n") and "\x00" not in line else []
        row = dict(zip(header, values))
        step = row.get("step", "")
        if (len(values) != len(header) or not _is_number(step)
                or not (records or all(v == "" or _is_number(v) for v in values))
                or float(step) < last_step or (float(step) == last_step and not records)):
            bad += 1
            continue
        last_step = float(step)
        rows.append(row)
    return header, rows, bad
