"""``data.*``: where the dataset is and how it is read (distml/data/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distml.config._check import check


@dataclass
class DataConfig:
    path: str | None = None
    """Folder, glob or file of Parquet, local or a pyarrow filesystem URI (s3://, gs://, file://).
    null: the synthetic dataset described by ``synthetic.*``, generated on first use and reused."""
    label: str = "label"
    """The target column."""
    id_column: str | None = "id"
    """Unique row id; null derives a stable id from each row's content (as does the default,
    'id', when the data has no such column: said in the log and sampling_report.json)."""
    positive_label: Any = None
    """Binary objectives: the label value of the positive class, when the label is not 0/1 or
    boolean (e.g. yes, churned, 1 of 1/2)."""
    weight_column: str | None = None
    """Row weights (survey or importance weights, >= 0): used in training and evaluation, and
    multiplied into the sample's weights. Never a feature."""
    features: list[str] | None = None
    """Model input columns; null: every column except label, id and ``exclude``."""
    exclude: list[str] = field(default_factory=list)
    """Columns never used as features."""
    include: list[str] = field(default_factory=list)
    """Columns kept as features whatever distml's feature rules say (identifier-like, free
    text, constant, all null: distml/profile/hygiene.py), when their type can be a feature."""
    shard_rows: int = 2_000_000
    """Target rows per shard: larger files are cut at row-group boundaries."""
    on_bad_file: str = "error"
    """error: a file that cannot be read (or does not match the schema) stops the run, named;
    skip: leave it out, name it in profile.json and go on."""

    def __post_init__(self) -> None:
        check(self.shard_rows > 0, "data.shard_rows", "a positive int", self.shard_rows)
        check(bool(self.label), "data.label", "a column name", self.label)
        check(
            self.on_bad_file in ("error", "skip"),
            "data.on_bad_file",
            "one of error, skip",
            self.on_bad_file,
        )
