"""Types: the dataset's schema, unified from every file's footer before any data is read; the
type families and lossless widenings files, ingest, serving and monitoring check against.

Files written by different engines or on different days disagree: int32 here and int64 there, a
column typed ``null`` in a file written from an empty frame, DECIMAL(7,5) beside DECIMAL(8,5),
dictionary-encoded strings, timestamps naive in one file and zoned in another, a column missing
from some files. Each non-empty file's types are normalized (dictionaries to their values, string
views and large strings to strings, half floats to floats, timestamps to microseconds in UTC),
then the types of every file are unified losslessly with pyarrow's permissive promotion (in any
file order: integers and floats widen, decimals go to a common precision and scale, ``null``
takes any type, list element types unify, integers meet floats as float64) and dates meet
timestamps as timestamps. Empty files never decide a type. A pair of types that cannot be unified
is reported with both files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

UTC = "UTC"
MAX_DECIMAL_PRECISION = 38  # Polars' decimals


@dataclass(frozen=True)
class Conflict:
    """Two files whose types of one column cannot be unified."""

    column: str
    first: tuple[str, pa.DataType]
    second: tuple[str, pa.DataType]

    def text(self) -> str:
        (a, ta), (b, tb) = self.first, self.second
        return f"'{self.column}' is {ta} in '{a}' but {tb} in '{b}'"


def normalize(t: pa.DataType) -> pa.DataType:
    """The type a file's column is read as, for unification."""
    if pa.types.is_dictionary(t):
        return normalize(t.value_type)
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", UTC)
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(normalize(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(normalize(t.value_type))
    return t


def zone(t: pa.DataType) -> str | None:
    """A timestamp column's zone in a file ('naive' when it has none); None for other types."""
    if pa.types.is_dictionary(t):
        return zone(t.value_type)
    if pa.types.is_timestamp(t):
        return t.tz or "naive"
    return None


def _unify2(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The lossless common type of two normalized types, or a pa.ArrowTypeError."""
    if a == b:
        return a
    temporal = {pa.date32(), pa.timestamp("us", UTC)}
    if {a, b} <= temporal:
        return pa.timestamp("us", UTC)
    if (
        pa.types.is_unsigned_integer(a) != pa.types.is_unsigned_integer(b)
        and (pa.types.is_uint64(a) or pa.types.is_uint64(b))
        and pa.types.is_integer(a)
        and pa.types.is_integer(b)
    ):
        raise pa.ArrowTypeError("uint64 has no lossless common integer type with a signed one")
    out = (
        pa.unify_schemas(
            [pa.schema([("c", a)]), pa.schema([("c", b)])], promote_options="permissive"
        )
        .field("c")
        .type
    )
    if pa.types.is_decimal(out) and out.precision > MAX_DECIMAL_PRECISION:
        return pa.float64()
    return out


def unify_column(column: str, typed: Iterable[tuple[str, pa.DataType]]) -> pa.DataType:
    """The column's type over ``(file, normalized type)`` pairs; a ``Conflict`` raised when two
    files cannot meet (names the first file of the type seen so far and the one that differs)."""
    out: pa.DataType | None = None
    first: dict[pa.DataType, str] = {}
    for path, t in typed:
        first.setdefault(t, path)
        if out is None:
            out = t
            continue
        try:
            out = _unify2(out, t)
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            other = next(u for u in first if u != t and _conflicts(u, t))
            raise ConflictError(Conflict(column, (first[other], other), (path, t))) from None
    return out if out is not None else pa.null()


def _conflicts(a: pa.DataType, b: pa.DataType) -> bool:
    try:
        _unify2(a, b)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return True
    return False


class ConflictError(Exception):
    """Raised by ``unify_column``; carries the ``Conflict``."""

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(conflict.text())
        self.conflict = conflict


def duplicated(schema: pa.Schema) -> list[str]:
    """Column names that appear more than once in one file's schema."""
    seen: set[str] = set()
    return sorted({n for n in schema.names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


def polars_reader_casts(have: pl.Schema, file_schema: pa.Schema) -> dict[str, pl.DataType]:
    """The casts that make a frame read by Polars' reader (``have``) typed as pyarrow reads
    the file (``file_schema``, its footer's schema, which the plan's casts are made from):
    dates written from date64 (a Datetime[ms] to Polars, which follows the file's stored Arrow
    schema; a Date to pyarrow) and timestamps written as INT96 with a zone (zoned to Polars,
    naive UTC to pyarrow)."""
    fix: dict[str, pl.DataType] = {}
    for f in file_schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        got = have.get(f.name)
        if got is None:
            continue
        if pa.types.is_date(t) and got != pl.Date:
            fix[f.name] = pl.Date()
        elif (
            pa.types.is_timestamp(t)
            and t.tz is None
            and isinstance(got, pl.Datetime)
            and got.time_zone is not None
        ):
            fix[f.name] = pl.Datetime(got.time_unit)  # the same instant, as naive UTC
    return fix


def feature_kind(dt: pl.DataType) -> str | None:
    """numeric | categorical | datetime, or None for a type that cannot be a feature (lists,
    structs, binary, times of day, durations, ...)."""
    if dt.is_numeric() or dt == pl.Boolean:
        return "numeric"
    if dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Enum):
        return "categorical"
    if dt == pl.Date or isinstance(dt, pl.Datetime):
        return "datetime"
    return None


def polars_schema(schema: pa.Schema) -> dict[str, pl.DataType]:
    """The Polars types a Parquet (Arrow) schema reads as."""
    empty = pa.Table.from_batches([], schema=schema.remove_metadata())
    return dict(pl.from_arrow(empty).schema)  # type: ignore[union-attr]


CANONICAL: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "numeric": pl.Float64(),
    "string": pl.String(),
    "bool": pl.Boolean(),
    "datetime": pl.Datetime("us", UTC),
    "date": pl.Date(),
}


def family(dt: pl.DataType) -> str:
    """The type family a column is checked by (``quality.schema``, the monitoring reference's
    schema, a Serve request's values): int, float, string, bool, datetime, date, null, or the
    type itself for any other."""
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


def _int_range(dt: pl.DataType) -> tuple[int, int]:
    info = np.iinfo(str(dt).lower())
    return int(info.min), int(info.max)


def widens(src: pl.DataType, dst: pl.DataType) -> bool:
    """A cast that loses nothing (a null column becomes anything)."""
    if src == pl.Null or src == dst:
        return True
    if src.is_integer() and dst.is_integer():
        (lo, hi), (dlo, dhi) = _int_range(src), _int_range(dst)
        return lo >= dlo and hi <= dhi
    if (src.is_integer() or src.is_float()) and dst.is_float():
        return not (src == pl.Float64 and dst == pl.Float32)
    if isinstance(src, pl.Decimal) and isinstance(dst, pl.Decimal):
        return src.scale <= dst.scale and src.precision - src.scale <= dst.precision - dst.scale
    if (src.is_integer() and isinstance(dst, pl.Decimal)) or (
        isinstance(src, pl.Decimal) and dst.is_float()
    ):
        return True
    if src == pl.Date and isinstance(dst, pl.Datetime):
        return True
    if isinstance(src, pl.List | pl.Array) and isinstance(dst, pl.List):
        return widens(src.inner, dst.inner)
    if isinstance(src, pl.Struct) and isinstance(dst, pl.Struct):
        # field by field, by name: a field a file lacks is null in its rows
        want = {f.name: f.dtype for f in dst.fields}
        return all(f.name in want and widens(f.dtype, want[f.name]) for f in src.fields)
    return family(src) == "string" and family(dst) == "string"
