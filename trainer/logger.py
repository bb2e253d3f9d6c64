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
from pathlib import Path

from tqdm import tqdm

from trainer.files import read_csv_rows, with_path, write_atomic

log = logging.getLogger(__name__)


class CSVLog:
    """Append rows of ``{column: value}``; missing values are left empty. ``records``: an
    agent's records table (text values, repeated steps; ``trainer.files.read_csv_rows``)."""

    def __init__(self, path: Path, records: bool = False):
        self.path = path
        self.records = records
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
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writerow(row)
        except OSError as e:
            raise with_path(e, self.path) from None


class Logger:
    """Fans metrics out to ``metrics.csv`` / ``eval.csv``, TensorBoard and the progress bar.

    ``start_step`` is the step of the checkpoint the run resumes from (None: a fresh run).
    """

    def __init__(self, run_dir, total_steps: int, start_step: int | None, tensorboard: bool,
                 progress: bool):
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
        # one rate on the bar, the training rate (evaluation excluded) of the logging window and,
        # at the end, of the whole run: the number the summary prints
        self.bar = tqdm(total=total_steps, initial=start_step or 0, unit="step",
                        dynamic_ncols=True, disable=not progress, mininterval=0.5, smoothing=0.05,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                   "[{elapsed}<{remaining}{postfix}]")
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
        """Close the files and the bar; ``steps_per_second`` (the run's training rate, as the
        summary reports it) replaces the last window's rate on the bar."""
        if steps_per_second is not None:
            self._postfix["steps/s"] = f"{steps_per_second:.0f}"
            self.bar.set_postfix(self._postfix, refresh=True)
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
