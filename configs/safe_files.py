"""Writing files without following links: the primitives every package shares.

Lives in ``configs`` (the bottom of the import graph) so that agents, circuits and the trainer
all write through it; ``trainer.files`` re-exports it and documents the run-folder rules.

A shared run folder may hold symbolic links planted to make our output land elsewhere
(``transfer.csv -> ~/.bashrc``). ``open_new`` removes whatever is at a name (a link is removed,
not followed) and creates the file with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so a link planted in
between makes the write fail instead of following it; ``os.replace`` then replaces a link at the
final name with our file. ``write_atomic`` writes text through a ``.tmp`` beside the file;
``replacing`` gives writers that take a file name (matplotlib, imageio, numpy) a fresh temporary
name with the same suffix; ``open_append`` opens a log for appending with ``O_NOFOLLOW`` (a link
there is refused with ``ELOOP``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Iterator


def with_path(error: OSError, path: str | Path) -> OSError:
    """The same kind of ``OSError`` (``errno``, message), naming ``path`` as its file."""
    return type(error)(error.errno, error.strerror or str(error), str(path))


def remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def open_new(path: str | Path, mode: str = "w") -> IO:
    """A new file at ``path`` opened for writing (``mode`` ``"w"`` or ``"wb"``), never through a
    link: whatever is at ``path`` is removed first (a symbolic link itself, not its target), and
    ``O_EXCL | O_NOFOLLOW`` make the create fail if a link was planted in between."""
    path = Path(path)
    path.unlink(missing_ok=True)
    return open(path, mode, **({} if "b" in mode else {"newline": ""}),
                opener=lambda name, flags: os.open(name, flags | os.O_EXCL | os.O_NOFOLLOW, 0o666))


def open_append(path: str | Path, mode: str = "a") -> IO:
    """``path`` opened for appending (created if missing); a symbolic link there is refused
    with ``ELOOP`` (``O_NOFOLLOW``), never followed."""
    return open(path, mode, newline="",
                opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW, 0o666))


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """For writers that take a file name (``savefig``, imageio): yields a fresh temporary name
    beside ``path`` with the same suffix (``x.tmp.png``, made by ``open_new``), then moves it over
    ``path`` (``os.replace`` replaces a link there instead of following it). On an error the
    temporary file is removed and an ``OSError`` names ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    try:
        open_new(tmp, "wb").close()
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        remove_quietly(tmp)
        if isinstance(e, OSError):
            raise with_path(e, path) from None
        raise


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Replace ``path`` with ``text`` (or bytes) atomically, never following a link (see the
    module docstring)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open_new(tmp, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise with_path(e, path) from None
