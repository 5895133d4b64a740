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

The rules that read a value (distml/data/parse.py) are the same in inference and conversion, so
an inferred type never fails on a value that was counted as parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from distml.data.parse import (
    BOOLS,
    DATE_START,
    DIGITS,
    SPECIAL_ANY,
    datetime_forms,
    has_offset,
    parse,
    parse_values,
)

KINDS = ("int", "uint", "float", "bool", "date", "datetime")


def _dst(naive_text: pl.Series, forms: frozenset[str], timezone: str) -> tuple[int, int]:
    """(local times ``timezone`` skips, local times it repeats) among naive timestamps."""
    if timezone == "UTC" or not len(naive_text):
        return 0, 0
    d = parse_values(naive_text, "datetime", forms=forms).drop_nulls()
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
        """The counts of one batch of a text column: every value parsed plainly as a number
        (Polars' casts, in one query with the other per-value tests), the full rules only for
        the values that need them, dates only among the values that are no number
        (``parse_values``' results, tested equal to ``parse``)."""
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
        col = pl.col("v")
        signless = col.str.strip_chars_start("+-")
        m = v.to_frame("v").select(
            f=col.cast(pl.Float64, strict=False).is_not_null(),
            i=col.str.to_integer(strict=False).is_not_null(),
            neg=col.str.starts_with("-"),
            special=col.str.contains_any(SPECIAL_ANY[decimal]),
            lead=signless.str.starts_with("0") & signless.str.slice(1, 1).is_in(list(DIGITS)),
            long=col.str.len_bytes() >= 16,
            bool=col.is_in(list(BOOLS)),
            dash=col.str.slice(4, 1) == "-",
        )
        smallest = v.min()
        f, i = st._numbers(v, m, decimal, smallest)
        dateish = ~f & m["dash"]
        if dateish.any():
            dateish = dateish & v.str.contains(DATE_START)
        st._dates(v, dateish, timezone, smallest)
        st.example = {k: (e[:60] + "...") if len(e) > 60 else e for k, e in st.example.items()}
        return st

    def _count(self, kind: str, ok: pl.Series, v: pl.Series, smallest: Any) -> None:
        """``ok``: which of the column's values ``v`` parse as ``kind``."""
        self.fails[kind] = self.values - int(ok.sum())
        if self.fails[kind] == self.values:
            self.example[kind] = smallest
        elif self.fails[kind]:
            self.example[kind] = v.filter(~ok).min()  # type: ignore[assignment]

    def _numbers(
        self, v: pl.Series, m: pl.DataFrame, decimal: str, smallest: Any
    ) -> tuple[pl.Series, pl.Series]:
        """Counts of int, uint, float and bool; which values are floats and integers."""
        f, i = m["f"], m["i"]
        if decimal == "comma":  # a plain point is a thousands point there: the full rules
            special = m["special"]
            f, i = f & ~special, i & ~special
        else:  # only a value no plain parse reads can hold , $ % ...
            special = ~f & m["special"]
        if special.any():
            sub = v.filter(special)
            idx = special.arg_true()
            f = f.clone().scatter(idx, parse_values(sub, "float", decimal=decimal).is_not_null())
            i = i.clone().scatter(idx, parse_values(sub, "int", decimal=decimal).is_not_null())
        u = i & ~m["neg"]
        missed = f & ~i & ~m["neg"]
        if missed.any():  # beyond int64: uint64 (parsed only where int64 missed)
            big = parse_values(v.filter(missed), "uint", decimal=decimal).is_not_null()
            u = u.scatter(missed.arg_true(), big)
        self._count("float", f, v, smallest)
        self._count("int", i, v, smallest)
        self._count("uint", u, v, smallest)
        self._count("bool", m["bool"], v, smallest)
        self.leading_zero = int((i & m["lead"]).sum())
        self.fraction_zero = int((f & ~i & m["lead"]).sum())
        long = f & m["long"]
        if long.any():
            long = long & v.str.contains(r"^[+-]?\d{16,}$")
        self.long_int = int(long.sum())
        return f, i

    def _dates(self, v: pl.Series, dateish: pl.Series, timezone: str, smallest: Any) -> None:
        if not dateish.any():
            for k in ("date", "datetime"):
                self._count(k, dateish, v, smallest)
            return
        dated = v.filter(dateish)
        self.forms = datetime_forms(dated)
        seen = frozenset(k for k, c in self.forms.items() if c)
        idx = dateish.arg_true()
        day = dated.to_frame("v").select(parse(pl.col("v"), "date").is_not_null()).to_series()
        ts = parse_values(dated, "datetime", forms=seen).is_not_null()
        self._count("date", pl.repeat(False, len(v), eager=True).scatter(idx, day), v, smallest)
        self._count("datetime", pl.repeat(False, len(v), eager=True).scatter(idx, ts), v, smallest)
        self.dst_gap, self.dst_repeat = _dst(dated.filter(~has_offset(dated)), seen, timezone)

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
