"""One sweep trial inside a worker process: ``train(cfg)`` plus its ``trial.json`` record.

A stopping sweep creates its stop file; the trial then sends itself SIGTERM, which the trainer
turns into a checkpoint and ``status: interrupted``, so a rerun resumes where it stopped.
This runs in the worker's main thread (the trainer installs its signal handlers there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

from trainer.sweep.record import first_line, write_record
from configs.loader import validate
from configs.schema import RunConfig

STOP_POLL_S = 0.5


@contextlib.contextmanager
def stop_when_flagged(flag: Path) -> Iterator[None]:
    """While the block runs, send this process SIGTERM every ``STOP_POLL_S`` once ``flag`` exists.

    Repeating the signal covers a block that had not yet installed the trainer's handlers;
    until it does, SIGINT and SIGTERM are ignored here instead of killing the worker.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if flag.exists():
                os.kill(os.getpid(), signal.SIGTERM)

    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    watcher = threading.Thread(target=watch, name="sweep-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_trial(config: dict[str, Any], stop_file: str) -> dict[str, Any]:
    """Train (or resume) one trial; its result for the sweep. Exceptions are recorded, re-raised.

    A trial whose sweep is already stopping returns ``status: not started`` without training.
    The trial holds its run folder's writer lock from its first record to its last.
    """
    from trainer.rundir import RunDir

    cfg = validate(config, trust_plugins=True)  # the sweep's driver loaded (or was let load) them
    flag = Path(stop_file)
    if flag.exists():
        return {"status": "not started", "seconds": 0.0}
    with RunDir(cfg.resolved_run_dir()).exclusive():
        return _run_locked(cfg, flag)


def _run_locked(cfg: RunConfig, flag: Path) -> dict[str, Any]:
    from trainer.api import train  # here: the sweep's driver imports this module, not torch

    run_dir = Path(cfg.resolved_run_dir())
    record: dict[str, Any] = {"status": "running", "started_at": time.time(),
                              "host": socket.gethostname(), "pid": os.getpid()}
    write_record(run_dir, record)
    t0 = time.perf_counter()
    try:
        with stop_when_flagged(flag):
            summary = train(cfg)
    except Exception as e:
        record.update(status="failed", error=first_line(e), traceback=traceback.format_exc(),
                      seconds=time.perf_counter() - t0)
        write_record(run_dir, record)
        raise
    record.update(status=summary["status"], seconds=time.perf_counter() - t0)
    write_record(run_dir, record)
    return {"status": summary["status"], "seconds": record["seconds"],
            "env_steps": summary["env_steps"], "final_eval_return": summary["final_eval_return"],
            "best_eval_return": summary["best_eval_return"]}
