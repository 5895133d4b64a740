"""The profile stage: one full pass of mergeable per-column statistics, and the quarantine.

Rows that break a row rule (for now: a null label) are written to ``quarantine/`` with the rule
they broke; the accounting ``rows_in = rows_accepted + rows_quarantined`` holds per shard and in
total. Later stages read the same files with ``accepted_filter`` applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from distml import parallel
from distml.shards import Dataset, Shard, join, read_shard, write_parquet
from distml.sketch import ALPHA, CategorySketch, NumericSketch
from distml.stats import NumericStats

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def sketch_series(s: pl.Series) -> NumericSketch | CategorySketch:
    """A numeric column's log-bucket sketch, or category counts (datetimes count by month)."""
    if s.dtype.is_numeric():
        return NumericSketch.of(s)
    if s.dtype.is_temporal():
        return CategorySketch.of(s.dt.strftime("%Y-%m"))
    return CategorySketch.of(s)


def merge_sketches(a: dict, b: dict) -> dict:
    for c, sk in b.items():
        a[c] = a[c].merge(sk) if c in a else sk
    return a


def accepted_filter(label: str) -> pl.Expr:
    """The rows later stages use: those that break no row rule."""
    return pl.col(label).is_not_null()


def rule_columns(label: str) -> tuple[str, ...]:
    return (label,)


@dataclass
class ProfileState:
    rows_in: int = 0
    rows_quarantined: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    per_shard: dict[str, dict[str, int]] = field(default_factory=dict)
    sketches: dict[str, NumericSketch | CategorySketch] = field(default_factory=dict)
    """Distribution of each column over the accepted rows (the population reference)."""

    def merge(self, o: ProfileState) -> ProfileState:
        self.rows_in += o.rows_in
        self.rows_quarantined += o.rows_quarantined
        for c, n in o.nulls.items():
            self.nulls[c] = self.nulls.get(c, 0) + n
        for c, st in o.numeric.items():
            self.numeric[c] = self.numeric[c].merge(st) if c in self.numeric else st
        self.per_shard.update(o.per_shard)
        merge_sketches(self.sketches, o.sketches)
        return self


def profile_shard(shard: Shard, label: str, out: str) -> tuple[ProfileState, int]:
    df = read_shard(shard)
    st = ProfileState(rows_in=df.height)
    st.nulls = dict(zip(df.columns, df.null_count().row(0), strict=True))
    for c, dt in df.schema.items():
        if dt.is_numeric():
            st.numeric[c] = NumericStats.of(df.get_column(c))
    ok = accepted_filter(label)
    good = df.filter(ok)
    st.sketches = {c: sketch_series(good.get_column(c)) for c in df.columns}
    bad = df.filter(~ok)
    if bad.height:
        bad = bad.with_columns(pl.lit(f"not_null({label})").alias("_quarantine_reason"))
        write_parquet(bad, join(out, f"part-{shard.index:05d}.parquet"))
    st.rows_quarantined = bad.height
    key = f"{shard.path}" + (
        f"#rg{shard.row_groups[0]}-{shard.row_groups[-1]}" if shard.row_groups else ""
    )
    st.per_shard[key] = {
        "rows_in": df.height,
        "rows_quarantined": bad.height,
        "rows_accepted": df.height - bad.height,
    }
    return st, df.height


def run_profile(
    ds: Dataset, label: str, quarantine_dir: str, num_cpus: float, stats
) -> dict[str, Any]:
    ds.require(label, "data.label", "Set data.label to one of them.")
    st = parallel.map_merge(
        profile_shard,
        ds.shards,
        ProfileState.merge,
        ProfileState(),
        args=(label, quarantine_dir),
        label="profile",
        num_cpus=num_cpus,
        stats=stats,
    )
    report = {
        "rows_in": st.rows_in,
        "rows_accepted": st.rows_in - st.rows_quarantined,
        "rows_quarantined": st.rows_quarantined,
        "files": len(ds.files),
        "shards": len(ds.shards),
        "columns": {
            c: {
                "type": str(ds.schema.field(c).type),
                "nulls": st.nulls.get(c, 0),
                "null_rate": st.nulls.get(c, 0) / st.rows_in if st.rows_in else 0.0,
                **(
                    {"mean": n.mean, "std": n.std, "min": n.min, "max": n.max}
                    if (n := st.numeric.get(c)) is not None and n.count
                    else {}
                ),
                **_distribution(st.sketches.get(c)),
            }
            for c in ds.columns
        },
        "quantile_relative_error": ALPHA,
        "per_shard": st.per_shard,
    }
    return report, st.sketches


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
    if isinstance(sk, CategorySketch):
        top = sk.top(10)
        return {
            "distinct": len(sk.counts) if not sk.truncated else f">{len(sk.counts) - 1}",
            "top": {k: sk.counts[k] for k in top},
        }
    return {}


def write(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
