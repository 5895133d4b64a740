"""Names of the columns distml writes beside the data's own (one place, as XGBoost's Spark
backend keeps its aliases): the sample's split, stratum and weight, the quarantine's reason, the
predictions' score and prediction. A dataset column with one of these names is reported before
any stage runs (see ``RESERVED``)."""

from __future__ import annotations

import re
from collections import Counter

SPLIT = "split"
"""sample/: train, valid or test."""
STRATUM = "stratum"
"""sample/: the stratum's name (its values joined by '|', nulls as '∅')."""
WEIGHT = "weight"
"""sample/: the inverse inclusion probability N_h / n_h (times the row's own weight when
``data.weight_column`` is set)."""
ROW_WEIGHT = "row_weight"
"""sample/: the row's own weight, when ``data.weight_column`` is named ``weight``."""
SPLITS = ("train", "valid", "test")

REASON = "_quarantine_reason"
"""quarantine/: the names of the rules a row broke, '; '-separated."""
CAST_FAILED = "__cast_failed"
"""Read-time column: the first column whose string value did not parse as its expected type."""

LABEL = "label"
"""predictions/: the true label."""
SCORE = "score"
"""predictions/: P(positive) (binary), the top class's probability (multiclass), the prediction
(regression)."""
PREDICTION = "prediction"
"""predictions/: the predicted class (at the saved threshold for binary)."""
PROBA_PREFIX = "proba_"
"""predictions/: per-class probabilities (multiclass)."""

RESERVED = (SPLIT, STRATUM, WEIGHT, REASON, CAST_FAILED)
"""Names a dataset column may not have (the sample and the quarantine add them); a column named
``weight`` may be ``data.weight_column``."""
MEANING = {
    SPLIT: "the train/valid/test split in sample/",
    STRATUM: "the stratum's name in sample/",
    WEIGHT: "the sample's weights in sample/",
    REASON: "the broken rules in quarantine/",
    CAST_FAILED: "the column that failed to parse",
}


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


def row_weight_column(weight_column: str | None) -> str | None:
    """Where a row's own weight is in sample/ and features/ (None: no row weights)."""
    if weight_column is None:
        return None
    return ROW_WEIGHT if weight_column == WEIGHT else weight_column


def normalized(name: str) -> str:
    """A column name's matching key across files: case-folded, each run of spaces and
    punctuation one '_' (``Customer Age``, ``customer_age`` and ``CUSTOMER-AGE`` are one)."""
    key = re.sub(r"[\W_]+", "_", name.casefold()).strip("_")
    return key or name
