"""Columns left out of the features before training, from the profile's statistics: identifiers,
free text, constants and columns without a value. Each would reach the model as a feature and
either carry nothing (a constant, an empty column) or let trees memorise rows (a transaction id
or a comment field with a value per row became a model's top feature on the messy-data issue's
table), so the model a user gets on messy data is the one they would get on clean data.

The rules, on the non-null values of a column over the whole dataset (profile.json):

- all null: no value in any row;
- constant: one value in every row (a single value beside nulls is kept: its null pattern is a
  signal);
- free text: strings with at least ``FREE_TEXT_DISTINCT`` as many distinct values as values, of
  which most hold whitespace or whose mean length is ``FREE_TEXT_LENGTH`` characters or more;
- identifier-like: strings, or integers (or floats that are all whole numbers, as pandas
  writes ids with nulls) that are also a sequence (their range at most twice their distinct
  values), beyond 2^40 in magnitude (hash-like) or named like an id (``id``, ``*_id``, ``*Id``,
  ``key``, ``uuid``, ``guid``, ``hash``, ``*_no``, ``*_nr``, ``*_number``, ``ref``; ascending
  within every shard is said beside one of these, never alone: a file may be sorted by a
  feature), with at
  least ``NEAR_UNIQUE`` as many distinct values as values (the distinct count's 95% error is
  about 1.6%, so 0.95 cannot be reached by a column with fewer than ~93% distinct values).

Free text and identifiers are judged only from ``MIN_VALUES`` values (fewer say little). An
integer that is merely near-unique (amounts in cents, incomes) is kept. Each decision is recorded
with its evidence (profile.json ``features.left_out``, run.json ``decisions``, one console line);
``data.include`` keeps a column whatever the rules say, and an explicit ``data.features`` turns
them off. For comparison: H2O ignores constant columns by default (``ignore_const_cols``) and
leaves identifiers to the user; Databricks AutoML runs semantic type detection (numeric,
categorical, English text, timestamps) and featurizes text rather than dropping it. distml has
no text featurizer, so free text is left out and said, never silently category-coded.
"""

from __future__ import annotations

import re
from typing import Any

MIN_VALUES = 1_000
NEAR_UNIQUE = 0.95
FREE_TEXT_DISTINCT = 0.5
FREE_TEXT_LENGTH = 30
HASH_LIKE = 2.0**40
ID_NAME = re.compile(
    r"(^|[_\W])(id|ids|key|uuid|guid|hash|no|nr|number|ref)$|^(id|uuid|guid|ref)([_\W]|$)"
    r"|[a-z0-9](Id|No|Nr|Number)$|^ID$",
    re.IGNORECASE,
)
_INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _id_name(c: str) -> bool:
    return bool(ID_NAME.search(c)) and not c.lower().endswith(("valid", "paid", "void"))


def _why(c: str, e: dict[str, Any], rows: int) -> str | None:
    """The reason column ``c`` is left out (None: kept)."""
    t = str(e.get("type", ""))
    n = rows - int(e.get("nulls", 0))
    if rows and n == 0:
        return f"all null: no value in {rows:,} rows"
    distinct = e.get("distinct")
    constant = distinct == 1 or ("min" in e and e.get("min") == e.get("max") and "std" in e)
    if constant and n == rows:
        shown = e["top"][0][0] if e.get("top") else e.get("min")
        return f"constant: every one of {rows:,} rows is {shown!r}"
    if distinct is None or n < MIN_VALUES:
        return None
    share = min(distinct, n) / n
    if t in ("string", "large_string", "string_view") and "text" in e:
        spaced, length = e["text"]["with_whitespace"], e["text"]["mean_length"]
        if share >= FREE_TEXT_DISTINCT and (spaced >= 0.5 or length >= FREE_TEXT_LENGTH):
            return (
                f"free text: {distinct:,} distinct values in {n:,} ({share:.0%}), "
                f"{spaced:.0%} with whitespace, {length:.0f} characters on average"
            )
        if share >= NEAR_UNIQUE:
            return f"identifier-like: {distinct:,} distinct strings in {n:,} values ({share:.1%})"
        return None
    if t not in (*_INT_TYPES, "double", "float") or "min" not in e:
        return None
    lo, hi = float(e["min"]), float(e["max"])
    # every float beyond 2^53 is whole: only floats inside the exact-integer range are ids
    whole = t in _INT_TYPES or (e.get("integral") and max(abs(lo), abs(hi)) < 2.0**53)
    if whole and share >= NEAR_UNIQUE:
        signs = []
        if hi - lo + 1 <= 2 * distinct:
            signs.append(f"a sequence ({lo:,.0f}..{hi:,.0f})")
        if max(abs(lo), abs(hi)) >= HASH_LIKE:
            signs.append("hash-like magnitudes")
        if _id_name(c):
            signs.append("named like an id")
        if signs and e.get("ascending_in_every_shard"):  # evidence only beside another sign:
            signs.append("ascending within every shard")  # a file may be sorted by a feature
        if signs:
            what = "integers" if t in _INT_TYPES else "whole numbers (a float column)"
            return (
                f"identifier-like: {distinct:,} distinct {what} in {n:,} values ({share:.1%}), "
                + ", ".join(signs)
            )
    return None


def left_out(
    columns: list[str], stats: dict[str, dict[str, Any]], rows: int, keep: set[str]
) -> dict[str, str]:
    """Which of the feature ``columns`` the rules leave out, with the reason, from their
    profile statistics ``stats`` (profile.json ``columns``) over ``rows`` rows; ``keep``
    (data.include) are never left out."""
    out = {}
    for c in columns:
        if c in keep or c not in stats:
            continue
        why = _why(c, stats[c], rows)
        if why is not None:
            out[c] = why
    return out
