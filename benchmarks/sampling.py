"""distml's sample stage against the cheapest possible reference, on the same files and cores.

In the pipeline the sample stage's counting pass runs inside the profile pass (which reads every
row anyway) and spills the candidate rows; the stage then settles the cuts and writes the sample
from the spill. distml's time here is that stage plus what the counting adds to the profile pass
(its task time inside the profile tasks, summed over shards, divided by the CPUs); the stage run
on its own (with its own counting pass) is reported beside it.

    python benchmarks/sampling.py --rows 100000000 --shards 256 --sample 1000000

Reference: one Polars pass (lazy scan of every file, all columns, streaming engine) keeping the
rows whose hashed id falls below the sampling fraction and writing them to Parquet: a Bernoulli
filter, what Spark's sampleBy does (its size and strata counts are not exact and it splits
nothing). distml: `draw_sample` on its own local Ray (2 CPUs): exact stratified sample and
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
from _common import TreeMemory, generate_data, generate_narrow, run_child, write  # noqa: E402


def run_distml(data: str, out: str, sample: int, strata: list[str], pipeline: bool = True) -> dict:
    """The sample stage as the pipeline runs it: its counting pass inside the profile pass (whose
    extra cost is measured as profile-with minus profile-without), then cuts and the final write
    from the spilled candidates; and, for context, the stage on its own (its own counting pass)."""
    import ray

    from distml.config import ProfileConfig, QualityConfig, SamplingConfig
    from distml.data.schema import polars_schema
    from distml.data.shards import plan
    from distml.profile.stage import run_profile
    from distml.quality.conform import conform
    from distml.quality.contract import build_contract
    from distml.sampling.first_pass import precount_spec
    from distml.sampling.stage import SampleJob, draw_sample

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray_cpus = ray.cluster_resources()["CPU"]
    ds, _ = conform(plan(data), QualityConfig(), "error")
    contract = build_contract(QualityConfig(), polars_schema(ds.schema), "label", [0, 1])
    cfg = SamplingConfig(size=sample, strata=strata)
    kw = dict(label="label", id_column="id", seed=0, row_filter=contract.accepted())
    spec = precount_spec(ds, cfg, **kw)
    phases = {}

    def timed(name, fn):
        with TreeMemory() as mem:
            t0 = time.perf_counter()
            result = fn()
            phases[name] = {"seconds": time.perf_counter() - t0, "peak_pss_bytes": mem.peak_pss}
        return result

    def profile(pre):
        return run_profile(
            ds,
            contract,
            ProfileConfig(),
            label="label",
            id_column="id",
            out_dir=f"{out}-profile",
            sample_spec=pre,
        )

    if not pipeline:  # the stage on its own only (its own counting pass)
        rep = timed(
            "sample_stage_alone",
            lambda: draw_sample(ds, cfg, SampleJob(out=out, filter_cols=contract.columns, **kw)),
        )
        ray.shutdown()
        p = phases["sample_stage_alone"]
        return {
            "seconds": p["seconds"],
            "rows": ds.num_rows,
            "rows_per_s": ds.num_rows / p["seconds"],
            "sample_rows": rep["sample_rows"],
            "passes": rep["passes"],
            "phase_seconds": rep.get("seconds"),
            "peak_pss_bytes": p["peak_pss_bytes"],
        }
    res = timed("profile_with_pass1", lambda: profile(spec))
    ref = res.sketches
    rep = timed(
        "sample_stage",
        lambda: draw_sample(
            ds,
            cfg,
            SampleJob(out=out, filter_cols=contract.columns, reference=ref, **kw),
            precounted=res.precounted,
        ),
    )
    alone = timed(
        "sample_stage_alone",
        lambda: draw_sample(
            ds,
            cfg,
            SampleJob(out=f"{out}-alone", filter_cols=contract.columns, reference=ref, **kw),
        ),
    )
    ray.shutdown()
    # pass 1's share of the profile pass: its task time summed over shards, spread over the CPUs
    extra = res.precounted.task_seconds / ray_cpus
    seconds = phases["sample_stage"]["seconds"] + extra
    return {
        "seconds": seconds,
        "rows": ds.num_rows,
        "rows_per_s": ds.num_rows / seconds,
        "sample_rows": rep["sample_rows"],
        "strata": len(rep["strata"]),
        "passes": rep["passes"],
        "phase_seconds": rep.get("seconds"),
        "pass1_in_profile_extra_seconds": extra,
        "sample_stage_seconds": phases["sample_stage"]["seconds"],
        "peak_pss_bytes": max(
            phases[k]["peak_pss_bytes"] for k in ("profile_with_pass1", "sample_stage")
        ),
        "alone": {
            "seconds": phases["sample_stage_alone"]["seconds"],
            "passes": alone["passes"],
            "peak_pss_bytes": phases["sample_stage_alone"]["peak_pss_bytes"],
        },
        "phases": phases,
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
        "--data",
        default=None,
        help="data folder; generated there (and kept) if missing (default: generate, then delete)",
    )
    ap.add_argument(
        "--narrow",
        action="store_true",
        help="generate the narrow dataset (id, label, region, 6 floats) for runs at 1B rows",
    )
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument(
        "--stage-alone",
        action="store_true",
        help="measure only the sample stage run on its own (no profile pass)",
    )
    ap.add_argument("--mode", choices=["main", "distml", "reference"], default="main")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    strata = a.strata.split(",") if a.strata else []
    if a.mode == "distml":
        print(json.dumps(run_distml(a.data, a.out, a.sample, strata, not a.stage_alone)))
        return
    if a.mode == "reference":
        print(json.dumps(run_reference(a.data, a.out, a.sample)))
        return
    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "data")
    try:
        gen = None
        if a.data is None or not Path(data).exists():
            gen = (generate_narrow if a.narrow else generate_data)(a.rows, a.shards, data)
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
                *(["--stage-alone"] if a.stage_alone else []),
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
            # the reference is short and its time varies between runs: the faster of two runs
            runs = [
                run_child(
                    [__file__, "--mode", "reference", "--out", str(work / f"ref{i}"), *common]
                )
                for i in range(2)
            ]
            r = min(runs, key=lambda x: x["seconds"])
            r["all_runs_seconds"] = [x["seconds"] for x in runs]
            result["reference_bernoulli_polars"] = r
            result["ratio_seconds"] = d["seconds"] / r["seconds"]
            if "alone" in d:
                result["ratio_sample_stage_alone"] = d["alone"]["seconds"] / r["seconds"]
        write(f"sampling-{a.rows}" if a.rows != 100_000_000 else "sampling", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
