"""`distml ingest` against single-process references on the same input.

    eval "$(bash tests/postgres.sh start)"     # the PostgreSQL part needs a server
    python benchmarks/ingest.py --rows 10000000 --pg-rows 1000000

CSV: the synthetic dataset (distml's generator, 23 columns) written as one gzip CSV file (gzip -1).
Reference: Polars in one process, ``pl.scan_csv(path).sink_parquet(out)``. distml:
``distml ingest source=<file> out=<folder>`` as a subprocess on its own local 2-CPU Ray (wall time
including Ray's start, plus the read and write seconds of ingest.json), peak summed RSS of the
process tree (sampled from /proc every 0.5 s). Both outputs are checked to hold the same rows.
PostgreSQL: a table of --pg-rows rows of 8 typed columns. Reference: one
``psql -c "COPY clients TO STDOUT" > /dev/null`` (text, as most dump tools read). distml: the table
read in 2 partitions on ``id``.
Writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory, generate_data, run_child, write  # noqa: E402


def polars_reference(csv_path: str, out: str) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    pl.scan_csv(csv_path).sink_parquet(out)
    seconds = time.perf_counter() - t0
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "rows": rows, "peak_rss_bytes": peak}


def distml_ingest(args: list[str], run_dir: str) -> dict:
    t0 = time.perf_counter()
    with TreeMemory(pss=False) as mem:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "distml",
                "ingest",
                *args,
                "cluster.num_cpus=2",
                f"hydra.run.dir={run_dir}",
            ],
            capture_output=True,
            text=True,
        )
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit("distml ingest failed")
    rec = json.loads(Path(run_dir, "ingest.json").read_text())
    return {
        "seconds": seconds,
        "stage_seconds": rec["seconds"],
        "rows": rec["rows"],
        "shards": len(rec["shards"]),
        "peak_tree_rss_bytes": mem.peak,
    }


def csv_part(rows: int, work: Path) -> dict:
    import polars as pl

    data = str(work / "parquet")
    gen = generate_data(rows, 20, data)
    csv_path = work / "data.csv"
    t0 = time.perf_counter()
    pl.scan_parquet(f"{data}/*.parquet").sink_csv(csv_path)
    subprocess.run(["gzip", "-1", str(csv_path)], check=True)
    gz = f"{csv_path}.gz"
    prep = time.perf_counter() - t0
    shutil.rmtree(data)
    ref = run_child([__file__, "--child-polars", gz, str(work / "ref.parquet")])
    ours = distml_ingest([f"source={gz}", f"out={work / 'out'}"], str(work / "run"))
    assert ours["rows"]["written"] == ref["rows"] == rows, (ours["rows"], ref["rows"])
    cols_ref = pl.read_parquet_schema(work / "ref.parquet")
    cols_ours = pl.read_parquet_schema(next((work / "out").glob("part-*.parquet")))
    return {
        "rows": rows,
        "columns": len(cols_ref),
        "same_columns": sorted(cols_ref) == sorted(cols_ours),
        "types_differ": {
            c: [str(cols_ref[c]), str(cols_ours[c])]
            for c in cols_ref
            if c in cols_ours and cols_ref[c] != cols_ours[c]
        },
        "gzip_bytes": os.path.getsize(gz),
        "generate_seconds": gen["seconds"],
        "csv_write_seconds": prep,
        "polars_scan_csv_sink_parquet": ref,
        "distml_ingest": ours,
        "ratio_wall": ours["seconds"] / ref["seconds"],
        "ratio_stages": (ours["stage_seconds"]["read"] + ours["stage_seconds"]["write"])
        / ref["seconds"],
    }


def _psql(sql: str, out=None) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        stdout=out or subprocess.DEVNULL,
    )


def pg_part(rows: int, work: Path) -> dict:
    if not os.environ.get("PGHOST"):
        raise SystemExit(
            'the PostgreSQL part needs a server: eval "$(bash tests/postgres.sh start)"'
        )
    _psql("DROP TABLE IF EXISTS bench_clients")
    _psql(
        "CREATE TABLE bench_clients AS SELECT g::bigint AS id, (g::bigint * 7919) % 100000 AS k, "
        "round((g % 1000) * 1.25, 2)::numeric(12, 2) AS amount, sqrt(g) AS score, "
        "'client ' || g AS name, timestamptz '2024-01-01' + g * interval '1 second' AS seen, "
        "date '2024-01-01' + (g % 365) AS day, g % 3 = 0 AS active "
        f"FROM generate_series(1, {rows}) g"
    )
    _psql("VACUUM ANALYZE bench_clients")
    timings = {}
    for fmt in ("text", "binary"):
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            _psql(f"COPY bench_clients TO STDOUT (FORMAT {fmt})", out=null)
        timings[fmt] = time.perf_counter() - t0
    source = (
        f"postgresql://{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}"
    )
    ours = distml_ingest(
        [
            f"source={source}",
            f"out={work / 'pg-out'}",
            "ingest.table=bench_clients",
            "ingest.partition_column=id",
            "ingest.partitions=2",
        ],
        str(work / "pg-run"),
    )
    _psql("DROP TABLE bench_clients")
    assert ours["rows"]["written"] == rows
    return {
        "rows": rows,
        "psql_copy_to_stdout_seconds": timings,
        "distml_ingest": ours,
        "ratio_wall_vs_copy_text": ours["seconds"] / timings["text"],
        "ratio_stages_vs_copy_text": (
            ours["stage_seconds"]["read"] + ours["stage_seconds"]["write"]
        )
        / timings["text"],
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child-polars":
        print(json.dumps(polars_reference(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pg-rows", type=int, default=1_000_000)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp dir, removed)")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="distml-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": {"cpus": os.cpu_count()}}
    try:  # each part is written as soon as it is done
        if a.rows:
            result["csv_gzip"] = csv_part(a.rows, work)
            write("ingest", result)
        if a.pg_rows:
            result["postgresql"] = pg_part(a.pg_rows, work)
            write("ingest", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
