"""``synthetic.*``: the generated demonstration dataset (distml/synthetic.py), used when
``data.path`` is null and written by ``distml generate``."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check


@dataclass
class SyntheticConfig:
    rows: int = 1_000_000
    """Number of rows."""
    shards: int = 16
    """Number of Parquet files (one Ray task each)."""
    positive_rate: float = 0.02
    """Share of rows with label 1 (down to 0.0003)."""
    row_group_rows: int = 250_000
    """Rows per Parquet row group."""
    drift: float = 0.0
    """How far the data moves from the reference distribution (0: none, 1: strong)."""
    cache_dir: str = "data"
    """Where the default synthetic dataset lives (relative to the launch directory)."""

    def __post_init__(self) -> None:
        check(self.rows > 0, "synthetic.rows", "a positive int", self.rows)
        check(self.shards > 0, "synthetic.shards", "a positive int", self.shards)
        check(
            0 < self.positive_rate < 1, "synthetic.positive_rate", "in (0, 1)", self.positive_rate
        )
        check(
            self.row_group_rows > 0,
            "synthetic.row_group_rows",
            "a positive int",
            self.row_group_rows,
        )
        check(self.drift >= 0, "synthetic.drift", "a magnitude >= 0", self.drift)
