"""distml's profile stage against one Polars pass computing the same exact statistics.

    python benchmarks/profile.py --rows 100000000 --shards 256

Reference: one Polars query (lazy scan of every file, streaming engine, all cores) computing the
same family of statistics: rows, and per column nulls and an approximate distinct count
(``approx_n_unique``); min, max, mean and standard deviation of numeric columns; min and max of
timestamps; the top values of string columns. distml: `run_profile` on its own local Ray (2 CPUs) computing
those plus quantile sketches, distinct-count sketches, frequent values, the row rules and
quarantine, label counts and exact duplicate row/id counts (a second, hash-partitioned pass).
``--no-duplicates`` leaves that second pass out. The exact statistics of both are compared.
Memory: the peak summed PSS of the measured process and all its children (Ray's processes).
Writes benchmarks/results/profile[-<rows>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory, generate_data, run_child, write  # noqa: E402

TOP_K = 10


def run_distml(data: str, out: str, duplicates: bool) -> dict:
    import ray

    from distml.cluster import tasks as parallel
    from distml.config import QualityConfig
    from distml.data.schema import polars_schema
    from distml.data.shards import plan
    from distml.quality.conform import conform
    from distml.quality.contract import build_contract

    with TreeMemory() as mem:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        t0 = time.perf_counter()
        ds, _ = conform(plan(data), QualityConfig(), "error")
        contract = build_contract(QualityConfig(), polars_schema(ds.schema), "label", [0, 1])
        stats = parallel.MapStats()
        prof, _ = run_profile_(ds, contract, out, stats, duplicates)
        seconds = time.perf_counter() - t0
        ray.shutdown()
    return {
        "seconds": seconds,
        "rows": prof["rows_in"],
        "rows_per_s": prof["rows_in"] / seconds,
        "duplicates": prof["duplicates"],
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
        "largest_task_peak_rss_bytes": stats.peak_rss_bytes,
        "exact": {
            c: {k: v.get(k) for k in ("nulls", "min", "max", "mean", "std")}
            for c, v in prof["columns"].items()
        },
    }


def run_profile_(ds, contract, out, stats, duplicates):
    from distml.config import ProfileConfig
    from distml.profile.stage import run_profile

    res = run_profile(
        ds,
        contract,
        ProfileConfig(duplicates=duplicates),
        label="label",
        id_column="id",
        out_dir=out,
        stats=stats,
    )
    return res.report, res.sketches


def run_reference(data: str) -> dict:
    import polars as pl

    with TreeMemory() as mem:
        t0 = time.perf_counter()
        lf = pl.scan_parquet(f"{data}/*.parquet")
        schema = lf.collect_schema()
        exprs = [pl.len().alias("__rows")]
        for c, dt in schema.items():
            exprs.append(pl.col(c).null_count().alias(f"{c}|nulls"))
            exprs.append(pl.col(c).approx_n_unique().alias(f"{c}|approx_distinct"))
            if dt == pl.String:
                top = pl.col(c).value_counts(sort=True).head(TOP_K).implode()
                exprs.append(top.alias(f"{c}|top"))
            if dt.is_numeric():
                x = pl.col(c).cast(pl.Float64)
                exprs += [
                    x.min().alias(f"{c}|min"),
                    x.max().alias(f"{c}|max"),
                    x.mean().alias(f"{c}|mean"),
                    x.std().alias(f"{c}|std"),
                ]
            elif dt.is_temporal():
                exprs += [pl.col(c).min().alias(f"{c}|min"), pl.col(c).max().alias(f"{c}|max")]
        row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
        seconds = time.perf_counter() - t0
    exact: dict[str, dict] = {}
    for k, v in row.items():
        if k == "__rows" or k.endswith(("|approx_distinct", "|top")):
            continue
        c, stat = k.split("|")
        exact.setdefault(c, {})[stat] = v if not hasattr(v, "isoformat") else v.isoformat()
    return {
        "seconds": seconds,
        "rows": row["__rows"],
        "rows_per_s": row["__rows"] / seconds,
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
        "exact": exact,
    }


def _agree(d: dict, r: dict) -> dict:
    """Largest relative difference of each exact statistic between distml and the reference."""
    worst: dict[str, float] = {}
    for c, stats in r.items():
        for k, v in stats.items():
            mine = d.get(c, {}).get(k)
            if isinstance(v, int | float) and isinstance(mine, int | float) and v is not None:
                diff = abs(mine - v) / max(abs(v), 1e-12)
                worst[k] = max(worst.get(k, 0.0), diff)
            elif v is not None:
                worst[k] = max(worst.get(k, 0.0), 0.0 if str(mine)[:19] == str(v)[:19] else 1.0)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--shards", type=int, default=256)
    ap.add_argument(
        "--data", default=None, help="existing generated data (default: generate, then delete)"
    )
    ap.add_argument("--no-duplicates", action="store_true")
    ap.add_argument("--mode", choices=["main", "distml", "reference"], default="main")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.mode == "distml":
        print(json.dumps(run_distml(a.data, a.out, not a.no_duplicates), default=str))
        return
    if a.mode == "reference":
        print(json.dumps(run_reference(a.data), default=str))
        return
    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "data")
    try:
        gen = generate_data(a.rows, a.shards, data) if a.data is None else None
        r = run_child([__file__, "--mode", "reference", "--data", data])
        d = run_child(
            [
                __file__,
                "--mode",
                "distml",
                "--data",
                data,
                "--out",
                str(work / "distml"),
                *(["--no-duplicates"] if a.no_duplicates else []),
            ]
        )
        result = {
            "benchmark": "profile",
            "rows": r["rows"],
            "files": len(list(Path(data).glob("*.parquet"))),
            "cpus": os.cpu_count(),
            "generate_seconds": gen["seconds"] if gen else None,
            "distml": {k: v for k, v in d.items() if k != "exact"},
            "reference_polars_exact": {k: v for k, v in r.items() if k != "exact"},
            "ratio_seconds": d["seconds"] / r["seconds"],
            "exact_statistics_max_relative_difference": _agree(d["exact"], r["exact"]),
        }
        write(f"profile-{a.rows}" if a.rows != 100_000_000 else "profile", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
