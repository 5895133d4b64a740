"""What the first pass's per-file records become: one column per name, one type per column, and
how each file's text converts to it (the driver's step between the two passes of
distml/ingest/stage.py).

Names: headers equal after case-folding and turning each run of spaces and punctuation into '_'
(``Customer Age``, ``customer_age``, ``CUSTOMER-AGE``) are one column, spelled as most files
spell it (ties: the first file's), with every spelling reported; two such names in one file are
ambiguous and stop the run in one paragraph naming both (``ingest.match_names=exact`` keeps
names apart). Types: a declared type (``ingest.schema``) wins; otherwise the column's merged
``TextStats`` decide (distml/data/text.py), and the decision and its reason are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from distml.config import IngestConfig
from distml.data.columns import match_names, normalized
from distml.data.text import TextStats
from distml.errors import UserError

DECLARED: dict[str, tuple[str | None, pa.DataType]] = {
    "int": ("int", pa.int64()),
    "uint": ("uint", pa.uint64()),
    "float": ("float", pa.float64()),
    "string": (None, pa.string()),
    "bool": ("bool", pa.bool_()),
    "date": ("date", pa.date32()),
    "datetime": ("datetime", pa.timestamp("us", "UTC")),
}
"""Declared type -> (the text kind parsed, the output type); declared datetimes are UTC, naive
values read in ``ingest.timezone``."""
_ARROW = {
    "int": pa.int64(),
    "uint": pa.uint64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}


@dataclass(frozen=True)
class Conversion:
    """How one output column is made from its text (kind None: kept as text)."""

    kind: str | None
    utc: bool = False
    forms: tuple[str, ...] | None = None
    """Datetimes: the ISO 8601 forms to read (None: every form)."""
    declared: str | None = None
    """The declared type's name (``ingest.schema``), for messages."""


@dataclass
class ColumnPlan:
    schema: pa.Schema
    conversions: dict[str, Conversion]
    renames: dict[int, dict[str, str]]
    """Per file (its index): file column -> output column, where they differ."""
    spellings: dict[str, dict[str, int]]
    """Output column -> each spelling and the number of files that spell it so (when several)."""
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _names(records: list[dict], exact: bool) -> tuple[dict[int, dict[str, str]], dict]:
    """Per file the output name of each of its columns, and the spellings of merged names."""
    if exact:
        return {r["index"]: {c: c for c in r["columns"]} for r in records}, {}
    per_file, spellings = match_names(
        [(r["path"], r["columns"]) for r in records], "ingest.match_names"
    )
    return {r["index"]: m for r, m in zip(records, per_file, strict=True)}, spellings


def plan_columns(records: list[dict], cfg: IngestConfig) -> ColumnPlan:
    """The output columns, their types and conversions from the first pass's records."""
    renames, spellings = _names(records, cfg.match_names == "exact")
    stats: dict[str, TextStats] = {}
    for r in records:
        for c in r["columns"]:
            out = renames[r["index"]][c]
            st = r["types"][c]
            stats[out] = stats[out].merge(st) if out in stats else st
    declared = declared_types(cfg, list(stats))
    plan = ColumnPlan(pa.schema([]), {}, {i: m for i, m in renames.items()}, spellings)
    fields = []
    for c, st in stats.items():
        if c in declared:
            kind, t = DECLARED[declared[c]]
            conv = Conversion(kind, utc=True, declared=declared[c])
        else:
            d = st.decide(cfg.max_bad_share)
            plan.decisions[c] = {
                **d.to_json(),
                "values": st.values,
                **({"null_markers": st.markers} if st.markers else {}),
                **(
                    {"dst_skipped": st.dst_gap, "dst_repeated": st.dst_repeat}
                    if st.dst_gap or st.dst_repeat
                    else {}
                ),
            }
            conv = Conversion(d.kind, d.aware, tuple(sorted(d.forms)) if d.forms else None)
            t = _output_type(d.kind, d.aware)
            plan.notes += _said(c, st, d, cfg)
        plan.conversions[c] = conv
        fields.append((c, t))
    plan.schema = pa.schema(fields)
    if spellings:
        merged = "; ".join(f"{' = '.join(map(repr, sp))} -> {c!r}" for c, sp in spellings.items())
        plan.notes.append(
            f"headers spelled differently across files are one column each: {merged} (equal "
            "after case-folding and normalising spaces and punctuation; ingest.match_names=exact "
            "keeps them apart)"
        )
    return plan


