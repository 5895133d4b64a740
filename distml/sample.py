"""Exact, reproducible stratified sampling and train/valid/test split over sharded Parquet.

Each row's key is ``hash(seed, id)``; within each stratum the rows with the smallest keys form the
sample (bottom-k), and the split takes the first ranks for train, the next for valid, the rest for
test. The driver never holds rows, only per-stratum thresholds:

1. counts: one pass over the strata columns gives N_h; the allocation gives n_h and split sizes.
2. thresholds: one pass over (strata, id) counts the keys below a narrow band around each expected
   cut and returns the few keys inside it (as in ScaSRS); the k-th smallest key is then exact.
3. select: one pass over the full rows keeps ``(key, file, row) <= threshold``; each shard task
   writes its own part of ``sample/``.

Ties (rows sharing an id share a key) are broken by the row's position in its file, so the order
is total and the sample size exact; for distinct ids the sample is identical for any sharding.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from distml import parallel
from distml.allocation import allocate
from distml.config import SamplingConfig
from distml.errors import UserError
from distml.keys import Term, parse_strata, row_ids, sample_keys, stratum_counts, with_stratum
from distml.progress import say
from distml.shards import (
    Dataset,
    Shard,
    join,
    polars_schema,
    read_ipc,
    read_shard,
    scan_shard,
    write_ipc,
    write_parquet,
)
from distml.sketch import OTHER, CategorySketch, NumericSketch, histogram, ks, psi
from distml.stats import NumericStats

SPLITS = ("train", "valid", "test")
U64_MAX = (1 << 64) - 1
ALL = (U64_MAX, 1 << 31, 1 << 62)  # a position after every row: "take the whole stratum"
BAND_Z = 7.0
CANDIDATE_CAP = 8_000_000  # keys kept by pass 1 at most (about 24 bytes each on the driver)


@dataclass
class Plan:
    """What the sample stage decided: per stratum N_h, n_h, split sizes and the key cuts."""

    population: dict[str, int]
    sizes: dict[str, int]
    split_sizes: dict[str, dict[str, int]]
    cuts: dict[str, list[tuple[int, int, int] | None]] = field(default_factory=dict)
    """Per stratum, the last (key, file, row) of train, of train+valid and of the sample; None
    means no row."""

    def weight(self, stratum: str) -> float:
        return self.population[stratum] / self.sizes[stratum] if self.sizes[stratum] else 0.0


@dataclass(frozen=True)
class Spec:
    """The plain inputs every shard task needs."""

    terms: tuple[Term, ...]
    id_column: str | None
    seed: int
    row_filter: pl.Expr | None = None
    edges: dict[str, list[float]] = field(default_factory=dict)
    """Quantile-bin edges of the numeric strata columns."""
    neyman_column: str | None = None
    compare: dict[str, tuple[str, list]] = field(default_factory=dict)
    """Columns whose sample distribution is histogrammed: ('num', edges) or ('cat', values)."""
    id_dtype: pl.DataType | None = None
    candidate_bound: int | None = None
    """Pass 1 also returns every key below this bound (exact cuts without a band pass)."""

    @property
    def strata(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.column for t in self.terms))


def _keyed(
    shard: Shard,
    spec: Spec,
    columns: Sequence[str] | None,
    top: int | None = None,
    with_names: bool = True,
    frame: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The shard's accepted rows with stratum, key, file and row position (only keys <= top).

    Keys are computed with numpy (a splitmix64 expression in Polars re-evaluates its shared
    subexpressions and runs ~10x slower). ``frame`` is the shard already in memory (the profile
    pass), read again otherwise."""
    if frame is not None:
        df = frame.select(columns) if columns is not None else frame
        df = df.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_row") + shard.row_offset
        )
    else:
        df = scan_shard(shard, columns, row_index="_row").collect()
    keys = sample_keys(row_ids(df.drop("_row"), spec.id_column), spec.seed)
    df = df.with_columns(pl.Series("_key", keys))
    if top is not None:
        df = df.filter(pl.Series(keys <= np.uint64(top)))
    if spec.row_filter is not None:
        df = df.filter(spec.row_filter)
    if with_names:
        df = with_stratum(df, spec.terms, spec.edges)
    return df.with_columns(
        pl.lit(shard.file_index, dtype=pl.Int64).alias("_file"), pl.col("_row").cast(pl.Int64)
    )


def _needed(spec: Spec, extra: Sequence[str] = ()) -> list[str] | None:
    if spec.id_column is None:
        return None  # a content-derived id needs every column
    return list(dict.fromkeys([*spec.strata, spec.id_column, *extra]))


# -- pass 1: counts ---------------------------------------------------------------------------


