"""Strata: which column values, time buckets or quantile bins make a row's stratum, and its name.

``sampling.strata`` entries are 'col', 'col:day|week|month' (timestamp buckets), 'col:qN'
(quantile bins of a numeric column, edges from the profile's sketches) or a bare 'day|week|month'
that buckets ``sampling.time_column``. A stratum's name joins its values with '|' (nulls as '∅').
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from distml.errors import UserError

NULL_TOKEN = "\u2205"  # how a null value appears inside a stratum name
TIME_BUCKETS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


@dataclass(frozen=True)
class Term:
    """One stratum dimension: a column's values, its time bucket, or its quantile bin."""

    column: str
    kind: str = "value"  # value | day | week | month | quantile
    bins: int = 0


def parse_strata(
    names: Sequence[str], schema: Mapping[str, pl.DataType], time_column: str | None = None
) -> tuple[Term, ...]:
    """Read ``sampling.strata`` entries: 'col', 'col:day|week|month', 'col:q10', or a bare
    'day|week|month' that buckets ``sampling.time_column`` (default: the first datetime column)."""
    terms = []
    available = ", ".join(schema)
    for name in names:
        col, _, kind = str(name).partition(":")
        if not kind and col in TIME_BUCKETS and col not in schema:
            col, kind = (
                time_column or next((c for c, t in schema.items() if t.is_temporal()), ""),
                col,
            )
            if not col:
                raise UserError(
                    f"The stratum '{name}' (sampling.strata) buckets a timestamp, but the data has no datetime column. Set sampling.time_column or remove '{name}'."
                )
        if col not in schema:
            raise UserError(
                f"The stratum column '{col}' (sampling.strata) is not in the data. Available columns: {available}. Fix sampling.strata."
            )
        if not kind:
            terms.append(Term(col))
        elif kind in TIME_BUCKETS:
            if not schema[col].is_temporal():
                raise UserError(
                    f"The stratum '{name}' (sampling.strata) buckets by {kind}, but column '{col}' has type {schema[col]}, not a date or datetime."
                )
            terms.append(Term(col, kind))
        elif kind.startswith("q") and kind[1:].isdigit() and int(kind[1:]) >= 2:
            if not schema[col].is_numeric():
                raise UserError(
                    f"The stratum '{name}' (sampling.strata) cuts '{col}' into quantile bins, but it has type {schema[col]}, not a number."
                )
            terms.append(Term(col, "quantile", int(kind[1:])))
        else:
            raise UserError(
                f"The stratum '{name}' (sampling.strata) is not understood: use 'col', 'col:day', 'col:week', 'col:month' or 'col:qN' (N >= 2 quantile bins)."
            )
    return tuple(terms)


def term_keys(
    terms: Sequence[Term | str], edges: Mapping[str, Sequence[float]] | None = None
) -> list[pl.Expr]:
    """One cheap, typed grouping column per term (``_t0``, ``_t1``...): the raw value, or the
    time bucket / quantile bin it falls in."""
    out = []
    for i, t in enumerate(terms):
        t = Term(t) if isinstance(t, str) else t
        col = pl.col(t.column)
        if t.kind in TIME_BUCKETS:
            col = col.dt.strftime(TIME_BUCKETS[t.kind])
        elif t.kind == "quantile":
            col = col.cast(pl.Float64).fill_nan(None).cut(list((edges or {})[t.column]))
        out.append(col.alias(f"_t{i}"))
    return out


def name_expr(n_terms: int) -> pl.Expr:
    """The stratum name from the ``_t<i>`` columns: values joined by '|' (nulls as ∅)."""
    if n_terms == 0:
        return pl.repeat(pl.lit("all"), pl.len()).alias("stratum")
    parts = [pl.col(f"_t{i}").cast(pl.String).fill_null(NULL_TOKEN) for i in range(n_terms)]
    return pl.concat_str(parts, separator="|").alias("stratum")


def with_stratum(
    df: pl.DataFrame,
    terms: Sequence[Term | str],
    edges: Mapping[str, Sequence[float]] | None = None,
) -> pl.DataFrame:
    return (
        df.with_columns(term_keys(terms, edges))
        .with_columns(name_expr(len(terms)))
        .drop([f"_t{i}" for i in range(len(terms))])
    )


def stratum_counts(
    df: pl.DataFrame,
    terms: Sequence[Term | str],
    edges: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, int]:
    """Rows per stratum, grouping on typed keys and naming only the groups (cheap)."""
    n = len(terms)
    if n == 0:
        return {"all": df.height} if df.height else {}
    keys = df.select(term_keys(terms, edges))
    if n == 1 and (keys.dtypes[0].is_integer() or keys.dtypes[0] == pl.Boolean):
        # one integer key (the label, usually): sorting it (a radix sort) and counting the runs
        # is faster than hashing it into groups
        g = keys.get_column("_t0").sort().rle().struct.unnest().rename({"value": "_t0"})
    else:
        g = keys.group_by([f"_t{i}" for i in range(n)]).len()
    g = g.with_columns(name_expr(n))
    return dict(zip(g["stratum"].to_list(), g["len"].to_list(), strict=True))


def stratum_expr(
    terms: Sequence[Term | str], edges: Mapping[str, Sequence[float]] | None = None
) -> pl.Expr:
    """The stratum name of each row as one expression (same names as ``with_stratum``)."""
    n = len(terms)
    if n == 0:
        return name_expr(0)
    parts = []
    for e in term_keys(terms, edges):
        parts.append(e.cast(pl.String).fill_null(NULL_TOKEN))
    return pl.concat_str(parts, separator="|").alias("stratum")
