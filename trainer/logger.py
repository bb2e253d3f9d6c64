"""Logging: CSV files (one row per interval), TensorBoard event files and a tqdm progress bar.

CSV columns grow as new metric keys appear (the file is rewritten with the wider header; this
is rare and the files are small). On resume from the checkpoint of step ``s`` the CSV files are
repaired to ``s``: rows past ``s`` are dropped (they belong to the lost tail of the run and are
written again), and so are incomplete rows (``trainer.files.read_csv_rows``: a crash mid-append),
with a warning naming the file; a fresh run starts with empty logs. TensorBoard events past
``s`` are purged, so the logs read as one uninterrupted run.

Every row of step ``<= s`` is written before the checkpoint of step ``s`` and every row of a
later step after it (``trainer/loop.py``), which is what makes this repair exact. An agent's
records (``log_records``) go to ``<table>.csv`` and are repaired the same way.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import sys
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from trainer.files import open_append, read_csv_rows, with_path, write_atomic

log = logging.getLogger(__name__)


class CSVLog:
    """Append rows of ``{column: value}``; missing values are left empty. ``records``: an
    agent's records table (text values, repeated steps; ``trainer.files.read_csv_rows``)."""

    def __init__(self, path: Path, records: bool = False):
        self.path = path
        self.records = records
        if path.is_symlink():  # planted in a shared folder: never read or append through it
            path.unlink()
        self.fields: list[str] = read_csv_rows(path, records)[0]

    def rows(self) -> list[dict[str, str]]:
        return read_csv_rows(self.path, self.records)[1]

    def repair(self, step: int | None) -> None:
        """Keep the complete rows of steps ``<= step`` (resume from that checkpoint); ``None``
        (a fresh run) removes the file."""
        if step is None:
            self.path.unlink(missing_ok=True)
            self.fields = []
            return
        fields, rows, bad = read_csv_rows(self.path, self.records)
        if not fields:
            return
        if bad:
            log.warning("%s: dropped %d incomplete or garbled row(s) (a crash mid-write); "
                        "the run goes on from its checkpoint of step %d", self.path, bad, step)
        self.fields = fields
        self._rewrite([r for r in rows if float(r["step"]) <= step])

    def _rewrite(self, rows: list[dict]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.fields)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.path, text.getvalue())

    def write(self, row: dict[str, float]) -> None:
        new = [k for k in row if k not in self.fields]
        if new:
            old_rows = self.rows()
            self.fields += new
            self._rewrite(old_rows)
        try:
            with open_append(self.path) as f:
                csv.DictWriter(f, fieldnames=self.fields).writerow(row)
        except OSError as e:
            raise with_path(e, self.path) from None


WARMUP_SECONDS = 5.0  # no ETA before this much time has passed since this process's first step


