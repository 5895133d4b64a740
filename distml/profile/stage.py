"""The profile stage: one full pass of mergeable per-column statistics, and the quarantine.

Each shard task reads the shard once and computes its ``ProfileState`` (profile/state.py), writes
the rows that break a rule to ``quarantine/`` with ``_quarantine_reason``, writes its sorted row
hashes for the exact duplicate count (profile/duplicates.py) and, when the sample stage asked for
it, does the sample's first pass on the same rows (sampling/first_pass.py). ``rows_in =
rows_accepted + rows_quarantined`` holds per shard and in total. Later stages read the same files
with ``Contract.accepted()`` applied.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from distml.cluster.tasks import MapStats, map_merge
from distml.config import ProfileConfig
from distml.config.quality import parse_now
from distml.data.columns import CAST_FAILED
from distml.data.fs import join, write_parquet
from distml.data.reading import read_or_skip
from distml.data.shards import Dataset, Shard
from distml.profile.duplicates import (
    HashFiles,
    count_duplicates,
    duplicates_fraction,
    duplicates_report,
    remove,
    row_hashes,
    write_hashes,
)
from distml.profile.report import ProfileReport, build_report, distribution_report
from distml.profile.state import ProfileJob, ProfileState, profile_frame
from distml.quality.contract import Contract
from distml.sampling.first_pass import CountState, PassSpec, Precounted, first_pass
from distml.stats.keys import row_ids, splitmix64

SPILL = "_sample_spill"
"""The run directory's folder of the sample stage's candidate rows (removed after sampling)."""


@dataclass
class ProfileResult:
    """What the profile stage hands on."""

    report: ProfileReport
    """profile.json's content (the pipeline adds the gates and the files it skipped)."""
    sketches: dict[str, Any]
    """The population's per-column sketches over the accepted rows (reference.json)."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files that could not be read (data.on_bad_file=skip), with the reason."""
    precounted: Precounted | None = None
    """The sample stage's first pass, when it rode on this pass."""


def profile_shard(shard: Shard, job: ProfileJob) -> tuple[ProfileState, int]:
    read_cols = [*job.columns, *([CAST_FAILED] if job.contract.parse_marker else [])]
    t0 = time.perf_counter()
    df, skipped = read_or_skip(shard, read_cols, job.on_bad_file)
    if df is None:
        return ProfileState(skipped=[skipped]), 0  # type: ignore[list-item]
    read_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = job.contract.check(df, shard.path)
    rules_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    hashes = None
    if job.hashes is not None or job.sketch_fraction < 1.0:
        # one hash of each row: the duplicate count and the sketches' share of rows
        hashes = row_hashes(df.select(job.columns))
    hash_seconds = time.perf_counter() - t0
    st, bad = profile_frame(df, job, ok, hashes)
    st.seconds["read"] = read_seconds
    st.seconds["rules"] += rules_seconds
    st.seconds["row_hashes"] = hash_seconds
    if bad.height and job.quarantine is not None:
        with st.timed("quarantine"):
            write_parquet(bad, join(job.quarantine, f"part-{shard.index:05d}.parquet"))
    st.per_shard[shard.key] = {
        "rows_in": df.height,
        "rows_quarantined": bad.height,
        "rows_accepted": df.height - bad.height,
    }
    # the ids mixed once: the duplicate count and the sample keys both start from them
    with st.timed("duplicates"):
        mixed = splitmix64(row_ids(df, job.id_column)) if job.id_column is not None else None
        if job.hashes is not None:
            assert hashes is not None
            st.hash_offsets[shard.index] = write_hashes(shard, hashes, job.hashes, mixed)
    if job.sample_spec is not None:
        assert job.sample_spill is not None
        same = job.sample_spec.id_column == job.id_column
        with st.timed("sample"):
            st.sample_counts = first_pass(
                shard,
                df,
                job.sample_spec,
                mixed=mixed if same else None,
                ok=ok,
                spill=job.sample_spill,
            )
    return st, df.height


def sketch_fraction(rows: int, max_rows: int | None) -> float:
    """The share of rows the numeric sketches count: 1 up to ``max_rows``
    (profile.exact_sketch_max_rows), else 1/2^b for the least b leaving at most that many."""
    if max_rows is None or rows <= max_rows:
        return 1.0
    return 2.0 ** -math.ceil(math.log2(rows / max_rows))


def run_profile(
    ds: Dataset,
    contract: Contract,
    cfg: ProfileConfig,
    *,
    label: str,
    id_column: str | None,
    out_dir: str,
    on_bad_file: str = "error",
    classification: bool = True,
    sample_spec: PassSpec | None = None,
    num_cpus: float = 1.0,
    stats: MapStats | None = None,
) -> ProfileResult:
    """The merged profile and the population sketches of the accepted rows.

    With ``sample_spec`` each shard also gets the sample stage's first pass."""
    ds.require(label, "data.label", "Set data.label to one of them.")
    job = ProfileJob(
        contract=contract,
        columns=tuple(ds.columns),
        label=label,
        id_column=id_column if id_column in ds.columns else None,
        quarantine=join(out_dir, "quarantine"),
        hashes=HashFiles.for_rows(
            join(out_dir, "_profile_hashes"),
            ds.num_rows,
            len(ds.shards),
            duplicates_fraction(ds.num_rows, cfg.exact_duplicates_max_rows),
        )
        if cfg.duplicates
        else None,
        on_bad_file=on_bad_file,
        classification=classification,
        sample_spec=sample_spec,
        sample_spill=join(out_dir, SPILL) if sample_spec is not None else None,
        sketch_fraction=sketch_fraction(ds.num_rows, cfg.exact_sketch_max_rows),
    )
    for scratch in (job.hashes.folder if job.hashes else None, job.sample_spill):
        if scratch is not None:
            remove(scratch)
    st = map_merge(
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
    t0 = time.perf_counter()
    if job.hashes is not None:
        counted = count_duplicates(job.hashes, st.hash_offsets, num_cpus, stats)
        dup = duplicates_report(counted, job.hashes.fraction, st.rows_in, job.id_column)
    now = parse_now(cfg.now)
    report = build_report(ds, st, job, dup, cfg.freshness_column, now, cfg.top_k)
    report.distribution = distribution_report(st, job.sketch_fraction)
    report.timing = {
        "task_seconds": {k: round(v, 3) for k, v in sorted(st.seconds.items())},
        "duplicates_pass_seconds": round(time.perf_counter() - t0, 3),
        "note": "task_seconds: time in each phase of the shard tasks, summed over tasks; "
        "duplicates_pass_seconds: wall time of the second pass that counts duplicates",
    }
    precounted = None
    if sample_spec is not None and not st.skipped:
        assert sample_spec.candidate_bound is not None and job.sample_spill is not None
        precounted = Precounted(
            st.sample_counts or CountState(),
            sample_spec.candidate_bound,
            job.sample_spill,
            st.seconds.get("sample", 0.0),
        )
    return ProfileResult(report, st.sketches, st.skipped, precounted)
