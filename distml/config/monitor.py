"""``monitor.*``: drift of new data against a run's reference (distml/monitor.py)."""

from __future__ import annotations

from dataclasses import dataclass

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

    def __post_init__(self) -> None:
        check(
            0 < self.psi_warn <= self.psi_drift,
            "monitor.psi_warn",
            "in (0, monitor.psi_drift]",
            self.psi_warn,
        )
        check(self.bins >= 2, "monitor.bins", "an int >= 2", self.bins)
