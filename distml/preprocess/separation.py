"""Columns that alone separate a binary label almost perfectly on the train split: a warning of
possible leakage (a value recorded after the outcome, or a copy of the label), never a silent
change to the features.

Per feature a mergeable histogram of (negative, positive) rows per value bucket: numbers,
booleans and timestamps by the profile's log buckets (1% relative width, distml/stats/sketches.py),
categories by value, nulls in a bucket of their own. The single-column ROC AUC is computed from
the buckets (Mann-Whitney, ties within a bucket counted half): numbers in their order, with the
null bucket at either end and either direction (the best of the four); categories in the order
of their positive rate (the best any coding of the column can reach), categories seen fewer than
``MIN_COUNT`` times pooled. A column at or above ``preprocess.leakage_auc`` is named in a warning.
Bucketing can only merge values, so the AUC reported is at most the raw column's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from distml.cluster.tasks import map_merge
from distml.data.columns import SPLIT
from distml.data.reading import read_shard
from distml.data.shards import Dataset, Shard
from distml.stats.sketches import bucket_index, bucket_upper
from distml.target import Target

MIN_COUNT = 5
NULL = "\u2205"


def _buckets(s: pl.Series, kind: str) -> pl.Series:
    """Each value's bucket key as text (categories as themselves, others by log bucket)."""
    if kind == "categorical":
        return s.cast(pl.String).fill_null(NULL)
    x = s.cast(pl.Datetime("us")).dt.epoch("us") if kind == "datetime" else s
    v = x.cast(pl.Float64).to_numpy()
    nan = np.isnan(v)
    ids = bucket_index(np.where(nan, 0.0, v)).astype(str).astype(object)
    ids[nan] = NULL
    return pl.Series(ids.tolist(), dtype=pl.String)


def _shard(
    shard: Shard, kinds: dict[str, str], target: Target
) -> tuple[dict[str, dict[str, list[int]]], int]:
    df = read_shard(shard, [*kinds, target.column, SPLIT]).filter(pl.col(SPLIT) == "train")
    y = df.select(target.encode_expr()).to_series()
    out: dict[str, dict[str, list[int]]] = {}
    for c, kind in kinds.items():
        keys = _buckets(df.get_column(c), kind)
        g = (
            pl.DataFrame({"k": keys, "y": y})
            .drop_nulls("y")
            .group_by("k")
            .agg(neg=(pl.col("y") == 0).sum(), pos=(pl.col("y") == 1).sum())
        )
        out[c] = {k: [int(n), int(p)] for k, n, p in g.iter_rows()}
    return out, shard.num_rows


def _merge(a: dict, b: dict) -> dict:
    for c, hist in b.items():
        mine = a.setdefault(c, {})
        for k, (n, p) in hist.items():
            m = mine.setdefault(k, [0, 0])
            m[0] += n
            m[1] += p
    return a


def _auc(order: list[tuple[int, int]]) -> float:
    """ROC AUC of bins in ascending score order, each (negatives, positives)."""
    neg = sum(n for n, _ in order)
    pos = sum(p for _, p in order)
    if not neg or not pos:
        return 0.5
    below, total = 0, 0.0
    for n, p in order:
        total += p * (below + 0.5 * n)
        below += n
    return total / (neg * pos)


def column_auc(hist: dict[str, list[int]], kind: str) -> float:
    """The best single-column AUC a histogram allows (see the module docstring)."""
    null = hist.get(NULL)
    rest = {k: v for k, v in hist.items() if k != NULL}
    if kind == "categorical":
        rare = [0, 0]
        bins = []
        for v in rest.values():
            if sum(v) < MIN_COUNT:
                rare[0] += v[0]
                rare[1] += v[1]
            else:
                bins.append(v)
        bins += [b for b in (rare, null) if b and sum(b)]
        bins.sort(key=lambda v: v[1] / sum(v))
        return _auc([tuple(b) for b in bins])
    ordered = [tuple(rest[k]) for k in sorted(rest, key=lambda k: bucket_upper(int(k)))]
    best = 0.5
    for placed in ([null, *ordered], [*ordered, null]) if null else ([*ordered],):
        bins = [tuple(b) for b in placed if b]
        a = _auc(bins)
        best = max(best, a, 1 - a)
    return best


def scan(
    sample: Dataset,
    kinds: dict[str, str],
    target: Target,
    threshold: float,
    num_cpus: float,
    stats: Any = None,
) -> dict[str, float]:
    """The feature columns whose single-column AUC on the train split is ``threshold`` or more."""
    if not kinds:
        return {}
    hist = map_merge(
        _shard,
        sample.shards,
        _merge,
        {},
        args=(kinds, target),
        label="preprocess: leakage check",
        num_cpus=num_cpus,
        stats=stats,
    )
    aucs = {c: column_auc(h, kinds[c]) for c, h in hist.items()}
    return {c: round(a, 4) for c, a in aucs.items() if a >= threshold}
