"""A request's rows: a JSON list of objects or an Arrow IPC body, conformed to the training
schema with the same string parsing as files (``data.casts.cast_expr``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from distml.data.casts import Cast, ParseArgs, cast_expr
from distml.data.columns import CAST_FAILED, repeated
from distml.data.schema import widens
from distml.serve.model import Served

CAST_VALUE = "__cast_value"
"""Request-time column: the text of the value named by CAST_FAILED."""
MISSING = "__missing"
"""Request-time column: the required columns a row lacks."""
MARKS = (CAST_FAILED, CAST_VALUE, MISSING)
KIND = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "datetime": "a timestamp (ISO 8601)",
    "date": "a date (YYYY-MM-DD)",
}
"""How a type error names what the column takes."""
ARROW_TYPES = ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file")


class BadRequest(Exception):
    """A request that cannot be scored at all: an HTTP 4xx with one message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _json_series(name: str, values: list[Any]) -> tuple[pl.Series, np.ndarray | None]:
    """A column of JSON values as a Series (its own type when the values agree, else their text)
    and the rows holding an object or list, which is never a column's value (None: none)."""
    kinds = {type(v) for v in values if v is not None}
    nested = None
    if kinds & {dict, list}:
        nested = np.fromiter((isinstance(v, dict | list) for v in values), bool, len(values))
    elif kinds and kinds <= {int, float}:
        try:
            s = pl.Series(name, values, dtype=pl.Float64 if float in kinds else pl.Int64)
        except (OverflowError, TypeError, pl.exceptions.PolarsError):
            s = None  # an integer wider than 64 bits: parsed from its text below
        if s is not None and s.dtype == pl.Float64 and s.is_infinite().any():
            raise BadRequest(400, f"The column '{name}' has a number too large for a 64-bit float.")
        if s is not None:
            return s, None
    elif kinds == {bool}:
        return pl.Series(name, values, dtype=pl.Boolean), None
    elif kinds == {str}:
        return pl.Series(name, values, dtype=pl.String), None
    return pl.Series(
        name, [None if v is None else _text(v) for v in values], dtype=pl.String
    ), nested


def _conform(s: pl.Series, want: pl.DataType, zone: str) -> pl.Series:
    """One column of a request as its training type; null where a value does not convert."""
    have = s.dtype
    if have == want:
        return s
    if isinstance(have, pl.Categorical | pl.Enum):
        return _conform(s.cast(pl.String), want, zone)
    if have.is_float() and want.is_integer():  # JSON has numbers: 3.0 is the integer 3
        whole = (s.is_finite() & (s == s.floor())).fill_null(False)
        return (
            pl.select(pl.when(pl.lit(whole)).then(pl.lit(s))).to_series().cast(want, strict=False)
        )
    if have == pl.Float64 and want == pl.Float32:
        return _to_float32(s, zone)
    frame = s.to_frame()
    if have == pl.String:
        if want == pl.String:
            return s
        out = frame.select(cast_expr(Cast(s.name, want, "parse", ParseArgs(zone)))).to_series()
        if want.is_integer():  # "2.0" as 2.0 is: a value's reading never depends on its neighbours
            out = out.fill_null(_conform(s.cast(pl.Float64, strict=False), want, zone))
        return out
    if widens(have, want) or want == pl.String:
        return s.cast(want, strict=False)
    if isinstance(have, pl.Datetime) and isinstance(want, pl.Datetime):
        how = "localize" if have.time_zone is None else "utc"
        return frame.select(cast_expr(Cast(s.name, want, how, zone))).to_series()
    return _conform(s.cast(pl.String), want, zone)  # e.g. a float where an integer is expected


