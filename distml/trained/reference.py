"""reference.json: the training population as monitoring compares new data with it (the
schema's type families, the label counts, each column's sketch and the test split's scores).
Written by the pipeline's profile and evaluate stages, read by ``distml monitor``."""

from __future__ import annotations

import json
import os
from typing import Any

import polars as pl

from distml.artifacts import write_json
from distml.data.schema import family, polars_schema
from distml.data.shards import Dataset
from distml.profile.report import ProfileReport
from distml.stats.sketches import NumericSketch, to_json


def write_reference(path: str, ds: Dataset, sketches: dict[str, Any], prof: ProfileReport) -> None:
    """reference.json: the training population as monitoring compares new data with it."""
    schema = polars_schema(ds.schema)
    ref = {
        "version": 1,
        "rows": prof.rows_accepted,
        "schema": {c: family(t) for c, t in schema.items()},
        "label_counts": prof.label_counts,
        "columns": {c: to_json(sk) for c, sk in sketches.items()},
    }
    write_json(path, ref, indent=None)


def add_score_reference(path: str, pred_dir: str) -> None:
    """The test split's score distribution (the score-drift reference), added to reference.json."""
    if not os.path.isfile(path) or not os.path.isdir(pred_dir):
        return
    scores = (
        pl.scan_parquet(os.path.join(pred_dir, "*.parquet"))
        .filter(pl.col("split") == "test")
        .select("score")
        .collect()
        .get_column("score")
    )
    with open(path) as f:
        ref = json.load(f)
    ref["score"] = to_json(NumericSketch.of(scores))
    write_json(path, ref, indent=None)
