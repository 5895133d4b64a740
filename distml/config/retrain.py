"""``retrain.*``: gated retraining and promotion (distml/retrain.py)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check


@dataclass
class RetrainConfig:
    models_dir: str = "models"
    """Promoted models live in <models_dir>/v0001, v0002, ... with a 'current' link to the best."""
    metric: str | None = None
    """Compared on the candidate's test split (null: average_precision for binary, f1_macro for
    multiclass, rmse for regression)."""
    tolerance: float = 0.0
    """The candidate may be this much worse and still be promoted."""

    def __post_init__(self) -> None:
        check(self.tolerance >= 0, "retrain.tolerance", ">= 0", self.tolerance)
