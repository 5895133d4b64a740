"""Small mergeable statistics shared by the stages (profile, preprocessing)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl


@dataclass
class NumericStats:
    """Exactly mergeable moments (Chan et al.) and range of one numeric column."""

    count: int = 0
    nulls: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, s: pl.Series) -> NumericStats:
        v = s.cast(pl.Float64).fill_nan(None)
        n = v.len() - v.null_count()
        if n == 0:
            return cls(0, s.len(), 0.0, 0.0)
        mean = float(v.mean())  # type: ignore[arg-type]
        m2 = float(((v - mean) ** 2).sum())
        return cls(n, s.len() - n, mean, m2, float(v.min()), float(v.max()))  # type: ignore[arg-type]

    def merge(self, o: NumericStats) -> NumericStats:
        n = self.count + o.count
        if n == 0:
            return NumericStats(0, self.nulls + o.nulls)
        d = o.mean - self.mean
        mean = self.mean + d * o.count / n
        m2 = self.m2 + o.m2 + d * d * self.count * o.count / n
        return NumericStats(
            n, self.nulls + o.nulls, mean, m2, min(self.min, o.min), max(self.max, o.max)
        )

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


def numeric_stats(df: pl.DataFrame, columns: list[str]) -> dict[str, NumericStats]:
    """NumericStats of several columns: their float64 copies, then one Polars query (its
    aggregations run in parallel)."""
    if not columns:
        return {}
    # the float64, NaN-as-null copies once (an eager select would redo them for each statistic)
    df = df.select(
        pl.col(c).cast(pl.Float64).fill_nan(None).alias(f"_x{i}") for i, c in enumerate(columns)
    )
    exprs = []
    for i in range(len(columns)):
        x = pl.col(f"_x{i}")
        exprs += [
            x.count().alias(f"n{i}"),
            x.mean().alias(f"mean{i}"),
            (x.var(ddof=0) * x.count()).alias(f"m2{i}"),
            x.min().alias(f"min{i}"),
            x.max().alias(f"max{i}"),
        ]
    row = df.select(exprs).row(0, named=True)
    out = {}
    for i, c in enumerate(columns):
        n = int(row[f"n{i}"])
        if n == 0:
            out[c] = NumericStats(0, df.height)
        else:
            out[c] = NumericStats(
                n, df.height - n, row[f"mean{i}"], row[f"m2{i}"], row[f"min{i}"], row[f"max{i}"]
            )
    return out
