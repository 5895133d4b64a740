"""Fitting the preprocessor on the train split: one or two maps over the sample's shards
returning mergeable statistics (exact count, mean, variance, min, max and category counts; a
quantile sketch with relative error ``ALPHA`` for median, quantile clipping, IQR and robust
scaling; Misra-Gries counters for the mode). A second pass runs only for clipped columns, whose
later steps are fitted on the clipped values. The result is the JSON spec ``apply`` reads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from distml.cluster.tasks import map_merge
from distml.config import PreprocessConfig
from distml.data.columns import SPLIT, repeated
from distml.data.reading import read_shard
from distml.data.shards import Dataset, Shard
from distml.errors import UserError
from distml.preprocess.apply import (
    NULL_CATEGORY,
    OTHER_SLOT,
    SPEC_VERSION,
    UNSEEN_CODE,
    output_columns,
    signed_log,
)
from distml.preprocess.kinds import derived_exprs, derived_inputs
from distml.stats.moments import NumericStats, finite, finite_series
from distml.stats.sketches import ALPHA, FrequentItems, NumericSketch
from distml.target import Target

MODE_CAPACITY = 256


@dataclass
class NumState:
    stats: NumericStats
    sketch: NumericSketch
    frequent: FrequentItems

    @classmethod
    def of(cls, s: pl.Series) -> NumState:
        s = finite_series(s)
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


def _pre(c: str, steps: dict[str, Any], bounds: tuple[float, float] | None) -> pl.Expr:
    """Raw value -> (clipped, logged) value: what impute and scale are fitted on."""
    x = finite(pl.col(c))
    if bounds is not None:
        x = x.clip(bounds[0], bounds[1])
    if steps["log"]:
        x = signed_log(x)
    return x


def fit_shard(
    shard: Shard,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    bounds: dict[str, tuple[float, float]] | None,
) -> tuple[FitState, int]:
    raw = [c for c in kinds if kinds[c] != "datetime" and c not in cfg.derived]
    raw += derived_inputs(cfg.derived)
    df = read_shard(shard, list(dict.fromkeys([*raw, SPLIT]))).filter(pl.col(SPLIT) == "train")
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
        df = df.with_columns(*derived_exprs(cfg.derived, df.schema).values())
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
        sk, st = state.numeric[c].sketch, state.numeric[c].stats
        if not sk.count:
            continue
        if steps["clip"] == "quantile":
            lo, hi = sk.quantiles(list(cfg.clip_quantiles), st.min, st.max)
        else:
            q1, q3 = sk.quantiles([0.25, 0.75], st.min, st.max)
            k = cfg.iqr_factor * (q3 - q1)  # type: ignore[operator]
            lo, hi = q1 - k, q3 + k  # type: ignore[operator]
        out[c] = (float(lo), float(hi))  # type: ignore[arg-type]
    return out


def _numeric_spec(
    st: NumState | None, steps: dict[str, Any], bounds: tuple[float, float] | None, raw_nulls: int
) -> dict[str, Any]:
    stats = st.stats if st is not None else NumericStats()
    has = stats.count > 0
    median = None
    if has and st is not None:
        median = st.sketch.quantiles([0.5], stats.min, stats.max)[0]
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
        q1, q3 = st.sketch.quantiles([0.25, 0.75], stats.min, stats.max)
        center, scale = median or 0.0, (q3 - q1) or 1.0  # type: ignore[operator]
    fitted = "float32" if not has else _float32_range(stats, center, scale)
    if fitted != "float32":
        scale = fitted
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


FLOAT32_SPAN = (2.0**-100, 2.0**100)
"""The magnitudes a feature's values are brought inside before the model's float32 cast (whose
range is about 1.2e-38..3.4e38): beyond it a value would become infinite or zero."""


def _float32_range(stats: NumericStats, center: float, scale: float) -> float | str:
    """``scale`` times the power of two that brings the column's transformed values inside
    ``FLOAT32_SPAN`` when they are outside it (values near 1e200 or 1e-200); "float32" when they
    fit already. A power of two changes no value's order or float32 precision, so trees split
    the same (the feature is not lost to infinities or zeros)."""
    half = max(abs(v / 2 - center / 2) for v in (stats.min, stats.max)) / scale  # no overflow
    lo, hi = FLOAT32_SPAN
    if half == 0 or lo <= 2 * half <= hi:
        return "float32"
    return scale * math.ldexp(1.0, math.frexp(half)[1] + 1 - 64)


def _safe(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]", "_", value)[:40]


def _categorical_spec(counts: dict[str, int], steps: dict[str, Any], rows: int) -> dict[str, Any]:
    kept = sorted(
        (k for k, v in counts.items() if v >= steps["min_frequency"]),
        key=lambda k: (-counts[k], k),
    )[: steps["max_categories"]]
    enc = steps["encode"]
    kept_rows = sum(counts[k] for k in kept)
    spec: dict[str, Any] = {
        "encode": enc,
        "distinct_in_train": len(counts),
        "rare_share": 1 - kept_rows / rows if rows else 0.0,
    }
    if enc == "ordinal":
        spec.update(codes={k: i + 1 for i, k in enumerate(kept)}, unseen_code=UNSEEN_CODE)
    elif enc == "frequency":
        other = sum(v for k, v in counts.items() if k not in set(kept))
        spec.update(
            codes={k: counts[k] / rows for k in kept},
            unseen_code=other / rows if rows else 0.0,
        )
    else:
        # NOTE: 'other' is the rare/unseen slot's name (<col>__other): a value named like it
        # (or like another value once made safe) gets its rank appended
        names, seen = {}, {OTHER_SLOT}
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
    target: Target | None = None,
) -> dict[str, Any]:
    """The fitted preprocessor as JSON-ready data (learned state, visibly apart from settings),
    with ``target``, the label's classes and XGBoost's codes for them (preprocessor.json
    ``target``; None: none written, the label passes as it is)."""
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
    out = output_columns(spec)
    twice = repeated(out)
    if twice:
        raise UserError(
            f"The features {twice} would be made twice: a data column is named like a feature "
            "distml derives from another (<col>__is_null, <col>__<value>, <col>__<date part>). "
            "Rename that column, or leave it out with data.exclude."
        )
    spec["output_columns"] = out
    if target is not None:
        spec["target"] = target.to_json()
    return spec


def fit_preprocessor(
    ds: Dataset,
    kinds: dict[str, str],
    cfg: PreprocessConfig,
    label: str,
    id_column: str | None,
    num_cpus: float,
    stats,
    target: Target | None = None,
) -> dict[str, Any]:
    """The preprocessor fitted over the sample's train rows (``ds``) by a map over its shards
    (a second map when clipping needs the first's quantiles); ``build_spec``'s result."""

    def run(bounds: dict | None, label_: str) -> FitState:
        return map_merge(
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
    return build_spec(state, kinds, cfg, label, id_column, clipped, bounds, target)


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
