"""profile.json: the merged profile as a report (per column statistics, duplicates, freshness)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from distml.artifacts import write_json
from distml.data.shards import Dataset
from distml.errors import UserError
from distml.profile.state import ProfileJob, ProfileState
from distml.stats.moments import NumericStats
from distml.stats.sketches import ALPHA, HLL_ERROR, CategorySketch, NumericSketch

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class ProfileReport:
    """profile.json: the profile pass's merged statistics (``build_report``), then what the run
    adds before the gates judge it (the files it left out, the schema's notes, the features,
    the gates). Read by the dataset gates (profile/gates.py), the feature rules
    (profile/hygiene.py), the sample's memory estimate and the monitoring reference."""

    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    columns: dict[str, dict[str, Any]]
    """Per column: type, nulls, null_rate, moments, distinct, top values, quantiles, ..."""
    files: int = 0
    shards: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    """Rows that broke each row rule."""
    label_counts: dict[str, int] | None = None
    """Accepted rows per label value (classification; None for regression)."""
    duplicates: dict[str, Any] | None = None
    freshness: dict[str, Any] | None = None
    errors: dict[str, Any] = field(default_factory=dict)
    """The sketches' error bounds."""
    per_shard: dict[str, Any] = field(default_factory=dict)
    distribution: dict[str, Any] | None = None
    """Which rows the numeric sketches count (``distribution_report``)."""
    timing: dict[str, Any] | None = None
    # added by the run (distml/pipeline/stages.py) before the gates
    skipped_files: list[dict[str, str]] | None = None
    empty_files: list[str] | None = None
    features: dict[str, Any] | None = None
    """``used`` and ``left_out`` (with the reason) after the feature rules."""
    schema: dict[str, Any] | None = None
    """The dataset's notes (inferred types, zones, renamed columns) and its types."""
    files_not_parquet: list[str] | None = None
    files_ignored: list[dict[str, str]] | None = None
    label: dict[str, Any] | None = None
    """The label's classes and the positive one (classification)."""
    gates: list[dict[str, Any]] | None = None
    quality_passed: bool | None = None

    ALWAYS = ("label_counts", "duplicates", "freshness")
    """Keys written as null; the others are left out of profile.json while unset."""
    ORDER = [
        "rows_in",
        "rows_accepted",
        "rows_quarantined",
        "files",
        "shards",
        "rules",
        "label_counts",
        "duplicates",
        "freshness",
        "columns",
        "errors",
        "per_shard",
        "distribution",
        "timing",
        "skipped_files",
        "empty_files",
        "features",
        "schema",
        "files_not_parquet",
        "files_ignored",
        "label",
        "gates",
        "quality_passed",
    ]

    def to_json(self) -> dict[str, Any]:
        """profile.json's content, in its key order."""
        return {
            k: getattr(self, k)
            for k in self.ORDER
            if getattr(self, k) is not None or k in self.ALWAYS
        }


def build_report(
    ds: Dataset,
    st: ProfileState,
    job: ProfileJob,
    dup: dict | None,
    freshness_column: str | None,
    now: datetime | None,
    top_k: int,
) -> ProfileReport:
    """The merged profile state as a report over ``ds``'s columns; ``dup`` the duplicates'
    report, ``freshness_column`` (None: the first date or datetime column) judged at ``now``.

    Raises UserError when profile.freshness_column is missing or not a date or datetime."""
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
        if n is not None:  # NaN and +-inf are left out of the moments: counted here
            nan = n.nulls - st.nulls.get(c, 0) - n.infinite
            entry.update({k: v for k, v in (("nan", nan), ("infinite", n.infinite)) if v})
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
        entry.update(_distribution(st.sketches.get(c), n))
        if c in st.text and st.text[c][0]:
            values, spaced, chars = st.text[c]
            entry["text"] = {"with_whitespace": spaced / values, "mean_length": chars / values}
        if c in st.ascending:
            entry["ascending_in_every_shard"] = st.ascending[c]
        if c in st.integral:
            entry["integral"] = st.integral[c]
        if "distinct" in entry:  # an estimate never exceeds the values it counts
            entry["distinct"] = min(entry["distinct"], st.rows_in - st.nulls.get(c, 0))
        cols[c] = entry
    return ProfileReport(
        rows_in=st.rows_in,
        rows_accepted=st.rows_in - st.rows_quarantined,
        rows_quarantined=st.rows_quarantined,
        files=len(ds.files),
        shards=len(ds.shards),
        rules=st.broken,
        label_counts=st.label_counts if job.classification else None,
        duplicates=dup,
        freshness=_freshness(st, ds, freshness_column, now),
        columns=cols,
        errors={
            "quantile_relative_error": ALPHA,
            "distinct_standard_error": HLL_ERROR,
            "top_counts": "exact when top_count_error is 0, else lower bounds within it",
        },
        per_shard=st.per_shard,
    )


