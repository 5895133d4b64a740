"""Schema conformance: every file read as one dataset schema, decided from the footers alone.

The dataset's schema is unified from every non-empty file (distml/data/schema.py), in any file
order; Hive partition folders (``region=north/``) add typed columns; a type declared in
``quality.schema`` wins over the files'. ``conform`` then attaches to each shard the read-time
casts that make its file match: lossless widening (``quality.coerce=[widen]``), strings parsed as
the expected type (``parse``; unparsable values are quarantined), naive timestamps read in
``quality.timezone`` and every timestamp converted to UTC, and nulls for a column a file lacks
(``quality.missing_columns=fill``, reported per file). A file that cannot be conformed is named
with the reason (or skipped with ``data.on_bad_file=skip``); two files whose types cannot be
unified are named with both types.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from typing import Any

import polars as pl
import pyarrow as pa

from distml.config import QualityConfig
from distml.data.casts import Cast, ParseArgs
from distml.data.columns import match_names
from distml.data.schema import (
    CANONICAL,
    ConflictError,
    family,
    feature_kind,
    normalize,
    polars_schema,
    unify_column,
    widens,
    zone,
)
from distml.data.shards import Dataset, without_files
from distml.errors import UserError


def _matches(fam: str, expected: str) -> bool:
    return (
        expected == "any" or fam == expected or (expected == "numeric" and fam in ("int", "float"))
    )


def _nested(dt: pl.DataType) -> bool:
    return isinstance(dt, pl.List | pl.Array | pl.Struct)


def _parses(src: pl.DataType, dst: pl.DataType) -> bool:
    return family(src) == "string" and family(dst) in ("int", "float", "bool", "datetime", "date")


def _polars(t: pa.DataType) -> pl.DataType:
    return polars_schema(pa.schema([("c", t)]))["c"]


def _partition_type(values: list[str | None]) -> pl.DataType:
    """Hive partition values typed as Polars and pyarrow type them: integers, then floats, then
    ISO dates, else strings."""
    seen = [v for v in values if v is not None]
    for dtype, parse in ((pl.Int64, int), (pl.Float64, float), (pl.Date, date.fromisoformat)):
        try:
            for v in seen:
                parse(v)
        except ValueError:
            continue
        return dtype() if seen else pl.String()
    return pl.String()


def _file_types(ds: Dataset) -> list[tuple[str, pa.Schema]]:
    empty = set(ds.empty_files)
    return [(p, s) for p, s in zip(ds.files, ds.file_schemas, strict=True) if p not in empty]


def _never_a_feature(t: pa.DataType) -> bool:
    """Lists, structs, maps, binary and the like: read, counted, never a model input."""
    dt = _polars(t)
    return dt != pl.Null and feature_kind(dt) is None


def _unify(
    col: str, pairs: list[tuple[str, pa.DataType]], cfg: QualityConfig, skip: bool, notes: dict
) -> pl.DataType | None:
    """One column's type over the files. On a conflict: the declared type wins; a column some
    file has as a type that is never a feature (nested, binary) is left out, noted (None); with
    quality.coerce=[parse] or [infer] a string side gives way to a type strings parse as (with
    infer, the strings' share that parses is checked by distml/quality/infer.py); with
    data.on_bad_file=skip the first file's side wins (the others are skipped later, named)."""
    try:
        return _polars(unify_column(col, pairs))
    except ConflictError as exc:
        if col in cfg.schema:
            return CANONICAL[cfg.schema[col]] if cfg.schema[col] != "any" else pl.String()
        if any(_never_a_feature(t) for _, t in pairs):
            notes["left_out"][col] = (
                f"its type differs between files in a way no type holds ({exc.conflict.text()}); "
                "it is never a feature, so it is left out rather than stop the run"
            )
            return None
        (_, ta), (_, tb) = exc.conflict.first, exc.conflict.second
        strings = [t for t in (ta, tb) if pa.types.is_string(t)]
        if ("parse" in cfg.coerce or "infer" in cfg.coerce) and len(strings) == 1:
            kept = [(p, t) for p, t in pairs if not pa.types.is_string(t)]
            out = _polars(unify_column(col, kept))
            if family(out) in ("int", "float", "bool", "datetime", "date"):
                if "parse" not in cfg.coerce:  # inferred: the strings are counted before use
                    notes["from_strings"][col] = [p for p, t in pairs if pa.types.is_string(t)]
                return out
        if skip:
            first = exc.conflict.first[1]
            return _unify(col, [(p, t) for p, t in pairs if not _clash(first, t)], cfg, skip, notes)
        raise UserError(
            f"The files under data.path disagree on a column's type: {exc.conflict.text()}, "
            f"and no lossless type holds both. Declare the type in quality.schema (e.g. "
            f"quality.schema.{col}=float, with quality.coerce=[widen,parse] to parse strings), "
            "fix the files, or set data.on_bad_file=skip to leave out the files that differ."
        ) from None


def _clash(a: pa.DataType, b: pa.DataType) -> bool:
    try:
        unify_column("", [("", a), ("", b)])
    except ConflictError:
        return True
    return False


def column_names(
    files: list[tuple[str, pa.Schema]], cfg: QualityConfig
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, int]]]:
    """Per file, each of its columns' name in the dataset, and the spellings of the names that
    several spellings share. Names equal after ``normalized`` are one column
    (quality.match_names=normalized), spelled as quality.schema spells it, else as most files
    do (ties: the first file's); two such names in one file are one paragraph naming both."""
    for path, schema in files:
        for i, name in enumerate(schema.names):
            if not name.strip():
                raise UserError(
                    f"'{path}' has a column without a name (column {i + 1}). distml names every "
                    "column it reads: give it a name in the file, or read the source with "
                    "`distml ingest`, which names such columns unnamed_<i>."
                )
    if cfg.match_names == "exact":
        return {p: {c: c for c in s.names} for p, s in files}, {}
    per_file, spellings = match_names(
        [(p, list(s.names)) for p, s in files], "quality.match_names", list(cfg.schema)
    )
    return {p: m for (p, _), m in zip(files, per_file, strict=True)}, spellings