@dataclass
class CountState:
    counts: dict[str, int] = field(default_factory=dict)
    neyman: dict[str, NumericStats] = field(default_factory=dict)
    candidates: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    """Per stratum, every (key, file, row[, id]) with key <= Spec.candidate_bound (kept apart by
    stratum in the shard tasks, so the driver never groups millions of rows by name)."""

    def merge(self, o: CountState) -> CountState:
        _add_counts(self.counts, o.counts)
        for k, v in o.neyman.items():
            self.neyman[k] = self.neyman[k].merge(v) if k in self.neyman else v
        for s, parts in o.candidates.items():
            mine = self.candidates.setdefault(s, [])
            mine.extend(c for c in parts if c.height)
            if len(mine) > 64:
                self.candidates[s] = [pl.concat(mine)]
        return self

    def candidate_frames(self) -> dict[str, pl.DataFrame]:
        return {s: pl.concat(parts) for s, parts in self.candidates.items() if parts}


def _by_stratum(cand: pl.DataFrame) -> dict[str, list[pl.DataFrame]]:
    """A shard's candidates (with a ``stratum`` column) split by stratum."""
    return {
        str(name): [part.drop("stratum")]
        for (name,), part in cand.partition_by("stratum", as_dict=True).items()
    }


def _count(shard: Shard, spec: Spec, filter_cols: tuple[str, ...]) -> tuple[CountState, int]:
    extra = [spec.neyman_column] if spec.neyman_column else []
    df = scan_shard(shard, _needed(spec, [*filter_cols, *extra])).collect()
    return first_pass(shard, df, spec), shard.num_rows


def first_pass(
    shard: Shard,
    df: pl.DataFrame,
    spec: Spec,
    *,
    mixed: np.ndarray | None = None,
    ok: pl.Series | None = None,
    spill: str | None = None,
) -> CountState:
    """Pass 1 on one shard's rows: per-stratum counts (and Neyman moments), and the candidates:
    every accepted row whose key is <= ``spec.candidate_bound``.

    The profile pass calls it on the shard it holds in memory, with ``spill``: the candidates'
    full rows are written there too, so the sample stage reads no population file again when the
    candidates settle every cut. ``mixed`` (``splitmix64`` of the row ids) and ``ok``
    (``spec.row_filter`` of each row) are passed when the caller has them already."""
    keys = sample_keys(row_ids(df, spec.id_column) if mixed is None else mixed, spec.seed, mixed)
    if ok is None:
        ok = (
            df.with_columns(spec.row_filter.fill_null(False).alias("_ok")).get_column("_ok")
            if spec.row_filter is not None
            else pl.Series("_ok", np.ones(df.height, dtype=bool))
        )
    strata = list(spec.strata)
    if strata:
        st = CountState(stratum_counts(df.select(strata).filter(ok), spec.terms, spec.edges))
    else:  # no strata (e.g. regression): one stratum of every accepted row
        n = int(ok.sum())
        st = CountState({"all": n} if n else {})
    if spec.neyman_column:
        part = with_stratum(
            df.select(*strata, spec.neyman_column).filter(ok), spec.terms, spec.edges
        )
        for (name,), g in part.group_by("stratum"):
            st.neyman[str(name)] = NumericStats.of(g.get_column(spec.neyman_column))
    if spec.candidate_bound is None:
        return st
    idx = np.flatnonzero(ok.to_numpy() & (keys <= np.uint64(spec.candidate_bound)))
    rows = df[idx].with_columns(pl.Series("_row", idx + shard.row_offset, dtype=pl.Int64))
    ident = [pl.col(spec.id_column).alias("_id")] if spec.id_column is not None else []
    cand = rows.select(*strata, "_row", *ident).with_columns(
        pl.Series("_key", keys[idx], dtype=pl.UInt64),
        pl.lit(shard.file_index, dtype=pl.Int64).alias("_file"),
    )
    st.candidates = _by_stratum(
        with_stratum(cand, spec.terms, spec.edges).select(
            "stratum", "_key", "_file", "_row", *(["_id"] if ident else [])
        )
    )
    if spill is not None and rows.height:  # read back once, soon: no compression
        write_ipc(rows, join(spill, f"part-{shard.index:05d}.arrow"))
    return st


