"""``distml ingest``: files or a PostgreSQL table into one sharded Parquet dataset, atomically.

Two passes, both maps over small work items (distml/cluster/tasks.py):

1. read: one task per file (or database partition) writes its rows as staged pieces and returns
   its column types and line accounting (distml/ingest/files.py, distml/ingest/postgres.py);
2. write: the driver unifies the types (a declared ``ingest.schema`` type wins), groups the
   pieces into shards of about ``ingest.shard_rows`` rows, and one task per shard converts and
   writes it (distml/ingest/pieces.py).

Everything is written to a hidden folder beside ``out`` (``.<name>.ingest-<id>``, which no stage
reads: names starting with . or _ are left out), then moved into place: a run that dies leaves no
half-written dataset at ``out``, and ``ingest.overwrite=true`` replaces an old one only once the
new one is complete. ``out/_ingest/ingest.json`` accounts for every line or row
(in = written + quarantined, per file and in all), ``out/_ingest/quarantine/`` holds the
quarantined lines with their file, line number and reason.
"""

from __future__ import annotations

import os
import posixpath
import time
import uuid
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from distml.artifacts import dumps, write_json
from distml.cluster.session import choose_executor, ensure_ray
from distml.cluster.tasks import MapStats, cluster_cpus, map_shards
from distml.config import IngestSettings
from distml.data.fs import filesystem
from distml.data.listing import list_files
from distml.errors import UserError
from distml.ingest import postgres
from distml.ingest.files import stage_file
from distml.ingest.pieces import Converting, Piece, convert_pieces
from distml.ingest.plan import DECLARED, ColumnPlan, Conversion, declared_types, plan_columns
from distml.ingest.readers import UNNAMED, file_kind
from distml.progress import say

NOT_TEXT = (
    "not a .csv, .tsv, .json/.jsonl/.ndjson name (ingest.format=csv|tsv|ndjson reads it as one)"
)


def _staging_uri(out: str, tag: str) -> str:
    out = out.rstrip("/")
    if "://" not in out:
        out = os.path.abspath(out)
    parent, name = out.rsplit("/", 1)
    return f"{parent}/.{name}.{tag}-{uuid.uuid4().hex[:8]}"


def _check_out(s: IngestSettings) -> None:
    if not s.source:
        raise UserError(
            "distml ingest needs source=<files or postgresql://host/db>: a CSV/TSV/NDJSON file, "
            "folder or glob (compressed or not), or a PostgreSQL URI with ingest.table or "
            "ingest.query."
        )
    if not s.out:
        raise UserError("distml ingest needs out=<folder>: where the Parquet dataset is written.")
    fs, path = filesystem(s.out)
    if not postgres.is_postgres(s.source):
        _, src = filesystem(s.source.split("*")[0].split("?")[0])
        a, b = path.rstrip("/"), src.rstrip("/")
        if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
            raise UserError(
                f"out '{s.out}' and source '{s.source}' overlap: the dataset would be written "
                "over or inside the files it is read from. Choose an out outside the source "
                "folder (e.g. a sibling folder)."
            )
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.NotFound:
        return
    if not s.ingest.overwrite:
        raise UserError(
            f"out '{s.out}' already exists. Set ingest.overwrite=true to replace it (the old "
            "dataset stays until the new one is complete, then is swapped out), or choose "
            "another out."
        )
    marker = posixpath.join(path, "_ingest", "ingest.json")
    if kind != pafs.FileType.Directory or fs.get_file_info(marker).type != pafs.FileType.File:
        raise UserError(
            f"out '{s.out}' exists and is not a dataset written by distml ingest (it has no "
            "_ingest/ingest.json), so ingest.overwrite=true will not delete it. Remove it "
            "yourself if it should go, or choose another out."
        )


def _stale(out: str) -> list[str]:
    """Staging folders beside ``out`` left by runs that died (killed, out of memory)."""
    fs, path = filesystem(out)
    parent, name = posixpath.split(path.rstrip("/"))
    found = fs.get_file_info(pafs.FileSelector(parent or "/", allow_not_found=True))
    return [i.path for i in found if posixpath.basename(i.path).startswith(f".{name}.ingest-")]


