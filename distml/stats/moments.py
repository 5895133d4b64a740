"""Small mergeable statistics shared by the stages (profile, preprocessing)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl


def finite(x: pl.Expr) -> pl.Expr:
    """A numeric column as float64 with NaN and +-infinity as null: distml's one rule for
    values that are not numbers (missing to every statistic, imputed by preprocessing)."""
    x = x.cast(pl.Float64)
    return pl.when(x.is_finite()).then(x)


def finite_series(s: pl.Series) -> pl.Series:
    """``finite`` of a Series (keeps its name)."""
    return s.to_frame().select(finite(pl.col(s.name))).to_series()


BIG = 2.0**500
"""Columns with a finite value beyond this in magnitude have their moments computed on values
divided by a power of two (exact), so that squares and sums stay inside float64's range."""


SMALL = 2.0**-500
"""Likewise for columns whose largest magnitude is below this (values near 1e-200), whose
squares would underflow to 0."""


def power_of_two_scale(lo: float, hi: float) -> float:
    """1.0 for values whose largest magnitude is within [SMALL, BIG] (or 0), else the power of
    two at or below it (the scaled values are below 2 in magnitude)."""
    top = max(abs(lo), abs(hi))
    if top == 0 or SMALL <= top <= BIG:
        return 1.0
    return math.ldexp(1.0, math.frexp(top)[1] - 1)


@dataclass
class NumericStats:
    """Exactly mergeable moments (Chan et al.) and range of one numeric column's finite values;
    ``nulls`` counts the others (null, NaN, +-inf), ``infinite`` the +-inf among them.

    ``m2`` is the sum of squared deviations in units of ``scale``\u00b2: ``scale`` is 1 unless the
    largest magnitude passes ``BIG`` (about 3e150) or stays below ``SMALL`` (about 3e-151), then
    a power of two, so the moments of values anywhere in float64's range neither overflow nor
    underflow."""

    count: int = 0
    nulls: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    infinite: int = 0
    scale: float = 1.0

    def __post_init__(self) -> None:
        # rounding must not put the mean outside the values, nor give a constant a spread
        if self.count and self.min == self.max:
            self.mean, self.m2 = self.min, 0.0
        elif self.count:
            self.mean = min(max(self.mean, self.min), self.max)

    @classmethod
    def of(cls, s: pl.Series) -> NumericStats:
        raw = s.cast(pl.Float64)
        inf = int(raw.is_infinite().sum())
        v = finite_series(raw)
        n = v.len() - v.null_count()
        if n == 0:
            return cls(0, s.len(), 0.0, 0.0, infinite=inf)
        lo, hi = float(v.min()), float(v.max())  # type: ignore[arg-type]
        scale = power_of_two_scale(lo, hi)
        w = v / scale if scale != 1.0 else v
        mean = float(w.mean())  # type: ignore[arg-type]
        m2 = float(((w - mean) ** 2).sum())
        return cls(n, s.len() - n, mean * scale, m2, lo, hi, inf, scale)

    def merge(self, o: NumericStats) -> NumericStats:
        n = self.count + o.count
        inf = self.infinite + o.infinite
        if n == 0:
            return NumericStats(0, self.nulls + o.nulls, infinite=inf)
        if not self.count or not o.count:
            one = self if self.count else o
            return replace(one, nulls=self.nulls + o.nulls, infinite=inf)
        # an all-zero side has no scale of its own: the other side's decides
        scale = max([x.scale for x in (self, o) if x.mean or x.m2] or [1.0])
        a, b = self.mean / scale, o.mean / scale
        d = b - a
        mean = (a + d * o.count / n) * scale
        m2 = sum(x.m2 * (x.scale / scale) ** 2 for x in (self, o) if x.m2)
        m2 += d * d * self.count * o.count / n
        lo, hi = min(self.min, o.min), max(self.max, o.max)
        return NumericStats(n, self.nulls + o.nulls, mean, m2, lo, hi, inf, scale)

    @property
    def std(self) -> float:
        if self.count < 2:
            return 0.0
        return math.sqrt(self.m2 / (self.count - 1)) * self.scale


def numeric_stats(df: pl.DataFrame, columns: list[str]) -> dict[str, NumericStats]:
    """NumericStats of several columns, each in numpy on the column's own buffer (half the time
    of one Polars query computing the same, single-threaded as shard tasks run)."""
    return {c: _column_stats(df.get_column(c)) for c in columns}


_NUMPY_INTS = {pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64}
_STEP = 1 << 16  # values per step of the squared deviations: the float64 temporaries stay in cache


def _column_stats(s: pl.Series) -> NumericStats:
    dt = s.dtype
    if dt in _NUMPY_INTS and not s.null_count():
        v, n, inf = s.to_numpy(), s.len(), 0  # no copy; integers are all finite
    else:
        # floats as they are (nulls become NaN); other types (decimals, integers with nulls)
        # through a float64 copy
        x = s.to_numpy() if dt.is_float() else s.cast(pl.Float64).to_numpy()
        ok = np.isfinite(x)
        n = int(np.count_nonzero(ok))
        inf = int(np.count_nonzero(np.isinf(x))) if n < len(x) and dt.is_float() else 0
        v = x if n == len(x) else x[ok]
    if n == 0:
        return NumericStats(0, s.len(), infinite=inf)
    lo, hi = float(v.min()), float(v.max())
    scale = power_of_two_scale(lo, hi)
    if scale != 1.0:
        v = v.astype(np.float64) / scale
    mean = float(v.mean(dtype=np.float64))
    m2 = 0.0
    for start in range(0, n, _STEP):
        d = v[start : start + _STEP].astype(np.float64) - mean
        m2 += float(d @ d)
    return NumericStats(n, s.len() - n, mean * scale, m2, lo, hi, inf, scale)
