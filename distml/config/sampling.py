"""``sampling.*``: the exact stratified sample and its split (distml/sampling/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from distml.config._check import check


@dataclass
class SplitConfig:
    train: float = 0.7
    valid: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        for name in ("train", "valid", "test"):
            v = getattr(self, name)
            check(0 <= v <= 1, f"sampling.split.{name}", "a fraction in [0, 1]", v)
        total = self.train + self.valid + self.test
        check(abs(total - 1) < 1e-9, "sampling.split", "fractions that sum to 1", total)
        check(self.train > 0, "sampling.split.train", "positive", self.train)


DEFAULT_SIZE = 200_000
"""The sample's size when none of sampling.size, fraction and max_memory is set."""


@dataclass
class SamplingConfig:
    size: int | None = None
    """Exact sample size (rows). Say how big the sample is in one way: ``size``, ``fraction``
    or ``max_memory``; with none of them the sample is DEFAULT_SIZE rows, or every row of a
    smaller population (said in the log and sampling_report.json)."""
    fraction: float | None = None
    """Sample this share of the population (in (0, 1]; 1.0 takes every row)."""
    strata: list[str] | None = None
    """Columns whose value combinations form the strata; null: the label."""
    min_per_stratum: int = 1
    """Every stratum present gets at least this many rows (or all of its rows)."""
    split: SplitConfig = field(default_factory=SplitConfig)
    """Train/valid/test fractions, stratified like the sample."""
    allocation: str = "proportional"
    """proportional (n_h ~ N_h), equal, or neyman (n_h ~ N_h * S_h of ``neyman_column``)."""
    neyman_column: str | None = None
    """The numeric column whose per-stratum standard deviation drives Neyman allocation."""
    max_memory: str | None = None
    """With size and fraction null: the largest sample whose float32 training matrix fits this
    many bytes (e.g. 4GiB)."""
    time_column: str | None = None
    """The datetime column that bare 'day'/'week'/'month' strata bucket (null: the first one)."""
    compare_features: bool = True
    """Compare each column's sample distribution with the population's (PSI, KS)."""
    report_bins: int = 10
    """Quantile bins per numeric feature in that comparison."""
    psi_warning: float = 0.1
    """Warn when a feature's PSI between sample and population exceeds this."""

    def strata_of(self, label: str, *, regression: bool) -> tuple[str, ...]:
        """The strata's columns: ``strata``, or when null the label's classes (none for
        regression: a continuous label is no stratum). The one place this default is decided."""
        if self.strata is not None:
            return tuple(self.strata)
        return () if regression else (label,)

    def __post_init__(self) -> None:
        if self.size is not None:
            check(self.size > 0, "sampling.size", "a positive int or null", self.size)
        if self.fraction is not None:
            check(0 < self.fraction <= 1, "sampling.fraction", "in (0, 1] or null", self.fraction)
        given = [k for k in ("size", "fraction", "max_memory") if getattr(self, k) is not None]
        check(
            len(given) <= 1,
            "sampling." + (given[0] if given else "size"),
            "the only setting of the sample's size (one of sampling.size, sampling.fraction, "
            f"sampling.max_memory; {', '.join('sampling.' + g for g in given)} are set)",
            getattr(self, given[0]) if given else None,
        )
        check(
            self.allocation in ("proportional", "equal", "neyman"),
            "sampling.allocation",
            "one of proportional, equal, neyman",
            self.allocation,
        )
        check(
            self.allocation != "neyman" or bool(self.neyman_column),
            "sampling.neyman_column",
            "set when sampling.allocation=neyman",
            self.neyman_column,
        )
        check(self.report_bins >= 2, "sampling.report_bins", "an int >= 2", self.report_bins)
        check(
            self.min_per_stratum >= 0,
            "sampling.min_per_stratum",
            "an int >= 0",
            self.min_per_stratum,
        )
