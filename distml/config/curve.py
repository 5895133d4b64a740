"""``curve.*``: how big must the sample be? Learning curves on nested samples (distml/curve/)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check


@dataclass
class CurveConfig:
    sizes: list[int] | None = None
    """Training rows of each model (null: ``steps`` sizes on a geometric ladder up to the
    sample's train split). Every size is taken from the one sample, nested and stratified."""
    steps: int = 6
    """How many sizes the default ladder has."""
    smallest: int = 1000
    """The default ladder starts at max(smallest, train rows / 100)."""
    tolerance: float = 0.005
    """The recommended size is the smallest whose test metric is within this of the largest
    size's and of the fitted plateau."""
    metric: str | None = None
    """The test metric (null: average_precision for binary, f1_macro for multiclass, rmse for
    regression)."""
    max_concurrent: int = 2
    """Models trained at once on the cluster."""
    workers_per_trial: int = 1
    """Training workers of each model (each reserves cluster.cpus_per_worker CPUs)."""

    def __post_init__(self) -> None:
        if self.sizes is not None:
            check(
                len(self.sizes) > 0 and all(int(n) > 0 for n in self.sizes),
                "curve.sizes",
                "a list of positive row counts",
                self.sizes,
            )
        check(self.steps >= 2, "curve.steps", "an int >= 2", self.steps)
        check(self.smallest >= 1, "curve.smallest", "a positive int", self.smallest)
        check(self.tolerance >= 0, "curve.tolerance", ">= 0", self.tolerance)
        check(
            self.max_concurrent >= 1, "curve.max_concurrent", "a positive int", self.max_concurrent
        )
        check(
            self.workers_per_trial >= 1,
            "curve.workers_per_trial",
            "a positive int",
            self.workers_per_trial,
        )
