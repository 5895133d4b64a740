"""Everything derived from the XGBoost objective, in one place: the task, the metrics shown
first and the metric that decides a retraining (the label's classes are in distml/target.py).

A missing ``objective`` in ``model.params`` means what it means to XGBoost: ``reg:squarederror``
(distml's own default config sets ``binary:logistic``).
"""

from __future__ import annotations

from typing import Any

XGBOOST_DEFAULT = "reg:squarederror"

BINARY_HEADLINE = (
    "rows",
    "positives",
    "roc_auc",
    "average_precision",
    "precision",
    "recall",
    "f1",
    "accuracy",
)
"""The binary metrics shown first: in the summary table and for each slice."""

HEADLINE = {
    "binary": [*BINARY_HEADLINE, "log_loss"],
    "multiclass": ["rows", "accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro", "log_loss"],
    "regression": ["rows", "rmse", "mae", "r2", "mape"],
}
"""The metrics of the run's summary table, by task."""

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "brier", "mape"})


def objective(params: dict[str, Any]) -> str:
    return str(params.get("objective", XGBOOST_DEFAULT))


def task_of(params: dict[str, Any]) -> str:
    """binary | multiclass | regression, from the XGBoost objective."""
    obj = objective(params)
    if obj.startswith("binary:"):
        return "binary"
    if obj.startswith("multi:"):
        return "multiclass"
    return "regression"


def default_metric(task: str) -> str:
    """The test metric a retraining compares when ``retrain.metric`` is null."""
    return {"binary": "average_precision", "multiclass": "f1_macro"}.get(task, "rmse")


QUALITY_METRICS = {
    "binary": (
        "average_precision",
        "roc_auc",
        "log_loss",
        "brier",
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "specificity",
        "f1",
        "fbeta",
        "mcc",
    ),
    "multiclass": (
        "f1_macro",
        "accuracy",
        "log_loss",
        "precision_macro",
        "recall_macro",
        "f1_weighted",
        "precision_weighted",
        "recall_weighted",
        "roc_auc_ovr_macro",
    ),
    "regression": ("rmse", "mae", "r2", "mape"),
}
"""The test metrics that measure a model's quality (not counts or the threshold), by task."""


def metric_range(name: str) -> tuple[float, float]:
    """The values a quality metric can take: [0, inf) for errors, [-1, 1] for MCC, (-inf, 1]
    for R², else [0, 1]."""
    if name in LOWER_IS_BETTER:
        return 0.0, float("inf")
    return {"mcc": (-1.0, 1.0), "r2": (float("-inf"), 1.0)}.get(name, (0.0, 1.0))
