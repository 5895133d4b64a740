"""``model.*``: XGBoost and its distributed training (distml/model/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distml.config._check import check


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
    """Stop when the last eval metric on valid has not improved for this many rounds."""
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
        check(
            self.checkpoint_every > 0,
            "model.checkpoint_every",
            "a positive int",
            self.checkpoint_every,
        )
