"""``model.*``: XGBoost and its distributed training (distml/model/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distml.config._check import check

XGBOOST_METRICS = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss", "auc",
    "aucpr", "pre", "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik",
    "gamma-deviance", "tweedie-nloglik", "aft-nloglik", "interval-regression-accuracy",
)  # fmt: skip
"""XGBoost's eval_metric names (https://xgboost.readthedocs.io/en/stable/parameter.html), before
any ``@`` argument."""


@dataclass
class ModelConfig:
    params: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary:logistic",
            "eval_metric": ["logloss", "aucpr"],
            "tree_method": "hist",
            "max_depth": 6,
            "eta": 0.1,
            "max_bin": 256,
        }
    )
    """Passed to ``xgboost.train`` as given (nthread is set from cluster.cpus_per_worker)."""
    num_boost_round: int = 300
    early_stopping_rounds: int | None = 20
    """Stop when model.stopping_metric on valid has not improved for this many rounds (patience);
    the model keeps the best round."""
    stopping_metric: str | None = None
    """The valid metric early stopping watches (an XGBoost eval_metric; it is added to
    params.eval_metric when missing). null: the objective's own loss (logloss for binary,
    mlogloss for multiclass, rmse for squared error), smooth at any positive count."""
    ranking_min_positives: int = 1000
    """A ranking stopping metric (auc, aucpr, map, ndcg, pre) is used only when valid holds this
    many rows of its rarest class; below it, the loss is watched and a warning says so (0: always
    use it)."""
    checkpoint_every: int = 50
    """Report a checkpoint every N rounds (rank 0 writes it)."""
    batch_rows: int = 262_144
    """Rows per batch streamed into the QuantileDMatrix."""
    use_sample_weights: bool = False
    """Train with the sample's inverse-probability weights (column ``weight``)."""
    external_memory: bool = False
    """Build each worker's matrix as an ExtMemQuantileDMatrix cached on local disk (shares larger
    than memory)."""
    resume_from: str | None = None
    """A stopped run's directory: training continues from its newest checkpoint."""

    def __post_init__(self) -> None:
        check(
            self.num_boost_round > 0,
            "model.num_boost_round",
            "a positive int",
            self.num_boost_round,
        )
        if self.early_stopping_rounds is not None:
            check(
                self.early_stopping_rounds > 0,
                "model.early_stopping_rounds",
                "a positive int or null",
                self.early_stopping_rounds,
            )
        if self.stopping_metric is not None:
            base = str(self.stopping_metric).split("@")[0]
            ours = {"roc_auc": "auc", "average_precision": "aucpr", "log_loss": "logloss"}
            hint = f" (distml's {base} is XGBoost's {ours[base]})" if base in ours else ""
            check(
                base in XGBOOST_METRICS,
                "model.stopping_metric",
                "one of XGBoost's eval_metric names (" + ", ".join(XGBOOST_METRICS) + ")" + hint,
                self.stopping_metric,
            )
        check(
            self.ranking_min_positives >= 0,
            "model.ranking_min_positives",
            "an int >= 0",
            self.ranking_min_positives,
        )
        check(
            self.checkpoint_every > 0,
            "model.checkpoint_every",
            "a positive int",
            self.checkpoint_every,
        )