def unified_schema(
    ds: Dataset, cfg: QualityConfig, skip: bool = False, notes: dict | None = None
) -> dict[str, pl.DataType]:
    """The dataset's columns and Polars types: every non-empty file's, unified (columns matched
    by ``column_names``), with the Hive partition columns and the families declared in
    ``quality.schema``. ``notes`` gets the columns left out, those typed from other files'
    strings, each file's names and the spellings merged."""
    notes = notes if notes is not None else {"left_out": {}, "from_strings": {}}
    files = _file_types(ds)
    names, spellings = column_names(files, cfg)
    notes["names"], notes["spellings"] = names, spellings
    typed: dict[str, list[tuple[str, pa.DataType]]] = defaultdict(list)
    for path, schema in files:
        for f in schema:
            typed[names[path][f.name]].append((path, normalize(f.type)))
    unified = {col: _unify(col, pairs, cfg, skip, notes) for col, pairs in typed.items()}
    out = {col: dt for col, dt in unified.items() if dt is not None}
    keys = dict.fromkeys(k for part in ds.partitions for k in part)
    for k in keys:
        if k not in out:
            out[k] = _partition_type([part.get(k) for part in ds.partitions])
    for col, fam in cfg.schema.items():
        if col not in out:
            raise UserError(
                f"The column '{col}' (quality.schema.{col}) is not in the data at data.path "
                f"'{ds.uri}'. Available columns: {', '.join(out)}."
            )
        if not _matches(family(out[col]), fam):
            out[col] = CANONICAL[fam]
    return out


def _cast(col: str, have: pl.DataType, want: pl.DataType, cfg: QualityConfig) -> Cast | str | None:
    """How a file's column becomes the dataset's: None (as it is), a Cast, or the problem.
    Strings are parsed with quality.coerce=[parse], or [infer] for a column not declared in
    quality.schema (whose strings distml/quality/infer.py counts before they are used)."""
    parse_ok = "parse" in cfg.coerce or ("infer" in cfg.coerce and col not in cfg.schema)
    if have == want:
        return None
    if isinstance(have, pl.Datetime) and isinstance(want, pl.Datetime):
        if have.time_zone is None:
            return Cast(col, want, "localize", cfg.timezone)
        return Cast(col, want, "utc")
    if "widen" in cfg.coerce and widens(have, want):
        return Cast(col, want, "fields" if _nested(want) else "cast")
    if parse_ok and _parses(have, want):
        return Cast(col, want, "parse", ParseArgs(cfg.timezone))
    if widens(have, want) or _parses(have, want):
        allow = "widen" if widens(have, want) else "widen,parse"
        return f"has '{col}' as {have} where {want} is expected (allow it with quality.coerce=[{allow}])"
    return f"has '{col}' as {have} where {want} is expected"


