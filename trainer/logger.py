"""Logging: CSV files (one row per interval), TensorBoard event files and a tqdm progress bar.

CSV columns grow as new metric keys appear (the file is rewritten with the wider header; this
is rare and the files are small). An agent's records go to ``<table>.csv`` (``log_records``).
On resume, rows past the checkpoint's step are dropped from every step-indexed CSV of the run
folder, and TensorBoard events past it are purged, so the logs read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tqdm import tqdm


class CSVLog:
    """Append rows of ``{column: value}``; missing values are left empty."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] = []
        if path.exists():
            with path.open(newline="") as f:
                self.fields = next(csv.reader(f), [])

    def rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def truncate_after(self, step: int) -> None:
        """Drop rows whose ``step`` is greater than ``step`` (resume from a checkpoint)."""
        if self.path.exists():
            self._rewrite([r for r in self.rows() if int(float(r["step"])) <= step])

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.path)

    def write(self, row: dict[str, float]) -> None:
        new = [k for k in row if k not in self.fields]
        if new:
            old_rows = self.rows()
            self.fields += new
            self._rewrite(old_rows)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


class Logger:
    """Fans metrics out to ``metrics.csv`` / ``eval.csv``, TensorBoard and the progress bar."""

    def __init__(self, run_dir, total_steps: int, start_step: int, tensorboard: bool,
                 progress: bool):
        self.metrics = CSVLog(run_dir.metrics_csv)
        self.evals = CSVLog(run_dir.eval_csv)
        self.run_dir = run_dir
        self.tables: dict[str, CSVLog] = {}
        for path in sorted(run_dir.path.glob("*.csv")):   # metrics, eval, agent records
            log = CSVLog(path)
            if "step" in log.fields:
                log.truncate_after(start_step)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir.tb), purge_step=start_step or None)
        self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                        disable=not progress, mininterval=0.5, smoothing=0.05)
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
            self.tables[table] = CSVLog(self.run_dir.table(table))
        for row in rows:
            self.tables[table].write(row)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
