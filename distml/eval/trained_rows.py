"""The rows a model trained on, recognisable in other data: ``trained_rows.parquet``.

A run's train and valid rows (valid chose the stopping round and the threshold, so the model has
seen it too) are written as sorted 64-bit fingerprints (distml/stats/keys.row_fingerprints): of
the id column when the run has one, else of the model's input columns and the label. The file
travels with a promoted model; ``distml retrain`` leaves the rows it lists out of the comparison
between the candidate and the current model, so both are judged on rows neither trained on.
Fingerprints are 64 bits: two different rows share one with probability about n²/2^65 (n the
rows compared), far below anything that matters to the comparison. The file holds 8 bytes per
sample row (bounded by the sample, like the training matrix).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from distml.cluster.tasks import map_merge
from distml.data.columns import SPLIT
from distml.data.reading import read_or_skip
from distml.data.shards import Shard
from distml.preprocess.apply import input_columns
from distml.stats.keys import row_fingerprints

FILE = "trained_rows.parquet"
TRAINED_SPLITS = ("train", "valid")


@dataclass(frozen=True)
class TrainedRows:
    """A model's trained-on rows: sorted unique fingerprints and the columns they are of."""

    fingerprints: np.ndarray
    columns: tuple[str, ...]

    def seen(self, df: pl.DataFrame) -> np.ndarray:
        """(n,) bool: which rows of ``df`` the model trained on."""
        fp = row_fingerprints(df, list(self.columns))
        i = np.searchsorted(self.fingerprints, fp)
        i = np.minimum(i, len(self.fingerprints) - 1)
        return self.fingerprints[i] == fp if len(self.fingerprints) else np.zeros(len(fp), bool)


def fingerprint_columns(spec: dict, label: str) -> list[str]:
    """The run's id column, else the model's input columns and the label."""
    if spec.get("id_column"):
        return [spec["id_column"]]
    return [*sorted(input_columns(spec)), label]


def _task(shard: Shard, columns: list[str]) -> tuple[np.ndarray, int]:
    df, _ = read_or_skip(shard, [*columns, SPLIT], "error")
    assert df is not None
    df = df.filter(pl.col(SPLIT).is_in(TRAINED_SPLITS))
    return np.unique(row_fingerprints(df, columns)), df.height


def write_trained_rows(
    shards: list[Shard], spec: dict, label: str, path: str, num_cpus: float = 1.0
) -> int:
    """Fingerprint the sample's train and valid rows (a map over its shards) into ``path``;
    returns how many distinct fingerprints it holds."""
    columns = fingerprint_columns(spec, label)
    fps = map_merge(
        _task,
        shards,
        np.union1d,
        np.zeros(0, np.uint64),
        args=(columns,),
        label="train: fingerprint the trained rows",
        num_cpus=num_cpus,
    )
    table = pa.table({"fingerprint": pa.array(fps, pa.uint64())})
    meta = {"columns": columns, "splits": list(TRAINED_SPLITS), "method": "row_fingerprints"}
    pq.write_table(table.replace_schema_metadata({"distml": json.dumps(meta)}), path)
    return len(fps)


def load_trained_rows(model_dir: str) -> TrainedRows | None:
    """The model directory's (or run's) trained rows; None when it has no trained_rows.parquet
    (written since this version)."""
    path = os.path.join(model_dir, FILE)
    if not os.path.isfile(path):
        return None
    t = pq.read_table(path)
    meta = json.loads((t.schema.metadata or {}).get(b"distml", b"{}"))
    fps = t.column("fingerprint").to_numpy().astype(np.uint64)
    return TrainedRows(np.sort(fps), tuple(meta.get("columns", [])))