def precount_spec(
    ds: Dataset,
    cfg: SamplingConfig,
    *,
    label: str,
    id_column: str | None,
    seed: int,
    row_filter: pl.Expr | None,
) -> Spec | None:
    """The pass-1 inputs when the profile pass can do pass 1 too; None when it cannot (quantile
    strata need the profile's sketches first, Neyman allocation per-stratum moments, a sample sized
    by memory the profile's column statistics, a content-derived id every column)."""
    if id_column is None or cfg.allocation == "neyman" or cfg.size is None and cfg.fraction is None:
        return None
    strata = tuple(cfg.strata) if cfg.strata is not None else (label,)
    terms = check_columns(ds, strata, label, id_column, cfg.time_column)
    if any(t.kind == "quantile" for t in terms):
        return None
    expected = (
        cfg.size if cfg.size is not None else target_size(cfg, ds.num_rows, f"data.path '{ds.uri}'")
    )
    bound = _candidate_bound(expected, ds.num_rows)
    if bound is None:
        return None
    schema = polars_schema(ds.schema)
    return Spec(terms, id_column, seed, row_filter, {}, None, {}, schema.get(id_column), bound)


def _candidate_bound(expected: int, population: int) -> int | None:
    """Keys below ~2x the sampling fraction: enough for every stratum's cut unless its
    allocation departs from proportional (min_per_stratum, equal, neyman) or it is tiny."""
    if 2 * expected > CANDIDATE_CAP:
        return None
    frac = min(1.0, 2.0 * expected / max(population, 1) + 64.0 / max(population, 1))
    return U64_MAX if frac >= 1 else int(frac * U64_MAX)


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    return a


# -- pass 2: exact cut keys -------------------------------------------------------------------


def _band(rank: int, n_pop: int, z: float) -> tuple[int, int]:
    """Key range that holds the rank-th smallest of n_pop uniform keys with overwhelming odds."""
    sd = math.sqrt(rank * (1 - rank / n_pop)) + 1
    lo = max(0.0, (rank - z * sd) / n_pop)
    hi = min(1.0, (rank + z * sd) / n_pop)
    return int(lo * U64_MAX) if lo > 0 else 0, U64_MAX if hi >= 1 else int(hi * U64_MAX)


@dataclass
class BandState:
    below: dict[int, int] = field(default_factory=dict)
    inside: list[pl.DataFrame] = field(default_factory=list)


def _band_task(
    shard: Shard, spec: Spec, bands: pl.DataFrame, filter_cols: tuple[str, ...]
) -> tuple[BandState, int]:
    df = _keyed(shard, spec, _needed(spec, filter_cols)).select("stratum", "_key", "_file", "_row")
    j = df.join(bands, on="stratum", how="inner")
    below = j.filter(pl.col("_key") < pl.col("lo")).group_by("band").len()
    inside = j.filter((pl.col("_key") >= pl.col("lo")) & (pl.col("_key") <= pl.col("hi")))
    state = BandState(
        dict(zip(below["band"].to_list(), below["len"].to_list(), strict=True)),
        [inside.select("band", "_key", "_file", "_row")],
    )
    return state, shard.num_rows


def _merge_bands(a: BandState, b: BandState) -> BandState:
    _add_counts(a.below, b.below)  # type: ignore[arg-type]
    a.inside.extend(x for x in b.inside if x.height)
    if len(a.inside) > 64:
        a.inside = [pl.concat(a.inside)]
    return a


def _kth(g: pl.DataFrame, r: int) -> tuple[int, int, int]:
    """The r-th smallest (key, file, row) of ``g`` (1-based), in linear time: the r-th key by
    partition, then the ties on it (rows sharing an id) in (file, row) order."""
    keys = g.get_column("_key").to_numpy()
    v = np.partition(keys, r - 1)[r - 1]
    below = int(np.count_nonzero(keys < v))
    tied = g.filter(pl.col("_key") == v).sort("_file", "_row")
    return int(v), int(tied.item(r - 1 - below, "_file")), int(tied.item(r - 1 - below, "_row"))