def _output_type(kind: str | None, aware: bool) -> pa.DataType:
    if kind is None:
        return pa.string()
    if kind == "datetime":
        return pa.timestamp("us", "UTC") if aware else pa.timestamp("us")
    return _ARROW[kind]


def declared_types(cfg: IngestConfig, columns: list[str]) -> dict[str, str]:
    """``ingest.schema`` by output column (a declared name may be any spelling of it)."""
    by_key = {normalized(c): c for c in columns} if cfg.match_names != "exact" else {}
    out, unknown = {}, []
    for name, t in cfg.schema.items():
        c = name if name in columns else by_key.get(normalized(name))
        if c is None:
            unknown.append(name)
        else:
            out[c] = t
    if unknown:
        raise UserError(
            f"ingest.schema declares {', '.join(map(repr, sorted(unknown)))}, which no file has "
            f"(the columns are: {', '.join(columns[:20])}{' ...' if len(columns) > 20 else ''})."
            " Check the names."
        )
    return out


def _markers(st: TextStats) -> str:
    top = sorted(st.markers.items(), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{n:,} {v!r}" for v, n in top)


def _said(c: str, st: TextStats, d: Any, cfg: IngestConfig) -> list[str]:
    """The log lines of a type decision worth a user's attention."""
    out = []
    if d.kind is not None and d.bad:
        what = "quarantined" if cfg.bad_values == "quarantine" else "set null"
        why = [f"e.g. {st.example[d.kind]!r}"] if st.fails.get(d.kind) else []
        if d.aware and st.dst_gap:
            why.append(f"{st.dst_gap:,} of them local times {cfg.timezone} skips")
        out.append(
            f"column {c!r} is {d.kind}: {st.values - d.bad:,} of {st.values:,} values parse; "
            f"{d.bad:,} value(s) do not ({', '.join(why)}) and are {what} (at most "
            f"ingest.max_bad_share={cfg.max_bad_share:g} of a column's values may fail; declare "
            f"+ingest.schema.{c}=string to keep the text)"
        )
    if d.kind == "datetime" and d.aware and st.dst_repeat:
        out.append(
            f"column {c!r}: {st.dst_repeat:,} local times fall in an hour {cfg.timezone} repeats "
            "(a daylight-saving change) and are read as the earlier instant"
        )
    if d.kind == "datetime" and not d.aware and cfg.timezone != "UTC":
        out.append(
            f"column {c!r}: no value has an offset, so it is written as the files have it, "
            "without a zone (ingest.timezone places naive values only beside offsets; distml run "
            "reads naive timestamps in quality.timezone)"
        )
    if d.kind == "float" and st.leading_zero + st.fraction_zero:
        out.append(
            f"column {c!r}: {st.leading_zero + st.fraction_zero:,} values start with 0 before "
            "other digits and are read as numbers (their leading zeros dropped); declare "
            f"+ingest.schema.{c}=string to keep the text"
        )
    if d.kind is not None and st.markers:
        out.append(f"column {c!r}: null markers read as null ({_markers(st)})")
    if d.kind is None and st.markers:
        out.append(
            f"column {c!r} is text and keeps {_markers(st)} as values (null markers in a number or "
            "date column; add them to ingest.null_values to read them as null here)"
        )
    return out + _said_text(c, st, d, cfg)


def _said_text(c: str, st: TextStats, d: Any, cfg: IngestConfig) -> list[str]:
    """Why a column that looks partly like numbers stayed text."""
    out = []
    if d.why_text == "JSON strings":  # said only when the strings are numbers
        if st.fails.get("float", st.values) <= cfg.max_bad_share * st.values:
            out.append(
                f"column {c!r} kept as text: its values are JSON strings, written as numbers' "
                f"text (declare +ingest.schema.{c}=float or int to read them as numbers)"
            )
    elif d.kind is None and d.why_text and d.why_text != "most values are text":
        out.append(
            f"column {c!r} kept as text: {d.why_text} (+ingest.schema.{c}=... declares a type)"
        )
    elif d.kind is None and st.values and min(st.fails.values(), default=st.values) < st.values:
        best = min(st.fails, key=lambda k: st.fails[k])
        if st.fails[best] <= 0.5 * st.values:
            out.append(
                f"column {c!r} kept as text: {st.fails[best]:,} of {st.values:,} values do not "
                f"parse as {best} (e.g. {st.example.get(best, '')!r}), more than "
                f"ingest.max_bad_share={cfg.max_bad_share:g}"
            )
    return out
