"""Names of the columns distml writes beside the data's own (one place, as XGBoost's Spark
backend keeps its aliases): the sample's split, stratum and weight, the quarantine's reason, the
predictions' score and prediction. A dataset column with one of these names is reported before
any stage runs (see ``RESERVED``)."""

from __future__ import annotations

SPLIT = "split"
"""sample/: train, valid or test."""
STRATUM = "stratum"
"""sample/: the stratum's name (its values joined by '|', nulls as '∅')."""
WEIGHT = "weight"
"""sample/: the inverse inclusion probability N_h / n_h."""
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
"""Names a dataset column may not have (the sample and the quarantine add them)."""