def _find_cuts(
    ds: Dataset,
    spec: Spec,
    plan: Plan,
    filter_cols: tuple[str, ...],
    num_cpus: float,
    stats,
    candidates: dict[str, pl.DataFrame] | None = None,
) -> None:
    """Fill ``plan.cuts`` with the exact (key, file, row) at each stratum's split and sample ranks.

    ``candidates`` (every key up to a bound, from pass 1) settle the cuts whose rank they reach;
    the rest are found by the band pass.
    """
    wanted: dict[int, tuple[str, int, int]] = {}  # band id -> (stratum, cut index, rank)
    for s, n_pop in plan.population.items():
        sz = plan.split_sizes[s]
        ranks = [sz["train"], sz["train"] + sz["valid"], plan.sizes[s]]
        cuts: list[tuple[int, int, int] | None] = []
        for i, r in enumerate(ranks):
            if r <= 0:
                cuts.append(None)
            elif r >= n_pop:
                cuts.append(ALL)
            else:
                cuts.append(None)
                wanted[len(wanted)] = (s, i, r)
        plan.cuts[s] = cuts
    if candidates is not None and wanted:
        for b in list(wanted):
            s, i, r = wanted[b]
            g = candidates.get(s)
            if g is not None and r <= g.height:
                plan.cuts[s][i] = _kth(g, r)
                del wanted[b]
    z = BAND_Z
    while wanted:
        ids = sorted(wanted)
        bounds = [_band(wanted[b][2], plan.population[wanted[b][0]], z) for b in ids]
        bands = pl.DataFrame(
            {
                "band": ids,
                "stratum": [wanted[b][0] for b in ids],
                "lo": pl.Series([lo for lo, _ in bounds], dtype=pl.UInt64),
                "hi": pl.Series([hi for _, hi in bounds], dtype=pl.UInt64),
            },
            schema_overrides={"band": pl.Int64},
        )
        state = parallel.map_merge(
            _band_task,
            ds.shards,
            _merge_bands,
            BandState(),
            args=(spec, bands, filter_cols),
            label="sample: cut keys",
            num_cpus=num_cpus,
            stats=stats,
        )
        inside = (
            pl.concat(state.inside)
            if state.inside
            else pl.DataFrame(
                schema={"band": pl.Int64, "_key": pl.UInt64, "_file": pl.Int64, "_row": pl.Int64}
            )
        )
        missed: dict[int, tuple[str, int, int]] = {}
        ordered = inside.sort("band", "_key", "_file", "_row")
        for (band_id,), group in ordered.group_by("band", maintain_order=True):
            s, i, r = wanted[band_id]
            k = r - state.below.get(band_id, 0)
            if 1 <= k <= group.height:
                row = group.row(k - 1, named=True)
                plan.cuts[s][i] = (int(row["_key"]), int(row["_file"]), int(row["_row"]))
        for b in ids:
            s, i, r = wanted[b]
            if plan.cuts[s][i] is None:
                missed[b] = wanted[b]
        wanted = missed
        z *= 4  # a miss has odds ~1e-12; widen and look again for those cuts only


# -- pass 3: select ---------------------------------------------------------------------------


def _sample_hists(
    picked: pl.DataFrame, compare: dict[str, tuple[str, list]]
) -> dict[str, list[int]]:
    out = {}
    for c, (kind, ref) in compare.items():
        col = picked.get_column(c)
        if kind == "num":
            out[c] = histogram(col, ref)
        else:
            counts = CategorySketch.of(col).counts
            out[c] = [counts.get(v, 0) for v in ref] + [
                sum(n for v, n in counts.items() if v not in set(ref))
            ]
    return out


def _select_task(
    shard: Shard,
    spec: Spec,
    plan: Plan,
    out: str,
    columns: tuple[str, ...],
    filter_cols: tuple[str, ...],
) -> tuple[tuple[dict[str, dict[str, int]], dict[str, list[int]]], int]:
    """Pick the shard's sample rows and write them with split, stratum and weight.

    Two phases: the (strata, id) columns decide which rows are taken; then only those rows are
    read in full (Polars decodes the other columns just for rows whose id passes the filter).
    """
    top = max((c[2][0] for c in plan.cuts.values() if c[2] is not None), default=None)
    if top is None:
        return ({}, {}), shard.num_rows
    keys = _keyed(shard, spec, _needed(spec, filter_cols), top)
    parts = [
        _pick(g, plan, str(name), ["_row"])
        for (name,), g in keys.partition_by("stratum", as_dict=True).items()
        if name in plan.cuts
    ]
    chosen = pl.concat(parts) if parts else None
    if chosen is None or chosen.height == 0:
        return ({}, {}), shard.num_rows
    if spec.id_column is None:
        rows = _keyed(shard, spec, None)
    else:
        wanted = keys.filter(pl.col("_row").is_in(chosen.get_column("_row").implode())).get_column(
            spec.id_column
        )
        rows = (
            scan_shard(shard, None, row_index="_row")
            .filter(pl.col(spec.id_column).is_in(wanted.implode()))
            .collect()
            .with_columns(pl.col("_row").cast(pl.Int64))
        )
    return _emit(shard, _gather(shard, rows, chosen, columns), spec, out), shard.num_rows


def _emit(
    shard: Shard, picked: pl.DataFrame, spec: Spec, out: str
) -> tuple[dict[str, dict[str, int]], dict[str, list[int]]]:
    """Write a part of the sample; return its per-stratum split counts and histograms."""
    write_parquet(picked, join(out, f"part-{shard.index:05d}.parquet"))
    counts: dict[str, dict[str, int]] = {}
    for s, split, n in picked.group_by("stratum", "split").len().iter_rows():
        counts.setdefault(s, {})[split] = n
    return counts, _sample_hists(picked, spec.compare)


