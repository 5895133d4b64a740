"""Dataset gates (``quality.gates``): the merged profile judged before sampling, and new data's
profile judged by `distml monitor`."""

from __future__ import annotations

import math
from typing import Any

from distml.config import QualityConfig
from distml.config.quality import parse_duration
from distml.errors import UserError
from distml.profile.report import ProfileReport


def dataset_gates(
    prof: ProfileReport,
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

    rows_in = prof.rows_in
    gate("min_rows", prof.rows_accepted, g.min_rows, prof.rows_accepted >= g.min_rows)
    cols = prof.columns
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
    dup = prof.duplicates or {}
    for name, stat in (("max_duplicate_rate", "row_rate"), ("max_duplicate_id_rate", "id_rate")):
        limit = getattr(g, name)
        if limit is not None and stat in dup:
            gate(name, dup[stat], limit, dup[stat] <= limit)
    if g.max_quarantine_rate is not None:
        rate = prof.rows_quarantined / rows_in if rows_in else 0.0
        gate("max_quarantine_rate", rate, g.max_quarantine_rate, rate <= g.max_quarantine_rate)
    if g.min_label_count is not None and label_values is not None:
        counts = prof.label_counts or {}
        for v in label_values:
            n = counts.get(str(v), 0)
            gate("min_label_count", n, g.min_label_count, n >= g.min_label_count, f"{label}={v}")
    if g.max_age is not None:
        fresh = prof.freshness
        if not fresh or fresh.get("newest") is None:
            raise UserError(
                "quality.gates.max_age is set, but the data has no timestamp to check: set "
                "profile.freshness_column to a datetime column."
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
