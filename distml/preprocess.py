"""Preprocessing fitted once on the train split with full-pass statistics, applied everywhere.

``fit`` is one or two maps over the sample's shards returning mergeable statistics (exact count,
mean, variance, min, max and category counts; a quantile sketch with relative error ``ALPHA``
for median, quantile clipping, IQR and robust scaling; Misra-Gries counters for the mode). A
second pass runs only for clipped columns, whose later steps are fitted on the clipped values.
The fitted spec is versioned JSON (``preprocessor.json``); ``apply`` is one pure, row-local Polars
function used by training, evaluation and prediction alike.

Numeric columns: indicator (raw null) -> clip -> log -> impute -> scale -> float32.
Categorical: ordinal (1..K, 0 = rare/unseen), one-hot (plus ``<col>__other``) or frequency.
Datetimes: date parts. Derived features are row expressions over raw columns (``expr.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from distml import parallel
from distml.config import PreprocessConfig
from distml.errors import UserError
from distml.expr import compile_expr
from distml.shards import Dataset, Shard, join, read_shard, write_parquet
from distml.sketch import ALPHA, FrequentItems, NumericSketch
from distml.stats import NumericStats

SPEC_VERSION = 2
NULL_CATEGORY = "__null__"
UNSEEN_CODE = 0
MODE_CAPACITY = 256


@dataclass
class NumState:
    stats: NumericStats
    sketch: NumericSketch
    frequent: FrequentItems

    @classmethod
    def of(cls, s: pl.Series) -> NumState:
        s = s.cast(pl.Float64).fill_nan(None)
        return cls(NumericStats.of(s), NumericSketch.of(s), FrequentItems.of(s, MODE_CAPACITY))

    def merge(self, o: NumState) -> NumState:
        return NumState(
            self.stats.merge(o.stats), self.sketch.merge(o.sketch), self.frequent.merge(o.frequent)
        )


@dataclass
class FitState:
    rows: int = 0
    numeric: dict[str, NumState] = field(default_factory=dict)
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


def derived_exprs(derived: dict[str, str], columns: Sequence[str]) -> dict[str, pl.Expr]:
    """Derived features as expressions over raw ``columns`` (each may use only raw columns)."""
    return {
        name: compile_expr(text, f"preprocess.derived.{name}", list(columns))[0].alias(name)
        for name, text in derived.items()
    }


def derived_inputs(derived: dict[str, str], columns: Sequence[str] | None) -> list[str]:
    """The raw columns the derived features read."""
    used: list[str] = []
    for name, text in derived.items():
        used += compile_expr(text, f"preprocess.derived.{name}", columns)[1]
    return list(dict.fromkeys(used))


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


def feature_kinds(
    schema: dict[str, pl.DataType], features: Sequence[str], cfg: PreprocessConfig
) -> dict[str, str]:
    """Kinds of the raw features and of the derived ones (typed from the expressions)."""
    clash = [n for n in cfg.derived if n in schema]
    if clash:
        raise UserError(
            f"The derived features {clash} (preprocess.derived) have the names of data columns; "
            "give them new names."
        )
    out_schema = dict(schema)
    if cfg.derived:
        exprs = derived_exprs(cfg.derived, list(schema))
        out_schema.update(
            pl.DataFrame(schema=schema).lazy().select(*exprs.values()).collect_schema()
        )
    unknown = [c for c in cfg.columns if c not in features and c not in cfg.derived]
    if unknown:
        raise UserError(
            f"preprocess.columns names {unknown}, which are not features. Features: "
            f"{', '.join([*features, *cfg.derived])}."
        )
    return column_kinds(out_schema, [*features, *cfg.derived])


def _signed_log(x: pl.Expr) -> pl.Expr:
    return x.sign() * x.abs().log1p()


def _pre(c: str, steps: dict[str, Any], bounds: tuple[float, float] | None) -> pl.Expr:
    """Raw value -> (clipped, logged) value: what impute and scale are fitted on."""
    x = pl.col(c).cast(pl.Float64).fill_nan(None)
    if bounds is not None:
        x = x.clip(bounds[0], bounds[1])
    if steps["log"]:
        x = _signed_log(x)
    return x


def fit_shard(
    shard: Shard,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    bounds: dict[str, tuple[float, float]] | None,
) -> tuple[FitState, int]:
    raw = [c for c in kinds if kinds[c] != "datetime" and c not in cfg.derived]
    raw += derived_inputs(cfg.derived, None)
    df = read_shard(shard, list(dict.fromkeys([*raw, "split"]))).filter(pl.col("split") == "train")
    return fit_state(df, kinds, cfg, bounds), shard.num_rows


def fit_state(
    df: pl.DataFrame,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    bounds: dict[str, tuple[float, float]] | None,
) -> FitState:
    """Pass 1 (``bounds`` None): every column, clipped ones on raw values (for their bounds);
    pass 2: only the clipped columns, on clipped (and logged) values."""
    if cfg.derived:
        df = df.with_columns(*derived_exprs(cfg.derived, df.columns).values())
    st = FitState(rows=df.height)
    for c, kind in kinds.items():
        steps = cfg.steps(c)
        if kind == "numeric":
            if bounds is None:
                clipped = steps["clip"] != "none"
                expr = pl.col(c).cast(pl.Float64) if clipped else _pre(c, steps, None)
            elif c in bounds:
                expr = _pre(c, steps, bounds[c])
            else:
                continue
            st.numeric[c] = NumState.of(df.select(expr.alias(c)).get_column(c))
        elif kind == "categorical" and bounds is None:
            vc = df.get_column(c).cast(pl.String).fill_null(NULL_CATEGORY).value_counts()
            st.categorical[c] = dict(zip(vc[c].to_list(), vc["count"].to_list(), strict=True))
    return st


def clip_bounds(
    state: FitState, kinds: dict[str, str], cfg: PreprocessConfig
) -> dict[str, tuple[float, float]]:
    out = {}
    for c, kind in kinds.items():
        steps = cfg.steps(c)
        if kind != "numeric" or steps["clip"] == "none" or c not in state.numeric:
            continue
        sk = state.numeric[c].sketch
        if not sk.count:
            continue
        if steps["clip"] == "quantile":
            lo, hi = sk.quantiles(list(cfg.clip_quantiles))
        else:
            q1, q3 = sk.quantiles([0.25, 0.75])
            k = cfg.iqr_factor * (q3 - q1)  # type: ignore[operator]
            lo, hi = q1 - k, q3 + k  # type: ignore[operator]
        out[c] = (float(lo), float(hi))  # type: ignore[arg-type]
    return out


def _numeric_spec(
    st: NumState | None, steps: dict[str, Any], bounds: tuple[float, float] | None, raw_nulls: int
) -> dict[str, Any]:
    stats = st.stats if st is not None else NumericStats()
    has = stats.count > 0
    median = st.sketch.quantiles([0.5])[0] if has and st is not None else None
    impute = steps["impute"]
    if impute == "mean":
        fill = stats.mean if has else 0.0
    elif impute == "median":
        fill = median if median is not None else 0.0
    elif impute == "mode":
        top = st.frequent.top(1) if st is not None else []
        fill = float(top[0][0]) if top else 0.0
    elif impute == "constant":
        fill = float(steps["fill_value"])
    else:
        fill = None
    center, scale = 0.0, 1.0
    if steps["scale"] == "standard" and has:
        center, scale = stats.mean, stats.std or 1.0
    elif steps["scale"] == "minmax" and has:
        center, scale = stats.min, (stats.max - stats.min) or 1.0
    elif steps["scale"] == "robust" and has and st is not None:
        q1, q3 = st.sketch.quantiles([0.25, 0.75])
        center, scale = median or 0.0, (q3 - q1) or 1.0  # type: ignore[operator]
    return {
        "count": stats.count,
        "nulls": raw_nulls,
        "mean": stats.mean if has else None,
        "std": stats.std if has else None,
        "min": stats.min if has else None,
        "max": stats.max if has else None,
        "median": median,
        "clip": list(bounds) if bounds is not None else None,
        "log": bool(steps["log"]),
        "impute": fill,
        "impute_method": impute,
        "indicator": bool(steps["indicator"] and raw_nulls > 0),
        "center": center,
        "scale": scale,
        "scale_method": steps["scale"],
    }


def _safe(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]", "_", value)[:40]


def _categorical_spec(counts: dict[str, int], steps: dict[str, Any], rows: int) -> dict[str, Any]:
    kept = sorted(
        (k for k, v in counts.items() if v >= steps["min_frequency"]),
        key=lambda k: (-counts[k], k),
    )[: steps["max_categories"]]
    enc = steps["encode"]
    spec: dict[str, Any] = {"encode": enc, "distinct_in_train": len(counts)}
    if enc == "ordinal":
        spec.update(codes={k: i + 1 for i, k in enumerate(kept)}, unseen_code=UNSEEN_CODE)
    elif enc == "frequency":
        other = sum(v for k, v in counts.items() if k not in set(kept))
        spec.update(
            codes={k: counts[k] / rows for k in kept},
            unseen_code=other / rows if rows else 0.0,
        )
    else:
        names, seen = {}, set()
        for i, k in enumerate(kept):
            n = _safe(k)
            n = n if n not in seen else f"{n}_{i}"
            seen.add(n)
            names[k] = n
        spec.update(columns=names)
    return spec


def build_spec(
    state: FitState,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    label: str,
    id_column: str | None,
    clipped: FitState | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The fitted preprocessor as JSON-ready data (learned state, visibly apart from settings)."""
    bounds = bounds or {}
    numeric, categorical, datetime_ = {}, {}, {}
    for c, kind in kinds.items():
        steps = cfg.steps(c)
        if kind == "numeric":
            st = state.numeric.get(c)
            raw_nulls = st.stats.nulls if st is not None else 0
            if c in bounds and clipped is not None:
                st = clipped.numeric.get(c)
            numeric[c] = _numeric_spec(st, steps, bounds.get(c), raw_nulls)
        elif kind == "categorical":
            categorical[c] = _categorical_spec(state.categorical.get(c, {}), steps, state.rows)
        else:
            datetime_[c] = list(cfg.date_parts)
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "label": label,
        "id_column": id_column,
        "train_rows": state.rows,
        "quantile_relative_error": ALPHA,
        "derived": dict(cfg.derived),
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
    for c, s in spec["categorical"].items():
        if s["encode"] == "onehot":
            cols.extend(f"{c}__{n}" for n in s["columns"].values())
            cols.append(f"{c}__other")
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
    "hour": lambda e: e.dt.hour(),
    "minute": lambda e: e.dt.minute(),
    "day_of_year": lambda e: e.dt.ordinal_day(),
    "epoch_days": lambda e: e.dt.epoch("d"),
}