def _upto(cut: tuple[int, int, int] | None) -> pl.Expr:
    """(key, file, row) <= cut, for the rows of one stratum (None: no row)."""
    if cut is None:
        return pl.lit(False)
    k, f, r = pl.lit(cut[0], dtype=pl.UInt64), cut[1], cut[2]
    key, fil, row = pl.col("_key"), pl.col("_file"), pl.col("_row")
    return (key < k) | ((key == k) & ((fil < f) | ((fil == f) & (row <= r))))


def _pick(g: pl.DataFrame, plan: Plan, s: str, keep: Sequence[str]) -> pl.DataFrame:
    """The rows of stratum ``s`` among ``g`` (with _key, _file, _row) that the sample takes:
    ``keep`` columns, with their stratum, split and weight."""
    c0, c1, c2 = plan.cuts[s]
    return g.filter(_upto(c2)).select(
        *keep,
        pl.lit(s, dtype=pl.String).alias("stratum"),
        pl.when(_upto(c0))
        .then(pl.lit("train"))
        .when(_upto(c1))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
        .alias("split"),
        pl.lit(plan.weight(s), dtype=pl.Float64).alias("weight"),
    )


def _chosen_from_candidates(
    plan: Plan, candidates: dict[str, pl.DataFrame] | None, spec: Spec
) -> pl.DataFrame | None:
    """The selected rows with their split, if the candidates hold every one of them."""
    if candidates is None or spec.id_column is None:
        return None
    parts = []
    for s, n in plan.sizes.items():
        if n == 0:
            continue
        g = candidates.get(s)
        if g is None or "_id" not in g.columns:
            return None
        picked = _pick(g, plan, s, ["_file", "_row", "_id"])
        if picked.height != n:
            return None  # a cut lies above the candidate bound (e.g. a whole stratum is taken)
        parts.append(picked)
    return pl.concat(parts) if parts else None


def _by_shard(ds: Dataset, chosen: pl.DataFrame) -> list[tuple[Shard, pl.DataFrame]]:
    by_file = chosen.partition_by("_file", as_dict=True, include_key=False)
    per_file = Counter(sh.file_index for sh in ds.shards)
    items = []
    for sh in ds.shards:
        part = by_file.get((sh.file_index,))
        if part is not None and per_file[sh.file_index] > 1:  # a row group of a larger file
            lo, hi = sh.row_offset, sh.row_offset + sh.num_rows
            part = part.filter((pl.col("_row") >= lo) & (pl.col("_row") < hi))
        if part is not None and part.height:
            items.append((sh, part))
    return items


def _fetch_task(
    group: list[tuple[Shard, pl.DataFrame]], spec: Spec, out: str, columns: tuple[str, ...]
) -> tuple[tuple[dict[str, dict[str, int]], dict[str, list[int]]], int]:
    """Read only the chosen rows of a group of shards (Polars decodes other columns just for rows
    whose id matches) and write them, with split, stratum and weight, as one part."""
    assert spec.id_column is not None
    parts = []
    for sh, chosen in group:
        rows = (
            scan_shard(sh, None, row_index="_row")
            .filter(pl.col(spec.id_column).is_in(chosen.get_column("_id").implode()))
            .collect()
            .with_columns(pl.col("_row").cast(pl.Int64))
        )
        parts.append(_gather(sh, rows, chosen, columns))
    state = _emit(group[0][0], pl.concat(parts), spec, out)
    return state, sum(sh.num_rows for sh, _ in group)


def _gather(
    shard: Shard, rows: pl.DataFrame, chosen: pl.DataFrame, columns: tuple[str, ...]
) -> pl.DataFrame:
    """The chosen rows with their split, stratum and weight. ``rows`` are in row order and hold
    every chosen row (and maybe others: rows that share a chosen row's id), so each chosen row is
    found by binary search on its position."""
    chosen = chosen.sort("_row")
    at = rows.get_column("_row").to_numpy()
    want = chosen.get_column("_row").to_numpy()
    pos = np.searchsorted(at, want)
    if len(want) and (len(at) == 0 or not np.array_equal(at[np.minimum(pos, len(at) - 1)], want)):
        raise AssertionError(f"the rows read from shard {shard.key} miss chosen rows")
    return rows[pos].select(columns).hstack(chosen.select("stratum", "split", "weight"))


@dataclass
class Precounted:
    state: CountState
    bound: int
    spill: str
    task_seconds: float = 0.0
    """What pass 1 added to the profile pass's tasks (summed over shards)."""


