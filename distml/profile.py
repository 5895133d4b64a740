"""The profile stage: one full pass of mergeable per-column statistics, and the quarantine.

Per shard: rows; per column nulls, exact moments and range, a quantile sketch, a distinct-count
sketch and frequent values; timestamp ranges; the rules each row breaks. Rows that break a rule
are written to ``quarantine/`` with ``_quarantine_reason`` (the rules' names), and
``rows_in = rows_accepted + rows_quarantined`` holds per shard and in total. Duplicate rows and ids
are counted exactly by a second, hash-partitioned pass over small files of sorted 64-bit hashes.
Later stages read the same files with ``Contract.accepted()`` applied.
"""

from __future__ import annotations

import json
import math
import posixpath
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from distml import parallel
from distml.errors import UserError
from distml.keys import row_ids, splitmix64
from distml.quality import Contract
from distml.shards import CAST_FAILED, Dataset, Shard, filesystem, join, read_shard, write_parquet
from distml.sketch import (
    ALPHA,
    HLL_ERROR,
    CategorySketch,
    DistinctSketch,
    FrequentItems,
    NumericSketch,
)
from distml.stats import NumericStats, numeric_stats

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
REASON = "_quarantine_reason"
_ROW_SEED = 0xD0B1E


def sketch_series(s: pl.Series) -> NumericSketch | CategorySketch:
    """A numeric column's log-bucket sketch, or category counts (datetimes count by month)."""
    if s.dtype.is_numeric():
        return NumericSketch.of(s)
    return CategorySketch.of(s)


def merge_sketches(a: dict, b: dict) -> dict:
    for c, sk in b.items():
        a[c] = a[c].merge(sk) if c in a else sk
    return a