def run_ingest(s: IngestSettings, run_dir: str) -> dict[str, Any]:
    """Ingest ``s.source`` into ``s.out``; returns the ingest.json record."""
    _check_out(s)
    for old in _stale(s.out):
        say("ingest", f"note: {old} was left by an ingest that died; remove it when none runs")
    staging = _staging_uri(s.out, "ingest")
    sfs, sroot = filesystem(staging)
    t_start = time.perf_counter()
    executor = choose_executor(s.cluster, None, workers=1)  # rows unknown: auto is Ray
    if executor == "ray":
        ensure_ray()  # Ray's start, timed apart from the passes
    t0 = time.perf_counter()
    try:
        sfs.create_dir(posixpath.join(sroot, "_ingest", "quarantine"), recursive=True)
        sfs.create_dir(posixpath.join(sroot, "_staged"), recursive=True)
        if postgres.is_postgres(s.source):
            record, pieces, schema, names, convert = _read_database(s, staging)
        else:
            record, pieces, schema, names, convert = _read_files(s, staging)
        t1 = time.perf_counter()
        shards = _write(s, staging, pieces, schema, names, record, convert)
        record["seconds"] = {
            "ray_start": round(t0 - t_start, 3),
            "read": round(t1 - t0, 3),
            "write": round(time.perf_counter() - t1, 3),
            "total": round(time.perf_counter() - t_start, 3),
        }
        sfs.delete_dir(posixpath.join(sroot, "_staged"))
        record["shards"] = shards
        record["executor"] = executor
        _account(record)
        with sfs.open_output_stream(posixpath.join(sroot, "_ingest", "ingest.json")) as f:
            f.write(dumps(record).encode())
        _commit(s.out, staging)
    except BaseException:
        if sfs.get_file_info(sroot).type != pafs.FileType.NotFound:
            sfs.delete_dir(sroot)
        raise
    os.makedirs(run_dir, exist_ok=True)
    write_json(os.path.join(run_dir, "ingest.json"), record)
    _summary(record, s.out)
    return record


def _read_files(s: IngestSettings, staging: str):
    cfg = s.ingest
    listing = list_files(
        s.source,
        what="source",
        advice="distml ingest reads .csv, .tsv and .json/.jsonl/.ndjson files, compressed or not.",
    )
    files, not_read = [], [{"path": p, "reason": why} for p, why in listing.ignored]
    for p in listing.files:
        if file_kind(p, cfg.format)[0] is None:
            not_read.append({"path": p, "reason": NOT_TEXT})
        else:
            files.append(p)
    if not files:
        raise UserError(
            f"source '{s.source}' holds no CSV, TSV or NDJSON file ({len(not_read)} other files: "
            f"{', '.join(posixpath.basename(n['path']) for n in not_read[:3])}). Name such files, "
            "or set ingest.format=csv|tsv|ndjson to read these as one."
        )
    say("ingest", f"reading {len(files)} files from {s.source}")
    stats = MapStats()
    records = map_shards(
        stage_file,
        list(enumerate(files)),
        args=(cfg, s.source, staging, listing.base),
        label="ingest: read",
        num_cpus=s.cluster.task_cpus,
        stats=stats,
    )
    notes = _drop_unnamed(records)
    plan = plan_columns(records, cfg)
    empty = [r["path"] for r in records if not r["columns"] and not r["in"]]
    record = {
        "source": s.source,
        "out": s.out,
        "files": [
            {
                k: v
                for k, v in r.items()
                if k not in ("types", "pieces", "index", "columns", "notes", "line_breaks")
            }
            for r in records
        ],
        "files_not_read": not_read,
        "empty_files": empty,
        "columns": _columns(plan, records),
        "peak_rss_bytes": stats.peak_rss_bytes,
        "notes": notes + plan.notes + [n for r in records for n in r["notes"]],
    }
    pieces = [p for r in records for p in r["pieces"]]
    convert = Converting(
        plan.conversions,
        {r["index"]: plan.renames[r["index"]] for r in records},
        {r["index"]: r["decimal"] for r in records},
        s.ingest.timezone,
        s.ingest.bad_values,
    )
    return record, pieces, plan.schema, [r["path"] for r in records], convert


