"""The row rules of the data contract: which rows every stage after the profile reads.

A rule is a Polars expression that is true (or null) where a row keeps it; ``not_null``,
``min``/``max``, ``allowed`` and ``pattern`` rules are built from ``quality.rules``, ``expr`` rules
are SQL row expressions (``quality/sql.py``). Built in: ``not_null(<label>)`` and, for
classification, ``label_values``. ``Contract.accepted()`` is the filter every later stage applies;
``reasons()`` names the rules a quarantined row broke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from distml.config import QualityConfig
from distml.data.columns import CAST_FAILED
from distml.errors import UserError
from distml.quality.sql import compile_sql


@dataclass(frozen=True)
class Rule:
    name: str
    ok: pl.Expr
    """True (or null) where a row keeps the rule."""
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """The row rules; every stage after profile reads only rows that keep all of them."""

    rules: tuple[Rule, ...]
    parse_marker: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        cols = [c for r in self.rules for c in r.columns]
        if self.parse_marker:
            cols.append(CAST_FAILED)
        return tuple(dict.fromkeys(cols))

    def accepted(self) -> pl.Expr:
        parts = [r.ok.fill_null(True) for r in self.rules]
        if self.parse_marker:
            parts.append(pl.col(CAST_FAILED).is_null())
        return pl.all_horizontal(parts) if parts else pl.lit(True)

    def broken(self) -> list[pl.Expr]:
        """One boolean per rule (parse failures last): does the row break it?"""
        out = [~r.ok.fill_null(True) for r in self.rules]
        if self.parse_marker:
            out.append(pl.col(CAST_FAILED).is_not_null())
        return out

    def check(self, df: pl.DataFrame, where: str = "") -> pl.Series:
        """Whether each row of ``df`` meets the contract (null counts as not): the row check
        every stage, batch scoring and a Serve replica apply.

        Raises UserError when a rule cannot be evaluated on these rows (``where``: their file),
        e.g. a SQL rule's CAST that fails on a value."""
        try:
            ok = df.with_columns(self.accepted().fill_null(False).alias("_ok"))
        except pl.exceptions.PolarsError as exc:
            at = f" on the rows of '{where}'" if where else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"The row rules ({', '.join(self.names())}) cannot be evaluated{at}: {first}. "
                "Fix the rule in quality.rules so that it is true or false for every value (for "
                "example, a CAST that fails on some value), or remove it."
            ) from None
        return ok.get_column("_ok")

    def names(self) -> list[str]:
        return [r.name for r in self.rules] + (["type"] if self.parse_marker else [])

    def reasons(self) -> pl.Expr:
        """The names of the rules a row breaks, '; '-separated (null when it keeps them all)."""
        parts = [pl.when(~r.ok.fill_null(True)).then(pl.lit(r.name)) for r in self.rules]
        if self.parse_marker:
            parts.append(
                pl.when(pl.col(CAST_FAILED).is_not_null()).then(
                    pl.concat_str(pl.lit("type("), pl.col(CAST_FAILED), pl.lit(")"))
                )
            )
        if not parts:  # no rules (unlabelled data without row rules): no reasons
            return pl.lit(None, dtype=pl.String)
        return pl.concat_str(parts, separator="; ", ignore_nulls=True).replace("", None)


def _values_for(values: list[Any], dtype: pl.DataType, key: str) -> pl.Series:
    try:
        return pl.Series(values).cast(dtype, strict=True)
    except Exception:
        raise UserError(
            f"The values {values} at {key} do not fit the column's type {dtype}; list values of "
            "that type."
        ) from None


def build_contract(
    cfg: QualityConfig,
    schema: dict[str, pl.DataType],
    label: str | None,
    label_values: list | None,
    weight_column: str | None = None,
) -> Contract:
    """Compile the configured rules (plus the label's and the row weights', when there are
    any) against the schema."""
    rules = (
        [] if label is None else [Rule(f"not_null({label})", pl.col(label).is_not_null(), (label,))]
    )
    if label is not None and label_values is not None:
        vals = _values_for(label_values, schema[label], "quality.label_values")
        rules.append(Rule("label_values", pl.col(label).is_in(vals.implode()), (label,)))
    if weight_column is not None:
        w = pl.col(weight_column).cast(pl.Float64)
        ok = w.is_not_null() & w.is_finite() & (w >= 0)
        rules.append(Rule(f"weight({weight_column})", ok, (weight_column,)))
    for name, r in cfg.rules.items():
        key = f"quality.rules.{name}"
        parts: list[pl.Expr] = []
        cols: list[str] = []
        if r.column is not None:
            if r.column not in schema:
                raise UserError(
                    f"The column '{r.column}' ({key}.column) is not in the data. Available "
                    f"columns: {', '.join(schema)}."
                )
            c, dt = pl.col(r.column), schema[r.column]
            cols.append(r.column)
            if (r.min is not None or r.max is not None) and not (
                dt.is_numeric() or dt.is_temporal()
            ):
                raise UserError(
                    f"{key} sets min/max, but the column '{r.column}' is {dt}, not numeric."
                )
            if r.not_null:
                parts.append(c.is_not_null())
            if r.min is not None:
                parts.append(c >= r.min)
            if r.max is not None:
                parts.append(c <= r.max)
            if r.allowed is not None:
                parts.append(c.is_in(_values_for(list(r.allowed), dt, f"{key}.allowed").implode()))
            if r.pattern is not None:
                try:
                    re.compile(r.pattern)
                except re.error as exc:
                    raise UserError(
                        f"The pattern {r.pattern!r} at {key}.pattern is not a valid regular "
                        f"expression: {exc}."
                    ) from None
                parts.append(c.cast(pl.String).str.contains(r.pattern))
        if r.expr is not None:
            e, used = compile_sql(r.expr, f"{key}.expr", schema)
            parts.append(e)
            cols.extend(used)
        ok = parts[0] if len(parts) == 1 else pl.all_horizontal(parts)
        rules.append(Rule(name, ok, tuple(dict.fromkeys(cols))))
    return Contract(tuple(rules))
