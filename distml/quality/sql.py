"""Row expressions written in SQL in the config: quality rules and derived features.

``compile_sql("amount >= 0 AND n_items < 100", key, schema)`` turns the text into a Polars
expression with Polars' own SQL expression parser (``polars.sql_expr``): the syntax data people
already write in dbt, Soda or Deequ checks, with SQL's three-valued logic (AND, OR, NOT,
IN (...), IS NULL, LIKE, BETWEEN, CASE WHEN, CAST, COALESCE, GREATEST, LENGTH, LN, LOG1P,
REGEXP_LIKE, EXTRACT, DATE_PART ...). A column whose name is not an identifier is written in
double quotes: ``"unit price" > 0``.

Only row expressions pass: a subquery, a window, an aggregate (whose value would depend on the
other rows of a batch), a statement or an unknown column is a UserError naming the config key.
The expression is type-checked against the data's schema when the config is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from distml.errors import UserError, shell_quoted

_STATEMENT = re.compile(
    r"\b(SELECT|OVER|UNION|INTERSECT|EXCEPT|INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|COPY|"
    r"ATTACH|PRAGMA|EXPLAIN|WINDOW|QUALIFY)\b",
    re.IGNORECASE,
)
_AGGREGATE = re.compile(
    r"\b(SUM|AVG|MEAN|COUNT|MIN|MAX|MEDIAN|MODE|FIRST|LAST|STDDEV\w*|VAR\w*|ARRAY_AGG|"
    r"STRING_AGG|LISTAGG|QUANTILE\w*|PERCENTILE\w*|CORR|COVAR\w*|BOOL_AND|BOOL_OR|ANY_VALUE)"
    r"\s*\(",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")

EXAMPLE = "amount >= 0 AND n_items < 100"


def _outside_quotes(text: str) -> str:
    """The text with string literals and quoted identifiers blanked out."""
    return _QUOTED.sub(lambda m: " " * len(m.group(0)), text)


def compile_sql(
    text: str, key: str, schema: Mapping[str, pl.DataType] | None = None
) -> tuple[pl.Expr, list[str]]:
    """The Polars expression for a SQL row expression, and the columns it reads.

    ``key`` names the config entry in errors; with ``schema`` the columns must exist and the
    expression must type-check against it.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError(
            f"The expression at {key} is empty; write a SQL row expression, e.g. '{EXAMPLE}'."
        )
    bare = _outside_quotes(text)
    hit = _STATEMENT.search(bare) or (";" in bare and re.search(";", bare))
    if hit:
        raise UserError(
            f"The expression {text!r} at {key} is not a row expression: '{hit.group(0)}' is not "
            f"allowed (no subqueries, windows or statements). Write one condition over the row's "
            f"columns, e.g. '{EXAMPLE}'."
        )
    agg = _AGGREGATE.search(bare)
    if agg:
        raise UserError(
            f"The expression {text!r} at {key} uses the aggregate {agg.group(1).upper()}(), whose "
            "value depends on the other rows; rules and derived features see one row at a time "
            "(GREATEST/LEAST compare columns within a row)."
        )
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:  # noqa: BLE001 - Polars' parser errors, reported as the user's
        raise UserError(
            f"The expression {text!r} at {key} is not valid SQL: {_first_line(exc)}. Write a SQL "
            f"row expression such as '{EXAMPLE}' (IN (...), IS NULL, LIKE, CASE WHEN ... END)."
            + _quoting_hint(text, key, schema)
        ) from None
    used = list(dict.fromkeys(expr.meta.root_names()))
    if schema is not None:
        _check_against(expr, used, text, key, schema)
    return expr, used


def _check_against(
    expr: pl.Expr, used: list[str], text: str, key: str, schema: Mapping[str, pl.DataType]
) -> None:
    unknown = [c for c in used if c not in schema]
    if unknown:
        raise UserError(
            f"The expression {text!r} at {key} reads {unknown}, which are not columns of the "
            f'data. Available columns: {", ".join(schema)} (quote odd names: "unit price").'
            + _quoting_hint(text, key, schema)
        )
    try:
        out = pl.DataFrame(schema=dict(schema)).select(expr.alias("_out"))
    except Exception as exc:  # noqa: BLE001 - a type error in the user's expression
        raise UserError(
            f"The expression {text!r} at {key} does not fit the data's types: {_first_line(exc)}."
        ) from None
    if out.height and used:  # an empty frame gave a row: an aggregation slipped through
        raise UserError(
            f"The expression {text!r} at {key} is not a row expression: it reduces many rows to "
            "one. Write a condition over one row's columns."
        )


def _quoting_hint(text: str, key: str, schema: Mapping[str, pl.DataType] | None) -> str:
    """When the likely cause of a SQL error is quoting lost on the way from the command line
    (the shell and Hydra each remove one level): the text has no quotes left while a column's
    name needs them, or holds no quotes at all around words separated by spaces."""
    odd = [c for c in (schema or {}) if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c)]
    bare = [c for c in odd if c in _outside_quotes(text)]
    if not bare and ('"' in text or "'" in text or not re.search(r"\w\s+\w", text)):
        return ""
    name = f'the column {bare[0]!r} must be written "{bare[0]}" in SQL, and ' if bare else ""
    fixed = text
    for c in bare:
        fixed = fixed.replace(c, f'"{c}"')
    example = shell_quoted(f"+{key}={fixed}")
    return (
        f" The likely cause is quoting: {name}on the command line the shell and Hydra each "
        f"remove one level of quotes, so write the override as {example} (with the SQL's own "
        "double quotes around odd column names inside it)."
    )


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__).rstrip(".")


def output_type(expr: pl.Expr, schema: Mapping[str, pl.DataType]) -> pl.DataType:
    """The type of the expression's result over rows of ``schema``."""
    return (
        pl.DataFrame(schema=dict(schema)).lazy().select(expr.alias("_out")).collect_schema()["_out"]
    )
