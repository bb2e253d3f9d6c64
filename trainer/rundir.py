"""Run folders: what produced a run (resolved config, versions, git commit) and where outputs go.

Layout::

    <run_dir>/config.yaml  versions.json  git.txt  git.diff  train.lock
              git.resumed_<step>.diff  versions.resumed_<step>.json  (a resume on other code)
              metrics.csv  eval.csv  tb/  checkpoints/{step_*.pt,last.pt,best.pt}  summary.json
              <table>.csv  (an agent's records, e.g. rr_checks.csv, interventions.csv)

One writer per run folder: a training process holds an exclusive ``flock`` on ``train.lock``
(which holds its pid and host) for its whole life (``RunDir.exclusive``); the OS releases the
lock when the process ends, however it ends, so a killed run never blocks the next one. Readers
(evaluate, plot, report, ...) take no lock: every file they read is replaced atomically
(``trainer.files``), or appended one row at a time and read up to its last complete row.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import logging
import os
import platform
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterator

import numpy as np

from configs.errors import RunDirLockedError  # noqa: F401 (re-export)
from configs.loader import ConfigError, config_to_dict, dump_config, read_yaml, validate
from configs.schema import RunConfig
from trainer.files import read_csv_rows, with_path, write_atomic

log = logging.getLogger(__name__)

PACKAGES = ("torch", "numpy", "mujoco", "dm-control", "gymnasium", "stable-baselines3",
            "pydantic", "pyyaml", "tensorboard", "ray")
REPO_ROOT = Path(__file__).resolve().parent.parent
# Keys that may differ between an interrupted run and the command that resumes it (a run
# folder may be moved, extended or resumed without a progress bar).
RESUMABLE_CHANGES = {"steps", "run_dir", "trainer.progress", "trainer.progress_seconds",
                     "trainer.resume_from",
                     "trainer.env_workers"}  # results do not depend on it (envs/vector.py)
LOCK_FILE = "train.lock"
RESUMED_BLOCK = re.compile(r"\nresumed at step (\d+):\n")  # git.txt: a later session's block
RR_CHECKS = "rr_checks"  # the adaptive replay-ratio schedule's table of FAU checks


@dataclass
class _Hold:
    """A run folder this process holds: the lock file's descriptor, how many ``exclusive``
    blocks are open on it, and whether the run has begun writing (``RunDir.prepare``)."""

    fd: int
    depth: int = 1
    wrote: bool = False


_HELD: dict[Path, _Hold] = {}  # by resolved path


# (path of the old key, new name with the same meaning) of keys renamed since runs were written
RENAMED_KEYS = [(("agent", "redo", "every"), "every_updates")]


def migrate_renamed_keys(data: dict) -> dict:
    """``data`` with every key of ``RENAMED_KEYS`` moved to its new name (value unchanged)."""
    data = copy.deepcopy(data)
    for path, new in RENAMED_KEYS:
        node = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node and new not in node:
            node[new] = node.pop(path[-1])
    return data



def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "machine": platform.machine(), "cpu_count": str(os.cpu_count()),
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "")}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_state() -> tuple[str, str]:
    """``(summary, diff)``: commit hash and dirty flag, and the uncommitted diff."""
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = run("rev-parse", "HEAD").strip() or "unknown (not a git checkout)"
    diff = run("diff", "HEAD")
    return f"commit: {commit}\ndirty: {bool(diff.strip())}\n", diff


def flatten_keys(d: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_keys(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def first_config_difference(old: dict, new: dict) -> tuple[str, object, object] | None:
    """The first dotted key whose value differs between two config dicts, ignoring the keys
    a resumed run may change (``RESUMABLE_CHANGES``), as ``(key, old, new)``; None if none."""
    before, now = flatten_keys(old), flatten_keys(new)
    diffs = sorted(k for k in before.keys() | now.keys()
                   if before.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
    return (diffs[0], before.get(diffs[0]), now.get(diffs[0])) if diffs else None


class RunDir:
    """A run folder; ``prepare`` writes the provenance files (or checks them on resume)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.config_file = self.path / "config.yaml"
        self.metrics_csv = self.path / "metrics.csv"
        self.eval_csv = self.path / "eval.csv"
        self.summary_file = self.path / "summary.json"
        self.tb = self.path / "tb"
        self.lock_file = self.path / LOCK_FILE

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    def table(self, name: str) -> Path:
        """The CSV an agent's records table ``name`` is written to (``<run_dir>/<name>.csv``)."""
        return self.path / f"{name}.csv"

    @staticmethod
    def read_table(path: Path, records: bool = False) -> list[dict[str, str]]:
        """The complete rows of a log CSV (``records``: an agent's table) as dicts of text;
        [] while it does not exist (``trainer.files.read_csv_rows``)."""
        return read_csv_rows(path, records)[1]

    def rr_switch(self) -> dict[str, int] | None:
        """An adaptive-RR run's switch as ``{"episode", "step", "frames"}`` (its first check
        with decision ``switch`` in ``rr_checks.csv``); None before it switches."""
        for row in self.read_table(self.table(RR_CHECKS), records=True):
            if row["decision"] == "switch":
                return {"episode": int(row["episode"]), "step": int(row["step"]),
                        "frames": int(row["frame"])}
        return None

    def eval_curve(self, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """``(x values, mean returns)`` from ``eval.csv`` (``x``: ``step`` or ``frames``);
        empty arrays while the run has no evaluation yet."""
        rows = [r for r in read_csv_rows(self.eval_csv)[1] if r.get("mean_return")]
        return (np.array([int(float(r[x])) for r in rows], dtype=np.int64),
                np.array([float(r["mean_return"]) for r in rows]))

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this folder's writer lock for the block (creating the folder); re-entrant
        within a process. Raises ``RunDirLockedError`` at once, naming the holder, if another
        process holds it; writes nothing then. On entry, removes the ``*.tmp`` files a killed
        writer left behind."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"config error: run_dir: {self.path} exists and is not a folder")
        key = self.path.resolve()
        if key in _HELD:
            _HELD[key].depth += 1
            try:
                yield
            finally:
                _HELD[key].depth -= 1
            return
        self.path.mkdir(parents=True, exist_ok=True)
        created = not self.lock_file.exists()
        hold = _HELD[key] = _Hold(self._lock())
        try:
            if created:  # a new lock file names its holder at once; an existing one only once
                self._name_holder(hold)  # the run begins writing (refusals touch nothing)
            self._remove_temporary_files()
            yield
        finally:
            del _HELD[key]
            if created and not hold.wrote:  # refused before writing: leave no lock file
                self.lock_file.unlink(missing_ok=True)
            os.close(hold.fd)  # releases the lock

    @staticmethod
    def _name_holder(hold: _Hold) -> None:
        """Write ``pid N on host`` into the held lock file (what a second writer's error names)."""
        os.ftruncate(hold.fd, 0)
        os.pwrite(hold.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def _lock(self) -> int:
        """A descriptor of ``train.lock`` holding its exclusive lock."""
        while True:
            try:  # never through a link planted in a shared folder
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as e:
                if e.errno != errno.ELOOP:
                    raise with_path(e, self.lock_file) from None
                raise ConfigError(f"run folder {self.path}: {LOCK_FILE} is a symbolic link; "
                                  "refusing to follow it (delete it if the folder is yours)") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 256).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunDirLockedError(
                    f"run folder {self.path} is in use by another training process ({holder}); "
                    f"wait for it or stop it, or use another run_dir") from None
            if self.lock_file.exists() and os.path.samestat(os.fstat(fd), self.lock_file.stat()):
                return fd
            os.close(fd)  # locked a file its last holder had just removed: lock the new one

    def _remove_temporary_files(self) -> None:
        leftovers = [*self.path.glob("*.tmp"), *self.checkpoints.glob("*.tmp")]
        for p in leftovers:
            p.unlink()
        if leftovers:
            log.info("%s: removed %d temporary file(s) of an interrupted write", self.path,
                     len(leftovers))

    def is_resumable(self) -> bool:
        return self.last_checkpoint.exists()

    def check_same_config(self, cfg: RunConfig) -> None:
        """Refuse to resume a run folder with a different config (except ``steps`` etc.).

        A key renamed since the run was written is read under its new name with its old
        meaning (``RENAMED_KEYS``), so such a run resumes when the command uses the new name."""
        if not self.config_file.exists():
            return
        stored = migrate_renamed_keys(read_yaml(self.config_file))
        try:  # keys added to the schema since the run was written take their defaults
            stored = config_to_dict(validate(stored))
        except ConfigError:
            pass  # a key the schema no longer has: compared as written, so it is reported
        diff = first_config_difference(stored, config_to_dict(cfg))
        if diff:
            k, there, now = diff
            raise ConfigError(
                f"run folder {self.path} holds a run with a different config ({k}: "
                f"{there!r} there, {now!r} now); use another run_dir or the same config")

    def prepare(self, cfg: RunConfig, resumed_at: int | None = None) -> None:
        """Write the config and the provenance of the code that is about to train.

        A new run writes ``versions.json``, ``git.txt`` and ``git.diff``. A resumed run
        (``resumed_at`` = its checkpoint's step) keeps them, since they describe the steps
        already trained, and records its own session only where the code or the versions
        differ from the last recorded one: a block ``resumed at step N:`` appended to
        ``git.txt`` with ``git.resumed_N.diff``, and ``versions.resumed_N.json`` when a
        version moved. A finished run reopened without steps to train records nothing.
        Records of sessions resumed at step N or later are dropped first: resuming from N
        discards the steps they trained (their checkpoints and log rows go too)."""
        hold = _HELD.get(self.path.resolve())
        if hold is not None:
            hold.wrote = True
            self._name_holder(hold)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        write_atomic(self.config_file, dump_config(cfg))
        git_txt = self.path / "git.txt"
        if resumed_at is None or not git_txt.exists():
            summary, diff = git_state()
            write_atomic(self.path / "versions.json", json.dumps(versions(), indent=2) + "\n")
            write_atomic(git_txt, summary)
            write_atomic(self.path / "git.diff", diff)
        elif resumed_at < cfg.steps:
            self._forget_sessions_from(resumed_at)
            self._record_resumed_session(resumed_at)

    def _resumed_files(self, kind: str, suffix: str) -> list[tuple[int, Path]]:
        """``(N, <kind>.resumed_<N><suffix>)`` of the sessions recorded so far, by ``N``."""
        return sorted((int(f.name.removeprefix(f"{kind}.resumed_").removesuffix(suffix)), f)
                      for f in self.path.glob(f"{kind}.resumed_*{suffix}"))

    def _forget_sessions_from(self, step: int) -> None:
        """Drop the ``resumed at step M:`` blocks and files of sessions with ``M >= step``."""
        git_txt = self.path / "git.txt"
        head, *parts = RESUMED_BLOCK.split(git_txt.read_text())
        blocks = list(zip(map(int, parts[::2]), parts[1::2]))
        if any(m >= step for m, _ in blocks):
            write_atomic(git_txt, head + "".join(f"\nresumed at step {m}:\n{text}"
                                                 for m, text in blocks if m < step))
        for kind, suffix in (("git", ".diff"), ("versions", ".json")):
            for m, f in self._resumed_files(kind, suffix):
                if m >= step:
                    f.unlink()

    def _record_resumed_session(self, step: int) -> None:
        """Append this session's code and versions where they differ from the last recorded."""
        def latest(kind: str, suffix: str) -> Path:
            """``<kind>.resumed_<N><suffix>`` with the largest N, else ``<kind><suffix>``."""
            later = self._resumed_files(kind, suffix)
            return later[-1][1] if later else self.path / f"{kind}{suffix}"

        summary, diff = git_state()
        found = versions()
        git_txt = self.path / "git.txt"
        recorded = git_txt.read_text()
        last_summary = RESUMED_BLOCK.split(recorded)[-1]   # the last block's text, or the first
        last_diff = latest("git", ".diff")
        if summary != last_summary or diff != (last_diff.read_text() if last_diff.exists() else ""):
            write_atomic(self.path / f"git.resumed_{step}.diff", diff)
            write_atomic(git_txt, recorded + f"\nresumed at step {step}:\n{summary}")
        last_versions = latest("versions", ".json")
        if not last_versions.exists() or json.loads(last_versions.read_text()) != found:
            write_atomic(self.path / f"versions.resumed_{step}.json",
                         json.dumps(found, indent=2) + "\n")