def _drop_unnamed(records: list[dict]) -> list[str]:
    """Columns with no name in the header and no value in any file (a trailing delimiter) are
    left out, noted."""
    seen: dict[str, int] = {}
    for r in records:
        for c in r["columns"]:
            if c.startswith(UNNAMED):
                seen[c] = seen.get(c, 0) + r["types"][c].values
    gone = [c for c, n in seen.items() if n == 0]
    for r in records:
        r["columns"] = [c for c in r["columns"] if c not in gone]
    return [f"column {c} (no name in the header, no value in any file) was left out" for c in gone]


def _columns(plan: ColumnPlan, records: list[dict]) -> list[dict[str, Any]]:
    """ingest.json's ``columns``: each output column's type, how it was decided, its spellings
    and the files without it."""
    named = [
        (r, {plan.renames[r["index"]].get(x, x): n for x, n in r["line_breaks"].items()})
        for r in records
    ]
    present = [{plan.renames[r["index"]].get(x, x) for x in r["columns"]} for r in records]
    return [
        {
            "name": c,
            "type": str(plan.schema.field(c).type),
            "declared": plan.conversions[c].declared is not None,
            **({"inferred": plan.decisions[c]} if c in plan.decisions else {}),
            **({"spellings": plan.spellings[c]} if c in plan.spellings else {}),
            "files_without": [
                r["path"] for r, have in zip(records, present, strict=True) if c not in have
            ],
            "values_with_line_breaks": sum(breaks.get(c, 0) for _, breaks in named),
        }
        for c in plan.schema.names
    ]


def _read_database(s: IngestSettings, staging: str):
    cfg = s.ingest
    postgres.check_uri(s.source)
    n = cfg.partitions or (cluster_cpus() if cfg.partition_column else 1)
    with postgres.snapshot(s.source, cfg, n) as (snap, count, parts, select, read_notes):
        say("ingest", f"reading {count:,} rows from {s.source} in {len(parts)} partitions")
        stats = MapStats()
        records = map_shards(
            postgres.stage_partition,
            parts,
            args=(s.source, cfg, snap, staging, select),
            label="ingest: read",
            num_cpus=s.cluster.task_cpus,
            stats=stats,
        )
    types, notes = postgres.output_types(records[0]["schema"])
    declared = declared_types(cfg, list(types))
    schema = pa.schema(
        [(c, DECLARED[declared[c]][1] if c in declared else t) for c, t in types.items()]
    )
    conversions = {
        c: Conversion(DECLARED[declared[c]][0], utc=True, declared=declared[c])
        if c in declared
        else Conversion(None)
        for c in types
    }
    names = [f"partition {r['index']} ({r['where']})" for r in records]
    record = {
        "source": s.source,  # check_uri: no password in it
        "out": s.out,
        "relation": cfg.query or cfg.table,
        "rows_in_snapshot": count,
        "partitions": [
            {
                "where": r["where"],
                "in": r["rows"],
                "staged": r["rows"],
                "quarantined": {},
                "seconds": r["seconds"],
            }
            for n, r in zip(names, records, strict=True)
        ],
        "columns": [
            {"name": f.name, "type": str(f.type), "declared": f.name in declared} for f in schema
        ],
        "peak_rss_bytes": stats.peak_rss_bytes,
        "notes": read_notes + notes,
    }
    read = sum(r["rows"] for r in records)
    if read != count:  # the partitions share the count's snapshot: only a volatile query differs
        raise UserError(
            f"The {len(parts)} partitions read {read:,} rows where the same snapshot counted "
            f"{count:,}: ingest.query does not return the same rows each time it runs (random(), "
            "LIMIT without ORDER BY, TABLESAMPLE, volatile functions). Make it deterministic, or "
            "set ingest.partitions=1 to read it once."
        )
    pieces = [p for r in records for p in r["pieces"]]
    convert = Converting(conversions, {}, {}, cfg.timezone, cfg.bad_values)
    return record, pieces, schema, names, convert


