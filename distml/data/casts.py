"""How a file's column becomes the dataset's when a shard is read: the casts that conform every
file to one schema (planned from the footers by distml/quality/conform.py), as Polars
expressions, and the marker naming the first column whose string did not parse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from distml.data.columns import CAST_FAILED
from distml.data.parse import NULL_MARKERS, kind_of_dtype, parse


@dataclass(frozen=True)
class Cast:
    """How one column of a file becomes the dataset's column when a shard is read."""

    column: str
    dtype: Any
    """The dataset's Polars type of the column."""
    how: str
    """cast (lossless: wider ints, floats, decimals, null, dictionaries, dates to timestamps),
    fields (lists and structs whose fields widen, matched by name, absent ones null),
    parse (strings read by distml/data/parse.py's rules with ``ParseArgs``; values that do not
    parse become null and are named in CAST_FAILED; null markers are null), localize (a
    naive timestamp read in the zone ``arg``, then UTC), utc (a zoned timestamp to UTC), fill
    (the file lacks the column: nulls), const (a Hive partition value ``arg``)."""
    arg: Any = None

    @property
    def absent(self) -> bool:
        """The column is not in the file (filled or a partition value)."""
        return self.how in ("fill", "const")


@dataclass(frozen=True)
class ParseArgs:
    """How a ``parse`` cast reads its strings (distml/data/parse.py's rules)."""

    timezone: str = "UTC"
    """The zone of timestamps written without an offset."""
    decimal: str = "point"
    forms: tuple[str, ...] | None = None
    """The ISO 8601 forms to read (None: every one)."""


def _parse(c: pl.Expr, dtype: Any, args: ParseArgs | str) -> pl.Expr:
    """Strings parsed as ``dtype``, null where they do not parse (and for null markers)."""
    a = args if isinstance(args, ParseArgs) else ParseArgs(args)
    kind = kind_of_dtype(dtype)
    forms = frozenset(a.forms) if a.forms is not None else None
    utc = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    out = parse(
        c,
        kind or "float",
        decimal=a.decimal,
        timezone=a.timezone,
        utc=utc,
        markers=NULL_MARKERS,
        forms=forms,
    )
    if isinstance(dtype, pl.Datetime) and utc and dtype.time_zone != "UTC":
        out = out.dt.convert_time_zone(dtype.time_zone)
    return out.cast(dtype, strict=False)


def parse_failed(c: pl.Expr, cast: Cast) -> pl.Expr:
    """Whether a value of a ``parse`` cast's column does not parse (nulls and markers do)."""
    text = c.cast(pl.String).str.strip_chars()
    return text.is_not_null() & ~text.is_in(list(NULL_MARKERS)) & cast_expr(cast).is_null()


def cast_expr(cast: Cast) -> pl.Expr:
    """The expression that makes a file's column the dataset's (or adds an absent one)."""
    c, t = pl.col(cast.column), cast.dtype
    if cast.how == "fill":
        return pl.lit(None, dtype=t).alias(cast.column)
    if cast.how == "const":
        return pl.lit(cast.arg).cast(t).alias(cast.column)
    if cast.how == "parse":
        return _parse(c, t, cast.arg).alias(cast.column)
    if cast.how == "localize":  # a naive timestamp, read in the zone ``arg``
        c = c.dt.replace_time_zone(cast.arg, ambiguous="earliest", non_existent="null")
    if cast.how in ("localize", "utc"):
        return c.dt.convert_time_zone(t.time_zone).dt.cast_time_unit(t.time_unit)
    if cast.how == "fields":  # nested: struct fields matched by name, absent ones null
        return c.cast(t, strict=False)
    return c.cast(t)


def marker_expr(casts: tuple[Cast, ...]) -> pl.Expr:
    """CAST_FAILED: the first column of ``casts`` whose string did not parse (else null)."""
    failed = [
        pl.when(parse_failed(pl.col(c.column), c)).then(pl.lit(c.column))
        for c in casts
        if c.how == "parse"
    ]
    expr = pl.coalesce(failed) if failed else pl.lit(None, dtype=pl.String)
    return expr.cast(pl.String).alias(CAST_FAILED)
