"""Preprocessing fitted once on the train split with full-pass statistics, applied everywhere.

``fit`` is a map over sample shards returning mergeable column statistics (exact count, mean,
variance, min, max; exact category counts); the fitted spec is plain JSON (``preprocessor.json``).
``apply`` is one pure Polars function used by training, evaluation and prediction alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from distml import parallel
from distml.config import PreprocessConfig
from distml.errors import UserError
from distml.shards import Dataset, Shard, join, read_shard, write_parquet
from distml.stats import NumericStats

SPEC_VERSION = 1
NULL_CATEGORY = "__null__"
UNSEEN_CODE = 0


@dataclass
class FitState:
    rows: int = 0
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)

    def merge(self, o: FitState) -> FitState:
        self.rows += o.rows
        for c, st in o.numeric.items():
            self.numeric[c] = self.numeric[c].merge(st) if c in self.numeric else st
        for c, counts in o.categorical.items():
            mine = self.categorical.setdefault(c, {})
            for k, v in counts.items():
                mine[k] = mine.get(k, 0) + v
        return self


def column_kinds(schema: dict[str, pl.DataType], features: Sequence[str]) -> dict[str, str]:
    """numeric | categorical | datetime for each feature; anything else is a user error."""
    kinds = {}
    for c in features:
        dt = schema[c]
        if dt.is_numeric() or dt == pl.Boolean:
            kinds[c] = "numeric"
        elif dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Enum):
            kinds[c] = "categorical"
        elif dt == pl.Date or isinstance(dt, pl.Datetime):
            kinds[c] = "datetime"
        else:
            raise UserError(
                f"The feature column '{c}' has type {dt}, which distml cannot use as a feature. "
                "Add it to data.exclude, or list the columns to use in data.features."
            )
    return kinds


def fit_shard(shard: Shard, kinds: dict[str, str]) -> tuple[FitState, int]:
    cols = [c for c in kinds if kinds[c] != "datetime"]
    df = read_shard(shard, [*cols, "split"]).filter(pl.col("split") == "train")
    st = FitState(rows=df.height)
    for c in cols:
        if kinds[c] == "numeric":
            st.numeric[c] = NumericStats.of(df.get_column(c))
        else:
            vc = df.get_column(c).cast(pl.String).fill_null(NULL_CATEGORY).value_counts()
            st.categorical[c] = dict(zip(vc[c].to_list(), vc["count"].to_list(), strict=True))
    return st, shard.num_rows


def build_spec(
    state: FitState, kinds: dict[str, str], cfg: PreprocessConfig, label: str, id_column: str | None
) -> dict[str, Any]:
    """The fitted preprocessor as JSON-ready data (learned state, visibly apart from settings)."""
    numeric, categorical, datetime_ = {}, {}, {}
    for c, kind in kinds.items():
        if kind == "numeric":
            st = state.numeric.get(c, NumericStats())
            numeric[c] = {
                "count": st.count,
                "nulls": st.nulls,
                "mean": st.mean if st.count else 0.0,
                "std": st.std,
                "min": st.min if st.count else None,
                "max": st.max if st.count else None,
                "impute": st.mean if st.count else 0.0,
                "indicator": bool(cfg.null_indicators and st.nulls > 0),
            }
        elif kind == "categorical":
            counts = state.categorical.get(c, {})
            kept = sorted(
                (k for k, v in counts.items() if v >= cfg.min_frequency),
                key=lambda k: (-counts[k], k),
            )[: cfg.max_categories]
            categorical[c] = {
                "codes": {k: i + 1 for i, k in enumerate(kept)},
                "unseen_code": UNSEEN_CODE,
                "distinct_in_train": len(counts),
            }
        else:
            datetime_[c] = list(cfg.date_parts)
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "label": label,
        "id_column": id_column,
        "train_rows": state.rows,
        "numeric": numeric,
        "categorical": categorical,
        "datetime": datetime_,
    }
    spec["output_columns"] = output_columns(spec)
    return spec


def output_columns(spec: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for c, s in spec["numeric"].items():
        cols.append(c)
        if s["indicator"]:
            cols.append(f"{c}__is_null")
    cols.extend(spec["categorical"])
    for c, parts in spec["datetime"].items():
        cols.extend(f"{c}__{p}" for p in parts)
    return cols


_DATE_PARTS = {
    "year": lambda e: e.dt.year(),
    "month": lambda e: e.dt.month(),
    "day": lambda e: e.dt.day(),
    "weekday": lambda e: e.dt.weekday(),
    "hour": lambda e: e.dt.hour(),
    "minute": lambda e: e.dt.minute(),
    "day_of_year": lambda e: e.dt.ordinal_day(),
    "epoch_days": lambda e: e.dt.epoch("d"),
}


def feature_exprs(spec: dict[str, Any]) -> list[pl.Expr]:
    """The Polars expressions that turn raw columns into the model's float32 inputs."""
    exprs: list[pl.Expr] = []
    for c, s in spec["numeric"].items():
        x = pl.col(c).cast(pl.Float64).fill_nan(None)
        exprs.append(x.fill_null(s["impute"]).cast(pl.Float32).alias(c))
        if s["indicator"]:
            exprs.append(x.is_null().cast(pl.Float32).alias(f"{c}__is_null"))
    for c, s in spec["categorical"].items():
        exprs.append(
            pl.col(c)
            .cast(pl.String)
            .fill_null(NULL_CATEGORY)
            .replace_strict(s["codes"], default=s["unseen_code"], return_dtype=pl.Float32)
            .alias(c)
        )
    for c, parts in spec["datetime"].items():
        exprs.extend(_DATE_PARTS[p](pl.col(c)).cast(pl.Float32).alias(f"{c}__{p}") for p in parts)
    return exprs


