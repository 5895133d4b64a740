"""The profile's mergeable per-shard state and how one batch of rows becomes it.

Per column: nulls, exact moments and range (Chan et al.'s merge), a log-bucket quantile sketch,
a HyperLogLog distinct count and Misra-Gries frequent values; timestamp ranges; the rules each
row breaks; the label's counts. Merging is associative and commutative, so the merged profile is
the same for any sharding (tested against one pass over all rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from distml.data.columns import REASON
from distml.data.schema import feature_kind
from distml.profile.duplicates import HashFiles, Offsets, in_share, row_hashes
from distml.quality.contract import Contract
from distml.sampling.first_pass import CountState, PassSpec
from distml.stats.moments import NumericStats, numeric_stats
from distml.stats.sketches import (
    CategorySketch,
    DistinctSketch,
    FrequentItems,
    NumericSketch,
    merge_each,
)


def sketch_series(
    s: pl.Series, counts: pl.DataFrame | None = None
) -> NumericSketch | CategorySketch:
    """A numeric column's log-bucket sketch, or category counts (datetimes count by month).

    ``counts``: the column's ``value_counts(sort=True)`` when the caller has it (the same sketch
    from the distinct values)."""
    if s.dtype.is_numeric():
        if counts is not None:
            return NumericSketch.of_counts(counts[:, 0], counts.get_column("count"))
        return NumericSketch.of(s)
    if counts is not None and not s.dtype.is_temporal():
        return CategorySketch.of_counts(counts)
    return CategorySketch.of(s)


def _add_into(a: dict, b: dict) -> None:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v


@dataclass
class ProfileState:
    rows_in: int = 0
    rows_quarantined: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    temporal: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Datetime columns: (min, max) in microseconds since the epoch."""
    distinct: dict[str, DistinctSketch] = field(default_factory=dict)
    frequent: dict[str, FrequentItems] = field(default_factory=dict)
    broken: dict[str, int] = field(default_factory=dict)
    """Rows breaking each rule (a row may break several)."""
    label_counts: dict[str, int] = field(default_factory=dict)
    per_shard: dict[str, dict[str, int]] = field(default_factory=dict)
    sketches: dict[str, NumericSketch | CategorySketch] = field(default_factory=dict)
    """Distribution of each column over the accepted rows (the population reference)."""
    hash_offsets: dict[int, Offsets] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    sample_counts: CountState | None = None
    """The sample stage's pass 1, when the profile pass did it."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Task seconds per phase of the pass (read, rules, moments, ...), summed over shards."""
    text: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """String columns: (values, values holding whitespace, characters), for the feature rules
    (free text; distml/profile/hygiene.py)."""
    ascending: dict[str, bool] = field(default_factory=dict)
    """Integer columns without nulls: ascending within every shard (a monotonic key)."""
    integral: dict[str, bool] = field(default_factory=dict)
    """Float columns: every finite value a whole number (ids written as floats by pandas)."""

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the time the block takes to ``seconds[phase]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def merge(self, o: ProfileState) -> ProfileState:
        self.rows_in += o.rows_in
        self.rows_quarantined += o.rows_quarantined
        _add_into(self.nulls, o.nulls)
        merge_each(self.numeric, o.numeric)
        merge_each(self.distinct, o.distinct)
        merge_each(self.frequent, o.frequent)
        for c, (lo, hi) in o.temporal.items():
            a = self.temporal.get(c)
            self.temporal[c] = (lo, hi) if a is None else (min(a[0], lo), max(a[1], hi))
        _add_into(self.broken, o.broken)
        _add_into(self.label_counts, o.label_counts)
        self.per_shard.update(o.per_shard)
        merge_each(self.sketches, o.sketches)
        self.hash_offsets.update(o.hash_offsets)
        self.skipped.extend(o.skipped)
        _add_into(self.seconds, o.seconds)
        for c, (n, sp, ch) in o.text.items():
            a = self.text.get(c, (0, 0, 0))
            self.text[c] = (a[0] + n, a[1] + sp, a[2] + ch)
        for c, asc in o.ascending.items():
            self.ascending[c] = self.ascending.get(c, True) and asc
        for c, whole in o.integral.items():
            self.integral[c] = self.integral.get(c, True) and whole
        if o.sample_counts is not None:
            self.sample_counts = (
                o.sample_counts
                if self.sample_counts is None
                else self.sample_counts.merge(o.sample_counts)
            )
        return self


