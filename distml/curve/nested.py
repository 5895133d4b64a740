"""Nested, stratified training sets of any size, taken from one sample by key rank.

Within a stratum the sample's train rows are ordered by their key: the sampling key
``splitmix64(splitmix64(id) ^ splitmix64(seed))`` when there is an id column (then a smaller
training set is exactly the train rows a smaller sample would hold), else the same hash of the
row's content; ties are broken by the row's place in the sample. The first ``m_h`` rows of
stratum ``h`` are its share of the training set of size ``m``.

The shares ``m_h`` follow a house-monotone apportionment, Sainte-Laguë's divisor method: the
next row goes to the stratum with the largest ``train_h / (2 s_h + 1)``, where ``s_h`` of its
rows are taken so far (Balinski and Young, *Fair Representation*, 1982). So every size is exact,
each stratum keeps its share of the full training set to within one row, and a larger size never
drops a row of a smaller one (largest-remainder rounding can: the "Alabama paradox"). The shares
are those of the sample's allocation at its full size: with proportional allocation they are the
population's; with equal or Neyman allocation a smaller set is the full-size allocation scaled
down, which can differ from an allocation recomputed at the smaller size when a stratum is
capped by its population.

The training sets are written as bands: band ``b`` holds the rows of set ``b`` that set
``b - 1`` lacks, so set ``b`` is bands ``0..b``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl

from distml.data.columns import SPLIT, STRATUM, WEIGHT
from distml.data.shards import Shard
from distml.sampling.plan import Cut
from distml.sampling.select import upto
from distml.stats.keys import row_ids, sample_keys

BAND = "_band"
# a Cut here is (key, shard, row): the last row of a stratum in a training set


def interleave(counts: dict[str, int]) -> np.ndarray:
    """The stratum (an index into ``sorted(counts)``) that receives each next row."""
    names = sorted(counts)
    stratum = np.concatenate(
        [np.full(counts[n], i, dtype=np.int64) for i, n in enumerate(names)] or [np.empty(0, int)]
    )
    within = np.concatenate(
        [np.arange(counts[n], dtype=np.int64) for n in names] or [np.empty(0, int)]
    )
    weight = np.array([counts[n] for n in names], dtype=np.float64)
    priority = weight[stratum] / (2.0 * within + 1.0)
    # largest priority first; ties: the stratum first in name order, then its earlier row
    return stratum[np.lexsort((within, stratum, -priority))]


def sizes_by_stratum(counts: dict[str, int], m: int) -> dict[str, int]:
    """Rows per stratum in the training set of ``m`` rows (``m`` <= the sum of ``counts``)."""
    names = sorted(counts)
    got = np.bincount(interleave(counts)[:m], minlength=len(names))
    return {n: int(got[i]) for i, n in enumerate(names)}


def ladder(largest: int, steps: int, smallest: int) -> list[int]:
    """``steps`` training sizes on a geometric ladder from ``max(smallest, largest/100)`` up to
    ``largest`` (rounded, distinct)."""
    lo = min(largest, max(smallest, largest // 100))
    return sorted({int(round(x)) for x in np.geomspace(lo, largest, steps)})


def keyed_train_rows(
    shard: Shard, df: pl.DataFrame, id_column: str | None, seed: int
) -> pl.DataFrame:
    """The train rows of one sample shard ``df`` (every column), with ``_key``, ``_shard`` and
    ``_row``: the order within a stratum."""
    df = df.with_row_index("_row").filter(pl.col(SPLIT) == "train")
    data = df.drop("_row", STRATUM, SPLIT, WEIGHT)
    keys = sample_keys(row_ids(data, id_column), seed)
    return df.with_columns(
        pl.Series("_key", keys, dtype=pl.UInt64),
        pl.lit(shard.index, dtype=pl.Int64).alias("_shard"),
        pl.col("_row").cast(pl.Int64),
    )


def order_task(
    shard: Shard, id_column: str | None, seed: int, holdout: str
) -> tuple[pl.DataFrame, int]:
    """A map task: the shard's train rows as (stratum, _key, _shard, _row); its valid and test
    rows (every column) written to ``holdout/part-NNNNN.parquet``, where every size's model is
    scored without reading the train rows again."""
    from distml.data.fs import join, write_parquet
    from distml.data.reading import read_shard

    raw = read_shard(shard)
    rest = raw.filter(pl.col(SPLIT) != "train")
    if rest.height:
        write_parquet(rest, join(holdout, f"part-{shard.index:05d}.parquet"))
    df = keyed_train_rows(shard, raw, id_column, seed)
    return df.select(STRATUM, "_key", "_shard", "_row"), shard.num_rows


def cuts(order: pl.DataFrame, sizes: list[int]) -> dict[str, list[Cut | None]]:
    """For each stratum and each size, its last row in that training set (None: no row).

    ``order`` holds every train row as (stratum, _key, _shard, _row); ``sizes`` ascend and the
    largest is at most the number of train rows."""
    counts = dict(order.group_by(STRATUM).len().iter_rows())
    shares = [sizes_by_stratum(counts, m) for m in sizes]
    out: dict[str, list[Cut | None]] = {}
    for (name,), g in order.group_by(STRATUM):
        g = g.sort("_key", "_shard", "_row")
        rows = [g.row(sh[name] - 1) if sh[name] else None for sh in shares]
        out[str(name)] = [(int(r[1]), int(r[2]), int(r[3])) if r else None for r in rows]
    return out


def assign_bands(
    shard: Shard,
    df: pl.DataFrame,
    *,
    cuts: dict[str, list[Cut | None]],
    id_column: str | None,
    seed: int,
) -> pl.DataFrame:
    """The shard's train rows in some training set, with the band of the smallest set that holds
    them in ``_band``."""
    rows = keyed_train_rows(shard, df, id_column, seed)
    parts = []
    for (name,), g in rows.group_by(STRATUM, maintain_order=True):
        cs = cuts.get(str(name), [])
        # cuts ascend (the sets are nested): the band is the number of sets that miss the row
        band = pl.sum_horizontal([~upto(c, "_shard") for c in cs]) if cs else pl.lit(0)
        parts.append(g.with_columns(band.cast(pl.Int64).alias(BAND)))
    out = pl.concat(parts) if parts else rows.with_columns(pl.lit(0, dtype=pl.Int64).alias(BAND))
    n_sets = len(next(iter(cuts.values()), []))
    return out.filter(pl.col(BAND) < n_sets).drop("_key", "_shard", "_row")


def banding(cuts_: dict[str, list[Cut | None]], id_column: str | None, seed: int):
    """``assign_bands`` with its cuts bound: the ``parts`` of preprocess.apply_shard."""
    return partial(assign_bands, cuts=cuts_, id_column=id_column, seed=seed)
