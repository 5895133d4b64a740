"""``eval.*``: evaluation, the decision threshold and model gates (distml/eval/)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from distml.config._check import check
from distml.errors import UserError


@dataclass
class ThresholdConfig:
    policy: str = "max_f1"
    """fixed | max_f1 | min_recall; chosen on valid, applied to test."""
    value: float = 0.5
    """The threshold for policy=fixed."""
    min_recall: float = 0.9
    """For policy=min_recall: the highest-precision threshold whose valid recall >= this."""

    def __post_init__(self) -> None:
        check(
            self.policy in ("fixed", "max_f1", "min_recall"),
            "eval.threshold.policy",
            "one of fixed, max_f1, min_recall",
            self.policy,
        )
        check(0 <= self.value <= 1, "eval.threshold.value", "in [0, 1]", self.value)
        check(0 < self.min_recall <= 1, "eval.threshold.min_recall", "in (0, 1]", self.min_recall)


@dataclass
class EvalConfig:
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    beta: float = 1.0
    """F-beta's beta (beta > 1 weighs recall more)."""
    bins: int | None = None
    """null: exact metrics (one histogram entry per distinct score). An int: scores are rounded
    down to this many bins for bounded memory; the AUC's worst-case error is written beside it."""
    bootstrap: int = 200
    """Poisson-bootstrap replicates for the test split's 95% intervals (0: none)."""
    slices: list[str] = field(default_factory=list)
    """Raw columns whose values get their own test metrics."""
    min_slice_size: int = 100
    """Slices with fewer test rows are listed but not scored."""
    gates: list[str] = field(default_factory=list)
    """Rules on test metrics, e.g. ['recall>=0.9', 'roc_auc>=0.8']; a failure exits non-zero."""

    def __post_init__(self) -> None:
        check(self.beta > 0, "eval.beta", "positive", self.beta)
        if self.bins is not None:
            check(self.bins >= 10, "eval.bins", "an int >= 10 or null", self.bins)
        check(self.bootstrap >= 0, "eval.bootstrap", "an int >= 0", self.bootstrap)
        check(self.min_slice_size >= 1, "eval.min_slice_size", "an int >= 1", self.min_slice_size)
        for g in self.gates:
            parse_gate(g)


_GATE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")


def parse_gate(text: str) -> tuple[str, str, float]:
    """'recall>=0.9' as ('recall', '>=', 0.9)."""
    m = _GATE.match(text)
    if not m:
        raise UserError(
            f"The gate '{text}' in eval.gates is not of the form 'metric>=value' (operators "
            ">=, <=, >, <, ==), e.g. 'recall>=0.9'."
        )
    return m.group(1), m.group(2), float(m.group(3))