def _groups(pieces: list[Piece], shard_rows: int) -> list[list[Piece]]:
    """Consecutive pieces, at most ``shard_rows`` rows a group (a piece is never split)."""
    groups: list[list[Piece]] = []
    rows = 0
    for p in pieces:
        if not groups or rows + p.rows > shard_rows:
            groups.append([])
            rows = 0
        groups[-1].append(p)
        rows += p.rows
    return groups


def _write(s, staging, pieces, schema, names, record, convert: Converting) -> list[dict]:
    cfg = s.ingest
    if not len(schema):
        raise UserError(
            f"source '{s.source}' holds no columns (empty files, or files of blank lines): there "
            "is nothing to write. Check the files listed in the log."
        )
    groups = _groups([p for p in pieces if p.rows], cfg.shard_rows) or [[]]
    options = {"row_group_rows": cfg.row_group_rows, "compression": cfg.compression}
    results = map_shards(
        convert_pieces,
        list(enumerate(groups)),
        args=(schema, convert, names, staging, options),
        label="ingest: write",
        num_cpus=s.cluster.task_cpus,
    )
    written: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    nulled: dict[int, Counter[str]] = {}
    for counts in results:
        for src, c in counts.items():
            written[src] += c["written"]
            bad[src] += c["quarantined"]
            nulled.setdefault(src, Counter()).update(c["set_null"])
    for i, f in enumerate(record.get("files") or record["partitions"]):
        f["written"] = written[i]
        if bad[i]:
            f["quarantined"]["value does not parse as its type"] = bad[i]
        if nulled.get(i):
            f["values_set_null"] = dict(nulled[i])
    return [
        {"path": f"part-{i:05d}.parquet", "rows": sum(c["written"] for c in counts.values())}
        for i, counts in enumerate(results)
    ]


def _account(record: dict) -> None:
    """in = written + quarantined, per file and in all; a mismatch is a bug, never a silent loss."""
    reasons: Counter[str] = Counter()
    inputs = record.get("files") or record["partitions"]
    for f in inputs:
        q = sum(f["quarantined"].values())
        f.pop("staged", None)
        if f["in"] != f["written"] + q:
            raise RuntimeError(f"{f}: in != written + quarantined")
        reasons.update(f["quarantined"])
    record["rows"] = {
        "in": sum(f["in"] for f in inputs),
        "written": sum(f["written"] for f in inputs),
        "quarantined": sum(reasons.values()),
    }
    record["quarantined_by_reason"] = dict(reasons)


def _commit(out: str, staging: str) -> None:
    """Move the complete dataset into place; an old one is moved aside first and removed after."""
    fs, path = filesystem(out)
    _, spath = filesystem(staging)
    old = None
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        _, old = filesystem(_staging_uri(out, "replaced"))
        fs.move(path, old)
    else:
        fs.create_dir(posixpath.dirname(path), recursive=True)
    fs.move(spath, path)
    if old is not None:
        fs.delete_dir(old)


def _summary(record: dict, out: str) -> None:
    r = record["rows"]
    say(
        "ingest",
        f"wrote {r['written']:,} rows in {len(record['shards'])} Parquet files to {out} "
        f"({r['quarantined']:,} quarantined of {r['in']:,} in; {record['seconds']['total']:.1f} s)",
    )
    for reason, n in sorted(record["quarantined_by_reason"].items()):
        say("ingest", f"  quarantined: {n:,} {reason} (see {out}/_ingest/quarantine/)")
    if not r["written"]:
        say("ingest", "  warning: no rows were written (the Parquet file holds the columns only)")
    for n in record.get("notes", []):
        say("ingest", f"  note: {n}")
    for f in record.get("files_not_read", []):
        say("ingest", f"  not read: {f['path']}: {f['reason']}")