@dataclass(frozen=True)
class ProfileJob:
    """The plain inputs every profile task needs."""

    contract: Contract
    columns: tuple[str, ...]
    label: str
    id_column: str | None
    quarantine: str | None
    """Where rows that break a rule are written (None: not written)."""
    hashes: HashFiles | None
    """Where sorted row/id hashes go for the duplicate count (None: no duplicate count)."""
    on_bad_file: str
    classification: bool
    sample_spec: PassSpec | None = None
    """Also do the sample stage's pass 1 on each shard (and spill its candidates there)."""
    sample_spill: str | None = None
    sketch_fraction: float = 1.0
    """Share of the row-hash space whose accepted rows the numeric sketches count (1: every
    row; profile.exact_sketch_max_rows)."""


def _profiled(dt: pl.DataType) -> bool:
    """Columns with statistics beyond nulls: numbers, booleans, strings, dates and timestamps
    (lists, structs, binary and the like are counted, not described)."""
    return feature_kind(dt) is not None or dt == pl.Null


def _discrete(dt: pl.DataType, c: str, job: ProfileJob) -> bool:
    """Columns whose frequent values are kept: not floats, timestamps or the id (nearly all
    distinct values)."""
    return c != job.id_column and not dt.is_float() and not isinstance(dt, pl.Datetime)


def _column_stats(st: ProfileState, df: pl.DataFrame, job: ProfileJob) -> dict[str, pl.DataFrame]:
    """Fill the state's per-column statistics; return the value counts of the discrete columns
    (reused for their sketches when every row is accepted)."""
    st.nulls = dict(zip(df.columns, df.null_count().row(0), strict=True))
    with st.timed("moments"):
        st.numeric = numeric_stats(df, [c for c, dt in df.schema.items() if dt.is_numeric()])
    counts: dict[str, pl.DataFrame] = {}
    for c, dt in df.schema.items():
        if not _profiled(dt):
            continue
        s = df.get_column(c)
        if _discrete(dt, c, job) and dt != pl.Date:
            # one count of the values gives the frequent values, the distinct-count sketch
            # (from the distinct values alone) and, for accepted rows, the distribution sketch
            with st.timed("frequent"):
                counts[c] = vc = value_counts(s, st.numeric.get(c))
                st.frequent[c] = FrequentItems.of_counts(vc)
            with st.timed("distinct"):
                st.distinct[c] = DistinctSketch.of(vc.get_column(c))
            with st.timed("shape"):
                if dt == pl.String:
                    st.text[c] = text_shape(vc)
                elif dt.is_integer():
                    st.ascending[c] = s.null_count() == 0 and s.is_sorted()
            continue
        with st.timed("distinct"):
            st.distinct[c] = DistinctSketch.of(s)
        if dt.is_float():
            with st.timed("shape"):
                st.integral[c] = bool((~s.is_finite() | (s == s.floor())).all())
        if isinstance(dt, pl.Datetime | pl.Date):
            with st.timed("moments"):
                us = s.cast(pl.Datetime("us")).dt.epoch("us").drop_nulls()
                if us.len():
                    st.temporal[c] = (int(us.min()), int(us.max()))  # type: ignore[arg-type]
        if _discrete(dt, c, job):  # dates: their frequent values as ISO text
            with st.timed("frequent"):
                st.frequent[c] = FrequentItems.of(s.cast(pl.String))
    return counts


def text_shape(vc: pl.DataFrame) -> tuple[int, int, int]:
    """(values, values holding whitespace, characters) of a string column from its
    ``value_counts`` (at the cost of its distinct values)."""
    v, n = vc[:, 0], vc.get_column("count").cast(pl.Int64)
    ok = v.is_not_null()
    spaced = v.str.contains(r"\s").fill_null(False)
    return (
        int(n.filter(ok).sum()),
        int(n.filter(spaced).sum()),
        int((v.str.len_chars().cast(pl.Int64) * n).filter(ok).sum()),
    )


_INTS = {pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64}