def apply(
    spec: dict[str, Any], df: pl.DataFrame | pl.LazyFrame, keep: Sequence[str] = ()
) -> pl.DataFrame:
    """Transform raw rows into model inputs (plus the ``keep`` columns, e.g. id, label, weight).

    The one transform used in training, evaluation and prediction: same spec, same output.
    """
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    present = set(lf.collect_schema().names())
    missing = [c for c in input_columns(spec) if c not in present]
    if missing:
        raise UserError(
            f"The data lacks the columns {missing} that the preprocessor was fitted on. "
            "Score data with the same columns as the training data."
        )
    return lf.select(*[pl.col(k) for k in keep if k in present], *feature_exprs(spec)).collect()


def input_columns(spec: dict[str, Any]) -> list[str]:
    return [*spec["numeric"], *spec["categorical"], *spec["datetime"]]


def save(spec: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)


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
    passthrough: tuple[str, ...] = (),
) -> tuple[dict[str, int], int]:
    """Transform one sample shard and write its rows to ``out/<split>/part-NNNNN.parquet``.

    ``passthrough`` raw columns ride along as ``__slice__<name>`` for sliced evaluation.
    """
    cols = list(dict.fromkeys([*keep, *input_columns(spec), *passthrough, "split"]))
    df = read_shard(shard, cols)
    rows: dict[str, int] = {}
    for (split,), part in df.group_by("split", maintain_order=True):
        feats = apply(spec, part, keep).with_columns(
            part.get_column(c).alias(f"__slice__{c}") for c in passthrough
        )
        write_parquet(feats, join(out, str(split), f"part-{shard.index:05d}.parquet"))
        rows[str(split)] = feats.height
    return rows, shard.num_rows


def features_of(
    columns: Sequence[str],
    label: str,
    id_column: str | None,
    features: Sequence[str] | None,
    exclude: Sequence[str],
) -> list[str]:
    reserved = {label, "split", "stratum", "weight", *(exclude or [])}
    if id_column:
        reserved.add(id_column)
    if features is not None:
        unknown = [c for c in features if c not in columns]
        if unknown:
            raise UserError(
                f"The feature columns {unknown} (data.features) are not in the data. "
                f"Available columns: {', '.join(columns)}."
            )
        return [c for c in features if c not in reserved]
    return [c for c in columns if c not in reserved]


def fit(
    ds: Dataset,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    label: str,
    id_column: str | None,
    num_cpus: float,
    stats,
) -> dict[str, Any]:
    state = parallel.map_merge(
        fit_shard,
        ds.shards,
        FitState.merge,
        FitState(),
        args=(kinds,),
        label="preprocess: fit",
        num_cpus=num_cpus,
        stats=stats,
    )
    if state.rows == 0:
        raise UserError("The train split is empty; raise sampling.size or sampling.split.train.")
    return build_spec(state, kinds, cfg, label, id_column)
