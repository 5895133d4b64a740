"""Column types of text sources: inferred exactly over every value, as a mergeable state.

A CSV or NDJSON field is text. For each column, the state is the set of types that *every*
non-null value seen so far parses as (a bit mask), whether any value was seen, and whether an
integer too long for float64's 53-bit mantissa was seen. Merging two states intersects the masks,
so the result is the same for any split of the files into batches, files or tasks. The column's
type is the first of ``KINDS`` left in the mask (int before float before bool before date before
datetime), else string; a declared type (``ingest.schema``) wins. Parsing is Arrow's cast
(ISO 8601 dates and times, ``1e5``, ``inf``, ``true``/``false``), the same in inference and in
conversion, so an inferred type never fails to convert.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

KINDS: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "datetime_tz": pa.timestamp("us", "UTC"),
}
ALL = (1 << len(KINDS)) - 1
DECLARED: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", "UTC"),
}
_LONG_INT = r"^[+-]?\d{16,}$"


@dataclass(frozen=True)
class TextType:
    """What every value of one column parses as (see the module docstring)."""

    mask: int = ALL
    seen: bool = False
    long_int: bool = False

    def merge(self, other: TextType) -> TextType:
        return TextType(
            self.mask & other.mask, self.seen or other.seen, self.long_int or other.long_int
        )

    def arrow(self) -> pa.DataType:
        """The column's type: string when no value was seen or no kind holds every value, and
        when an integer longer than 15 digits would only fit float64 (digits would be lost)."""
        if not self.seen:
            return pa.string()
        for i, t in enumerate(KINDS.values()):
            if self.mask >> i & 1:
                if t == pa.float64() and self.long_int:
                    return pa.string()
                return t
        return pa.string()


def _parses(values: pa.Array, to: pa.DataType) -> bool:
    try:
        pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


_PROBE = 64


def infer(values: pa.Array | pa.ChunkedArray, before: TextType = TextType()) -> TextType:
    """``before`` updated with one batch of a string column. Only kinds still possible are
    tried; each is tried first on a few values (Arrow's cast reads every value even when the
    first one fails), so a text column costs a few small casts."""
    present = len(values) - values.null_count  # casts keep nulls: no copy without them
    if present == 0 or before.mask == 0:
        return TextType(before.mask, before.seen or present > 0, before.long_int)
    probe = values.slice(0, _PROBE)
    bits = {k: 1 << i for i, k in enumerate(KINDS)}
    mask = 0
    for kind, t in KINDS.items():
        if not before.mask & bits[kind]:
            continue
        if _parses(probe, t) and _parses(values, t):
            mask |= bits[kind]
    long_int = before.long_int
    if mask & bits["float"] and not long_int:  # int here, but maybe float with another batch
        longest = pc.max(pc.binary_length(values)).as_py() or 0
        long_int = longest >= 16 and bool(
            pc.any(pc.match_substring_regex(values, _LONG_INT)).as_py()
        )
    return TextType(before.mask & mask, True, long_int)


def cast_or_fail(
    values: pa.Array | pa.ChunkedArray, to: pa.DataType, timezone: str = "UTC"
) -> tuple[pa.Array, pa.Array | None]:
    """``values`` cast to ``to``; where a value does not parse, null, with the mask of those rows
    (None when every value parsed). Strings declared ``datetime`` may carry an offset (converted
    to UTC) or not (read in ``timezone``)."""
    if values.type == to:
        return values, None
    try:  # the usual case, on the chunks as they are
        return pc.cast(values, to), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_timestamp(to) and to.tz and pa.types.is_string(values.type):
        return _datetime(values, timezone)
    return _cast(values, to)


def _cast(values: pa.Array, to: pa.DataType) -> tuple[pa.Array, pa.Array | None]:
    try:
        return pc.cast(values, to), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # the slow path, for the batches that hold a bad value: one value at a time
    out, bad = [], []
    for v in values:
        try:
            out.append(pc.cast(pa.array([v.as_py()], values.type), to)[0].as_py())
            bad.append(False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            out.append(None)
            bad.append(v.is_valid)
    return pa.array(out, to), pa.array(bad)


def _datetime(values: pa.Array, timezone: str) -> tuple[pa.Array, pa.Array | None]:
    aware = pc.fill_null(pc.match_substring_regex(values, r"(Z|[+-]\d\d:?\d\d)$"), False)
    naive_values = pc.if_else(aware, pa.scalar(None, pa.string()), values)
    aware_values = pc.if_else(aware, values, pa.scalar(None, pa.string()))
    naive, bad_n = _cast(naive_values, pa.timestamp("us"))
    local = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
    utc, bad_a = _cast(aware_values, pa.timestamp("us", "UTC"))
    out = pc.if_else(aware, utc, pc.cast(local, pa.timestamp("us", "UTC")))
    bad = None
    if bad_n is not None or bad_a is not None:
        bad = pc.or_(
            bad_n if bad_n is not None else pa.repeat(False, len(values)),
            bad_a if bad_a is not None else pa.repeat(False, len(values)),
        )
    return out, bad
