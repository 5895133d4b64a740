"""Parquet string columns that hold numbers, booleans, dates or timestamps, read as that type
(``quality.coerce=[infer]``): the rules of ``distml ingest`` (distml/data/text.py, distml/data/parse.py) applied to the
text the files already have.

A string column of every file is probed first (its first ``PROBE_ROWS`` values in up to
``PROBE_SHARDS`` shards spread over the dataset): a column whose probe mostly parses as some kind
is then counted over every row, in one map over the shards returning mergeable ``TextStats``, and
takes the kind when at most ``quality.max_bad_share`` of its values fail. A column that is text in
some files and a number, date or timestamp in others (conform.py types it from the others) is
counted in its text files the same way, and refused in one paragraph when its strings do not
parse. The rows whose value fails are quarantined through the read-time parse marker, each said
in the log and profile.json (``schema.inferred``). A declared type (``quality.schema``) is never
inferred over.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl
import pyarrow as pa

from distml.cluster.tasks import map_merge
from distml.config import QualityConfig
from distml.data.casts import Cast, ParseArgs
from distml.data.parse import NULL_MARKERS, dtype_of, kind_of_dtype, sniff_decimal
from distml.data.reading import read_shard
from distml.data.schema import normalize, polars_schema
from distml.data.shards import Dataset, Shard, without_files
from distml.data.text import TextStats
from distml.errors import UserError

PROBE_ROWS = 2_000
PROBE_SHARDS = 8


def _raw(shard: Shard, columns: list[str]) -> Shard:
    """The shard reading ``columns`` as its file has them (no parse casts)."""
    casts = tuple(c for c in shard.casts if c.column not in columns)
    return replace(shard, casts=casts, marker=False)


def _texts(df: pl.DataFrame, decimal: str, timezone: str) -> dict[str, TextStats]:
    return {
        c: TextStats.of(df.get_column(c), decimal, NULL_MARKERS, timezone)
        for c in df.columns
        if df.schema[c] == pl.String
    }


def _count_shard(shard: Shard, columns: list[str], decimal: str, tz: str) -> tuple[dict, int]:
    df = read_shard(_raw(shard, columns), [c for c in columns if c in _file_has(shard, columns)])
    return _texts(df, decimal, tz), shard.num_rows


def _file_has(shard: Shard, columns: list[str]) -> set[str]:
    absent = {c.column for c in shard.casts if c.absent}
    return {c for c in columns if c not in absent}


def _merge(a: dict[str, TextStats], b: dict[str, TextStats]) -> dict[str, TextStats]:
    for c, st in b.items():
        a[c] = a[c].merge(st) if c in a else st
    return a


def _probe(ds: Dataset, columns: list[str]) -> tuple[list[str], str]:
    """The columns whose probe mostly parses as a kind, and the numbers' decimal convention."""
    step = max(1, len(ds.shards) // PROBE_SHARDS)
    frames = []
    for sh in ds.shards[::step][:PROBE_SHARDS]:
        have = [c for c in columns if c in _file_has(sh, columns)]
        if have:
            frames.append(read_shard(_raw(sh, columns), have).head(PROBE_ROWS))
    values = [f.get_column(c) for f in frames for c in f.columns if f.schema[c] == pl.String]
    decimal = sniff_decimal(values).decimal
    probe: dict[str, TextStats] = {}
    for f in frames:
        _merge(probe, _texts(f, decimal, "UTC"))
    likely = [
        c for c, st in probe.items() if st.values and min(st.fails.values()) <= 0.5 * st.values
    ]
    return likely, decimal


def infer_text_types(
    ds: Dataset,
    cfg: QualityConfig,
    num_cpus: float = 1.0,
    stats: Any = None,
    on_bad_file: str = "error",
) -> tuple[Dataset, list[tuple[str, str]]]:
    """The dataset with its inferred columns parsed on read, and what was decided (column, why).
    A column typed from other files whose strings do not parse is a UserError, or with
    ``on_bad_file='skip'`` its text files are left out (``Dataset.bad_files``, with why)."""
    if "infer" not in cfg.coerce:
        return ds, []
    schema = polars_schema(ds.schema)
    mixed = dict(ds.notes.get("from_strings", {}))
    text = [
        c
        for c, dt in schema.items()
        if dt == pl.String
        and c not in cfg.schema
        and c not in ds.notes.get("partition_columns", ())
    ]
    likely, decimal = _probe(ds, text) if text or mixed else ([], "point")
    counted = likely + list(mixed)
    if not counted:
        return ds, []
    skipped: dict[str, str] = {}
    st = map_merge(
        _count_shard,
        ds.shards,
        _merge,
        {},
        args=(counted, decimal, cfg.timezone),
        label="profile: infer types",
        num_cpus=num_cpus,
        stats=stats,
    )
    said, types, forms = [], dict(schema), {}
    for c in counted:
        s = st.get(c, TextStats())
        if c in mixed:
            kind = kind_of_dtype(schema[c])
            d = s.decide(cfg.max_bad_share, (kind,) if kind else (), utc=True)
            if d.kind is None:
                why = (
                    f"has '{c}' as String where {schema[c]} is expected, and "
                    f"{s.fails.get(kind or '', s.values):,} of its {s.values:,} strings there "
                    f"do not parse as {kind} (e.g. {s.example.get(kind or '', '')!r})"
                )
                if on_bad_file != "skip":
                    raise UserError(
                        f"The column '{c}' is {schema[c]} in some files but text in others: "
                        f"'{mixed[c][0]}' {why}. Declare the type in quality.schema "
                        f"(quality.schema.{c}=string keeps the text), fix the files, or set "
                        "data.on_bad_file=skip to leave out the files that differ."
                    )
                skipped |= dict.fromkeys(mixed[c], f"schema: {why}")
                continue
        else:
            d = s.decide(cfg.max_bad_share, utc=True)
            if d.kind is None:
                continue
            types[c] = dtype_of(d.kind, True)
        forms[c] = tuple(sorted(d.forms)) if d.forms else None
        said.append((c, _said(c, s, d, cfg, c in mixed)))
    if skipped:
        ds = without_files(ds, set(skipped))
        ds = replace(ds, bad_files=(*ds.bad_files, *skipped.items()))
    return _with_parse(ds, types, forms, cfg, decimal), said


def _said(c: str, s: TextStats, d: Any, cfg: QualityConfig, mixed: bool) -> str:
    where = "in the files that have it as text" if mixed else "text in the files"
    bad = (
        f"; {d.bad:,} value(s) do not (e.g. {s.example.get(d.kind, '')!r}) and their rows are "
        "quarantined"
        if d.bad
        else ""
    )
    return (
        f"{where}; {s.values - d.bad:,} of {s.values:,} values parse as {d.kind}{bad} "
        f"(quality.coerce=[infer]: at most quality.max_bad_share={cfg.max_bad_share:g} may fail)"
    )


def _with_parse(
    ds: Dataset,
    types: dict[str, pl.DataType],
    forms: dict[str, tuple[str, ...] | None],
    cfg: QualityConfig,
    decimal: str,
) -> Dataset:
    """Every shard reads the inferred columns through a parse cast where its file has them as
    text (and the marker); a column filled for a file that lacks it takes the new type."""
    text_in = {
        path: {f.name for f in schema if pa.types.is_string(normalize(f.type))}
        for path, schema in zip(ds.files, ds.file_schemas, strict=True)
    }
    renames = {sh.path: dict(sh.renames) for sh in ds.shards}
    text_in = {  # under the dataset's names
        p: {renames.get(p, {}).get(c, c) for c in cols} for p, cols in text_in.items()
    }
    shards = []
    for sh in ds.shards:
        casts = []
        for c in sh.casts:
            if c.column in forms and c.absent:
                c = replace(c, dtype=types[c.column])
            elif c.column in forms and c.column in text_in[sh.path]:
                continue  # replaced by the parse below
            casts.append(c)
        casts += [
            Cast(c, types[c], "parse", ParseArgs(cfg.timezone, decimal, forms[c]))
            for c in forms
            if c in text_in[sh.path]
        ]
        shards.append(replace(sh, casts=tuple(casts)))
    marker = any(c.how == "parse" for sh in shards for c in sh.casts)
    shards = [replace(sh, marker=marker) for sh in shards]
    notes = {**ds.notes, "inferred": {c: str(types[c]) for c in forms}}
    schema = pl.DataFrame(schema=types).to_arrow().schema
    return replace(ds, shards=tuple(shards), schema=schema, notes=notes)
