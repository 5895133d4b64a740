"""``profile.*``: the profile stage's statistics (distml/profile/)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check
from distml.config.quality import parse_now


@dataclass
class ProfileConfig:
    duplicates: bool = True
    """Count duplicate rows and ids (a second, hash-partitioned pass over small files)."""
    exact_duplicates_max_rows: int | None = 100_000_000
    """Up to this many rows the duplicate count is exact; above, it is estimated from the rows
    whose 64-bit hash falls in 1/16 of the hash space, with its 95% error (at 1B narrow rows
    the exact count was a large share of the profile stage: docs/quality.md). null: always
    exact."""
    exact_sketch_max_rows: int | None = 100_000_000
    """Up to this many rows the numeric columns' distribution sketches (profile.json's quantiles,
    reference.json) count every accepted row; above, the accepted rows whose 64-bit row hash
    falls in 1/2^b of the hash space, the least b that leaves at most this many rows (1/16 at
    1B rows: the sketches were 25% of the profile pass there). profile.json's ``distribution``
    says which, with the quantiles' 95% rank error. Moments, ranges, counts, distinct counts and
    frequent values always count every row. null: always every row."""
    top_k: int = 10
    """Most frequent values reported per column."""
    freshness_column: str | None = None
    """The timestamp column for freshness (null: the first datetime column)."""
    now: str | None = None
    """The reference time for freshness (ISO 8601; null: the clock)."""

    def __post_init__(self) -> None:
        check(self.top_k >= 1, "profile.top_k", "an int >= 1", self.top_k)
        check(
            self.exact_duplicates_max_rows is None or self.exact_duplicates_max_rows >= 0,
            "profile.exact_duplicates_max_rows",
            "an int >= 0 or null",
            self.exact_duplicates_max_rows,
        )
        check(
            self.exact_sketch_max_rows is None or self.exact_sketch_max_rows >= 1,
            "profile.exact_sketch_max_rows",
            "an int >= 1 or null",
            self.exact_sketch_max_rows,
        )
        if self.now is not None:
            parse_now(self.now)
