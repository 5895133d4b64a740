"""``profile.*``: the profile stage's statistics (distml/profile/)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check
from distml.config.quality import parse_now


@dataclass
class ProfileConfig:
    duplicates: bool = True
    """Count exact duplicate rows and ids (a second, hash-partitioned pass over small files)."""
    top_k: int = 10
    """Most frequent values reported per column."""
    freshness_column: str | None = None
    """The timestamp column for freshness (null: the first datetime column)."""
    now: str | None = None
    """The reference time for freshness (ISO 8601; null: the clock)."""

    def __post_init__(self) -> None:
        check(self.top_k >= 1, "profile.top_k", "an int >= 1", self.top_k)
        if self.now is not None:
            parse_now(self.now)
