"""Which columns are features and of what kind: numeric, categorical or datetime, and the
derived features (SQL row expressions over raw columns, ``preprocess.derived``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from distml.config import PreprocessConfig
from distml.data.columns import SPLIT, STRATUM, WEIGHT
from distml.errors import UserError
from distml.quality.sql import compile_sql, output_type


def derived_exprs(
    derived: dict[str, str], schema: Mapping[str, pl.DataType] | None
) -> dict[str, pl.Expr]:
    """Derived features as expressions over raw columns (each may use only raw columns); with
    ``schema`` they are checked against it."""
    return {
        name: compile_sql(text, f"preprocess.derived.{name}", schema)[0].alias(name)
        for name, text in derived.items()
    }


def derived_inputs(derived: dict[str, str]) -> list[str]:
    """The raw columns the derived features read."""
    used: list[str] = []
    for name, text in derived.items():
        used += compile_sql(text, f"preprocess.derived.{name}")[1]
    return list(dict.fromkeys(used))


def column_kinds(schema: dict[str, pl.DataType], features: Sequence[str]) -> dict[str, str]:
    """numeric | categorical | datetime for each feature; anything else is a user error."""
    kinds = {}
    for c in features:
        dt = schema[c]
        if dt.is_numeric() or dt == pl.Boolean:
            kinds[c] = "numeric"
        elif dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Enum):
            kinds[c] = "categorical"
        elif dt == pl.Date or isinstance(dt, pl.Datetime):
            kinds[c] = "datetime"
        else:
            raise UserError(
                f"The feature column '{c}' has type {dt}, which distml cannot use as a feature. "
                "Add it to data.exclude, or list the columns to use in data.features."
            )
    return kinds


def feature_kinds(
    schema: dict[str, pl.DataType], features: Sequence[str], cfg: PreprocessConfig
) -> dict[str, str]:
    """Kinds of the raw features and of the derived ones (typed from the expressions)."""
    clash = [n for n in cfg.derived if n in schema]
    if clash:
        raise UserError(
            f"The derived features {clash} (preprocess.derived) have the names of data columns; "
            "give them new names."
        )
    out_schema = dict(schema)
    for name, e in derived_exprs(cfg.derived, schema).items():
        out_schema[name] = output_type(e, schema)
    unknown = [c for c in cfg.columns if c not in features and c not in cfg.derived]
    if unknown:
        raise UserError(
            f"preprocess.columns names {unknown}, which are not features. Features: "
            f"{', '.join([*features, *cfg.derived])}."
        )
    return column_kinds(out_schema, [*features, *cfg.derived])


def features_of(
    columns: Sequence[str],
    label: str,
    id_column: str | None,
    features: Sequence[str] | None,
    exclude: Sequence[str],
) -> list[str]:
    reserved = {label, SPLIT, STRATUM, WEIGHT, *(exclude or [])}
    if id_column:
        reserved.add(id_column)
    if features is not None:
        unknown = [c for c in features if c not in columns]
        if unknown:
            raise UserError(
                f"The feature columns {unknown} (data.features) are not in the data. "
                f"Available columns: {', '.join(columns)}."
            )
        return [c for c in features if c not in reserved]
    return [c for c in columns if c not in reserved]


def matrix_bytes_per_row(kinds: dict[str, str], prof: dict[str, Any], cfg: PreprocessConfig) -> int:
    """float32 bytes of one preprocessed row (for sampling.max_memory)."""
    cols = 0
    for c, kind in kinds.items():
        steps = cfg.steps(c)
        col = prof["columns"].get(c, {})
        if kind == "datetime":
            cols += len(cfg.date_parts)
        elif kind == "categorical" and steps["encode"] == "onehot":
            cols += (
                min(int(col.get("distinct") or steps["max_categories"]), steps["max_categories"])
                + 1
            )
        else:
            cols += 1 + (kind == "numeric" and steps["indicator"] and col.get("nulls", 1) > 0)
    return 4 * max(cols, 1)
