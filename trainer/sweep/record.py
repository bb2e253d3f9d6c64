"""``trial.json``: how the latest attempt of a sweep trial ended, in its run folder.

::

    {"status": "running" | "complete" | "interrupted" | "failed",
     "error": "DivergenceError: loss/critic became inf at step 512; ...",   # when failed
     "traceback": "...", "started_at": <unix s>, "seconds": <train(cfg) wall s>,
     "host": "...", "pid": 1234}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.files import read_json, write_atomic

TRIAL_FILE = "trial.json"


def first_line(error: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"``."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / TRIAL_FILE, json.dumps(record, indent=2) + "\n")


def read_record(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / TRIAL_FILE
    return read_json(path)