def value_counts(s: pl.Series, stats: NumericStats | None = None) -> pl.DataFrame:
    """``s.value_counts(sort=True)`` (columns: the values, ``count`` as UInt32; nulls as a
    value). Integers whose range (from ``stats``) spans under 65,536 values are counted by
    numpy's bincount, ordered by count then value: several times faster. (The range test uses the
    float64 moments: only where they are exact, below 2^53 in magnitude.)"""
    if (
        stats is None
        or not stats.count
        or s.dtype not in _INTS
        or s.name == "count"
        or max(-stats.min, stats.max) >= 2.0**53
        or stats.max - stats.min >= 1 << 16
    ):
        return s.value_counts(sort=True)
    lo = int(stats.min)
    cnt = np.bincount(s.drop_nulls().to_numpy().astype(np.intp) - lo)
    seen = np.flatnonzero(cnt)
    n = cnt[seen]
    order = np.lexsort((seen, -n))
    vc = pl.DataFrame(
        {
            s.name: pl.Series(seen[order] + lo).cast(s.dtype),
            "count": pl.Series(n[order]).cast(pl.UInt32),
        }
    )
    if s.null_count():
        vc = vc.vstack(
            pl.DataFrame(
                {s.name: pl.Series([None], dtype=s.dtype), "count": [s.null_count()]},
                schema_overrides={"count": pl.UInt32},
            )
        )
    return vc


def profile_frame(
    df: pl.DataFrame,
    job: ProfileJob,
    ok: pl.Series | None = None,
    hashes: np.ndarray | None = None,
) -> tuple[ProfileState, pl.DataFrame]:
    """The state of one batch of rows, and its rows that break a rule (with their reasons).

    ``ok``: the contract's acceptance of each row, and ``hashes``: ``row_hashes`` of
    ``job.columns``, when the caller has them already. Each phase's time is added to the
    state's ``seconds``."""
    st = ProfileState(rows_in=df.height)
    data = df.select(job.columns)
    counts = _column_stats(st, data, job)
    names = job.contract.names()
    with st.timed("rules"):
        broken = (
            df.select(
                [b.sum().alias(n) for b, n in zip(job.contract.broken(), names, strict=True)]
            ).row(0)
            if names
            else ()
        )
        st.broken = dict(zip(names, [int(x or 0) for x in broken], strict=True))
        if ok is None:
            ok = job.contract.check(df)
        n_bad = int((~ok).sum())
    with st.timed("sketches"):
        # with no row quarantined the accepted rows are all rows: one frame, no copy
        good = data if n_bad == 0 else df.filter(ok).select(job.columns)
        share = _sketch_share(data, job, ok if n_bad else None, hashes)
        st.sketches = {}
        for c in job.columns:
            if c == job.id_column or not _profiled(good.schema[c]):
                continue
            s = good.get_column(c)
            if share is not None and s.dtype.is_numeric():
                st.sketches[c] = replace(
                    NumericSketch.of(s.filter(share)), fraction=job.sketch_fraction
                )
            else:
                st.sketches[c] = sketch_series(s, counts.get(c) if n_bad == 0 else None)
    if job.classification:
        with st.timed("label_counts"):
            vc = counts.get(job.label) if n_bad == 0 else None
            if vc is None:
                vc = good.get_column(job.label).value_counts()
            st.label_counts = {str(k): int(v) for k, v in vc.iter_rows()}
    with st.timed("rules"):
        bad = df.filter(~ok) if n_bad else df.clear()
        bad = bad.with_columns(job.contract.reasons().alias(REASON)).select(*job.columns, REASON)
    st.rows_quarantined = bad.height
    return st, bad


def _sketch_share(
    data: pl.DataFrame, job: ProfileJob, ok: pl.Series | None, hashes: np.ndarray | None
) -> pl.Series | None:
    """Which accepted rows the numeric sketches count, when only a share of them does (None:
    every row): those whose row hash is in the first ``job.sketch_fraction`` of the hash
    space, so the same rows whatever the sharding."""
    if job.sketch_fraction >= 1.0:
        return None
    keep = in_share(row_hashes(data) if hashes is None else hashes, job.sketch_fraction)
    return pl.Series(keep if ok is None else keep[ok.to_numpy()])
