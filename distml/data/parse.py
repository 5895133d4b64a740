"""The rules that read text as numbers, booleans, dates and timestamps: one set for CSV/NDJSON
exports (``distml ingest``), Parquet string columns (``quality.coerce=[infer]``) and served
requests, so a value reads the same wherever it comes from.

- whitespace around a value is ignored; ``NULL_MARKERS`` (pandas' null markers such as ``NA``)
  are nulls, not failures, in a column that takes a type;
- numbers: ``1e5``, ``inf``; a currency sign before or after (``$1,234.50``, ``12 €``); a
  trailing ``%`` divides by 100 (``12.5%`` is 0.125); thousands separators and decimal commas by
  the ``decimal`` convention: ``point`` reads ``1,234.50`` as 1234.5, ``comma`` reads ``1.234,50``
  and ``-0,083`` (a leading group is 1-9: ``0,125`` is never 125); ``sniff_decimal`` picks it
  from values only one convention reads, and says when it had to guess;
- uint: integers beyond int64 that fit uint64 (hash-based ids);
- bool: ``true``/``false`` (lower, title or upper case) and ``1``/``0``;
- date: ``YYYY-MM-DD``; datetime: ISO 8601's extended forms -- ``T``, ``t`` or space, with or
  without seconds and fractions (``.`` or ``,``), ``Z``, ``+HH:MM``, ``+HHMM`` or ``+HH``
  offsets, or none -- into one column: values with an offset are instants (UTC), those without
  are read in ``timezone`` (a local time the zone skips fails, one it repeats is the earlier
  instant) when the column is UTC, else kept naive as written. The basic format
  (``20240301T100000Z``) is not read.

``parse`` is one Polars expression (as a Parquet shard's read-time cast uses it);
``parse_values`` gives the same values for a Series by a plain fast parse and the full rules only
where a value needs them (Arrow's ISO 8601 cast for clean timestamp columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

NULL_MARKERS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
    "\\N",
)
"""Texts read as null in a column that takes a type: pandas' default ``na_values`` (the list
most exports are written against) and PostgreSQL's ``\\N``."""

_US_GROUPED = r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$"
_EU_GROUPED = r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d*)?$"
# values only one convention reads as a number (a 3-digit group after a lone separator is
# ambiguous: 1,234 is 1234 with points and 1.234 with commas)
_ONLY_POINT = (
    r"^[+-]?\d*\.(\d{1,2}|\d{4,})([eE][+-]?\d+)?$|^[+-]?[1-9]\d{0,2}(,\d{3})+\.\d*$"
    r"|^[+-]?[1-9]\d{0,2}(,\d{3}){2,}$|^[+-]?0\.\d+$"
)
_ONLY_COMMA = (
    r"^[+-]?\d*,(\d{1,2}|\d{4,})$|^[+-]?[1-9]\d{0,2}(\.\d{3})+,\d*$"
    r"|^[+-]?[1-9]\d{0,2}(\.\d{3}){2,}$|^[+-]?0,\d+$"
)
_AMBIGUOUS = r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$"
_CURRENCY = r"^([+-]?)\s*[$€£¥]\s*|\s*[$€£¥]$"
DATE_START = r"^\d{4}-\d{2}-\d{2}"


def _numbers(t: pl.Expr, decimal: str) -> pl.Expr:
    """Number text in the form Polars parses: a currency sign and a trailing ``%`` removed,
    grouping separators removed and a decimal comma made a point (only where the value has
    that convention's shape)."""
    t = t.str.replace(_CURRENCY, "${1}").str.strip_suffix("%")
    if decimal == "comma":
        grouped = t.str.contains(_EU_GROUPED)
        t = pl.when(grouped).then(t.str.replace_all(".", "", literal=True)).otherwise(t)
        return t.str.replace(",", ".", literal=True)
    grouped = t.str.contains(_US_GROUPED)
    return pl.when(grouped).then(t.str.replace_all(",", "", literal=True)).otherwise(t)


BOOLS = {
    **{s: True for s in ("true", "True", "TRUE", "1")},
    **{s: False for s in ("false", "False", "FALSE", "0")},
}


FORMS = ("space", "short", "date", "fraction", "offset")
"""The ISO 8601 forms a datetime column may hold: a space (or 't') for 'T', no seconds, a date
alone, fractional seconds, a zone offset. Parsing reads only the forms seen (the offset and
fraction formats cost about 4x the plain one)."""


def has_offset(v: pl.Series) -> pl.Series:
    tail = v.str.slice(16)
    return (
        tail.str.contains("+", literal=True)
        | tail.str.contains("-", literal=True)
        | tail.str.ends_with("Z")
        | tail.str.ends_with("z")
    )


