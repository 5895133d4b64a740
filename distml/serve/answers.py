"""A batch's answers: each conformed row scored through the one scoring path, or its
contract error naming the columns and rules it broke."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars.selectors as cs

from distml.data.columns import CAST_FAILED
from distml.data.schema import family
from distml.scoring import predict, prediction_frame
from distml.serve.model import Served
from distml.serve.rows import CAST_VALUE, KIND, MARKS, MISSING

ERROR = "error"
"""An answer's contract error (null for a scored row)."""
RULES = "rules"
"""The rules an answer's row broke (``type(<column>)`` for a value that did not convert)."""
MODEL_VERSION = "model_version"


def _errors(bad: pl.DataFrame, served: Served) -> list[dict[str, Any]]:
    """Per rejected row: the rules it broke (with their columns) and a type failure's value."""
    rules = list(served.contract.rules)
    flags = bad.select([(~r.ok.fill_null(True)).alias(f"r{i}") for i, r in enumerate(rules)])
    out = []
    for i in range(bad.height):
        broken, parts = [], []
        for j, r in enumerate(rules):
            if flags[i, j]:
                broken.append(r.name)
                parts.append(f"rule '{r.name}' on {', '.join(r.columns) or 'the row'}")
        absent = [] if bad[MISSING][i] is None else bad[MISSING][i].to_list()
        if absent:
            broken.extend(f"missing({c})" for c in absent)
            parts.insert(0, f"the row has no {', '.join(map(repr, absent))} (send null if unknown)")
        col = bad[CAST_FAILED][i]
        if col is not None:
            broken.append(f"type({col})")
            what = KIND.get(family(served.types[col]), str(served.types[col]))
            parts.insert(0, f"column '{col}': {bad[CAST_VALUE][i]} is not {what}")
        out.append({ERROR: "breaks the contract: " + "; ".join(parts), RULES: broken})
    return out


def score_rows(
    served: Served, df: pl.DataFrame, for_log: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Answer each conformed row, in order: the id (when the model has one), ``score``,
    ``prediction`` (and class probabilities), ``model_version``, and for a row that breaks the
    contract ``error`` and ``rules`` (both columns only when some row broke it). With
    ``for_log``, also the scored rows with their score and prediction (the request log)."""
    ok = served.contract.check(df).to_numpy() & df[MISSING].is_null().to_numpy()
    id_col = served.run.id_column if served.run.id_column in df.columns else None
    good = df.filter(pl.Series(ok)).drop(MARKS)
    parts, logged = [], None
    if good.height:
        pred = predict(served.run.model, good, served.booster)
        keep = good.select(id_col) if id_col else pl.DataFrame({"_": np.zeros(good.height)})
        frame = prediction_frame(keep, pred, served.run.model).drop("_", strict=False)
        parts.append(frame.with_columns(pl.Series("_i", np.flatnonzero(ok))))
        if for_log:
            logged = pl.concat([good, frame.drop(id_col) if id_col else frame], how="horizontal")
    if not ok.all():
        bad = df.filter(pl.Series(~ok))
        errs = pl.DataFrame(
            _errors(bad, served), schema={ERROR: pl.String, RULES: pl.List(pl.String)}
        )
        part = pl.concat([bad.select(id_col), errs], how="horizontal") if id_col else errs
        parts.append(part.with_columns(pl.Series("_i", np.flatnonzero(~ok))))
    if not parts:
        return pl.DataFrame({MODEL_VERSION: []}, schema={MODEL_VERSION: pl.String}), logged
    answers = pl.concat(parts, how="diagonal_relaxed").sort("_i").drop("_i")
    return answers.with_columns(
        cs.by_dtype(pl.Float32).cast(pl.Float64),  # probabilities: the float32 value, exactly
        pl.lit(served.version).alias(MODEL_VERSION),
    ), logged
