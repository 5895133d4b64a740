"""Small mergeable statistics shared by the stages (profile, preprocessing)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl


def finite(x: pl.Expr) -> pl.Expr:
    """A numeric column as float64 with NaN and +-infinity as null: distml's one rule for
    values that are not numbers (missing to every statistic, imputed by preprocessing)."""
    x = x.cast(pl.Float64)
    return pl.when(x.is_finite()).then(x)


def finite_series(s: pl.Series) -> pl.Series:
    """``finite`` of a Series (keeps its name)."""
    return s.to_frame().select(finite(pl.col(s.name))).to_series()


@dataclass
class NumericStats:
    """Exactly mergeable moments (Chan et al.) and range of one numeric column's finite values;
    ``nulls`` counts the others (null, NaN, +-inf), ``infinite`` the +-inf among them."""

    count: int = 0
    nulls: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    infinite: int = 0

    @classmethod
    def of(cls, s: pl.Series) -> NumericStats:
        raw = s.cast(pl.Float64)
        inf = int(raw.is_infinite().sum())
        v = finite_series(raw)
        n = v.len() - v.null_count()
        if n == 0:
            return cls(0, s.len(), 0.0, 0.0, infinite=inf)
        mean = float(v.mean())  # type: ignore[arg-type]
        m2 = float(((v - mean) ** 2).sum())
        lo, hi = float(v.min()), float(v.max())  # type: ignore[arg-type]
        return cls(n, s.len() - n, mean, m2, lo, hi, inf)

    def merge(self, o: NumericStats) -> NumericStats:
        n = self.count + o.count
        inf = self.infinite + o.infinite
        if n == 0:
            return NumericStats(0, self.nulls + o.nulls, infinite=inf)
        d = o.mean - self.mean
        mean = self.mean + d * o.count / n
        m2 = self.m2 + o.m2 + d * d * self.count * o.count / n
        return NumericStats(
            n, self.nulls + o.nulls, mean, m2, min(self.min, o.min), max(self.max, o.max), inf
        )

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


def numeric_stats(df: pl.DataFrame, columns: list[str]) -> dict[str, NumericStats]:
    """NumericStats of several columns: their float64 copies, then one Polars query (its
    aggregations run in parallel)."""
    if not columns:
        return {}
    # the float64 copies, non-finite as null, once (an eager select would redo them for each
    # statistic); only float columns can hold NaN or +-inf
    floats = {c for c in columns if df.schema[c].is_float()}
    df = df.select(
        *((finite(pl.col(c)) if c in floats else pl.col(c).cast(pl.Float64)).alias(f"_x{i}")
          for i, c in enumerate(columns)),
        *(pl.col(c).is_infinite().alias(f"_i{i}") for i, c in enumerate(columns) if c in floats),
    )  # fmt: skip
    exprs = []
    for i, c in enumerate(columns):
        x = pl.col(f"_x{i}")
        exprs += [
            x.count().alias(f"n{i}"),
            x.mean().alias(f"mean{i}"),
            (x.var(ddof=0) * x.count()).alias(f"m2{i}"),
            x.min().alias(f"min{i}"),
            x.max().alias(f"max{i}"),
            (pl.col(f"_i{i}").sum() if c in floats else pl.lit(0)).alias(f"inf{i}"),
        ]
    row = df.select(exprs).row(0, named=True)
    out = {}
    for i, c in enumerate(columns):
        n = int(row[f"n{i}"])
        if n == 0:
            out[c] = NumericStats(0, df.height, infinite=int(row[f"inf{i}"]))
        else:
            out[c] = NumericStats(
                n,
                df.height - n,
                row[f"mean{i}"],
                row[f"m2{i}"],
                row[f"min{i}"],
                row[f"max{i}"],
                int(row[f"inf{i}"]),
            )
    return out
