"""Text read as types: one set of rules for CSV/NDJSON exports (``distml ingest``) and Parquet
string columns (``quality.coerce=[infer]``), and the mergeable count that decides a column's type.

A column's type is decided from *every* value, not from the first few: ``TextStats`` counts, per
candidate kind (int, uint, float, bool, date, datetime), the values that do not parse as it, plus
the evidence a choice needs (leading zeros, integers too long for float64, ISO 8601 forms, local
times that a time zone skips or repeats, null markers). Merging adds counts, so the decision is
the same for any split of the data into files, batches or tasks. ``decide`` takes the kind with
the fewest failures (ties: int, uint, float, bool, date, datetime) when failures are at most
``max_bad_share`` of the values; the failing cells are then quarantined by the caller (with their
file, line and value), so a few broken cells never turn a numeric or timestamp column into text.
A column stays text when its values' text would not survive the type: integers with a leading
zero (zip codes, account numbers: any such value makes an integer column codes), decimals with a
leading zero in more than ``max_bad_share`` of the values, or integers of 16 or more digits in a
column that would be float (float64 keeps 15-16 digits).

Parsing rules (``parse``), the same in inference and conversion so an inferred type never fails
on a value that was counted as parsing:

- whitespace around a value is ignored; ``markers`` (pandas' null markers such as ``NA``,
  ``NULL_MARKERS``) are nulls, not failures, in a column that takes a type; a text column keeps
  them as text (``Namibia`` is ``NA``), counted;
- numbers: ``1e5``, ``inf``; a currency sign before or after (``$1,234.50``, ``12 €``); a
  trailing ``%`` divides by 100 (``12.5%`` is 0.125); thousands separators and decimal commas by
  the ``decimal`` convention: ``point`` reads ``1,234.50`` as 1234.5, ``comma`` reads ``1.234,50``
  and ``-0,083`` (a leading group is 1-9: ``0,125`` is never 125); ``sniff_decimal`` picks it
  from values only one convention reads, and says when it had to guess;
- uint: integers beyond int64 that fit uint64 (hash-based ids);
- bool: ``true``/``false`` (lower, title or upper case) and ``1``/``0`` (a column of 1s and
  0s alone is integers: int comes first);
- date: ``YYYY-MM-DD``; datetime: ISO 8601's extended forms -- ``T``, ``t`` or space, with or
  without seconds and fractions (``.`` or ``,``), ``Z``, ``+HH:MM``, ``+HHMM`` or ``+HH``
  offsets, or none -- into one column: values with an offset are instants (UTC), those without
  are read in ``timezone`` (a local time the zone skips is a failure, one it repeats is read as
  the earlier instant, both counted) when the column is UTC, else kept naive as written. The
  basic format (``20240301T100000Z``) is not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

KINDS = ("int", "uint", "float", "bool", "date", "datetime")
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
_LEADING_ZERO = r"^[+-]?0\d"
_DATE_START = r"^\d{4}-\d{2}-\d{2}"


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


_BOOLS = {
    **{s: True for s in ("true", "True", "TRUE", "1")},
    **{s: False for s in ("false", "False", "FALSE", "0")},
}


FORMS = ("space", "short", "date", "fraction", "offset")
"""The ISO 8601 forms a datetime column may hold: a space (or 't') for 'T', no seconds, a date
alone, fractional seconds, a zone offset. Parsing reads only the forms seen (the offset and
fraction formats cost about 4x the plain one)."""


def _has_offset(v: pl.Series) -> pl.Series:
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
        "offset": int(_has_offset(v).sum()),
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
    iso = _iso(pl.when(t.str.contains(_DATE_START)).then(t), forms)
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
        return t.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
    if kind == "date":
        return pl.when(t.str.len_bytes() == 10).then(t.str.to_date("%Y-%m-%d", strict=False))
    if kind == "datetime":
        return _datetime(t, frozenset(FORMS) if forms is None else forms, timezone, utc)
    raise ValueError(f"unknown kind {kind!r}")


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


def _dst(naive_text: pl.Series, forms: frozenset[str], timezone: str) -> tuple[int, int]:
    """(local times ``timezone`` skips, local times it repeats) among naive timestamps."""
    if timezone == "UTC" or not len(naive_text):
        return 0, 0
    d = naive_text.to_frame("v").select(n=parse(pl.col("v"), "datetime", forms=forms))["n"]
    d = d.drop_nulls()
    early = d.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    late = d.dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null")
    return int(early.null_count()), int((early != late).sum())


@dataclass
class TextStats:
    """What every value of one text column parses as (see the module docstring)."""

    values: int = 0
    """Values that are neither null nor a null marker."""
    fails: dict[str, int] = field(default_factory=dict)
    """Per kind: values that do not parse as it."""
    leading_zero: int = 0
    """Values that parse as a number and start with a 0 digit (their text would change)."""
    long_int: int = 0
    """Integers of 16 or more digits."""
    forms: dict[str, int] = field(default_factory=dict)
    """Values starting with a date, by ISO 8601 form (``FORMS``)."""
    example: dict[str, str] = field(default_factory=dict)
    """Per kind: the smallest value that does not parse as it (for messages)."""
    json: dict[str, int] = field(default_factory=dict)
    """NDJSON: values by their JSON type (string, number, bool, nested); empty for text."""
    markers: dict[str, int] = field(default_factory=dict)
    """Null markers seen (``NA``: 12), left out of ``values``: null in a typed column, text in
    a text column."""
    dst_gap: int = 0
    """Naive timestamps that ``timezone`` skips (a clock change's gap): no instant."""
    dst_repeat: int = 0
    """Naive timestamps that ``timezone`` repeats: read as the earlier instant."""
    fraction_zero: int = 0
    """Decimals with a leading zero digit before others (``00.5``)."""

    @classmethod
    def of(
        cls,
        s: pl.Series,
        decimal: str = "point",
        markers: tuple[str, ...] = (),
        timezone: str = "UTC",
    ) -> TextStats:
        """The counts of one batch of a text column. Numbers are parsed only where a value
        does not start with a date and dates only where it does, so a column costs a few
        vectorised passes."""
        v = s.cast(pl.String).drop_nulls().str.strip_chars()
        seen: dict[str, int] = {}
        if markers:
            marked = v.is_in(list(markers))
            if marked.any():
                vc = v.filter(marked).value_counts()
                seen = {str(a): int(b) for a, b in vc.iter_rows()}
                v = v.filter(~marked)
        n = len(v)
        if n == 0:
            return cls(markers=seen)
        st = cls(values=n, markers=seen)
        dateish = v.str.contains(_DATE_START)
        dated, other = v.filter(dateish), v.filter(~dateish)
        st._numbers(v, other, dated, decimal)
        st._dates(v, dated, other, timezone)
        st.example = {k: (e[:60] + "...") if len(e) > 60 else e for k, e in st.example.items()}
        return st

    def _count(self, kind: str, ok: pl.Series, values: pl.Series, v, rest) -> None:
        """``ok``: which of ``values`` parse as ``kind``; ``rest`` of the column never does."""
        self.fails[kind] = self.values - int(ok.sum())
        if self.fails[kind] == self.values:
            self.example[kind] = v.min()
        elif self.fails[kind]:
            self.example[kind] = pl.concat([values.filter(~ok), rest]).min()

    def _numbers(self, v: pl.Series, other: pl.Series, dated: pl.Series, decimal: str) -> None:
        if not len(other):
            for k in ("int", "uint", "float", "bool"):
                self._count(k, pl.Series([], dtype=pl.Boolean), other, v, dated)
            return
        col = pl.col("v")
        num = other.to_frame("v").select(
            f=parse(col, "float", decimal=decimal).is_not_null(),
            i=parse(col, "int", decimal=decimal).is_not_null(),
        )
        u = num["i"]
        if not u.all():  # beyond int64: uint64 (only the values int64 missed are parsed)
            missed = other.filter(~num["i"])
            big = missed.to_frame("v").select(parse(col, "uint", decimal=decimal).is_not_null())
            u = num["i"].clone().scatter(np.flatnonzero(~num["i"].to_numpy()), big.to_series())
            u = u & ~other.str.starts_with("-")
        self._count("float", num["f"], other, v, dated)
        self._count("int", num["i"], other, v, dated)
        self._count("uint", u, other, v, dated)
        self._count("bool", other.is_in(list(_BOOLS)), other, v, dated)
        lead = other.str.contains(_LEADING_ZERO)
        self.leading_zero = int((num["i"] & lead).sum())
        self.fraction_zero = int((num["f"] & ~num["i"] & lead).sum())
        self.long_int = int((num["f"] & other.str.contains(r"^[+-]?\d{16,}$")).sum())

    def _dates(self, v: pl.Series, dated: pl.Series, other: pl.Series, timezone: str) -> None:
        if not len(dated):
            for k in ("date", "datetime"):
                self._count(k, pl.Series([], dtype=pl.Boolean), dated, v, other)
            return
        self.forms = datetime_forms(dated)
        seen = frozenset(k for k, c in self.forms.items() if c)
        col = pl.col("v")
        d = dated.to_frame("v").select(
            day=parse(col, "date").is_not_null(),
            ts=parse(col, "datetime", forms=seen).is_not_null(),
        )
        self._count("date", d["day"], dated, v, other)
        self._count("datetime", d["ts"], dated, v, other)
        self.dst_gap, self.dst_repeat = _dst(dated.filter(~_has_offset(dated)), seen, timezone)

    def merge(self, o: TextStats) -> TextStats:
        ex = dict(self.example)
        for k, v in o.example.items():
            ex[k] = min(ex[k], v) if k in ex else v

        def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}

        return TextStats(
            self.values + o.values,
            {k: self.fails.get(k, 0) + o.fails.get(k, 0) for k in KINDS},
            self.leading_zero + o.leading_zero,
            self.long_int + o.long_int,
            add(self.forms, o.forms),
            ex,
            add(self.json, o.json),
            add(self.markers, o.markers),
            self.dst_gap + o.dst_gap,
            self.dst_repeat + o.dst_repeat,
            self.fraction_zero + o.fraction_zero,
        )

    def decide(
        self, max_bad_share: float, kinds: tuple[str, ...] = KINDS, utc: bool = False
    ) -> Decision:
        """The column's kind (None: text) and why (see the module docstring). NDJSON columns
        keep JSON's own types: numbers and booleans as such, strings as text unless they are
        dates or timestamps (JSON has no such type), nested values as JSON text. ``utc``:
        timestamps become UTC instants even without an offset (Parquet's rule), so the local
        times the zone skips count as failures."""
        kinds, why_text = self._candidates(kinds, max_bad_share)
        if self.values == 0 or not kinds:
            return Decision(None, 0, why_text or "no value")
        fails = {k: self.fails.get(k, 0) for k in kinds}
        kind = min(kinds, key=lambda k: (fails[k], KINDS.index(k)))
        forms = frozenset(k for k, c in self.forms.items() if c)
        aware = kind == "datetime" and ("offset" in forms or utc)
        bad = fails[kind] + (self.dst_gap if aware else 0)
        if bad > max_bad_share * self.values:
            if kind == "datetime" and aware and self.dst_gap:
                why_text = why_text or (
                    f"{bad:,} of {self.values:,} timestamps do not parse or are local times the "
                    f"time zone skips ({self.dst_gap:,}: a daylight-saving gap), more than "
                    "max_bad_share"
                )
            return Decision(None, 0, why_text or "most values are text")
        if kind in ("int", "uint") and self.leading_zero:
            return Decision(
                None,
                0,
                f"{self.leading_zero:,} of {self.values:,} integers start with 0 (as zip codes "
                "or account numbers do), which a number would drop",
            )
        if kind == "float" and self.leading_zero + self.fraction_zero > max_bad_share * self.values:
            return Decision(
                None,
                0,
                f"{self.leading_zero + self.fraction_zero:,} of {self.values:,} values start with "
                "0 before other digits (as codes do), which a number would drop",
            )
        if kind == "float" and self.long_int:
            return Decision(
                None, 0, f"{self.long_int:,} integers of 16+ digits, which float64 would round"
            )
        return Decision(kind, bad, "", forms if kind == "datetime" else frozenset())

    def _candidates(self, kinds: tuple[str, ...], share: float) -> tuple[tuple[str, ...], str]:
        if not self.json:
            return kinds, ""
        n = sum(self.json.values())
        numeric = tuple(k for k in kinds if k in ("int", "uint", "float", "bool"))
        if self.json.get("nested"):
            return (), "nested JSON values (kept as JSON text)"
        strings = self.json.get("string", 0)
        if strings <= share * n:  # numbers and booleans as JSON has them (a few strings parsed)
            return numeric, ""
        if strings == n:  # JSON strings stay text, but for ISO dates and timestamps
            return tuple(k for k in kinds if k in ("date", "datetime")), "JSON strings"
        return (), "JSON strings beside numbers"


@dataclass(frozen=True)
class Decision:
    """A text column's decided kind (None: text), its failing values and why it stays text."""

    kind: str | None
    bad: int
    why_text: str
    forms: frozenset[str] = frozenset()
    """Datetimes: the ISO 8601 forms seen (what conversion must read)."""

    @property
    def aware(self) -> bool:
        """Datetimes: some value has a zone offset (the column is UTC instants)."""
        return "offset" in self.forms

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind or "string",
            "bad_values": self.bad,
            "kept_text_because": self.why_text or None,
        }
