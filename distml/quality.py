"""The data contract: schema conformance, row rules (quarantine) and dataset gates.

- ``conform`` compares every file's schema (from its footer, before any data is read) with the
  reference and either attaches read-time casts to its shards, or names the file as bad.
- ``Contract`` holds the row rules as Polars expressions (``expr.py`` compiles the string ones
  safely); ``accepted()`` is the filter every later stage applies, ``reasons()`` names the rules
  a quarantined row broke.
- ``check_gates`` turns the merged profile into pass/fail results, before sampling.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from distml.config import QualityConfig
from distml.errors import UserError
from distml.expr import compile_expr
from distml.shards import CAST_FAILED, Dataset, polars_schema, without_files

CANONICAL: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "numeric": pl.Float64(),
    "string": pl.String(),
    "bool": pl.Boolean(),
    "datetime": pl.Datetime("us"),
    "date": pl.Date(),
}


def family(dt: pl.DataType) -> str:
    if dt.is_integer():
        return "int"
    if dt.is_float() or dt.is_decimal():
        return "float"
    if dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Enum):
        return "string"
    if dt == pl.Boolean:
        return "bool"
    if isinstance(dt, pl.Datetime):
        return "datetime"
    if dt == pl.Date:
        return "date"
    if dt == pl.Null:
        return "null"
    return str(dt)


def _matches(fam: str, expected: str) -> bool:
    return (
        expected == "any" or fam == expected or (expected == "numeric" and fam in ("int", "float"))
    )


def _widens(src: pl.DataType, dst: pl.DataType) -> bool:
    """A cast that loses nothing (a null column becomes anything)."""
    if src == pl.Null:
        return True
    if src.is_integer() and dst.is_integer():
        (lo, hi), (dlo, dhi) = _int_range(src), _int_range(dst)
        return lo >= dlo and hi <= dhi
    if (src.is_integer() or src.is_float()) and dst.is_float():
        return not (src == pl.Float64 and dst == pl.Float32)
    if src == pl.Date and isinstance(dst, pl.Datetime):
        return True
    if isinstance(src, pl.Datetime) and isinstance(dst, pl.Datetime):
        return True
    return family(src) == "string" and family(dst) == "string"


def _int_range(dt: pl.DataType) -> tuple[int, int]:
    info = np.iinfo(str(dt).lower())
    return int(info.min), int(info.max)


def _parses(src: pl.DataType, dst: pl.DataType) -> bool:
    return family(src) == "string" and family(dst) in ("int", "float", "bool", "datetime", "date")


def reference_schema(ds: Dataset, cfg: QualityConfig) -> dict[str, pl.DataType]:
    """The schema every file is conformed to: the first file's, with quality.schema's families."""
    ref = polars_schema(ds.schema)
    first = next((p for p, s in zip(ds.files, ds.file_schemas, strict=True) if s is not None), "")
    for col, fam in cfg.schema.items():
        if col not in ref:
            raise UserError(
                f"The column '{col}' (quality.schema.{col}) is not in the data at data.path "
                f"'{ds.uri}' (first file {first}). Available columns: {', '.join(ref)}."
            )
        if not _matches(family(ref[col]), fam):
            ref[col] = CANONICAL[fam]
    return ref


def conform(ds: Dataset, cfg: QualityConfig, on_bad_file: str) -> tuple[Dataset, list[dict]]:
    """Attach read-time casts to every shard, or name the files that cannot be conformed.

    Returns the conformed dataset and the skipped files (``on_bad_file='skip'``) with reasons.
    """
    ref = reference_schema(ds, cfg)
    skipped = [{"path": p, "reason": r} for p, r in ds.bad_files]
    casts_of: dict[str, tuple] = {}
    select_of: dict[str, tuple[str, ...] | None] = {}
    for path, schema in zip(ds.files, ds.file_schemas, strict=True):
        if schema is None:
            continue
        got = polars_schema(schema)
        problems, casts = [], []
        for col, want in ref.items():
            have = got.get(col)
            if have is None:
                problems.append(f"lacks the column '{col}'")
            elif have == want:
                continue
            elif "widen" in cfg.coerce and _widens(have, want):
                casts.append((col, want, False))
            elif "parse" in cfg.coerce and _parses(have, want):
                casts.append((col, want, True))
            elif have == pl.Null or (_widens(have, want) or _parses(have, want)):
                problems.append(
                    f"has '{col}' as {have} where {want} is expected (allow it with "
                    f"quality.coerce=[{'widen' if _widens(have, want) else 'widen,parse'}])"
                )
            else:
                problems.append(f"has '{col}' as {have} where {want} is expected")
        extra = [c for c in got if c not in ref]
        if extra and not cfg.allow_extra_columns:
            problems.append(f"has extra columns {extra} (quality.allow_extra_columns=false)")
        if problems:
            reason = "; ".join(problems)
            if on_bad_file != "skip":
                raise UserError(
                    f"The Parquet file '{path}' does not match the data's schema: it {reason}. "
                    "Fix or remove the file, declare the expected types in quality.schema, or "
                    "set data.on_bad_file=skip to leave it out (it is then named in profile.json)."
                )
            skipped.append({"path": path, "reason": f"schema: {reason}"})
            continue
        casts_of[path] = tuple(casts)
        select_of[path] = tuple(ref) if extra or list(got)[: len(ref)] != list(ref) else None
    marker = any(lossy for cs in casts_of.values() for _, _, lossy in cs)
    out = without_files(ds, {s["path"] for s in skipped})
    shards = tuple(
        replace(sh, casts=casts_of.get(sh.path, ()), marker=marker, select=select_of.get(sh.path))
        for sh in out.shards
    )
    return replace(out, shards=shards, schema=_arrow(ref)), skipped


def _arrow(ref: dict[str, pl.DataType]) -> pa.Schema:
    return pl.DataFrame(schema=ref).to_arrow().schema


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
        return pl.concat_str(parts, separator="; ", ignore_nulls=True).replace("", None)


def expected_labels(cfg: QualityConfig, params: dict[str, Any]) -> list[Any] | None:
    """quality.label_values, else what the objective implies (none for regression)."""
    if cfg.label_values is not None:
        return list(cfg.label_values)
    obj = str(params.get("objective", "binary:logistic"))
    if obj.startswith("binary:"):
        return [0, 1]
    if obj.startswith("multi:"):
        return list(range(int(params.get("num_class", 2))))
    return None


def _values_for(values: list[Any], dtype: pl.DataType, key: str) -> pl.Series:
    try:
        return pl.Series(values).cast(dtype, strict=True)
    except Exception:
        raise UserError(
            f"The values {values} at {key} do not fit the column's type {dtype}; list values of "
            "that type."
        ) from None


def build_contract(
    cfg: QualityConfig, schema: dict[str, pl.DataType], label: str | None, label_values: list | None
) -> Contract:
    """Compile the configured rules (plus the label's, when there is one) against the schema."""
    rules = (
        [] if label is None else [Rule(f"not_null({label})", pl.col(label).is_not_null(), (label,))]
    )
    if label is not None and label_values is not None:
        vals = _values_for(label_values, schema[label], "quality.label_values")
        rules.append(Rule("label_values", pl.col(label).is_in(vals.implode()), (label,)))
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
            e, used = compile_expr(r.expr, f"{key}.expr", list(schema))
            parts.append(e)
            cols.extend(used)
        ok = parts[0] if len(parts) == 1 else pl.all_horizontal(parts)
        rules.append(Rule(name, ok, tuple(dict.fromkeys(cols))))
    return Contract(tuple(rules))


def parse_duration(text: str, key: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise UserError(
            f"The duration {text!r} at {key} is not understood; write a number and a unit "
            "(s, m, h, d, w), e.g. '36h' or '7d'."
        )
    n, unit = float(m.group(1)), m.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"quality.now {text!r} is not an ISO 8601 time such as 2025-01-31T00:00:00."
        ) from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def check_gates(
    prof: dict[str, Any],
    cfg: QualityConfig,
    features: list[str],
    label: str,
    label_values: list | None,
) -> list[dict[str, Any]]:
    """Every configured dataset gate as {gate, column, value, limit, passed}."""
    g, out = cfg.gates, []

    def gate(name: str, value: Any, limit: Any, passed: bool, column: str | None = None) -> None:
        out.append(
            {"gate": name, "column": column, "value": value, "limit": limit, "passed": bool(passed)}
        )

    rows_in = prof["rows_in"]
    gate("min_rows", prof["rows_accepted"], g.min_rows, prof["rows_accepted"] >= g.min_rows)
    cols = prof["columns"]
    for col, limit in g.max_null_rate.items():
        targets = list(cols) if col == "*" else [col]
        if col != "*" and col not in cols:
            raise UserError(
                f"The column '{col}' (quality.gates.max_null_rate.{col}) is not in the data. "
                f"Available columns: {', '.join(cols)}."
            )
        for c in targets:
            rate = cols[c]["null_rate"]
            gate("max_null_rate", rate, limit, rate <= limit, c)
    if not g.allow_all_null:
        for c in [*features, label]:
            if c in cols and rows_in and cols[c]["nulls"] == rows_in:
                gate("all_null", 1.0, "< 1", False, c)
    dup = prof.get("duplicates") or {}
    for name, stat in (("max_duplicate_rate", "row_rate"), ("max_duplicate_id_rate", "id_rate")):
        limit = getattr(g, name)
        if limit is not None and stat in dup:
            gate(name, dup[stat], limit, dup[stat] <= limit)
    if g.max_quarantine_rate is not None:
        rate = prof["rows_quarantined"] / rows_in if rows_in else 0.0
        gate("max_quarantine_rate", rate, g.max_quarantine_rate, rate <= g.max_quarantine_rate)
    if g.min_label_count is not None and label_values is not None:
        counts = prof.get("label_counts", {})
        for v in label_values:
            n = counts.get(str(v), 0)
            gate("min_label_count", n, g.min_label_count, n >= g.min_label_count, f"{label}={v}")
    if g.max_age is not None:
        fresh = prof.get("freshness")
        if not fresh or fresh.get("newest") is None:
            raise UserError(
                "quality.gates.max_age is set, but the data has no timestamp to check: set "
                "quality.freshness_column to a datetime column."
            )
        limit = parse_duration(g.max_age, "quality.gates.max_age").total_seconds()
        age = fresh["age_seconds"]
        gate("max_age", age, limit, age <= limit, fresh["column"])
    return out


def gate_summary(results: list[dict[str, Any]]) -> str:
    failed = [r for r in results if not r["passed"]]

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)

    return "; ".join(
        f"{r['gate']}{'(' + r['column'] + ')' if r['column'] else ''}: {fmt(r['value'])} "
        f"(limit {fmt(r['limit'])})"
        for r in failed
    )