def _file_types_named(path: str, schema: pa.Schema, notes: dict[str, Any]) -> dict:
    """The file's Polars types under the dataset's column names."""
    names = notes["names"].get(path, {})
    return {names.get(c, c): t for c, t in polars_schema(schema).items()}


def _file_plan(
    path: str,
    schema: pa.Schema,
    part: dict[str, str | None],
    ref: dict[str, pl.DataType],
    cfg: QualityConfig,
    notes: dict[str, Any],
) -> tuple[list[Cast], list[str]]:
    got = _file_types_named(path, schema, notes)
    back = {d: f for f, d in notes["names"].get(path, {}).items()}
    casts: list[Cast] = []
    problems: list[str] = []
    for col, want in ref.items():
        if col not in got:
            if col in part:
                casts.append(Cast(col, want, "const", part[col]))
            elif cfg.missing_columns == "fill":
                casts.append(Cast(col, want, "fill"))
                notes["missing_columns"].setdefault(col, []).append(path)
            else:
                problems.append(f"lacks the column '{col}' (quality.missing_columns=error)")
            continue
        z = zone(schema.field(back.get(col, col)).type)
        if z is not None:
            notes["timestamp_zones"].setdefault(col, {}).setdefault(z, []).append(path)
        c = _cast(col, got[col], want, cfg)
        if isinstance(c, str):
            problems.append(c)
        elif c is not None:
            casts.append(c)
    extra = [c for c in got if c not in cfg.schema]
    if cfg.schema and extra and not cfg.allow_extra_columns:
        problems.append(
            f"has columns beyond quality.schema: {extra} (quality.allow_extra_columns=false)"
        )
    return casts, problems


def conform(ds: Dataset, cfg: QualityConfig, on_bad_file: str) -> tuple[Dataset, list[dict]]:
    """Attach read-time casts to every shard, or name the files that cannot be conformed.

    Returns the conformed dataset (its ``notes`` say what conforming did) and the skipped files
    (``on_bad_file='skip'``) with reasons.
    """
    notes: dict[str, Any] = {"left_out": {}, "from_strings": {}}
    ref = unified_schema(ds, cfg, on_bad_file == "skip", notes)
    if cfg.schema and not cfg.allow_extra_columns:
        ref = {c: t for c, t in ref.items() if c in cfg.schema}
    skipped = [{"path": p, "reason": r} for p, r in ds.bad_files]
    notes |= {"missing_columns": {}, "timestamp_zones": {}}
    plans: dict[str, tuple[Cast, ...]] = {}
    part_of = dict(zip(ds.files, ds.partitions or [{}] * len(ds.files), strict=True))
    for path, schema in _file_types(ds):  # a column never a feature never stops the run
        got = _file_types_named(path, schema, notes)
        for col, want in list(ref.items()):
            if (
                col in got
                and feature_kind(want) is None
                and isinstance(_cast(col, got[col], want, cfg), str)
            ):
                notes["left_out"][col] = (
                    f"'{path}' has it as {got[col]} where {want} is expected; it is never a "
                    "feature, so it is left out rather than stop the run"
                )
                del ref[col]
    for path, schema in _file_types(ds):
        casts, problems = _file_plan(path, schema, part_of[path], ref, cfg, notes)
        if problems:
            reason = "; ".join(problems)
            if on_bad_file != "skip":
                raise UserError(
                    f"The Parquet file '{path}' does not match the data's schema: it {reason}. "
                    "Fix or remove the file, declare the expected types in quality.schema, or "
                    "set data.on_bad_file=skip to leave it out (it is then named in profile.json)."
                )
            skipped.append({"path": path, "reason": f"schema: {reason}"})
            continue
        plans[path] = tuple(casts)
    marker = any(c.how == "parse" for cs in plans.values() for c in cs)
    out = without_files(ds, {s["path"] for s in skipped})
    cols = tuple(ref)
    renames = {
        p: tuple((f, d) for f, d in m.items() if f != d) for p, m in notes.pop("names").items()
    }
    shards = tuple(
        replace(
            sh,
            casts=plans.get(sh.path, ()),
            marker=marker,
            columns=cols,
            renames=renames.get(sh.path, ()),
        )
        for sh in out.shards
    )
    notes["partition_columns"] = [k for k in ref if any(k in p for p in ds.partitions)]
    notes["timezone"] = cfg.timezone
    return replace(out, shards=shards, schema=_arrow(ref), notes=notes), skipped


def _arrow(ref: dict[str, pl.DataType]) -> pa.Schema:
    return pl.DataFrame(schema=ref).to_arrow().schema
