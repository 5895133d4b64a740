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
