"""Exactly mergeable distribution summaries: a DDSketch-style log-bucket histogram per numeric
column and value counts per categorical column.

Buckets are fixed by the value alone (bucket i of the positive side covers (g^(i-1), g^i] with
g = (1+a)/(1-a)), so merged counts are exact sums, independent of the sharding, and every
quantile read from them is within relative error ``a`` of a true sample quantile. Edges derived
from a sketch are bucket boundaries, so population counts between them are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
TINY = 1e-12
INF_K = math.ceil(math.log(np.finfo(np.float64).max) / LOG_GAMMA) + 1
"""k of the bucket that holds +-infinity (above every finite value's bucket)."""
MAX_CATEGORIES = 5000
OTHER = "__other__"


CHUNK = 1 << 14  # values per numpy step: the temporaries of a step stay in cache


def bucket_index(x: np.ndarray) -> np.ndarray:
    """Signed bucket ids of float64 values: 0 for |x| < TINY, +(k+2000) for positive and
    -(k+2000) for negative values, k = ceil(ln|x| / ln g). NaN must be removed first.

    Computed a cache-sized slice at a time in preallocated buffers, with no boolean compress or
    scatter: the logarithm is the only real cost (faster than masked temporaries)."""
    out = np.empty(len(x), dtype=np.int64)
    a = np.empty(min(len(x), CHUNK))
    k = np.empty(min(len(x), CHUNK))
    with np.errstate(divide="ignore"):  # log(0) = -inf: set to bucket 0 below
        for lo in range(0, len(x), CHUNK):
            c = x[lo : lo + CHUNK]
            aa, kk = a[: len(c)], k[: len(c)]
            np.abs(c, out=aa)
            np.log(aa, out=kk)
            np.divide(kk, LOG_GAMMA, out=kk)
            np.ceil(kk, out=kk)
            np.minimum(kk, INF_K, out=kk)  # +-inf: the infinity bucket
            kk += 2000  # > 0 for |x| >= TINY
            np.copysign(kk, c, out=kk)
            kk[aa < TINY] = 0
            out[lo : lo + len(c)] = kk
    return out


def bucket_upper(idx: int) -> float:
    """The largest value in a bucket (the bucket's upper boundary; inf for the infinity bucket)."""
    if idx == 0:
        return 0.0
    k = abs(idx) - 2000
    return _power(k) if idx > 0 else -_power(k - 1)


def _power(k: int) -> float:
    if k >= INF_K:
        return math.inf
    try:
        return GAMMA**k
    except OverflowError:  # the last finite bucket's boundary is past the largest float
        return math.inf


@dataclass
class NumericSketch:
    counts: dict[int, int] = field(default_factory=dict)
    nulls: int = 0
    fraction: float = 1.0
    """Share of the rows the counts cover (1: every row; less: a row-hash sample of them, as
    the profile draws at scale). Comparisons use proportions, so they hold either way."""

    @classmethod
    def of(cls, s: pl.Series) -> NumericSketch:
        vals = s.cast(pl.Float64).to_numpy()  # nulls become NaN
        nan = np.isnan(vals)
        if nan.any():
            vals = vals[~nan]
        return cls._bucketed(vals, None, s.len() - len(vals))

    @classmethod
    def of_counts(cls, values: pl.Series, counts: pl.Series) -> NumericSketch:
        """The sketch of a column given as its distinct values and their counts (nulls
        included as a null value): equal to ``of`` the column, at the cost of its distinct
        values."""
        vals = values.cast(pl.Float64).to_numpy()
        cnt = counts.cast(pl.Int64).to_numpy()
        nan = np.isnan(vals)
        return cls._bucketed(vals[~nan], cnt[~nan], int(cnt[nan].sum()))

    @classmethod
    def _bucketed(cls, vals: np.ndarray, weights: np.ndarray | None, nulls: int) -> NumericSketch:
        if len(vals) == 0:
            return cls({}, nulls)
        b = bucket_index(vals)
        lo = int(b.min())
        # ids span at most ~2 * 37k buckets: counting beats sorting (weights: exact below 2^53)
        cnt = np.bincount(b - lo, weights=weights).astype(np.int64)
        ids = np.flatnonzero(cnt)
        return cls(dict(zip((ids + lo).tolist(), cnt[ids].tolist(), strict=True)), nulls)

    def merge(self, o: NumericSketch) -> NumericSketch:
        """The sketch of both rows' sets. Raises ValueError for sketches of different shares."""
        if o.fraction != self.fraction:
            raise ValueError(
                f"sketches of different row shares ({self.fraction}, {o.fraction}) cannot merge"
            )
        out = dict(self.counts)
        for k, v in o.counts.items():
            out[k] = out.get(k, 0) + v
        return NumericSketch(out, self.nulls + o.nulls, self.fraction)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.array(sorted(self.counts, key=lambda i: bucket_upper(i)), dtype=np.int64)
        return keys, np.array([self.counts[k] for k in keys], dtype=np.int64)

    def quantiles(
        self, qs: list[float], lo: float | None = None, hi: float | None = None
    ) -> list[float | None]:
        """Upper boundary of the bucket holding each quantile (relative error <= ALPHA),
        clamped to the column's range [``lo``, ``hi``] when the caller knows it (a bucket's
        boundary can lie beyond every value in it: a constant column's median is its value)."""
        n = self.count
        if n == 0:
            return [None for _ in qs]
        keys, cnt = self._sorted()
        cum = np.cumsum(cnt)
        out = []
        for q in qs:
            i = int(np.searchsorted(cum, max(1, math.ceil(q * n)), side="left"))
            v = bucket_upper(int(keys[min(i, len(keys) - 1)]))
            if lo is not None and hi is not None and lo <= hi:
                v = min(max(v, lo), hi)
            out.append(v)
        return out

    def edges(self, bins: int) -> list[float]:
        """Interior bin edges at the 1/bins .. (bins-1)/bins quantiles (bucket boundaries)."""
        qs = self.quantiles([i / bins for i in range(1, bins)])
        return sorted({q for q in qs if q is not None})

    def histogram(self, edges: list[float]) -> list[int]:
        """Counts in (-inf, e0], (e0, e1], ..., (e_last, inf), then nulls: exact for such edges."""
        out = [0] * (len(edges) + 2)
        e = np.asarray(edges)
        for k, v in self.counts.items():
            out[
                int(
                    np.searchsorted(
                        e,
                        bucket_upper(k) * (1 - 1e-12) if bucket_upper(k) > 0 else bucket_upper(k),
                        side="left",
                    )
                )
            ] += v
        out[-1] = self.nulls
        return out


@dataclass
class CategorySketch:
    counts: dict[str, int] = field(default_factory=dict)
    truncated: bool = False

    @classmethod
    def of(cls, s: pl.Series) -> CategorySketch:
        """Counts of the values (as strings; dates and times by month, 'YYYY-MM')."""
        if s.dtype.is_temporal():
            s = s.dt.truncate("1mo")
        return cls.of_counts(s.value_counts(sort=True))  # count first, then format the values

    @classmethod
    def of_counts(cls, vc: pl.DataFrame) -> CategorySketch:
        """The sketch from a column's ``value_counts(sort=True)`` (nulls included)."""
        keys = vc[:, 0]
        keys = keys.dt.strftime("%Y-%m") if keys.dtype.is_temporal() else keys.cast(pl.String)
        names, cnt = keys.fill_null("\u2205").to_list(), vc["count"].to_list()
        if len(names) <= MAX_CATEGORIES:
            return cls(dict(zip(names, cnt, strict=True)))
        head = dict(zip(names[:MAX_CATEGORIES], cnt[:MAX_CATEGORIES], strict=True))
        head[OTHER] = sum(cnt[MAX_CATEGORIES:])
        return cls(head, True)

    def merge(self, o: CategorySketch) -> CategorySketch:
        out = dict(self.counts)
        for k, v in o.counts.items():
            out[k] = out.get(k, 0) + v
        truncated = self.truncated or o.truncated
        if len(out) > MAX_CATEGORIES:
            keep = sorted(out, key=lambda k: (-out[k], k))[:MAX_CATEGORIES]
            other = sum(v for k, v in out.items() if k not in keep)
            out = {k: out[k] for k in keep}
            out[OTHER] = out.get(OTHER, 0) + other
            truncated = True
        return CategorySketch(out, truncated)

    def top(self, k: int) -> list[str]:
        return sorted((c for c in self.counts if c != OTHER), key=lambda c: (-self.counts[c], c))[
            :k
        ]


HLL_P = 14
HLL_M = 1 << HLL_P
HLL_SEED = 0x5EED
HLL_ERROR = 1.04 / math.sqrt(HLL_M)


_REST = 64 - HLL_P  # bits of a hash below its register index
_TOP = 16
_RANKS = np.array([0] + [_TOP + 1 - t.bit_length() for t in range(1, 1 << _TOP)], dtype=np.uint8)
"""The rank of a hash's remainder r (its leading zeros within the _REST bits, plus 1: 51 -
bit_length(r)) from r's top 16 bits when they are not all zero (0 marks that case)."""


def hll_registers(h: np.ndarray) -> np.ndarray:
    """HyperLogLog registers (uint8, HLL_M) of uint64 hashes (Flajolet et al. 2007): register
    ``h >> 50`` keeps the largest rank of the remaining 50 bits.

    Ranks come from a 64 KiB table on the remainder's top 16 bits, a cache-sized slice at a
    time; the few remainders below 2^34 (one in 65,536) are ranked one by one. Faster than
    counting leading zeros through Polars a slice at a time (whose per-call cost dominated)."""
    reg = np.zeros(HLL_M, dtype=np.uint8)
    step = 4 * CHUNK
    idx = np.empty(min(len(h), step), dtype=np.uint64)
    top = np.empty(min(len(h), step), dtype=np.uint64)
    low = (1 << _REST) - 1
    for lo in range(0, len(h), step):
        c = h[lo : lo + step]
        ii, tt = idx[: len(c)], top[: len(c)]
        np.right_shift(c, np.uint64(_REST), out=ii)
        np.right_shift(c, np.uint64(_REST - _TOP), out=tt)
        tt &= np.uint64((1 << _TOP) - 1)
        rank = _RANKS[tt.view(np.int64)]
        for j in np.flatnonzero(rank == 0).tolist():
            rank[j] = _REST + 1 - (int(c[j]) & low).bit_length()
        np.maximum.at(reg, ii.view(np.intp), rank)
    return reg


@dataclass
class DistinctSketch:
    """HyperLogLog with 2^14 one-byte registers: merging is an elementwise max, so the merged
    sketch is identical for any sharding; the estimate's standard error is HLL_ERROR (0.8%).
    Nulls are not counted as a value."""

    registers: np.ndarray = field(default_factory=lambda: np.zeros(HLL_M, dtype=np.uint8))

    @classmethod
    def of(cls, s: pl.Series) -> DistinctSketch:
        """The sketch of a column's values; the same from its distinct values alone (a value's
        hash does not depend on its position or neighbours)."""
        return cls(hll_registers(s.drop_nulls().hash(HLL_SEED).to_numpy()))

    def merge(self, o: DistinctSketch) -> DistinctSketch:
        return DistinctSketch(np.maximum(self.registers, o.registers))

    def estimate(self) -> int:
        m = float(HLL_M)
        alpha = 0.7213 / (1 + 1.079 / m)
        est = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if est <= 2.5 * m and zeros:
            est = m * math.log(m / zeros)  # linear counting for small cardinalities
        return int(round(est))


@dataclass
class FrequentItems:
    """Misra-Gries counters (mergeable, Agarwal et al. 2012): at most ``capacity`` values kept.

    Every kept count is a lower bound within ``error`` of the true count; with no more distinct
    values than ``capacity`` every count is exact (error 0). Nulls are counted apart."""

    counts: dict[Any, int] = field(default_factory=dict)
    error: int = 0
    nulls: int = 0
    capacity: int = 1000

    @classmethod
    def of(cls, s: pl.Series, capacity: int = 1000) -> FrequentItems:
        return cls.of_counts(s.value_counts(sort=True), capacity)

    @classmethod
    def of_counts(cls, vc: pl.DataFrame, capacity: int = 1000) -> FrequentItems:
        """The counters from a column's ``value_counts(sort=True)`` (nulls included)."""
        null = vc[:, 0].is_null()
        nulls = int(vc.filter(null)["count"].sum())
        vc = vc.filter(~null)
        values, cnt = vc[:, 0].to_list(), vc["count"].to_list()
        return cls(dict(zip(values, cnt, strict=True)), 0, nulls, capacity)._shrink()

    def _shrink(self) -> FrequentItems:
        if len(self.counts) <= self.capacity:
            return self
        ordered = sorted(self.counts.values(), reverse=True)
        cut = ordered[self.capacity]
        self.counts = {k: v - cut for k, v in self.counts.items() if v > cut}
        self.error += cut
        return self

    def merge(self, o: FrequentItems) -> FrequentItems:
        out = dict(self.counts)
        for k, v in o.counts.items():
            out[k] = out.get(k, 0) + v
        merged = FrequentItems(out, self.error + o.error, self.nulls + o.nulls, self.capacity)
        return merged._shrink()

    def top(self, k: int) -> list[tuple[Any, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:k]


def to_json(sk: NumericSketch | CategorySketch) -> dict[str, Any]:
    """A sketch as plain JSON (bucket ids and category names as keys)."""
    if isinstance(sk, NumericSketch):
        return {
            "kind": "numeric",
            "counts": {str(k): v for k, v in sk.counts.items()},
            "nulls": sk.nulls,
            **({"fraction": sk.fraction} if sk.fraction < 1.0 else {}),
        }
    return {"kind": "category", "counts": dict(sk.counts), "truncated": sk.truncated}


def from_json(d: dict[str, Any]) -> NumericSketch | CategorySketch:
    if d["kind"] == "numeric":
        return NumericSketch(
            {int(k): int(v) for k, v in d["counts"].items()},
            int(d["nulls"]),
            float(d.get("fraction", 1.0)),
        )
    return CategorySketch({k: int(v) for k, v in d["counts"].items()}, bool(d["truncated"]))


def merge_each(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
    """Merge ``b``'s mergeable values into ``a`` key by key (and return ``a``)."""
    for k, v in b.items():
        a[k] = a[k].merge(v) if k in a else v
    return a