def _merge_into(a: dict, b: dict) -> None:
    for c, v in b.items():
        a[c] = a[c].merge(v) if c in a else v


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
    hash_offsets: dict[int, tuple[list[int], list[int] | None]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    sample_counts: Any = None
    """sample.CountState of the sample stage's pass 1, when the profile pass did it."""
    sample_seconds: float = 0.0
    """Task time that pass 1 added to the profile pass (summed over shards)."""

    def merge(self, o: ProfileState) -> ProfileState:
        self.rows_in += o.rows_in
        self.rows_quarantined += o.rows_quarantined
        _add_into(self.nulls, o.nulls)
        _merge_into(self.numeric, o.numeric)
        _merge_into(self.distinct, o.distinct)
        _merge_into(self.frequent, o.frequent)
        for c, (lo, hi) in o.temporal.items():
            a = self.temporal.get(c)
            self.temporal[c] = (lo, hi) if a is None else (min(a[0], lo), max(a[1], hi))
        _add_into(self.broken, o.broken)
        _add_into(self.label_counts, o.label_counts)
        self.per_shard.update(o.per_shard)
        merge_sketches(self.sketches, o.sketches)
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
    quarantine: str
    hash_dir: str | None
    """Where sorted row/id hashes go for the duplicate count (None: no duplicate count)."""
    buckets: int
    on_bad_file: str
    classification: bool
    sample_spec: Any = None
    """sample.Spec: also do the sample stage's pass 1 on each shard (and spill its candidates)."""
    sample_spill: str | None = None


def _column_stats(st: ProfileState, df: pl.DataFrame, job: ProfileJob) -> None:
    st.nulls = dict(zip(df.columns, df.null_count().row(0), strict=True))
    st.numeric = numeric_stats(df, [c for c, dt in df.schema.items() if dt.is_numeric()])
    for c, dt in df.schema.items():
        s = df.get_column(c)
        st.distinct[c] = DistinctSketch.of(s)
        if isinstance(dt, pl.Datetime | pl.Date):
            us = s.cast(pl.Datetime("us")).dt.epoch("us").drop_nulls()
            if us.len():
                st.temporal[c] = (int(us.min()), int(us.max()))  # type: ignore[arg-type]
        # Frequent values of discrete columns (float and timestamp values are nearly all distinct).
        if c != job.id_column and not dt.is_float() and not isinstance(dt, pl.Datetime):
            st.frequent[c] = FrequentItems.of(s if dt != pl.Date else s.cast(pl.String))


def _write_hashes(
    shard: Shard, df: pl.DataFrame, job: ProfileJob, mixed_ids: np.ndarray | None
) -> tuple[list, list | None]:
    """Sort the shard's 64-bit row (and id) hashes into a file; return their bucket offsets."""
    assert job.hash_dir is not None
    edges = np.array([(i << 64) // job.buckets for i in range(job.buckets)], dtype=np.uint64)

    def put(values: np.ndarray, name: str) -> list[int]:
        values = np.sort(values)
        fs, path = filesystem(join(job.hash_dir, f"{name}-{shard.index:06d}.u64"))
        fs.create_dir(posixpath.dirname(path), recursive=True)
        with fs.open_output_stream(path) as f:
            f.write(values.tobytes())
        off = np.searchsorted(values, edges, side="left").tolist()
        return [*off, len(values)]

    rows = put(df.select(job.columns).hash_rows(_ROW_SEED).to_numpy(), "rows")
    ids = None
    if mixed_ids is not None:
        # integer ids map one-to-one (splitmix64 is a bijection), so their count is exact
        ids = put(mixed_ids, "ids")
    return rows, ids


def profile_frame(
    df: pl.DataFrame, job: ProfileJob, ok: pl.Series | None = None
) -> tuple[ProfileState, pl.DataFrame]:
    """The state of one batch of rows, and its rows that break a rule (with their reasons).

    ``ok``: the contract's acceptance of each row, when the caller has it already."""
    st = ProfileState(rows_in=df.height)
    data = df.select(job.columns)
    _column_stats(st, data, job)
    names = job.contract.names()
    broken = df.select(
        [b.sum().alias(n) for b, n in zip(job.contract.broken(), names, strict=True)]
    ).row(0)
    st.broken = dict(zip(names, [int(x or 0) for x in broken], strict=True))
    if ok is None:
        ok = accepted(df, job.contract)
    good = df.filter(ok).select(job.columns)
    st.sketches = {c: sketch_series(good.get_column(c)) for c in job.columns if c != job.id_column}
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


def profile_shard(shard: Shard, job: ProfileJob) -> tuple[ProfileState, int]:
    read_cols = [*job.columns, *([CAST_FAILED] if job.contract.parse_marker else [])]
    try:
        df = read_shard(shard, read_cols)
    except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
        if job.on_bad_file == "skip":
            return ProfileState(skipped=[{"path": shard.path, "reason": f"unreadable: {exc}"}]), 0
        raise UserError(
            f"The Parquet file '{shard.path}' cannot be read: {exc}. Replace or remove the file, "
            "or set data.on_bad_file=skip to leave it out (it is then named in profile.json)."
        ) from None
    ok = accepted(df, job.contract)
    st, bad = profile_frame(df, job, ok)
    if bad.height:
        write_parquet(bad, join(job.quarantine, f"part-{shard.index:05d}.parquet"))
    st.per_shard[shard.key] = {
        "rows_in": df.height,
        "rows_quarantined": bad.height,
        "rows_accepted": df.height - bad.height,
    }
    # the ids mixed once: the duplicate count and the sample keys both start from them
    mixed = splitmix64(row_ids(df, job.id_column)) if job.id_column is not None else None
    if job.hash_dir is not None:
        st.hash_offsets[shard.index] = _write_hashes(shard, df.select(job.columns), job, mixed)
    if job.sample_spec is not None:
        from distml.sample import first_pass

        assert job.sample_spill is not None
        t0 = time.perf_counter()
        same = job.sample_spec.id_column == job.id_column
        st.sample_counts = first_pass(
            shard, df, job.sample_spec, mixed=mixed if same else None, ok=ok, spill=job.sample_spill
        )
        st.sample_seconds = time.perf_counter() - t0
    return st, df.height


def _read_range(path: str, lo: int, hi: int) -> np.ndarray:
    if hi <= lo:
        return np.empty(0, dtype=np.uint64)
    fs, p = filesystem(path)
    with fs.open_input_file(p) as f:
        buf = f.read_at((hi - lo) * 8, lo * 8)
    return np.frombuffer(buf, dtype=np.uint64)


def _count_bucket(
    bucket: int, hash_dir: str, offsets: dict[int, tuple[list[int], list[int] | None]]
) -> tuple[tuple[int, int], int]:
    """Duplicates inside one hash range: rows (and ids) minus their distinct values."""
    out = []
    for which, name in ((0, "rows"), (1, "ids")):
        parts = [
            _read_range(join(hash_dir, f"{name}-{i:06d}.u64"), off[bucket], off[bucket + 1])
            for i, o in offsets.items()
            if (off := o[which]) is not None
        ]
        # each part is sorted already; a stable (radix) sort of the concatenation, then count
        # the neighbours that repeat
        values = np.sort(np.concatenate(parts), kind="stable") if parts else np.empty(0, np.uint64)
        out.append(int(np.count_nonzero(values[1:] == values[:-1])))
    return (out[0], out[1]), 0


def _remove(uri: str) -> None:
    if "://" not in uri:
        shutil.rmtree(uri, ignore_errors=True)
        return
    fs, p = filesystem(uri)
    if fs.get_file_info(p).type.name == "Directory":
        fs.delete_dir(p)


def _add_pairs(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def run_profile(
    ds: Dataset,
    contract: Contract,
    *,
    label: str,
    id_column: str | None,
    out_dir: str,
    num_cpus: float,
    stats,
    duplicates: bool = True,
    on_bad_file: str = "error",
    classification: bool = True,
    freshness_column: str | None = None,
    now: datetime | None = None,
    top_k: int = 10,
    sample_spec: Any = None,
) -> tuple[dict[str, Any], dict]:
    """The merged profile (profile.json's content) and the population sketches of accepted rows.

    With ``sample_spec`` each shard also gets the sample stage's pass 1 (``report['_sample']``)."""
    ds.require(label, "data.label", "Set data.label to one of them.")
    hash_dir = join(out_dir, "_profile_hashes") if duplicates else None
    job = ProfileJob(
        contract=contract,
        columns=tuple(ds.columns),
        label=label,
        id_column=id_column if id_column in ds.columns else None,
        quarantine=join(out_dir, "quarantine"),
        hash_dir=hash_dir,
        buckets=int(min(4096, max(8, math.ceil(ds.num_rows / 1_000_000)))),
        on_bad_file=on_bad_file,
        classification=classification,
        sample_spec=sample_spec,
        sample_spill=join(out_dir, "_sample_spill") if sample_spec is not None else None,
    )
    if hash_dir is not None:
        _remove(hash_dir)
    if job.sample_spill is not None:
        _remove(job.sample_spill)
    st = parallel.map_merge(
        profile_shard,
        ds.shards,
        ProfileState.merge,
        ProfileState(),
        args=(job,),
        label="profile",
        num_cpus=num_cpus,
        stats=stats,
    )
    dup = None
    if hash_dir is not None:
        dup_rows, dup_ids = parallel.map_merge(
            _count_bucket,
            list(range(job.buckets)),
            _add_pairs,
            (0, 0),
            args=(hash_dir, st.hash_offsets),
            label="profile: duplicates",
            num_cpus=num_cpus,
            stats=stats,
        )
        _remove(hash_dir)
        dup = {
            "rows": dup_rows,
            "row_rate": dup_rows / st.rows_in if st.rows_in else 0.0,
            "method": "exact over 64-bit row hashes (collision chance ~ rows^2 / 2^65)",
        }
        if job.id_column is not None:
            dup.update(
                ids=dup_ids,
                id_rate=dup_ids / st.rows_in if st.rows_in else 0.0,
                id_column=job.id_column,
            )
    report = build_report(ds, st, job, dup, freshness_column, now, top_k)
    report["_skipped"] = st.skipped
    if sample_spec is not None and not st.skipped:
        from distml.sample import CountState, Precounted

        report["_sample"] = Precounted(
            st.sample_counts or CountState(),
            sample_spec.candidate_bound,
            job.sample_spill,
            st.sample_seconds,
        )
    return report, st.sketches


def build_report(
    ds: Dataset,
    st: ProfileState,
    job: ProfileJob,
    dup: dict | None,
    freshness_column: str | None,
    now: datetime | None,
    top_k: int,
) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for c in ds.columns:
        n = st.numeric.get(c)
        entry: dict[str, Any] = {
            "type": str(ds.schema.field(c).type),
            "nulls": st.nulls.get(c, 0),
            "null_rate": st.nulls.get(c, 0) / st.rows_in if st.rows_in else 0.0,
        }
        if n is not None and n.count:
            entry.update(mean=n.mean, std=n.std, min=n.min, max=n.max)
        if c in st.temporal:
            lo, hi = st.temporal[c]
            entry.update(min=_iso(lo), max=_iso(hi))
        fi = st.frequent.get(c)
        if fi is not None and fi.error == 0:
            entry["distinct"] = len(fi.counts)  # every value was counted: exact
        elif c in st.distinct:
            entry["distinct"] = st.distinct[c].estimate()
        if fi is not None:
            entry["top"] = [[_plain(v), n_] for v, n_ in fi.top(top_k)]
            entry["top_count_error"] = fi.error
        entry.update(_distribution(st.sketches.get(c)))
        cols[c] = entry
    report: dict[str, Any] = {
        "rows_in": st.rows_in,
        "rows_accepted": st.rows_in - st.rows_quarantined,
        "rows_quarantined": st.rows_quarantined,
        "files": len(ds.files),
        "shards": len(ds.shards),
        "rules": st.broken,
        "label_counts": st.label_counts if job.classification else None,
        "duplicates": dup,
        "freshness": _freshness(st, ds, freshness_column, now),
        "columns": cols,
        "errors": {
            "quantile_relative_error": ALPHA,
            "distinct_standard_error": HLL_ERROR,
            "top_counts": "exact when top_count_error is 0, else lower bounds within it",
        },
        "per_shard": st.per_shard,
    }
    return report


def _iso(us: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(microseconds=us)).isoformat()


def _plain(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


def _freshness(
    st: ProfileState, ds: Dataset, column: str | None, now: datetime | None
) -> dict[str, Any] | None:
    if column is None:
        column = next(iter(st.temporal), None)
        if column is None:
            return None
    elif column not in ds.columns:
        raise UserError(
            f"The column '{column}' (quality.freshness_column) is not in the data. Available "
            f"columns: {', '.join(ds.columns)}."
        )
    if column not in st.temporal:
        if st.nulls.get(column, 0) == st.rows_in:
            return {"column": column, "oldest": None, "newest": None, "age_seconds": None}
        raise UserError(
            f"The column '{column}' (quality.freshness_column) is not a date or datetime column."
        )
    lo, hi = st.temporal[column]
    now = now or datetime.now()
    newest = datetime(1970, 1, 1) + timedelta(microseconds=hi)
    return {
        "column": column,
        "oldest": _iso(lo),
        "newest": newest.isoformat(),
        "now": now.isoformat(),
        "age_seconds": (now - newest).total_seconds(),
    }


def _distribution(sk: NumericSketch | CategorySketch | None) -> dict[str, Any]:
    if isinstance(sk, NumericSketch) and sk.count:
        return {
            "quantiles": dict(
                zip(
                    [f"p{round(q * 100):02d}" for q in QUANTILES],
                    sk.quantiles(list(QUANTILES)),
                    strict=True,
                )
            )
        }
    return {}


def write(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=str)