class Progress:
    """Where a run is: a tqdm bar on a terminal, else (``nohup``, a log file, a pipe) one plain
    line on stderr every ``every_seconds``, as SB3's and tonic's loggers print, e.g.
    ``progress: step 12,000/100,000 (12%), 02:31 elapsed, eta 18:27, steps/s=83``. Either
    shows one rate, ``steps/s`` (the training rate of the logging window, evaluation excluded,
    and at the end this process's: ``Logger.close``), not tqdm's own.

    The ETA is ``(total - n) / r`` with ``r`` the mean rate (evaluations included) since the
    end of this process's first step, shown only ``WARMUP_SECONDS`` after that step: the first
    step (a GL context, first compilation, the initial evaluation before it) is many times
    slower than the rest and would make the ETA of a pixel run read an hour instead of minutes.
    Steps of an earlier process (a resumed run) never enter ``r``.
    """

    def __init__(self, total: int, initial: int, enabled: bool, every_seconds: float = 30.0,
                 file: TextIO | None = None):
        self.file = file if file is not None else sys.stderr
        self.total, self.n = total, initial
        self.every = every_seconds
        self.terminal = enabled and self.file.isatty()
        self.plain = enabled and not self.terminal
        self.start = self.last_line = time.perf_counter()
        self.first: tuple[int, float] | None = None  # (step, time) at this process's first step
        self.postfix: dict[str, str] = {}
        self.tqdm = _Bar(self, total=total, initial=initial, unit="step", file=self.file,
                         dynamic_ncols=True, disable=not self.terminal, mininterval=0.5,
                         bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                    "[{elapsed}<{remaining}{postfix}]")

    def rate(self, now: float | None = None) -> float | None:
        """Steps per wall second since this process's first step; None during the warm-up."""
        if self.first is None:
            return None
        now = time.perf_counter() if now is None else now
        step, t = self.first
        if now - t < WARMUP_SECONDS or self.n == step:
            return None
        return (self.n - step) / (now - t)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at ``rate``; None while it is unknown."""
        r = self.rate(now)
        return None if r is None else (self.total - self.n) / r

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.first is None:
            self.first = (self.n, now)
        self.tqdm.update(n)
        if self.plain and now - self.last_line >= self.every:
            self.last_line = now
            print(self.line(now), file=self.file, flush=True)

    def line(self, now: float) -> str:
        eta = self.eta(now)
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        return (f"progress: step {self.n:,}/{self.total:,} ({100 * self.n / self.total:.0f}%), "
                f"{tqdm.format_interval(now - self.start)} elapsed, eta "
                f"{'?' if eta is None else tqdm.format_interval(eta)}{extra}")

    def set_postfix(self, postfix: dict[str, str], refresh: bool = False) -> None:
        self.postfix = dict(postfix)
        self.tqdm.set_postfix(postfix, refresh=refresh)

    def close(self) -> None:
        """Close the bar; without one, a last plain line (where the run ended, its rate)."""
        self.tqdm.close()
        if self.plain and self.first is not None:
            print(self.line(time.perf_counter()), file=self.file, flush=True)


class _Bar(tqdm):
    """tqdm with ``Progress``'s ETA (tqdm's own, from a moving average that starts with the
    slow first step, reads an hour at the start of a pixel run that takes minutes)."""

    def __init__(self, progress: Progress, **kwargs):
        self.progress = progress
        super().__init__(**kwargs)

    @property
    def format_dict(self):
        d = super().format_dict
        rate = self.progress.rate()
        d["rate"] = rate if rate is not None else 0  # 0: tqdm writes the remaining time as '?'
        return d


class Logger:
    """Fans metrics out to ``metrics.csv`` / ``eval.csv``, TensorBoard and the progress
    display (``Progress``).

    ``start_step`` is the step of the checkpoint the run resumes from (None: a fresh run).
    """

    def __init__(self, run_dir, total_steps: int, start_step: int | None, tensorboard: bool,
                 progress: bool, progress_seconds: float = 30.0):
        self.metrics = CSVLog(run_dir.metrics_csv)
        self.evals = CSVLog(run_dir.eval_csv)
        self.metrics.repair(start_step)
        self.evals.repair(start_step)
        self.run_dir = run_dir
        self.tables: dict[str, CSVLog] = {}
        for path in sorted(run_dir.path.glob("*.csv")):   # an agent's records tables
            table = CSVLog(path, records=True)
            if path not in (run_dir.metrics_csv, run_dir.eval_csv) and "step" in table.fields:
                table.repair(start_step)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge events past the checkpoint (all of them for a fresh run)
            self.tb = SummaryWriter(str(run_dir.tb), purge_step=start_step or 0)
        self.bar = Progress(total_steps, start_step or 0, progress, progress_seconds)
        self._postfix: dict[str, str] = {}

    def _tb(self, prefix: str, row: dict[str, float], step: int) -> None:
        if self.tb is None:
            return
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def log_train(self, row: dict[str, float]) -> None:
        self.metrics.write(row)
        self._tb("train", row, int(row["step"]))
        self._postfix["steps/s"] = f"{row.get('steps_per_second', 0):.0f}"
        if "episode_return" in row:
            self._postfix["train_return"] = f"{row['episode_return']:.1f}"
        self.bar.set_postfix(self._postfix, refresh=False)

    def log_eval(self, row: dict[str, float]) -> None:
        self.evals.write(row)
        self._tb("eval", row, int(row["step"]))
        self._postfix["eval_return"] = f"{row['mean_return']:.1f}"
        self.bar.set_postfix(self._postfix, refresh=False)

    def log_records(self, table: str, rows: list[dict]) -> None:
        """Append an agent's records (each row with a ``step``) to ``<run_dir>/<table>.csv``."""
        if table not in self.tables:
            self.tables[table] = CSVLog(self.run_dir.table(table), records=True)
        for row in rows:
            self.tables[table].write(row)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self, steps_per_second: float | None = None) -> None:
        """Close the files and the bar; ``steps_per_second`` (this process's training rate)
        replaces the last window's rate on the bar."""
        if steps_per_second is not None:
            self._postfix["steps/s"] = f"{steps_per_second:.0f}"
            self.bar.set_postfix(self._postfix, refresh=True)
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