def _to_float32(s: pl.Series, zone: str) -> pl.Series:
    """float64 values as float32, exactly as their shortest text parses as float32 (what a
    float32 column of a file holds): a direct cast, except where a float32 rounding boundary
    lies within one float64 ulp of the value, which take the text path (double rounding)."""
    d = s.to_numpy()
    with np.errstate(invalid="ignore", over="ignore"):
        c = d.astype(np.float32)
        c64 = c.astype(np.float64)
        up = np.nextafter(c, np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(c, np.float32(-np.inf)).astype(np.float64)
        ulp = np.abs(np.spacing(d))
        near = (np.abs(d - (c64 + up) / 2) <= ulp) | (np.abs(d - (c64 + down) / 2) <= ulp)
        near |= np.isinf(c) & np.isfinite(d)  # beyond float32's range: as the text parses
    out = pl.Series(s.name, c).set(s.is_null(), None)
    if near.any():
        idx = np.flatnonzero(near)
        text = _conform(s.gather(idx).cast(pl.String), pl.Float32(), zone)
        out = out.scatter(idx, text)
    return out


def conform_columns(
    columns: dict[str, pl.Series],
    height: int,
    served: Served,
    invalid: dict[str, np.ndarray] | None = None,
    missing: list[list[str]] | None = None,
) -> pl.DataFrame:
    """The request's columns as the training schema (absent ones null), with CAST_FAILED (the
    first column whose value did not convert, or is ``invalid``), CAST_VALUE (its text) and
    MISSING (per row, the required columns it lacks)."""
    out, failed = [], []
    for c, want in served.types.items():
        src = columns.get(c)
        if src is None:
            out.append(pl.Series(c, [None] * height, dtype=want))
            continue
        typed = _conform(src, want, served.timezone)
        bad = None
        if typed is not src:  # converted: a value that became null did not convert
            lost = src.is_not_null() & typed.is_null()
            bad = lost.to_numpy() if lost.any() else None
        if invalid and c in invalid:
            bad = invalid[c] if bad is None else bad | invalid[c]
            typed = typed.clone().scatter(np.flatnonzero(invalid[c]), None)
        if bad is not None:
            failed.append((c, bad, src))
        out.append(typed.alias(c))
    which: list[str | None] = [None] * height
    value: list[str | None] = [None] * height
    for c, bad, src in failed:  # rare: a Python loop over the rows that failed
        for i in np.flatnonzero(bad):
            if which[i] is None:
                which[i], value[i] = c, _short(_text(src[int(i)]))  # quoted, whatever its type
    return pl.DataFrame(
        [
            *out,
            pl.Series(CAST_FAILED, which, dtype=pl.String),
            pl.Series(CAST_VALUE, value, dtype=pl.String),
            _missing(missing, height),
        ]
    )


def _missing(missing: list[list[str]] | None, height: int) -> pl.Series:
    """MISSING: null where a row lacks nothing (no Python list per row in the common case)."""
    if missing is None:
        return pl.repeat(None, height, dtype=pl.List(pl.String), eager=True).alias(MISSING)
    return pl.Series(MISSING, [m or None for m in missing], dtype=pl.List(pl.String))


def _not_json(name: str) -> float:
    raise BadRequest(400, f"The body has {name}, which is not JSON: send null for a missing value.")


class _Twice(dict):
    """A JSON object that named a key more than once (``twice``: the first such key)."""

    twice: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, marked when a key repeats (the standard leaves a repeated key's meaning
    open; Python's reader would keep the last value, silently). Only a row's own keys are
    refused (``read_json_rows``); a nested value is not a feature either way."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    marked = _Twice(out)
    marked.twice = next(k for k, _ in pairs if k in seen or seen.add(k))
    return marked


def read_json_rows(
    body: bytes, served: Served, max_rows: int, missing: str = "error"
) -> tuple[pl.DataFrame, list[str]]:
    """A JSON list of row objects (column -> value) as conformed rows, and the keys the model does
    not use. A row lacking a required key is marked (``missing='error'``) or has a null there
    (``'null'``). Raises BadRequest for anything but such a list of standard JSON (a key twice
    in a row included)."""
    try:
        rows = json.loads(body, parse_constant=_not_json, object_pairs_hook=_object)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadRequest(400, f"The body is not valid JSON: {why}.") from None
    if isinstance(rows, dict):
        rows = [rows]  # one row on its own
    if not isinstance(rows, list):
        raise BadRequest(
            400, 'The body must be a JSON list of row objects, e.g. [{"amount": 12.5}].'
        )
    _check_rows(len(rows), max_rows)
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise BadRequest(
                400,
                f"Row {i} is {type(r).__name__} {_short(r)}, not an object of column -> value; "
                "send a JSON list of objects.",
            )
        if isinstance(r, _Twice):
            raise BadRequest(
                400, f"Row {i} names the key {_short(r.twice)} twice: send each column once."
            )
    keys = {k for r in rows for k in r}
    unknown = sorted(k for k in keys if k not in served.types)
    columns, invalid = {}, {}
    for c in served.types:
        if c in keys:
            columns[c], nested = _json_series(c, [r.get(c) for r in rows])
            if nested is not None:
                invalid[c] = nested
    lacking = None
    if missing == "error":
        lacking = [[c for c in served.required if c not in r] for r in rows]
        lacking = lacking if any(lacking) else None
    return conform_columns(columns, len(rows), served, invalid, lacking), unknown


def read_arrow_rows(
    body: bytes, served: Served, max_rows: int, missing: str = "error"
) -> tuple[pl.DataFrame, list[str]]:
    """An Arrow IPC stream (or file) body as conformed rows, and the columns the model does not
    use. Raises BadRequest when it is not Arrow IPC, names a column twice, lacks a required
    column (``missing='error'``), or has a column of a type that holds no column value."""
    try:
        try:
            table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_file(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadRequest(400, f"The body is not an Arrow IPC stream or file: {exc}.") from None
    _check_rows(table.num_rows, max_rows)
    names = table.column_names
    twice = repeated([n for n in names if n in served.types])
    if twice:
        raise BadRequest(400, f"The Arrow body has the columns {twice} more than once.")
    lacking = [c for c in served.required if c not in names]
    if lacking and missing == "error":
        raise BadRequest(
            400,
            f"The Arrow body lacks the columns {lacking} that the model or its row rules read: "
            "add them (nulls are allowed), or serve with serve.missing_columns=null.",
        )
    columns = {}
    for c in (n for n in names if n in served.types):
        try:
            columns[c] = pl.Series(c, table.column(c))
        except (Exception, pl.exceptions.PanicException):
            columns[c] = None
        if columns[c] is None or not _convertible(columns[c].dtype):
            raise BadRequest(
                400,
                f"The column '{c}' is {table.column(c).type}; the model expects "
                f"{served.types[c]} (numbers, text, booleans or timestamps convert).",
            )
    unknown = sorted({n for n in names if n not in served.types})
    return conform_columns(columns, table.num_rows, served), unknown


def _convertible(have: pl.DataType) -> bool:
    """Columns whose values convert (or fail per value): not nested, not binary or objects."""
    return not (have.is_nested() or have in (pl.Binary, pl.Object))


def _check_rows(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise BadRequest(
            413,
            f"The request has {n:,} rows; this service takes at most {max_rows:,} per request "
            "(serve.max_request_rows). Split it, or score large data with `distml predict`.",
        )


def _short(v: Any) -> str:
    t = json.dumps(v) if not isinstance(v, str) else repr(v)
    return t if len(t) <= 60 else t[:57] + "..."
