"""Names of the columns distml writes beside the data's own (one place, as XGBoost's Spark
backend keeps its aliases): the sample's split, stratum and weight, the quarantine's reason, the
predictions' score and prediction. A dataset column with one of these names is reported before
any stage runs (see ``RESERVED``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

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


def match_names(
    files: list[tuple[str, list[str]]], key: str, declared: Sequence[str] = ()
) -> tuple[list[dict[str, str]], dict[str, dict[str, int]]]:
    """Column names matched across files by ``normalized``: per file (in order), each of its
    columns' shared name, and for the names several spellings share, each spelling's count of
    files. A shared name is spelled as ``declared`` spells it, else as most files do (ties: the
    first file's). Two names of one file with one key are a UserError naming both and ``key``
    (the config key that matches names exactly)."""
    from distml.errors import UserError

    spelled: dict[str, Counter[str]] = {}
    first: dict[str, int] = {}
    for fi, (path, names) in enumerate(files):
        keys: dict[str, str] = {}
        for name in names:
            k = normalized(name)
            if k in keys:
                raise UserError(
                    f"'{path}' has the columns {keys[k]!r} and {name!r}, whose names are equal "
                    "after case-folding and normalising spaces and punctuation, so distml cannot "
                    "tell which of them other files' column of that name is. Rename one of them, "
                    f"or set {key}=exact to match names only when they are spelled the same."
                )
            keys[k] = name
            spelled.setdefault(k, Counter())[name] += 1
            first.setdefault(name, fi)
    by_key = {normalized(c): c for c in declared}
    chosen = {
        k: by_key.get(k) or max(sp, key=lambda s: (sp[s], -first[s])) for k, sp in spelled.items()
    }
    per_file = [{c: chosen[normalized(c)] for c in names} for _, names in files]
    merged = {chosen[k]: dict(sp) for k, sp in spelled.items() if len(sp) > 1}
    return per_file, merged
