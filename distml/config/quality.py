"""``quality.*``: the data contract (distml/quality/): schema, row rules, dataset gates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from distml.config._check import as_dataclass, check
from distml.errors import UserError

TYPE_FAMILIES = ("int", "float", "numeric", "string", "bool", "datetime", "date", "any")
COERCIONS = ("widen", "parse", "infer")


@dataclass
class RuleConfig:
    """One row rule; a row that breaks it goes to quarantine/ with the rule's name.

    Checks on ``column`` pass for null values except ``not_null``; an ``expr`` passes where it is
    true or null."""

    column: str | None = None
    not_null: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    """The values the column may take."""
    pattern: str | None = None
    """A regular expression the (string) value must contain; anchor it with ^...$ for a full match."""
    expr: str | None = None
    """A SQL boolean row expression that must hold, e.g. 'amount >= 0 AND n_items < 1000'."""


@dataclass
class GateConfig:
    """Dataset gates, checked on the merged profile before sampling."""

    min_rows: int = 1
    """Accepted rows at least."""
    max_null_rate: dict[str, float] = field(default_factory=dict)
    """Column (or '*' for every column) -> largest allowed share of nulls."""
    allow_all_null: bool = False
    """false: a feature column without a single value fails the gate (such a column is left
    out of the features by distml's rules unless data.include or data.features keeps it)."""
    max_duplicate_rate: float | None = None
    """Largest share of rows that exactly repeat an earlier row."""
    max_duplicate_id_rate: float | None = None
    """Largest share of rows whose id (data.id_column) repeats an earlier row's."""
    min_label_count: int | None = 1
    """Classification: every expected label value has at least this many accepted rows."""
    max_quarantine_rate: float | None = None
    """Largest share of rows that break a row rule."""
    max_age: str | None = None
    """The newest timestamp of profile.freshness_column is at most this old, e.g. '36h', '7d'."""


@dataclass
class QualityConfig:
    schema: dict[str, str] = field(default_factory=dict)
    """Expected columns and their types (int, float, numeric, string, bool, datetime, date, any);
    they win over the types in the files."""
    allow_extra_columns: bool = True
    """Columns beyond quality.schema are read (false: a file with other columns is bad)."""
    coerce: list[str] = field(default_factory=lambda: ["widen", "infer"])
    """Allowed type differences between files: widen (lossless casts), parse (strings parsed as
    the expected type; rows that do not parse are quarantined), infer (a string column whose
    values are numbers, booleans, dates or timestamps but for at most max_bad_share of them is
    read as that type, in every file or in the files that have it as text; the rows whose value
    does not parse are quarantined, and the choice is said in the log)."""
    max_bad_share: float = 0.001
    """quality.coerce=[infer]: the largest share of a string column's values that may fail to
    parse for it to take a type (the rule of distml/data/text.py, as for ingest)."""
    label_values: list[Any] | None = None
    """Allowed label values (others are quarantined); null: 0/1 for binary objectives,
    0..num_class-1 for multiclass, any for regression."""
    rules: dict[str, Any] = field(default_factory=dict)
    """Row rules by name; a null label always breaks the built-in rule not_null(<label>)."""
    gates: GateConfig = field(default_factory=GateConfig)
    on_failure: str = "stop"
    """stop: a failed gate ends the run before sampling (exit 3); warn: record it and go on."""
    timezone: str = "UTC"
    """The zone naive timestamps are read in (an IANA name such as Europe/Rome); every timestamp
    is converted to UTC, and profile.json records the zones seen per file."""
    match_names: str = "normalized"
    """normalized: columns whose names are equal after case-folding and turning runs of spaces
    and punctuation into '_' are one column across files (Customer Age = customer_age), spelled
    as most files (or quality.schema) spell it; exact: names must match exactly."""
    missing_columns: str = "fill"
    """fill: a column missing from some files is null in their rows (each file is named in
    profile.json); error: such a file does not match the schema."""

    def __post_init__(self) -> None:
        check(
            self.on_failure in ("stop", "warn"),
            "quality.on_failure",
            "one of stop, warn",
            self.on_failure,
        )
        check(
            self.match_names in ("normalized", "exact"),
            "quality.match_names",
            "one of normalized, exact",
            self.match_names,
        )
        check(
            self.missing_columns in ("fill", "error"),
            "quality.missing_columns",
            "one of fill, error",
            self.missing_columns,
        )
        check(
            _is_zone(self.timezone),
            "quality.timezone",
            "an IANA time zone such as UTC or Europe/Rome",
            self.timezone,
        )
        check(
            0 <= self.max_bad_share < 0.5,
            "quality.max_bad_share",
            "a share in [0, 0.5)",
            self.max_bad_share,
        )
        bad = [c for c in self.coerce if c not in COERCIONS]
        check(not bad, "quality.coerce", f"a list from {list(COERCIONS)}", self.coerce)
        for col, t in self.schema.items():
            check(
                t in TYPE_FAMILIES, f"quality.schema.{col}", f"one of {', '.join(TYPE_FAMILIES)}", t
            )
        self.rules = {
            k: as_dataclass(RuleConfig, v, f"quality.rules.{k}") for k, v in self.rules.items()
        }
        for name, r in self.rules.items():
            _check_rule(name, r)
        g = self.gates
        for key in ("max_duplicate_rate", "max_duplicate_id_rate", "max_quarantine_rate"):
            v = getattr(g, key)
            if v is not None:
                check(0 <= v <= 1, f"quality.gates.{key}", "a share in [0, 1] or null", v)
        for col, v in g.max_null_rate.items():
            check(0 <= v <= 1, f"quality.gates.max_null_rate.{col}", "a share in [0, 1]", v)
        if g.max_age is not None:
            parse_duration(g.max_age, "quality.gates.max_age")


def _is_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_rule(name: str, r: RuleConfig) -> None:
    checks = [
        r.not_null,
        r.min is not None,
        r.max is not None,
        r.allowed is not None,
        r.pattern is not None,
    ]
    check(
        any(checks) or r.expr is not None,
        f"quality.rules.{name}",
        "a rule with at least one of not_null, min, max, allowed, pattern, expr",
        r,
    )
    check(
        not any(checks) or r.column is not None,
        f"quality.rules.{name}.column",
        "set for not_null, min, max, allowed and pattern checks",
        r.column,
    )


def parse_duration(text: str, key: str) -> timedelta:
    """'36h', '7d', '90m', '2w' or '30s' as a timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise UserError(
            f"The duration {text!r} at {key} is not understood; write a number and a unit "
            "(s, m, h, d, w), e.g. '36h' or '7d'."
        )
    n, unit = float(m.group(1)), m.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def parse_now(text: str | None) -> datetime:
    """The reference time as naive UTC: ISO 8601 text, or the clock when null."""
    if text is None:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"profile.now {text!r} is not an ISO 8601 time such as 2025-01-31T00:00:00."
        ) from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
