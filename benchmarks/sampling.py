"""distml's sample stage against the cheapest possible reference, on the same files and cores.

    python benchmarks/sampling.py --rows 100000000 --shards 256 --sample 1000000

Reference: one Polars pass (lazy scan of every file, all columns, streaming engine) keeping the
rows whose hashed id falls below the sampling fraction and writing them to Parquet: a Bernoulli
filter, what Spark's sampleBy does (its size and strata counts are not exact and it splits
nothing). distml: `run_sample` on its own local Ray (2 CPUs): exact stratified sample and
train/valid/test split, written by each shard task.
Memory: the peak summed PSS of the measured process and all its children (Ray's processes).
Writes benchmarks/results/sampling[-<rows>].json.
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


def run_distml(data: str, out: str, sample: int, strata: list[str]) -> dict:
    import ray

    from distml.config import SamplingConfig
    from distml.sample import run_sample
    from distml.shards import plan

    with TreeMemory() as mem:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        t0 = time.perf_counter()
        ds = plan(data)
        rep = run_sample(
            ds,
            SamplingConfig(size=sample, strata=strata),
            label="label",
            id_column="id",
            seed=0,
            out=out,
        )
        seconds = time.perf_counter() - t0
        ray.shutdown()
    return {
        "seconds": seconds,
        "rows": ds.num_rows,
        "rows_per_s": ds.num_rows / seconds,
        "sample_rows": rep["sample_rows"],
        "strata": len(rep["strata"]),
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def run_reference(data: str, out: str, sample: int) -> dict:
    import polars as pl

    with TreeMemory() as mem:
        t0 = time.perf_counter()
        n = pl.scan_parquet(f"{data}/*.parquet").select(pl.len()).collect().item()
        bound = int(sample / n * (2**64 - 1))
        (
            pl.scan_parquet(f"{data}/*.parquet")
            .filter(pl.col("id").hash(seed=0) < pl.lit(bound, dtype=pl.UInt64))
            .sink_parquet(f"{out}.parquet")
        )
        seconds = time.perf_counter() - t0
    kept = pl.scan_parquet(f"{out}.parquet").select(pl.len()).collect().item()
    return {
        "seconds": seconds,
        "rows": n,
        "rows_per_s": n / seconds,
        "sample_rows": kept,
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--shards", type=int, default=256)
    ap.add_argument("--sample", type=int, default=1_000_000)
    ap.add_argument("--strata", default="label")
    ap.add_argument(
        "--data", default=None, help="existing generated data (default: generate, then delete)"
    )
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--mode", choices=["main", "distml", "reference"], default="main")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    strata = a.strata.split(",") if a.strata else []
    if a.mode == "distml":
        print(json.dumps(run_distml(a.data, a.out, a.sample, strata)))
        return
    if a.mode == "reference":
        print(json.dumps(run_reference(a.data, a.out, a.sample)))
        return
    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "data")
    try:
        gen = None
        if a.data is None:
            gen = generate_data(a.rows, a.shards, data)
        common = ["--data", data, "--sample", str(a.sample)]
        d = run_child(
            [
                __file__,
                "--mode",
                "distml",
                "--out",
                str(work / "distml"),
                "--strata",
                a.strata,
                *common,
            ]
        )
        result = {
            "benchmark": "sampling",
            "rows": d["rows"],
            "files": len(list(Path(data).glob("*.parquet"))),
            "sample_rows": a.sample,
            "strata_columns": strata,
            "cpus": os.cpu_count(),
            "generate_seconds": gen["seconds"] if gen else None,
            "distml": d,
        }
        if not a.skip_reference:
            r = run_child(
                [__file__, "--mode", "reference", "--out", str(work / "reference"), *common]
            )
            result["reference_bernoulli_polars"] = r
            result["ratio_seconds"] = d["seconds"] / r["seconds"]
        write(f"sampling-{a.rows}" if a.rows != 100_000_000 else "sampling", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