def datetime_forms(v: pl.Series) -> dict[str, int]:
    """How many values (text starting with a date) have each of ``FORMS``."""
    n = v.str.len_bytes()
    return {
        "space": int(v.str.slice(10, 1).is_in([" ", "t"]).sum()),
        "short": int(((n == 16) | v.str.slice(16, 1).is_in(["+", "-", "Z", "z"])).sum()),
        "date": int((n == 10).sum()),
        "fraction": int(v.str.slice(19, 1).is_in([".", ","]).sum()),
        "offset": int(has_offset(v).sum()),
    }


def _iso(t: pl.Expr, forms: frozenset[str]) -> pl.Expr:
    """ISO 8601 text (starting with a date) in the form the formats read: 'T' between date and
    time, seconds present, a fraction after a point, a date alone at midnight (offsets are read
    by ``%#z``: Z, +HH:MM, +HHMM, +HH)."""
    if "space" in forms:
        t = (
            pl.when(t.str.slice(10, 1).is_in([" ", "t"]))
            .then(pl.concat_str(t.str.slice(0, 10), pl.lit("T"), t.str.slice(11)))
            .otherwise(t)
        )
    if "short" in forms or "date" in forms:
        n = t.str.len_bytes()
        short = (n == 16) | t.str.slice(16, 1).is_in(["+", "-", "Z", "z"])
        seconds = pl.concat_str(t.str.slice(0, 16), pl.lit(":00"), t.str.slice(16))
        t = pl.when(short).then(seconds).when(n == 10).then(t + "T00:00:00").otherwise(t)
    if "fraction" in forms:
        point = pl.concat_str(t.str.slice(0, 19), pl.lit("."), t.str.slice(20))
        t = pl.when(t.str.slice(19, 1) == ",").then(point).otherwise(t)
    return t


def _datetime(t: pl.Expr, forms: frozenset[str], timezone: str, utc: bool) -> pl.Expr:
    frac = "%.f" if "fraction" in forms else ""
    iso = _iso(pl.when(t.str.contains(DATE_START)).then(t), forms)
    naive = iso.str.to_datetime(f"%Y-%m-%dT%H:%M:%S{frac}", time_unit="us", strict=False)
    if utc:
        naive = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        naive = naive.dt.convert_time_zone("UTC")
    if "offset" not in forms:
        return naive
    aware = iso.str.to_datetime(
        f"%Y-%m-%dT%H:%M:%S{frac}%#z", time_unit="us", time_zone="UTC", strict=False
    )
    return pl.coalesce(aware if utc else aware.dt.replace_time_zone(None), naive)


def parse(
    s: pl.Expr,
    kind: str,
    *,
    decimal: str = "point",
    timezone: str = "UTC",
    utc: bool = False,
    markers: tuple[str, ...] = (),
    forms: frozenset[str] | None = None,
) -> pl.Expr:
    """``s`` (text) parsed as ``kind``; null where a value does not parse (and for
    ``markers``). Datetimes with an offset are converted to UTC; those without are read in
    ``timezone`` and converted to UTC when ``utc`` (else kept naive, as written). ``forms``:
    the datetime forms to read (None: every one of ``FORMS``)."""
    t = s.cast(pl.String).str.strip_chars()
    if markers:
        t = pl.when(t.is_in(list(markers))).then(None).otherwise(t)
    if kind in ("int", "uint"):
        dtype = pl.Int64 if kind == "int" else pl.UInt64
        text = _numbers(t, decimal)
        return pl.when(~t.str.ends_with("%")).then(text.str.to_integer(dtype=dtype, strict=False))
    if kind == "float":
        x = _numbers(t, decimal).cast(pl.Float64, strict=False)
        return pl.when(t.str.ends_with("%")).then(x / 100).otherwise(x)
    if kind == "bool":
        return t.replace_strict(BOOLS, default=None, return_dtype=pl.Boolean)
    if kind == "date":
        return pl.when(t.str.len_bytes() == 10).then(t.str.to_date("%Y-%m-%d", strict=False))
    if kind == "datetime":
        return _datetime(t, frozenset(FORMS) if forms is None else forms, timezone, utc)
    raise ValueError(f"unknown kind {kind!r}")


SPECIAL = {"point": r"[,$€£¥%]", "comma": r"[.,$€£¥%]"}
SPECIAL_ANY = {k: list(v[1:-1]) for k, v in SPECIAL.items()}
DIGITS = "0123456789"
"""Characters a number's text holds only when it needs more than a plain parse: grouping,
a decimal comma (or, with commas, any point), a currency sign, a percentage."""


def _gathered(v: pl.Series, mask: pl.Series, expr: pl.Expr) -> tuple[pl.Series, pl.Series]:
    """(positions, ``expr`` over the values at them): the slow path, only where needed."""
    idx = mask.fill_null(False).arg_true()
    out = v.gather(idx).to_frame("v").select(expr.alias("v")).to_series()
    return idx, out


