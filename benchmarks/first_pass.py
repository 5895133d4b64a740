"""The first pass at scale: `distml run pipeline.until=sample` (profile + sample) against one
Polars Bernoulli pass over the same files, on the same cores (issue #17's billion-row bar).

    python benchmarks/first_pass.py --rows 1000000000 --shards 1024   # ~24 GB, deleted after

distml: the CLI as a user runs it (defaults: `cluster.executor=auto` takes Ray above
`cluster.threads_max_rows`, the sketches count a row-hash share above
`profile.exact_sketch_max_rows`), data-stage cache off, `sampling.size=1,000,000`; each stage's
seconds and the driver's peak RSS from run.json, per-phase task seconds of the profile pass.
Reference: `benchmarks/sampling.py --mode reference`: one streaming Polars query over every file
keeping the rows whose hashed id falls below the sampling fraction, written to Parquet (the
faster of two runs). Memory: the peak summed PSS of each measured process and its children (Ray's
processes). The generated data is the narrow dataset (id, label, six float32, a region string),
deleted afterwards unless --data names a folder to keep. Writes
benchmarks/results/first_pass[-<rows>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory, generate_narrow, run_child, write  # noqa: E402

HERE = Path(__file__).resolve().parent


def run_distml(data: str, run_dir: Path, sample: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "distml",
        "run",
        f"data.path={data}",
        "pipeline.until=sample",
        f"sampling.size={sample}",
        f"hydra.run.dir={run_dir}",
    ]
    with TreeMemory(interval=2.0) as mem:
        t0 = time.perf_counter()
        p = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=HERE.parent,
            env={**os.environ, "DISTML_CACHE": "false"},
        )
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit(f"distml run failed (exit {p.returncode})")
    run = json.loads((run_dir / "run.json").read_text())
    prof = json.loads((run_dir / "profile.json").read_text())
    stages = {
        name: {
            k: st.get(k)
            for k in ("seconds", "rows_per_s", "peak_rss_bytes", "task_seconds")
            if st.get(k) is not None
        }
        for name, st in run["stages"].items()
    }
    return {
        "wall_seconds": wall,
        "executor": run.get("executor"),
        "stages": stages,
        "profile_plus_sample_seconds": stages["profile"]["seconds"] + stages["sample"]["seconds"],
        "duplicates_pass_seconds": prof["timing"]["duplicates_pass_seconds"],
        "distribution": {k: v for k, v in prof["distribution"].items() if k != "method"},
        "duplicates": {k: v for k, v in prof["duplicates"].items() if k != "method"},
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000_000)
    ap.add_argument("--shards", type=int, default=1024)
    ap.add_argument("--sample", type=int, default=1_000_000)
    ap.add_argument(
        "--data", default=None, help="data folder; generated there (and kept) if missing"
    )
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(HERE)))
    data = a.data or str(work / "data")
    try:
        gen = None
        if a.data is None or not Path(data).exists():
            gen = generate_narrow(a.rows, a.shards, data)
        refs = [
            run_child(
                [
                    str(HERE / "sampling.py"),
                    "--mode",
                    "reference",
                    "--data",
                    data,
                    "--out",
                    str(work / f"ref{i}"),
                    "--sample",
                    str(a.sample),
                ]
            )
            for i in range(2)
        ]
        ref = min(refs, key=lambda r: r["seconds"])
        ref["all_runs_seconds"] = [r["seconds"] for r in refs]
        d = run_distml(data, work / "run", a.sample)
        result = {
            "benchmark": "first_pass",
            "rows": ref["rows"],
            "files": len(list(Path(data).glob("*.parquet"))),
            "sample_rows": a.sample,
            "cpus": os.cpu_count(),
            "generate_seconds": gen["seconds"] if gen else None,
            "distml": d,
            "reference_bernoulli_polars": ref,
            "ratio_profile_plus_sample": d["profile_plus_sample_seconds"] / ref["seconds"],
        }
        write(f"first_pass-{a.rows}" if a.rows != 1_000_000_000 else "first_pass", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
