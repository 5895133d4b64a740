"""Which columns are features and of what kind: numeric, categorical or datetime, and the
derived features (SQL row expressions over raw columns, ``preprocess.derived``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from distml.config import DataConfig, PreprocessConfig
from distml.data.schema import feature_kind
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


def column_kinds(schema: Mapping[str, pl.DataType], features: Sequence[str]) -> dict[str, str]:
    """numeric | categorical | datetime for each feature; anything else is a user error."""
    kinds = {}
    for c in features:
        k = feature_kind(schema[c])
        if k is None:
            raise UserError(
                f"The feature column '{c}' has type {schema[c]}, which distml cannot use as a "
                "feature. Add it to data.exclude, or list the columns to use in data.features."
            )
        kinds[c] = k
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


@dataclass(frozen=True)
class FeaturePlan:
    """The raw columns that become features, and why each other column does not."""

    used: list[str]
    left_out: dict[str, str]


def feature_plan(schema: Mapping[str, pl.DataType], data: DataConfig) -> FeaturePlan:
    """Every column but the label, the id, the row weights and ``data.exclude`` (or exactly
    ``data.features``); columns of types that cannot be features are left out with a note."""
    columns = list(schema)
    why = {c: "data.exclude" for c in data.exclude if c in schema}
    why[data.label] = "the label (data.label)"
    if data.id_column in schema:
        why[data.id_column] = "the row id (data.id_column)"
    if data.weight_column in schema:
        why[data.weight_column] = "row weights (data.weight_column)"
    unknown = [c for c in data.include if c not in schema]
    if unknown:
        raise UserError(
            f"The columns {unknown} (data.include) are not in the data. "
            f"Available columns: {', '.join(columns)}."
        )
    if data.features is not None:
        unknown = [c for c in data.features if c not in schema]
        if unknown:
            raise UserError(
                f"The feature columns {unknown} (data.features) are not in the data. "
                f"Available columns: {', '.join(columns)}."
            )
        column_kinds(schema, [c for c in data.features if c not in why])
        why |= {
            c: "not in data.features" for c in columns if c not in data.features and c not in why
        }
    for c in columns:
        if c not in why and feature_kind(schema[c]) is None:
            why[c] = f"its type {schema[c]} cannot be a feature"
    return FeaturePlan(
        [c for c in columns if c not in why], {c: why[c] for c in columns if c in why}
    )


def matrix_bytes_per_row(
    kinds: dict[str, str], stats: dict[str, dict[str, Any]], cfg: PreprocessConfig
) -> int:
    """float32 bytes of one preprocessed row (for sampling.max_memory), from the columns'
    profile statistics ``stats`` (profile.json ``columns``: the categoricals' distinct counts)."""
    cols = 0
    for c, kind in kinds.items():
        steps = cfg.steps(c)
        col = stats.get(c, {})
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
