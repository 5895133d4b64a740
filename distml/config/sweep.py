"""``sweep.*``: how `distml run -m` runs and ranks its trials (distml/sweep.py)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check


@dataclass
class SweepConfig:
    metric: str = "valid.average_precision"
    """<split>.<metric> from run.json's metrics ranking the trials of `distml run -m`."""
    direction: str = "maximize"
    """maximize | minimize"""
    max_concurrent: int = 4
    """Trials running at once on the Ray cluster."""
    trial_cpus: float = 0.0
    """CPUs reserved by each trial's driver task (its stages reserve their own)."""

    def __post_init__(self) -> None:
        check(
            self.direction in ("maximize", "minimize"),
            "sweep.direction",
            "maximize or minimize",
            self.direction,
        )
        check(
            self.metric.count(".") == 1,
            "sweep.metric",
            "<split>.<metric>, e.g. valid.roc_auc",
            self.metric,
        )
        check(
            self.max_concurrent > 0, "sweep.max_concurrent", "a positive int", self.max_concurrent
        )