def _spill_task(
    group: list[tuple[Shard, pl.DataFrame]],
    spec: Spec,
    out: str,
    columns: tuple[str, ...],
    spill: str,
) -> tuple[tuple[dict[str, dict[str, int]], dict[str, list[int]]], int]:
    """Write the chosen rows of a group of shards (one part) from the candidate rows the profile
    pass spilled; the group's first shard names the part."""
    parts = [
        _gather(sh, read_ipc(join(spill, f"part-{sh.index:05d}.arrow")), chosen, columns)
        for sh, chosen in group
    ]
    state = _emit(group[0][0], pl.concat(parts), spec, out)
    return state, sum(sh.num_rows for sh, _ in group)


def _groups(items: list, n: int) -> list[list]:
    """Consecutive items in ``n`` groups at most (one task and one output part each)."""
    size = max(1, math.ceil(len(items) / max(1, n)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _merge_selected(a: tuple[dict, dict], b: tuple[dict, dict]) -> tuple[dict, dict]:
    for s, d in b[0].items():
        for split, n in d.items():
            a[0].setdefault(s, {}).setdefault(split, 0)
            a[0][s][split] += n
    for c, h in b[1].items():
        a[1][c] = [x + y for x, y in zip(a[1][c], h, strict=True)] if c in a[1] else list(h)
    return a


# -- the stage --------------------------------------------------------------------------------


def parse_bytes(text: str) -> int:
    """'4GiB', '500MB', '1.5G' or a plain number of bytes."""
    units = {
        "": 1,
        "b": 1,
        "k": 1e3,
        "kb": 1e3,
        "kib": 2**10,
        "m": 1e6,
        "mb": 1e6,
        "mib": 2**20,
        "g": 1e9,
        "gb": 1e9,
        "gib": 2**30,
        "t": 1e12,
        "tb": 1e12,
        "tib": 2**40,
    }
    t = str(text).strip().lower().replace(" ", "")
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num) :]
    try:
        value = float(num) * units[unit]
    except (ValueError, KeyError):
        raise UserError(
            f"The 'sampling.max_memory' parameter must be a size such as 4GiB or 500MB. Got {text!r}."
        ) from None
    if value <= 0:
        raise UserError(f"The 'sampling.max_memory' parameter must be positive. Got {text!r}.")
    return int(value)


def target_size(
    cfg: SamplingConfig, n_pop: int, where: str, bytes_per_row: int | None = None
) -> int:
    """The sample size: sampling.size, sampling.fraction, or what sampling.max_memory allows."""
    if cfg.size is not None:
        if cfg.size > n_pop:
            raise UserError(
                f"sampling.size={cfg.size:,} is larger than the population: {where} has "
                f"{n_pop:,} usable rows. Use a smaller sampling.size, or set sampling.size=null "
                "sampling.fraction=1.0 to take every row."
            )
        return cfg.size
    if cfg.fraction is not None:
        return max(1, round(cfg.fraction * n_pop))
    assert cfg.max_memory is not None
    per_row = max(1, bytes_per_row or 1)
    # the training matrix holds the train split: size * split.train rows of per_row bytes
    return max(1, min(n_pop, int(parse_bytes(cfg.max_memory) / (per_row * cfg.split.train))))


def allocation_weights(
    cfg: SamplingConfig, population: dict[str, int], neyman: dict[str, NumericStats]
) -> dict[str, float]:
    if cfg.allocation == "equal":
        return {s: 1.0 for s in population}
    if cfg.allocation == "neyman":
        w = {s: population[s] * (neyman[s].std if s in neyman else 0.0) for s in population}
        if not any(v > 0 for v in w.values()):
            raise UserError(
                f"sampling.neyman_column '{cfg.neyman_column}' is constant within every stratum, so "
                "Neyman allocation (n_h ~ N_h * S_h) is undefined. Choose a column that varies, or "
                "use sampling.allocation=proportional."
            )
        return w
    return {s: float(n) for s, n in population.items()}


def make_plan(
    cfg: SamplingConfig,
    population: dict[str, int],
    where: str,
    neyman: dict[str, NumericStats] | None = None,
    bytes_per_row: int | None = None,
) -> Plan:
    n_pop = sum(population.values())
    if n_pop == 0:
        raise UserError(f"{where} has no usable rows to sample. Check data.path and data.label.")
    total = target_size(cfg, n_pop, where, bytes_per_row)
    floor = {s: cfg.min_per_stratum for s in population}
    sizes = allocate(total, allocation_weights(cfg, population, neyman or {}), population, floor)
    n_valid = round(total * cfg.split.valid)
    n_test = round(total * cfg.split.test)
    test = allocate(n_test, sizes, sizes)
    valid = allocate(n_valid, sizes, {s: sizes[s] - test[s] for s in sizes})
    split_sizes = {
        s: {"train": sizes[s] - valid[s] - test[s], "valid": valid[s], "test": test[s]}
        for s in sizes
    }
    return Plan(population, sizes, split_sizes)


