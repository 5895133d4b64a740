"""``retrain.*``: gated retraining and promotion (distml/retrain.py)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check


@dataclass
class RetrainConfig:
    models_dir: str = "models"
    """Promoted models live in <models_dir>/v0001, v0002, ... with a 'current' link to the model in
    use and history.jsonl (distml/registry.py); distml promote and distml rollback move it too."""
    metric: str | None = None
    """Compared on the candidate's test split (null: average_precision for binary, f1_macro for
    multiclass, rmse for regression)."""
    tolerance: float = 0.0
    """Non-inferiority margin, in the metric's units: the candidate is promoted when the lower end
    of the interval of its improvement over the current model is at least -tolerance (0: the
    data must show it is not worse)."""
    confidence: float = 0.95
    """The level of the paired bootstrap intervals (two-sided; a decision reads the lower end)."""
    skill_gate: bool = True
    """Promote only a candidate whose skill interval clears chance on the compared rows: ROC AUC
    > 0.5 (binary), macro one-vs-rest ROC AUC > 0.5 (multiclass), R² > 0 (regression)."""
    replicates: int = 500
    """Poisson-bootstrap replicates of the comparison."""

    def __post_init__(self) -> None:
        check(self.tolerance >= 0, "retrain.tolerance", ">= 0", self.tolerance)
        check(0.5 <= self.confidence < 1, "retrain.confidence", "in [0.5, 1)", self.confidence)
        check(self.replicates >= 50, "retrain.replicates", "an int >= 50", self.replicates)
