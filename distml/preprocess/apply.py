"""The fitted preprocessor applied: one pure, row-local Polars function used by training,
evaluation, prediction, monitoring and serving alike (``apply``), and its JSON form.

Numeric columns: indicator (raw null) -> clip -> log -> impute -> scale -> float32.
Categorical: ordinal (1..K, 0 = rare/unseen), one-hot (plus ``<col>__other``) or frequency.
Datetimes: date parts. Derived features are SQL row expressions over raw columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from distml.artifacts import write_json
from distml.data.columns import SPLIT
from distml.data.fs import join, write_parquet
from distml.data.reading import read_shard
from distml.data.shards import Shard
from distml.errors import UserError
from distml.preprocess.kinds import derived_exprs, derived_inputs
from distml.stats.moments import finite
from distml.target import Target

SPEC_VERSION = 2
OTHER_SLOT = "other"
"""One-hot: the rare and unseen values' column is <col>__other."""
NULL_CATEGORY = "__null__"
UNSEEN_CODE = 0


def signed_log(x: pl.Expr) -> pl.Expr:
    return x.sign() * x.abs().log1p()


def output_columns(spec: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for c, s in spec["numeric"].items():
        cols.append(c)
        if s["indicator"]:
            cols.append(f"{c}__is_null")
    for c, s in spec["categorical"].items():
        if s["encode"] == "onehot":
            cols.extend(f"{c}__{n}" for n in s["columns"].values())
            cols.append(f"{c}__{OTHER_SLOT}")
        else:
            cols.append(c)
    for c, parts in spec["datetime"].items():
        cols.extend(f"{c}__{p}" for p in parts)
    return cols


_DATE_PARTS = {
    "year": lambda e: e.dt.year(),
    "month": lambda e: e.dt.month(),
    "day": lambda e: e.dt.day(),
    "weekday": lambda e: e.dt.weekday(),
    # a date column has no time of day: its hour and minute are 0 (timestamps are UTC here)
    "hour": lambda e: e.cast(pl.Datetime("us")).dt.hour(),
    "minute": lambda e: e.cast(pl.Datetime("us")).dt.minute(),
    "day_of_year": lambda e: e.dt.ordinal_day(),
    "epoch_days": lambda e: e.dt.epoch("d"),
}


def _numeric_exprs(c: str, s: dict[str, Any]) -> list[pl.Expr]:
    raw = finite(pl.col(c))  # NaN and +-inf are missing: imputed, and flagged by the indicator
    x = raw
    if s["clip"] is not None:
        x = x.clip(s["clip"][0], s["clip"][1])
    if s["log"]:
        x = signed_log(x)
    if s["impute"] is not None:
        x = x.fill_null(s["impute"])
    if s["center"] != 0.0 or s["scale"] != 1.0:
        x = (x - s["center"]) / s["scale"]
    out = [x.cast(pl.Float32).alias(c)]
    if s["indicator"]:
        out.append(raw.is_null().cast(pl.Float32).alias(f"{c}__is_null"))
    return out


def _categorical_exprs(c: str, s: dict[str, Any]) -> list[pl.Expr]:
    v = pl.col(c).cast(pl.String).fill_null(NULL_CATEGORY)
    if s["encode"] == "onehot":
        known = list(s["columns"])
        out = [(v == k).cast(pl.Float32).alias(f"{c}__{n}") for k, n in s["columns"].items()]
        out.append((~v.is_in(known)).cast(pl.Float32).alias(f"{c}__{OTHER_SLOT}"))
        return out
    return [
        v.replace_strict(s["codes"], default=s["unseen_code"], return_dtype=pl.Float32).alias(c)
    ]


def feature_exprs(spec: dict[str, Any]) -> list[pl.Expr]:
    """The Polars expressions that turn raw columns into the model's float32 inputs."""
    exprs: list[pl.Expr] = []
    for c, s in spec["numeric"].items():
        exprs.extend(_numeric_exprs(c, s))
    for c, s in spec["categorical"].items():
        exprs.extend(_categorical_exprs(c, s))
    for c, parts in spec["datetime"].items():
        exprs.extend(_DATE_PARTS[p](pl.col(c)).cast(pl.Float32).alias(f"{c}__{p}") for p in parts)
    return exprs


def apply(
    spec: dict[str, Any], df: pl.DataFrame | pl.LazyFrame, keep: Sequence[str] = ()
) -> pl.DataFrame:
    """Transform raw rows into model inputs (plus the ``keep`` columns, e.g. id, label, weight).

    The one transform used in training, evaluation and prediction: same spec, same output, and
    every expression is row-local, so a row's features do not depend on its batch.
    """
    present = df.collect_schema().names()
    missing = [c for c in input_columns(spec) if c not in present]
    if missing:
        raise UserError(
            f"The data lacks the columns {missing} that the preprocessor was fitted on. "
            "Score data with the same columns as the training data."
        )
    # a DataFrame is transformed eagerly: the same expressions without the lazy planner, whose
    # fixed cost dominated a served request, and faster on large batches too (benchmarks/serve.py)
    if spec["derived"]:
        df = df.with_columns(*derived_exprs(spec["derived"], df.collect_schema()).values())
    out = df.select(*[pl.col(k) for k in keep if k in present], *feature_exprs(spec))
    return out if isinstance(out, pl.DataFrame) else out.collect()


def input_columns(spec: dict[str, Any]) -> list[str]:
    """The raw columns ``apply`` reads."""
    direct = [
        c
        for c in [*spec["numeric"], *spec["categorical"], *spec["datetime"]]
        if c not in spec["derived"]
    ]
    return list(dict.fromkeys([*direct, *derived_inputs(spec["derived"])]))


def save(spec: dict[str, Any], path: str) -> None:
    write_json(path, spec)


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        spec = json.load(f)
    if spec.get("version") != SPEC_VERSION:
        raise UserError(
            f"The preprocessor '{path}' has version {spec.get('version')}; this distml reads version {SPEC_VERSION}."
        )
    return spec


def apply_shard(
    shard: Shard,
    spec: dict[str, Any],
    out: str,
    keep: tuple[str, ...],
    parts: Callable[[Shard, pl.DataFrame], pl.DataFrame] | None = None,
) -> tuple[dict[str, int], int]:
    """Transform one sample shard and write its rows (with the ``keep`` columns, the label as
    XGBoost's codes) to ``out/<split>/part-NNNNN.parquet``; the rows written per split.

    ``parts`` instead maps the shard's rows (every column) to the rows to write with their
    folder in ``_band`` (the learning curve's nested training sets, distml/curve/nested.py);
    they go to ``out/band-BB/``."""
    if parts is None:
        df, by = read_shard(shard, list(dict.fromkeys([*keep, *input_columns(spec), SPLIT]))), SPLIT
    else:
        df, by = parts(shard, read_shard(shard)), "_band"
    target = Target.from_json(spec["target"]) if "target" in spec else None
    rows: dict[str, int] = {}
    for (key,), part in df.group_by(by, maintain_order=True):
        name = str(key) if parts is None else f"band-{int(key):02d}"
        feats = apply(spec, part, keep)
        if target is not None and target.column in feats.columns:
            feats = feats.with_columns(target.encode_expr())  # XGBoost's codes
        write_parquet(feats, join(out, str(name), f"part-{shard.index:05d}.parquet"))
        rows[str(name)] = feats.height
    return rows, shard.num_rows