def check_columns(
    ds: Dataset,
    strata: Sequence[str],
    label: str,
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[Term, ...]:
    ds.require(label, "data.label", "Set data.label to one of them.")
    if id_column is not None:
        ds.require(
            id_column,
            "data.id_column",
            "Set data.id_column to a unique id column, or data.id_column=null to derive a stable id "
            "from each row's content.",
        )
    return parse_strata(strata, polars_schema(ds.schema), time_column)


def _sketch_task(shard: Shard, cols: tuple[str, ...], row_filter, filter_cols) -> tuple[dict, int]:
    df = read_shard(shard, list(dict.fromkeys([*cols, *filter_cols])))
    if row_filter is not None:
        df = df.filter(row_filter)
    return {c: NumericSketch.of(df.get_column(c)) for c in cols}, shard.num_rows


def _merge_sketch_dicts(a: dict, b: dict) -> dict:
    for c, sk in b.items():
        a[c] = a[c].merge(sk) if c in a else sk
    return a


def comparison(reference: dict, columns: Sequence[str], bins: int) -> dict[str, tuple[str, list]]:
    """What to histogram in the sample: population-quantile edges or the top categories."""
    out: dict[str, tuple[str, list]] = {}
    for c in columns:
        sk = reference.get(c)
        if isinstance(sk, NumericSketch) and sk.count:
            out[c] = ("num", sk.edges(bins))
        elif isinstance(sk, CategorySketch):
            out[c] = ("cat", sk.top(bins * 2))
    return out


def distribution_report(
    reference: dict,
    compare: dict[str, tuple[str, list]],
    sample_hists: dict[str, list[int]],
    threshold: float = 0.1,
) -> tuple[dict, list[str]]:
    features, warnings = {}, []
    for c, (kind, ref) in compare.items():
        sk = reference[c]
        if kind == "num":
            pop = sk.histogram(ref)
            labels = (
                [f"<= {ref[0]:.4g}" if ref else "all"]
                + [f"({a:.4g}, {b:.4g}]" for a, b in zip(ref[:-1], ref[1:], strict=True)]
                + ([f"> {ref[-1]:.4g}"] if ref else [])
                + ["null"]
            )
        else:
            pop = [sk.counts.get(v, 0) for v in ref] + [
                sum(n for v, n in sk.counts.items() if v not in set(ref))
            ]
            labels = [*ref, OTHER]
        smp = sample_hists.get(c, [0] * len(pop))
        value = psi(pop, smp)
        features[c] = {
            "kind": "numeric" if kind == "num" else "categorical",
            "bins": labels,
            "population": pop,
            "sample": smp,
            "psi": value,
            "ks": ks(pop, smp),
        }
        if value > threshold:
            warnings.append(
                f"feature '{c}': PSI {value:.3f} between sample and population exceeds {threshold}"
            )
    return features, warnings


def run_sample(
    ds: Dataset,
    cfg: SamplingConfig,
    *,
    label: str,
    id_column: str | None,
    seed: int,
    out: str,
    row_filter: pl.Expr | None = None,
    filter_cols: tuple[str, ...] = (),
    num_cpus: float = 1.0,
    stats: parallel.MapStats | None = None,
    reference: dict | None = None,
    bytes_per_row: int | None = None,
    precounted: Precounted | None = None,
) -> dict:
    """Draw the sample into ``out`` (Parquet parts) and return the sampling report.

    ``precounted``: pass 1 as the profile pass did it (counts, candidates and their rows spilled);
    used when its candidate bound is the one this run needs.

    ``reference`` holds the population's per-column sketches from the profile pass: they give the
    quantile-bin edges of numeric strata and the population side of the feature comparison.
    """
    strata = tuple(cfg.strata) if cfg.strata is not None else (label,)
    terms = check_columns(ds, strata, label, id_column, cfg.time_column)
    if cfg.neyman_column is not None and cfg.neyman_column not in ds.columns:
        raise UserError(
            f"The column '{cfg.neyman_column}' (sampling.neyman_column) is not in the data at data.path '{ds.uri}'."
        )
    reference = dict(reference or {})
    need = tuple(
        t.column
        for t in terms
        if t.kind == "quantile" and not isinstance(reference.get(t.column), NumericSketch)
    )
    if need:
        reference.update(
            parallel.map_merge(
                _sketch_task,
                ds.shards,
                _merge_sketch_dicts,
                {},
                args=(need, row_filter, filter_cols),
                label="sample: quantile bins",
                num_cpus=num_cpus,
                stats=stats,
            )
        )
    edges = {t.column: reference[t.column].edges(t.bins) for t in terms if t.kind == "quantile"}
    compare_cols = [c for c in ds.columns if c != id_column] if cfg.compare_features else []
    schema = polars_schema(ds.schema)
    expected = (
        target_size(cfg, ds.num_rows, f"data.path '{ds.uri}'", bytes_per_row)
        if cfg.size is None
        else cfg.size
    )
    bound = _candidate_bound(expected, ds.num_rows)
    spec = Spec(
        terms,
        id_column,
        seed,
        row_filter,
        edges,
        cfg.neyman_column,
        comparison(reference, compare_cols, cfg.report_bins),
        schema.get(id_column) if id_column else None,
        bound,
    )
    t0 = time.perf_counter()
    if precounted is not None and precounted.bound == bound:
        counted = precounted.state  # pass 1 ran inside the profile pass
    else:
        precounted = None
        counted = parallel.map_merge(
            _count,
            ds.shards,
            CountState.merge,
            CountState(),
            args=(spec, filter_cols),
            label="sample: count strata",
            num_cpus=num_cpus,
            stats=stats,
        )
    population = counted.counts
    plan = make_plan(cfg, population, f"data.path '{ds.uri}'", counted.neyman, bytes_per_row)
    say(
        "sample",
        f"{sum(plan.sizes.values()):,} of {sum(population.values()):,} rows from {len(population)} strata ({cfg.allocation} allocation)",
    )
    seconds = {"count": time.perf_counter() - t0}
    if precounted is not None:
        seconds["count_task_seconds_in_profile"] = precounted.task_seconds
    t0 = time.perf_counter()
    candidates = counted.candidate_frames() if spec.candidate_bound is not None else None
    _find_cuts(ds, spec, plan, filter_cols, num_cpus, stats, candidates)
    columns = tuple(dict.fromkeys([*ds.columns]))
    chosen = _chosen_from_candidates(plan, candidates, spec)
    seconds["cuts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    passes = [
        "count: in the profile pass" if precounted is not None else "count",
        *(["cut keys"] if candidates is None or chosen is None else []),
        "write spilled candidates"
        if chosen is not None and precounted is not None
        else ("fetch chosen rows" if chosen is not None else "select rows"),
    ]
    if chosen is not None and precounted is not None:
        # every selected row is a candidate the profile pass wrote: read only those files
        counts, hists = parallel.map_merge(
            _spill_task,
            _groups(_by_shard(ds, chosen), 4 * parallel.cluster_cpus()),
            _merge_selected,
            ({}, {}),
            args=(spec, out, columns, precounted.spill),
            label="sample: write rows",
            num_cpus=num_cpus,
            stats=stats,
        )
    elif chosen is not None:
        # every selected row is known already: fetch just those rows, a group of shards a task
        counts, hists = parallel.map_merge(
            _fetch_task,
            _groups(_by_shard(ds, chosen), 4 * parallel.cluster_cpus()),
            _merge_selected,
            ({}, {}),
            args=(spec, out, columns),
            label="sample: fetch rows",
            num_cpus=num_cpus,
            stats=stats,
        )
    else:
        counts, hists = parallel.map_merge(
            _select_task,
            ds.shards,
            _merge_selected,
            ({}, {}),
            args=(spec, plan, out, columns, filter_cols),
            label="sample: select rows",
            num_cpus=num_cpus,
            stats=stats,
        )
    seconds["select"] = time.perf_counter() - t0
    for s in plan.sizes:
        got = counts.get(s, {})
        for split in SPLITS:
            if got.get(split, 0) != plan.split_sizes[s][split]:
                raise AssertionError(
                    f"stratum {s!r} {split}: selected {got.get(split, 0)}, planned {plan.split_sizes[s][split]}"
                )
    features, warnings = distribution_report(reference, spec.compare, hists, cfg.psi_warning)
    for w in warnings:
        say("sample", f"warning: {w}")
    report = {
        "seed": seed,
        "strata_columns": list(strata),
        "allocation": cfg.allocation,
        "min_per_stratum": cfg.min_per_stratum,
        "population_rows": sum(population.values()),
        "sample_rows": sum(plan.sizes.values()),
        "split_rows": {sp: sum(plan.split_sizes[s][sp] for s in plan.sizes) for sp in SPLITS},
        "quantile_edges": edges,
        "strata": {
            s: {
                "population": plan.population[s],
                "sample": plan.sizes[s],
                "weight": plan.weight(s),
                **plan.split_sizes[s],
            }
            for s in sorted(plan.sizes)
        },
        "features": features,
        "warnings": warnings,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "passes": passes,
    }
    if cfg.allocation == "neyman":
        for s, v in report["strata"].items():
            v["neyman_std"] = counted.neyman[s].std if s in counted.neyman else 0.0
    return report


def write_report(report: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
