"""The profile's mergeable per-shard state and how one batch of rows becomes it.

Per column: nulls, exact moments and range (Chan et al.'s merge), a log-bucket quantile sketch,
a HyperLogLog distinct count and Misra-Gries frequent values; timestamp ranges; the rules each
row breaks; the label's counts. Merging is associative and commutative, so the merged profile is
the same for any sharding (tested against one pass over all rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from distml.data.columns import REASON
from distml.preprocess.kinds import kind_of
from distml.profile.duplicates import HashFiles, Offsets
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


def sketch_series(s: pl.Series) -> NumericSketch | CategorySketch:
    """A numeric column's log-bucket sketch, or category counts (datetimes count by month)."""
    if s.dtype.is_numeric():
        return NumericSketch.of(s)
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
    sample_seconds: float = 0.0
    """Task time that pass 1 added to the profile pass (summed over shards)."""

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
        self.sample_seconds += o.sample_seconds
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


def _profiled(dt: pl.DataType) -> bool:
    """Columns with statistics beyond nulls: numbers, booleans, strings, dates and timestamps
    (lists, structs, binary and the like are counted, not described)."""
    return kind_of(dt) is not None or dt == pl.Null


def _column_stats(st: ProfileState, df: pl.DataFrame, job: ProfileJob) -> None:
    st.nulls = dict(zip(df.columns, df.null_count().row(0), strict=True))
    st.numeric = numeric_stats(df, [c for c, dt in df.schema.items() if dt.is_numeric()])
    for c, dt in df.schema.items():
        if not _profiled(dt):
            continue
        s = df.get_column(c)
        st.distinct[c] = DistinctSketch.of(s)
        if isinstance(dt, pl.Datetime | pl.Date):
            us = s.cast(pl.Datetime("us")).dt.epoch("us").drop_nulls()
            if us.len():
                st.temporal[c] = (int(us.min()), int(us.max()))  # type: ignore[arg-type]
        # Frequent values of discrete columns (float and timestamp values are nearly all distinct).
        if c != job.id_column and not dt.is_float() and not isinstance(dt, pl.Datetime):
            st.frequent[c] = FrequentItems.of(s if dt != pl.Date else s.cast(pl.String))


def profile_frame(
    df: pl.DataFrame, job: ProfileJob, ok: pl.Series | None = None
) -> tuple[ProfileState, pl.DataFrame]:
    """The state of one batch of rows, and its rows that break a rule (with their reasons).

    ``ok``: the contract's acceptance of each row, when the caller has it already."""
    st = ProfileState(rows_in=df.height)
    data = df.select(job.columns)
    _column_stats(st, data, job)
    names = job.contract.names()
    broken = (
        df.select(
            [b.sum().alias(n) for b, n in zip(job.contract.broken(), names, strict=True)]
        ).row(0)
        if names
        else ()
    )
    st.broken = dict(zip(names, [int(x or 0) for x in broken], strict=True))
    if ok is None:
        ok = accepted(df, job.contract)
    good = df.filter(ok).select(job.columns)
    st.sketches = {
        c: sketch_series(good.get_column(c))
        for c in job.columns
        if c != job.id_column and _profiled(good.schema[c])
    }
    if job.classification:
        vc = good.get_column(job.label).value_counts()
        st.label_counts = {str(k): int(v) for k, v in vc.iter_rows()}
    bad = df.filter(~ok)
    bad = bad.with_columns(job.contract.reasons().alias(REASON)).select(*job.columns, REASON)
    st.rows_quarantined = bad.height
    return st, bad


def accepted(df: pl.DataFrame, contract: Contract) -> pl.Series:
    """Whether each row meets the contract (null counts as not)."""
    return df.with_columns(contract.accepted().fill_null(False).alias("_ok")).get_column("_ok")
