"""Everything derived from the XGBoost objective, in one place: the task, the metrics shown
first and the metric that decides a retraining (the label's classes are in distml/target.py).

A missing ``objective`` in ``model.params`` means what it means to XGBoost: ``reg:squarederror``
(distml's own default config sets ``binary:logistic``).
"""

from __future__ import annotations

from dataclasses import dataclass
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


LOSS_METRIC = {
    "binary:logistic": "logloss",
    "binary:logitraw": "logloss",
    "binary:hinge": "error",
    "multi:softprob": "mlogloss",
    "multi:softmax": "mlogloss",
    "reg:squarederror": "rmse",
    "reg:logistic": "rmse",
    "reg:squaredlogerror": "rmsle",
    "reg:pseudohubererror": "mphe",
    "reg:absoluteerror": "mae",
    "reg:gamma": "gamma-nloglik",
    "count:poisson": "poisson-nloglik",
}
"""The objective's own loss as an XGBoost eval_metric (XGBoost's default metric of the objective,
https://xgboost.readthedocs.io/en/stable/parameter.html#learning-task-parameters)."""

RANKING_METRICS = ("auc", "aucpr", "pre", "map", "ndcg")
"""XGBoost eval metrics that rank rows: noisy when valid holds few positives."""


@dataclass(frozen=True)
class Stopping:
    """The valid metric early stopping watches, and why."""

    metric: str | None
    """An XGBoost eval_metric name; None: XGBoost's last eval metric (its default for an
    objective distml has no loss for)."""
    reason: str
    asked: str | None = None
    """model.stopping_metric as set, when it was not used."""


def stopping_metric(
    params: dict[str, Any], asked: str | None, positives: int | None, min_positives: int
) -> Stopping:
    """The metric that stops training: ``asked`` (model.stopping_metric), unless it ranks rows
    and valid holds fewer than ``min_positives`` of its rarest class (``positives``; None for a
    regression), else the objective's own loss.

    The rule: a loss (log loss, RMSE) moves with every valid row, so its round-to-round changes
    are smooth at any positive count; a ranking metric moves only when positives and negatives
    swap places. AUC's standard error is about 0.27/sqrt(positives) at AUC 0.8 (Hanley & McNeil
    1982), 0.0085 at 1,000 positives: below that, rounds are told apart by noise.
    """
    obj = objective(params)
    loss = LOSS_METRIC.get(obj)
    own = (
        f"the objective's own loss ({obj})"
        if loss
        else f"XGBoost's last eval_metric (no known loss for {obj})"
    )
    if asked is None:
        return Stopping(loss, f"{own}: smooth at any number of valid positives")
    if asked.split("@")[0] not in RANKING_METRICS or positives is None:
        return Stopping(asked, "model.stopping_metric")
    if positives >= min_positives:
        return Stopping(
            asked,
            f"model.stopping_metric, with {positives:,} valid rows of the rarest class "
            f">= model.ranking_min_positives={min_positives:,}",
        )
    return Stopping(
        loss,
        f"model.stopping_metric={asked} ranks rows, and valid holds {positives:,} rows of the "
        f"rarest class, fewer than model.ranking_min_positives={min_positives:,}: its changes "
        f"between rounds are mostly noise; stopping on {own} instead",
        asked,
    )


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
