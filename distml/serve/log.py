"""The request log: sampled scored rows as Parquet, one folder per model, that ``distml
monitor`` reads."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from distml.data.columns import PREDICTION, SCORE
from distml.data.fs import join, write_parquet
from distml.errors import UserError
from distml.serve.model import Served

SERVED_AT = "served_at"
"""The request log: when the row was scored (UTC)."""
SERVED_MODEL = "served_model"
"""The request log: the version of the model that scored it."""


@dataclass
class RequestLog:
    """Sampled scored rows, written as Parquet under ``log_dir/<model>/`` (``<model>``: the
    promoted version, vNNNN, or run-<fingerprint>): one folder per model, the data ``distml
    monitor model_run=<that model> data.path=<folder>`` reads.

    Each row is kept with probability ``fraction``; the rows are written at least every
    ``flush_s`` seconds, or once ``flush_rows`` are held, to a file whose name starts with '.'
    and is then renamed, so a reader never sees half a file."""

    log_dir: str
    fraction: float
    flush_s: float
    flush_rows: int
    name: str
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    held: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    rows: int = 0
    written: int = 0
    files: int = 0
    last: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, scored: pl.DataFrame, served: Served) -> None:
        if self.fraction <= 0 or scored.height == 0:
            return
        keep = self.rng.random(scored.height) < self.fraction
        if not keep.any():
            return
        part = scored.filter(pl.Series(keep)).with_columns(
            pl.lit(datetime.now(UTC)).dt.cast_time_unit("us").alias(SERVED_AT),
            pl.lit(served.version).alias(SERVED_MODEL),
        )
        with self.lock:
            self.held.setdefault(served.log_folder, []).append(part)
            self.rows += part.height
        if self.rows >= self.flush_rows:
            self.flush()

    def due(self) -> bool:
        return self.rows > 0 and time.monotonic() - self.last >= self.flush_s

    def flush(self) -> None:
        with self.lock:
            held, self.held, self.rows = self.held, {}, 0
            self.last = time.monotonic()
            for folder, parts in held.items():
                self._write(join(self.log_dir, folder), pl.concat(parts, how="diagonal_relaxed"))

    def _write(self, folder: str, df: pl.DataFrame) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"requests-{stamp}-{self.name}-{self.files:06d}.parquet"
        self.files += 1
        if "://" in folder:
            write_parquet(df, join(folder, name))  # an object appears whole when it is closed
        else:
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, "." + name)
            df.write_parquet(tmp, compression="zstd")
            os.replace(tmp, os.path.join(folder, name))
        self.written += df.height


def check_log_columns(served: Served) -> None:
    """The request log adds its own columns: a training column of the same name is an error."""
    taken = [c for c in (SERVED_AT, SERVED_MODEL, SCORE, PREDICTION) if c in served.types]
    if taken:
        raise UserError(
            f"The training data has the columns {taken}, which the request log writes beside the "
            "rows; set serve.log_fraction=0 to serve this model without a request log."
        )