def _number_values(v: pl.Series, kind: str, decimal: str, special: pl.Series | None) -> pl.Series:
    """Numbers by a plain parse, and by the full rules where ``special`` (see ``SPECIAL``;
    None: the values the plain parse missed that hold one of its characters)."""
    dtype = {"int": pl.Int64, "uint": pl.UInt64, "float": pl.Float64}[kind]
    if kind == "float":
        plain = v.cast(pl.Float64, strict=False)
    else:
        plain = v.str.to_integer(dtype=dtype, strict=False)
    if special is None:
        missed = plain.is_null() & v.is_not_null()
        if not missed.any():
            return plain
        idx = missed.arg_true()
        held = v.gather(idx).str.contains_any(SPECIAL_ANY[decimal])
        special = pl.repeat(False, len(v), eager=True).scatter(idx, held)
    if not special.any():
        return plain
    idx, slow = _gathered(v, special, parse(pl.col("v"), kind, decimal=decimal))
    return plain.scatter(idx, slow.cast(dtype))


def parse_values(
    v: pl.Series,
    kind: str,
    *,
    decimal: str = "point",
    timezone: str = "UTC",
    utc: bool = False,
    forms: frozenset[str] | None = None,
) -> pl.Series:
    """``parse`` of a Series (stripped, markers already null), by a plain fast parse of every
    value and the full rules only for the values that need them: the same results as ``parse``
    (tested), at a fraction of the cost for clean columns."""
    if kind in ("int", "uint", "float"):
        if decimal == "comma":
            return _number_values(v, kind, decimal, v.str.contains_any(SPECIAL_ANY["comma"]))
        return _number_values(v, kind, decimal, None)
    if kind == "datetime":
        full = frozenset(FORMS) if forms is None else forms
        fast = _arrow_datetimes(v, full, timezone, utc)
        if fast is not None:
            return fast
        expr = parse(pl.col("v"), "datetime", timezone=timezone, utc=utc, forms=full)
        return v.to_frame("v").select(expr.alias("v")).to_series()
    return v.to_frame("v").select(parse(pl.col("v"), kind).alias("v")).to_series()


def _arrow_datetimes(
    v: pl.Series, forms: frozenset[str], timezone: str, utc: bool
) -> pl.Series | None:
    """Arrow's ISO 8601 cast (C++, about 10x Polars' formats) for a column of one kind: all
    naive (no offset seen) or all with an offset; None when a value needs the full rules (a
    't', a comma fraction, a mix, a value that does not parse), which then read them all."""
    if len(v) == 0:
        return None
    arr = v.to_arrow()
    try:
        if "offset" not in forms:
            out = pl.from_arrow(pc.cast(arr, pa.timestamp("us")))
            if utc:
                out = out.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
                return out.dt.convert_time_zone("UTC")  # type: ignore[union-attr]
            return out  # type: ignore[return-value]
        out = pl.from_arrow(pc.cast(arr, pa.timestamp("us", "UTC")))
        return out if utc else out.dt.replace_time_zone(None)  # type: ignore[union-attr]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def dtype_of(kind: str | None, aware: bool) -> pl.DataType:
    """The Polars type of a decided kind (None: text)."""
    return {
        None: pl.String(),
        "int": pl.Int64(),
        "uint": pl.UInt64(),
        "float": pl.Float64(),
        "bool": pl.Boolean(),
        "date": pl.Date(),
        "datetime": pl.Datetime("us", "UTC") if aware else pl.Datetime("us"),
    }[kind]


def kind_of_dtype(dt: pl.DataType) -> str | None:
    """The text kind that parses into ``dt`` (None: not one of them)."""
    if dt == pl.UInt64:
        return "uint"
    if dt.is_integer():
        return "int"
    if dt.is_float() or dt.is_decimal():
        return "float"
    if dt == pl.Boolean:
        return "bool"
    if dt == pl.Date:
        return "date"
    if isinstance(dt, pl.Datetime):
        return "datetime"
    return None


@dataclass(frozen=True)
class DecimalChoice:
    """A file's (or dataset's) numbers' convention, and whether it was a guess."""

    decimal: str
    """point | comma"""
    guessed: str | None = None
    """A value both conventions read (e.g. '837.737') when no value decided: the choice was a
    guess from the delimiter, said in a note."""


def sniff_decimal(values: list[pl.Series], prefer: str = "point") -> DecimalChoice:
    """'comma' when more values read only as decimal-comma numbers than only as decimal-point
    ones (``-0,083``, ``1.234,5`` against ``3.14``, ``1,234.5``), else 'point'. With no value
    only one convention reads but some both do (``837.737``), ``prefer`` (comma for a ';'
    export, whose ',' is free for decimals) and the value as ``guessed``."""
    point = comma = 0
    guess = None
    for s in values:
        t = s.drop_nulls().str.strip_chars()
        point += int(t.str.contains(_ONLY_POINT).sum())
        comma += int(t.str.contains(_ONLY_COMMA).sum())
        if guess is None:
            ambiguous = t.filter(t.str.contains(_AMBIGUOUS))
            guess = ambiguous[0] if len(ambiguous) else None
    if point or comma:
        return DecimalChoice("comma" if comma > point else "point")
    return DecimalChoice(prefer, guess)
