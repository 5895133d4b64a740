"""``preprocess.*``: steps fitted on the train split and applied everywhere (distml/preprocess/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distml.config._check import as_dataclass, check

IMPUTE = ("mean", "median", "mode", "constant", "none")
CLIP = ("none", "quantile", "iqr")
SCALE = ("none", "standard", "minmax", "robust")
ENCODE = ("ordinal", "onehot", "frequency")
DATE_PARTS = ("year", "month", "day", "weekday", "hour", "minute", "day_of_year", "epoch_days")


@dataclass
class ColumnSteps:
    """Per-column overrides of the preprocess defaults (null: use the default)."""

    impute: str | None = None
    fill_value: float | None = None
    indicator: bool | None = None
    clip: str | None = None
    log: bool | None = None
    scale: str | None = None
    encode: str | None = None
    min_frequency: int | None = None
    max_categories: int | None = None


@dataclass
class PreprocessConfig:
    """Steps fitted on the train split with full-pass statistics (preprocessor.json).

    Numeric columns: clip -> log -> impute -> scale (each fitted on the previous step's output),
    plus a null indicator. Categorical: ordinal, one-hot or frequency codes with a slot for rare
    and unseen values. Datetimes: date parts. ``derived`` adds features from row expressions."""

    impute: str = "mean"
    """mean | median | mode | constant (fill_value) | none (XGBoost handles the missing value)."""
    fill_value: float = 0.0
    null_indicators: bool = True
    """Add ``<col>__is_null`` for numeric columns that had nulls in train."""
    clip: str = "none"
    """none | quantile (at clip_quantiles) | iqr (Q1 - k*IQR, Q3 + k*IQR with k = iqr_factor)."""
    clip_quantiles: list[float] = field(default_factory=lambda: [0.001, 0.999])
    iqr_factor: float = 1.5
    log: bool = False
    """sign(x) * log1p(|x|) after clipping."""
    scale: str = "none"
    """none | standard (mean, std) | minmax | robust (median, IQR)."""
    encode: str = "ordinal"
    """ordinal (1..K by frequency, 0 = rare/unseen) | onehot (<col>__<value>, <col>__other) |
    frequency (the value's share of train rows; rare/unseen share one slot)."""
    min_frequency: int = 5
    """Categories seen fewer times in train go to the rare/unseen slot."""
    max_categories: int = 1000
    """At most this many categories get their own code (most frequent first)."""
    date_parts: list[str] = field(
        default_factory=lambda: ["month", "weekday", "hour", "day_of_year"]
    )
    """Parts extracted from datetime columns."""
    columns: dict[str, Any] = field(default_factory=dict)
    """Per-column overrides, e.g. {amount: {clip: iqr, log: true, impute: median}}."""
    derived: dict[str, str] = field(default_factory=dict)
    """New features as row expressions over raw columns, e.g. {per_item: 'amount / (1 + n_items)'}."""
    leakage_auc: float | None = 0.99
    """Binary objectives: warn about a feature whose single-column ROC AUC on the train split
    is at least this (possible leakage; distml/preprocess/separation.py); null: no check."""
    rare_share_warning: float = 0.5
    """Warn when a categorical column's rare/unseen slot holds more than this share of train
    rows (its other values share one code: a high-cardinality column, poorly encoded)."""

    def __post_init__(self) -> None:
        self.columns = {
            k: as_dataclass(ColumnSteps, v, f"preprocess.columns.{k}")
            for k, v in self.columns.items()
        }
        bad = [p for p in self.date_parts if p not in DATE_PARTS]
        check(not bad, "preprocess.date_parts", f"a list from {list(DATE_PARTS)}", bad)
        for key, prefix in [
            ("", "preprocess"),
            *[(c, f"preprocess.columns.{c}") for c in self.columns],
        ]:
            src = self.columns[key] if key else self
            for name, allowed in (
                ("impute", IMPUTE),
                ("clip", CLIP),
                ("scale", SCALE),
                ("encode", ENCODE),
            ):
                v = getattr(src, name)
                if v is not None:
                    check(v in allowed, f"{prefix}.{name}", f"one of {', '.join(allowed)}", v)
            mf = src.min_frequency
            if mf is not None:
                check(mf >= 1, f"{prefix}.min_frequency", "an int >= 1", mf)
            mc = src.max_categories
            if mc is not None:
                check(mc >= 1, f"{prefix}.max_categories", "an int >= 1", mc)
        lo_hi = self.clip_quantiles
        check(
            len(lo_hi) == 2 and 0 <= lo_hi[0] < lo_hi[1] <= 1,
            "preprocess.clip_quantiles",
            "two quantiles [low, high] with 0 <= low < high <= 1",
            lo_hi,
        )
        check(self.iqr_factor > 0, "preprocess.iqr_factor", "positive", self.iqr_factor)

    def steps(self, column: str) -> dict[str, Any]:
        """The resolved steps of one column (defaults with its overrides)."""
        o = self.columns.get(column, ColumnSteps())
        pick = lambda name, default: default if getattr(o, name) is None else getattr(o, name)  # noqa: E731
        return {
            "impute": pick("impute", self.impute),
            "fill_value": pick("fill_value", self.fill_value),
            "indicator": pick("indicator", self.null_indicators),
            "clip": pick("clip", self.clip),
            "log": pick("log", self.log),
            "scale": pick("scale", self.scale),
            "encode": pick("encode", self.encode),
            "min_frequency": pick("min_frequency", self.min_frequency),
            "max_categories": pick("max_categories", self.max_categories),
        }
