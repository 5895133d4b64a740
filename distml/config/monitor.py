"""``monitor.*``: drift of new data against a run's reference (distml/monitor.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from distml.config._check import check


@dataclass
class MonitorConfig:
    psi_warn: float = 0.1
    """A feature, the score or the label with PSI at or above this: status warn."""
    psi_drift: float = 0.25
    """... at or above this: status drift."""
    bins: int = 10
    """Reference-quantile bins per numeric feature and for the score."""
    top_categories: int = 20
    """Categories compared one by one (the rest share one bin)."""
    score_bins: int = 10000
    """Scores are rounded into this many bins for the live metrics (bounded memory)."""
    confidence: float = 0.99
    """The level of the intervals behind the label-rate and live-metric verdicts: a change is
    significant (warn) when its interval excludes no change."""
    label_rate_drift: float = 0.5
    """Binary labels: drift when the positive rate's change is significant and its interval lies
    beyond this share of the reference rate (0.5: up or down by half of it)."""
    live_metrics: list[str] = field(default_factory=list)
    """Live metrics compared with the training run's test metrics (empty: roc_auc,
    average_precision, precision and recall for binary; accuracy and f1_macro for multiclass;
    rmse and mae for regression)."""
    metric_drop_drift: float = 0.2
    """Drift when a live metric's fall (rise, for an error) is significant and its interval lies
    beyond this share of the training value."""
    bootstrap: int = 200
    """Poisson-bootstrap replicates for the live metrics' intervals (0: none, and no verdict)."""

    def __post_init__(self) -> None:
        check(
            0 < self.psi_warn <= self.psi_drift,
            "monitor.psi_warn",
            "in (0, monitor.psi_drift]",
            self.psi_warn,
        )
        check(self.bins >= 2, "monitor.bins", "an int >= 2", self.bins)
        check(0.5 <= self.confidence < 1, "monitor.confidence", "in [0.5, 1)", self.confidence)
        check(self.label_rate_drift > 0, "monitor.label_rate_drift", "> 0", self.label_rate_drift)
        check(
            self.metric_drop_drift > 0, "monitor.metric_drop_drift", "> 0", self.metric_drop_drift
        )
        check(self.bootstrap >= 0, "monitor.bootstrap", "an int >= 0", self.bootstrap)
