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
from distml.errors import UserError
from distml.shards import Dataset, Shard, join, read_shard, write_parquet
from distml.stats import NumericStats


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

    def merge(self, o: ProfileState) -> ProfileState:
        self.rows_in += o.rows_in
        self.rows_quarantined += o.rows_quarantined
        for c, n in o.nulls.items():
            self.nulls[c] = self.nulls.get(c, 0) + n
        for c, st in o.numeric.items():
            self.numeric[c] = self.numeric[c].merge(st) if c in self.numeric else st
        self.per_shard.update(o.per_shard)
        return self


def profile_shard(shard: Shard, label: str, out: str) -> tuple[ProfileState, int]:
    df = read_shard(shard)
    st = ProfileState(rows_in=df.height)
    st.nulls = dict(zip(df.columns, df.null_count().row(0), strict=True))
    for c, dt in df.schema.items():
        if dt.is_numeric():
            st.numeric[c] = NumericStats.of(df.get_column(c))
    bad = df.filter(~accepted_filter(label))
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
    if label not in ds.columns:
        raise UserError(
            f"The label column '{label}' (data.label) is not in the data at data.path '{ds.uri}' "
            f"(first file {ds.files[0]}). Available columns: {', '.join(ds.columns)}. "
            "Set data.label to one of them."
        )
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
    return {
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
            }
            for c in ds.columns
        },
        "per_shard": st.per_shard,
    }


def write(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
