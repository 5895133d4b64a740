"""The label as the data has it: which values it takes, which class is positive, and the codes
XGBoost trains on (0/1, or 0..k-1), saved with the model so that predictions speak the data's own
values again.

A cheap pass over the label column alone counts its values (``label_values``). Then:

- binary: booleans are False/True; numbers holding 0 and 1 are 0/1 (other values are quarantined
  by the ``label_values`` rule), -1/+1 are -1/1; any other pair of values (``yes``/``no``,
  ``1``/``2``) needs ``data.positive_label``, and the error lists the values found. Declared
  ``quality.label_values`` (two values) win; the positive one is ``data.positive_label`` or the
  second listed.
- multiclass: the values in sorted order (or in ``quality.label_values``' order) are 0..k-1, and
  XGBoost's ``num_class`` is k.
- regression: a numeric label, used as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from distml.cluster.tasks import MapStats, map_merge
from distml.data.reading import read_shard
from distml.data.shards import Dataset, Shard
from distml.errors import UserError

MAX_CLASSES = 1000
"""More distinct label values than this is no classification target."""


def key(value: Any) -> str:
    """How a label value is named in profile.json, gates and metrics (str of the value as the
    data's type holds it: 1, 1.0, True, yes)."""
    return str(value)


@dataclass(frozen=True)
class Target:
    """The label column, the task, and (classification) its classes in code order."""

    column: str
    task: str
    classes: tuple[Any, ...] = ()
    """Original values; code i is classes[i] (binary: [negative, positive])."""

    @property
    def positive(self) -> Any:
        return self.classes[-1] if self.task == "binary" else None

    def codes(self) -> dict[Any, int]:
        return {v: i for i, v in enumerate(self.classes)}

    def encode(self, values: pl.Series) -> np.ndarray:
        """Codes (float) of label values; a value outside the classes is NaN (such rows are
        quarantined by the label_values rule before anything is encoded)."""
        if self.task == "regression":
            return values.cast(pl.Float64).to_numpy()
        mapped = values.replace_strict(
            list(self.classes),
            list(range(len(self.classes))),
            default=None,
            return_dtype=pl.Float64,
        )
        return mapped.fill_null(np.nan).to_numpy()

    def encode_expr(self) -> pl.Expr:
        c = pl.col(self.column)
        if self.task == "regression":
            return c.cast(pl.Float64)
        return c.replace_strict(
            list(self.classes),
            list(range(len(self.classes))),
            default=None,
            return_dtype=pl.Float32,
        )

    def decode(self, codes: np.ndarray) -> pl.Series:
        """Original values of integer codes."""
        return pl.Series(list(self.classes)).gather(np.asarray(codes, dtype=np.int64))

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "task": self.task,
            "classes": [_plain(v) for v in self.classes],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Target:
        return cls(d["column"], d["task"], tuple(d.get("classes") or ()))


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


def _count_task(shard: Shard, column: str) -> tuple[dict[Any, int], int]:
    vc = read_shard(shard, [column]).get_column(column).drop_nulls().value_counts()
    return dict(zip(vc[column].to_list(), vc["count"].to_list(), strict=True)), shard.num_rows


def _merge(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    if len(a) > MAX_CLASSES:  # no class label: keep the state small, the count says "many"
        return dict(list(a.items())[: MAX_CLASSES + 1])
    return a


def label_values(
    ds: Dataset, column: str, num_cpus: float = 1.0, stats: MapStats | None = None
) -> dict[Any, int]:
    """The label's non-null values and their counts (at most MAX_CLASSES + 1 of them)."""
    return map_merge(
        _count_task,
        ds.shards,
        _merge,
        {},
        args=(column,),
        label="label values",
        num_cpus=num_cpus,
        stats=stats,
    )


def _listing(counts: dict[Any, int]) -> str:
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:10]
    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    return ", ".join(f"{v!r} ({n:,} rows)" for v, n in top) + more


def _cast(values: Sequence[Any], dtype: pl.DataType, key_: str) -> list[Any]:
    try:
        return pl.Series(values).cast(dtype, strict=True).to_list()
    except Exception:  # noqa: BLE001 - a value that is not of the label's type
        raise UserError(
            f"The values {list(values)} at {key_} do not fit the label's type {dtype}; list "
            "values of that type."
        ) from None


def _binary(
    column: str, counts: dict[Any, int], dtype: pl.DataType, declared: list | None, positive: Any
) -> tuple[Any, ...]:
    if declared is not None:
        vals = _cast(declared, dtype, "quality.label_values")
        if len(vals) != 2:
            raise UserError(
                f"A binary objective needs two label values; quality.label_values lists {vals}."
            )
        if positive is not None:
            pos = _cast([positive], dtype, "data.positive_label")[0]
            if pos not in vals:
                raise UserError(
                    f"data.positive_label={positive!r} is not one of quality.label_values {vals}."
                )
            return (vals[0] if vals[1] == pos else vals[1], pos)
        return tuple(vals)
    seen = set(counts)
    if dtype == pl.Boolean:
        return (False, True)
    if not seen:
        raise UserError(
            f"The label '{column}' is null in every row, so there is nothing to learn. Check "
            "data.label (and data.path)."
        )
    if positive is not None:
        pos = _cast([positive], dtype, "data.positive_label")[0]
        if pos not in seen:
            raise UserError(
                f"data.positive_label={positive!r} is not a value of the label '{column}'; its "
                f"values are {_listing(counts)}."
            )
        others = sorted(v for v in seen if v != pos)
        if len(others) == 1:
            return (others[0], pos)
        if dtype.is_numeric() and 0 in seen and pos != 0:
            return (_cast([0], dtype, "data.label")[0], pos)
        raise UserError(
            f"The label '{column}' has {len(seen)} values ({_listing(counts)}), so a binary "
            f"objective cannot tell the negative class: set quality.label_values=[<negative>, "
            f"{positive!r}] (rows with other values are quarantined), or use a multiclass "
            "objective (model.params.objective=multi:softprob)."
        )
    if dtype.is_numeric() and (seen <= {0, 1} or (0 in seen and 1 in seen)):
        return tuple(_cast([0, 1], dtype, "data.label"))
    if dtype.is_numeric() and seen == {-1, 1}:
        return tuple(_cast([-1, 1], dtype, "data.label"))
    raise UserError(
        f"The label '{column}' is not 0/1: its values are {_listing(counts)}. Say which value is "
        f"the positive class with data.positive_label (e.g. data.positive_label="
        f"{_suggest(counts)!r}); predictions and metrics then speak those values."
    )


def _suggest(counts: dict[Any, int]) -> Any:
    """The rarer value: usually the positive class of an imbalanced problem."""
    return min(counts.items(), key=lambda kv: (kv[1], str(kv[0])))[0] if counts else "yes"


def resolve(
    column: str,
    task: str,
    counts: dict[Any, int],
    dtype: pl.DataType,
    declared: list | None = None,
    positive: Any = None,
) -> Target:
    """The target from the label's values (``label_values``) and the config."""
    if task == "regression":
        if not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
            raise UserError(
                f"The label '{column}' is {dtype}, but a regression objective needs a number. "
                "Choose a classification objective (model.params.objective=binary:logistic or "
                "multi:softprob) or another data.label."
            )
        return Target(column, task)
    if len(counts) > MAX_CLASSES and declared is None:
        raise UserError(
            f"The label '{column}' has more than {MAX_CLASSES} distinct values, too many for a "
            f"{task} objective. For a continuous target use model.params.objective="
            "reg:squarederror, or list the classes in quality.label_values."
        )
    if task == "binary":
        return Target(column, task, _binary(column, counts, dtype, declared, positive))
    classes = (
        _cast(declared, dtype, "quality.label_values")
        if declared is not None
        else sorted(counts, key=lambda v: (v is None, v))
    )
    return Target(column, task, tuple(classes))


def default(column: str, task: str, params: dict[str, Any]) -> Target:
    """The target a model saved before labels were mapped was trained with: 0/1 or 0..k-1."""
    if task == "binary":
        return Target(column, task, (0, 1))
    if task == "multiclass":
        return Target(column, task, tuple(range(int(params.get("num_class", 2)))))
    return Target(column, task)