def distribution_report(st: ProfileState, fraction: float) -> dict[str, Any]:
    """profile.json's ``distribution``: which rows the numeric sketches (the columns' quantiles,
    reference.json) count, and the quantiles' rank error when they count a share of them."""
    numeric = [sk for sk in st.sketches.values() if isinstance(sk, NumericSketch)]
    if fraction >= 1.0:
        rows = st.rows_in - st.rows_quarantined
        return {"exact": True, "fraction": 1.0, "rows": rows, "method": "every accepted row"}
    values = [sk.count for sk in numeric if sk.count]
    return {
        "exact": False,
        "fraction": fraction,
        "rows": max((sk.count + sk.nulls for sk in numeric), default=0),
        # the column with the fewest values (nulls, NaN and +-inf have no rank) bounds them all
        "rank_error_95": rank_error_95(min(values)) if values else None,
        "method": "the numeric columns' sketches (quantiles here, reference.json) count the "
        "accepted rows whose 64-bit row hash is in the first `fraction` of the hash space "
        "(above profile.exact_sketch_max_rows rows); every other statistic counts every row. "
        "rank_error_95: the 95% bound on a quantile's rank error from that share, for the "
        "column with the fewest values (each column's quantile_rank_error_95 is its own), on "
        "top of the sketch's relative error (Dvoretzky-Kiefer-Wolfowitz, Massart 1990). "
        "Identical rows are kept or left together, so with many duplicate rows the bound is "
        "optimistic",
    }


def rank_error_95(n: int) -> float:
    """The 95% bound on every quantile's rank error of an empirical distribution of ``n``
    independent draws (Dvoretzky-Kiefer-Wolfowitz with Massart's constant:
    P(sup|F_n - F| > e) <= 2 exp(-2 n e^2))."""
    return math.sqrt(math.log(2 / 0.05) / (2 * n))


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
            f"The column '{column}' (profile.freshness_column) is not in the data. Available "
            f"columns: {', '.join(ds.columns)}."
        )
    if column not in st.temporal:
        if st.nulls.get(column, 0) == st.rows_in:
            return {"column": column, "oldest": None, "newest": None, "age_seconds": None}
        raise UserError(
            f"The column '{column}' (profile.freshness_column) is not a date or datetime column."
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


def _distribution(
    sk: NumericSketch | CategorySketch | None, stats: NumericStats | None
) -> dict[str, Any]:
    if isinstance(sk, NumericSketch) and sk.count:
        within = (stats.min, stats.max) if stats is not None and stats.count else (None, None)
        out: dict[str, Any] = {
            "quantiles": dict(
                zip(
                    [f"p{round(q * 100):02d}" for q in QUANTILES],
                    sk.quantiles(list(QUANTILES), *within),
                    strict=True,
                )
            )
        }
        if sk.fraction < 1.0:  # from a share of the rows (profile.json distribution)
            out["quantile_rank_error_95"] = rank_error_95(sk.count)
        return out
    return {}


def write(report: ProfileReport, path: str) -> None:
    write_json(path, report.to_json())