def _numeric_exprs(c: str, s: dict[str, Any]) -> list[pl.Expr]:
    raw = pl.col(c).cast(pl.Float64).fill_nan(None)
    x = raw
    if s["clip"] is not None:
        x = x.clip(s["clip"][0], s["clip"][1])
    if s["log"]:
        x = _signed_log(x)
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
        out.append((~v.is_in(known)).cast(pl.Float32).alias(f"{c}__other"))
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
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    present = lf.collect_schema().names()
    missing = [c for c in input_columns(spec) if c not in present]
    if missing:
        raise UserError(
            f"The data lacks the columns {missing} that the preprocessor was fitted on. "
            "Score data with the same columns as the training data."
        )
    if spec["derived"]:
        lf = lf.with_columns(*derived_exprs(spec["derived"], present).values())
    return lf.select(*[pl.col(k) for k in keep if k in present], *feature_exprs(spec)).collect()


def input_columns(spec: dict[str, Any]) -> list[str]:
    """The raw columns ``apply`` reads."""
    direct = [
        c
        for c in [*spec["numeric"], *spec["categorical"], *spec["datetime"]]
        if c not in spec["derived"]
    ]
    return list(dict.fromkeys([*direct, *derived_inputs(spec["derived"], None)]))


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
    def run(bounds: dict | None, label_: str) -> FitState:
        return parallel.map_merge(
            fit_shard,
            ds.shards,
            FitState.merge,
            FitState(),
            args=(kinds, cfg, bounds),
            label=label_,
            num_cpus=num_cpus,
            stats=stats,
        )

    state = run(None, "preprocess: fit")
    if state.rows == 0:
        raise UserError("The train split is empty; raise sampling.size or sampling.split.train.")
    bounds = clip_bounds(state, kinds, cfg)
    clipped = run(bounds, "preprocess: fit clipped") if bounds else None
    return build_spec(state, kinds, cfg, label, id_column, clipped, bounds)


def fit_frame(
    df: pl.DataFrame,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    label: str,
    id_column: str | None,
) -> dict[str, Any]:
    """The same spec fitted in one process over an in-memory frame of train rows (a reference)."""
    state = fit_state(df, kinds, cfg, None)
    bounds = clip_bounds(state, kinds, cfg)
    clipped = fit_state(df, kinds, cfg, bounds) if bounds else None
    return build_spec(state, kinds, cfg, label, id_column, clipped, bounds)
