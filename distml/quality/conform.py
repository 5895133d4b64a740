"""Schema conformance: every file read as one reference schema, from the footers alone.

The reference is the first readable file's schema, with the families declared in
``quality.schema``; ``conform`` attaches to each shard the read-time casts that make its file match
(lossless widening with ``quality.coerce=[widen]``; strings parsed, with unparsable values named in
a marker column, with ``parse``), or names the files that cannot be conformed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa

from distml.config import QualityConfig
from distml.data.shards import Dataset, polars_schema, without_files
from distml.errors import UserError

CANONICAL: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "numeric": pl.Float64(),
    "string": pl.String(),
    "bool": pl.Boolean(),
    "datetime": pl.Datetime("us"),
    "date": pl.Date(),
}


def family(dt: pl.DataType) -> str:
    if dt.is_integer():
        return "int"
    if dt.is_float() or dt.is_decimal():
        return "float"
    if dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Enum):
        return "string"
    if dt == pl.Boolean:
        return "bool"
    if isinstance(dt, pl.Datetime):
        return "datetime"
    if dt == pl.Date:
        return "date"
    if dt == pl.Null:
        return "null"
    return str(dt)


def _matches(fam: str, expected: str) -> bool:
    return (
        expected == "any" or fam == expected or (expected == "numeric" and fam in ("int", "float"))
    )


def _widens(src: pl.DataType, dst: pl.DataType) -> bool:
    """A cast that loses nothing (a null column becomes anything)."""
    if src == pl.Null:
        return True
    if src.is_integer() and dst.is_integer():
        (lo, hi), (dlo, dhi) = _int_range(src), _int_range(dst)
        return lo >= dlo and hi <= dhi
    if (src.is_integer() or src.is_float()) and dst.is_float():
        return not (src == pl.Float64 and dst == pl.Float32)
    if src == pl.Date and isinstance(dst, pl.Datetime):
        return True
    if isinstance(src, pl.Datetime) and isinstance(dst, pl.Datetime):
        return True
    return family(src) == "string" and family(dst) == "string"


def _int_range(dt: pl.DataType) -> tuple[int, int]:
    info = np.iinfo(str(dt).lower())
    return int(info.min), int(info.max)


def _parses(src: pl.DataType, dst: pl.DataType) -> bool:
    return family(src) == "string" and family(dst) in ("int", "float", "bool", "datetime", "date")


def reference_schema(ds: Dataset, cfg: QualityConfig) -> dict[str, pl.DataType]:
    """The schema every file is conformed to: the first file's, with quality.schema's families."""
    ref = polars_schema(ds.schema)
    first = next((p for p, s in zip(ds.files, ds.file_schemas, strict=True) if s is not None), "")
    for col, fam in cfg.schema.items():
        if col not in ref:
            raise UserError(
                f"The column '{col}' (quality.schema.{col}) is not in the data at data.path "
                f"'{ds.uri}' (first file {first}). Available columns: {', '.join(ref)}."
            )
        if not _matches(family(ref[col]), fam):
            ref[col] = CANONICAL[fam]
    return ref


def conform(ds: Dataset, cfg: QualityConfig, on_bad_file: str) -> tuple[Dataset, list[dict]]:
    """Attach read-time casts to every shard, or name the files that cannot be conformed.

    Returns the conformed dataset and the skipped files (``on_bad_file='skip'``) with reasons.
    """
    ref = reference_schema(ds, cfg)
    skipped = [{"path": p, "reason": r} for p, r in ds.bad_files]
    casts_of: dict[str, tuple] = {}
    select_of: dict[str, tuple[str, ...] | None] = {}
    for path, schema in zip(ds.files, ds.file_schemas, strict=True):
        if schema is None:
            continue
        got = polars_schema(schema)
        problems, casts = [], []
        for col, want in ref.items():
            have = got.get(col)
            if have is None:
                problems.append(f"lacks the column '{col}'")
            elif have == want:
                continue
            elif "widen" in cfg.coerce and _widens(have, want):
                casts.append((col, want, False))
            elif "parse" in cfg.coerce and _parses(have, want):
                casts.append((col, want, True))
            elif have == pl.Null or (_widens(have, want) or _parses(have, want)):
                problems.append(
                    f"has '{col}' as {have} where {want} is expected (allow it with "
                    f"quality.coerce=[{'widen' if _widens(have, want) else 'widen,parse'}])"
                )
            else:
                problems.append(f"has '{col}' as {have} where {want} is expected")
        extra = [c for c in got if c not in ref]
        if extra and not cfg.allow_extra_columns:
            problems.append(f"has extra columns {extra} (quality.allow_extra_columns=false)")
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
        casts_of[path] = tuple(casts)
        select_of[path] = tuple(ref) if extra or list(got)[: len(ref)] != list(ref) else None
    marker = any(lossy for cs in casts_of.values() for _, _, lossy in cs)
    out = without_files(ds, {s["path"] for s in skipped})
    shards = tuple(
        replace(sh, casts=casts_of.get(sh.path, ()), marker=marker, select=select_of.get(sh.path))
        for sh in out.shards
    )
    return replace(out, shards=shards, schema=_arrow(ref)), skipped


def _arrow(ref: dict[str, pl.DataType]) -> pa.Schema:
    return pl.DataFrame(schema=ref).to_arrow().schema
