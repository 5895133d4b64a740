"""Two models on the same rows: a paired Poisson bootstrap and the promotion rule.

Each row gets B Poisson(1) weights that are a hash of (seed, row id, replicate)
(distml/stats/bootstrap.py), times its own weight; both models' replicate states use the same
weights, so replicate b reweights the same rows for both and the replicate distribution of the
difference in a metric is its sampling distribution under resampling of rows (a paired bootstrap,
Efron & Tibshirani 1993, ch. 13; percentile interval). States merge exactly, so the interval is
the same for any sharding.

The rule (``decide``): with the improvement d = candidate - current (current - candidate for a
lower-is-better metric) and its interval [lo, hi] at ``confidence``, the candidate is *not worse*
when lo >= -tolerance. It has *skill* when the lower end of its skill measure's interval clears
what no model can miss: ROC AUC > 0.5 (binary), macro one-vs-rest ROC AUC > 0.5 (multiclass),
R² > 0 (regression: better than the best constant, the rows' own mean). A candidate is promoted
only when it is not worse (or there is no current model) and, with the skill gate on, has skill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distml.objective import LOWER_IS_BETTER
from distml.stats.binary import binary_metrics
from distml.stats.bootstrap import Bootstrap, StateReplicates, percentile_interval
from distml.stats.multiclass import evaluation_state

SKILL = {
    "binary": ("roc_auc", 0.5),
    "multiclass": ("roc_auc_ovr_macro", 0.5),
    "regression": ("r2", 0.0),
}
"""Per task: the skill measure and the value a model without skill gets."""


@dataclass
class Scored:
    """One model's states on the compared rows: exact, and its bootstrap replicates."""

    exact: Any
    replicates: Bootstrap | StateReplicates

    @classmethod
    def of(cls, task, pred, y, ids, weight, replicates: int, seed: int, threshold) -> Scored:
        exact = evaluation_state(task, pred, y, weight)
        if task == "binary":
            reps: Bootstrap | StateReplicates = Bootstrap.of(
                ids, pred, y, threshold, replicates, seed, weight
            )
        else:
            reps = StateReplicates.of(task, ids, pred, y, replicates, seed, weight)
        return cls(exact, reps)

    def merge(self, o: Scored) -> Scored:
        return Scored(self.exact.merge(o.exact), self.replicates.merge(o.replicates))

    def metrics(self, task: str, threshold: float | None, beta: float) -> dict[str, Any]:
        if task == "binary":
            return binary_metrics(self.exact, 0.5 if threshold is None else threshold, beta)
        return self.exact.metrics()


@dataclass
class PairedState:
    """The rows compared, those left out, and each model's states on the compared rows."""

    rows: int = 0
    excluded: int = 0
    """Rows left out because the current model trained on them."""
    candidate: Scored | None = None
    current: Scored | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)

    def merge(self, o: PairedState) -> PairedState:
        self.rows += o.rows
        self.excluded += o.excluded
        self.skipped.extend(o.skipped)
        for name in ("candidate", "current"):
            a, b = getattr(self, name), getattr(o, name)
            setattr(self, name, b if a is None else (a if b is None else a.merge(b)))
        return self


@dataclass(frozen=True)
class Rule:
    """retrain.* as the rule reads it."""

    metric: str
    tolerance: float
    confidence: float
    skill_gate: bool
    beta: float = 1.0


def _interval_text(iv: list[float] | None, sign: str = "+") -> str:
    return "undefined" if iv is None else f"[{iv[0]:{sign}.4g}, {iv[1]:{sign}.4g}]"


def _skill(task: str, c_all: dict, c_reps: dict, level: float) -> tuple[dict[str, Any], str]:
    """The skill gate: the lower end of the candidate's skill measure's interval against what
    a model without skill gets."""
    name, chance = SKILL[task]
    iv = percentile_interval(c_reps.get(name, np.array([])), level)
    passed = iv is not None and iv[0] > chance
    what = f"the candidate's {name} {_num(c_all.get(name))} (interval {_interval_text(iv, '')})"
    skill = {"metric": name, "value": c_all.get(name), "interval": iv, "no_skill": chance}
    why = (
        f"{what} is above {chance:g}"
        if passed
        else f"{what} does not clear {chance:g}: no skill shown"
    )
    return skill | {"passed": passed}, why


def decide(
    st: PairedState,
    task: str,
    rule: Rule,
    thresholds: tuple[float | None, float | None] = (None, None),
) -> dict[str, Any]:
    """retrain.json's decision: the metric on the compared rows for both models, the paired
    improvement with its interval, the skill check, ``promote`` and the reason in one sentence.
    ``thresholds``: the candidate's and the current model's decision thresholds (binary)."""
    m, level = rule.metric, rule.confidence
    sign = -1.0 if m in LOWER_IS_BETTER else 1.0
    out: dict[str, Any] = {
        "metric": m,
        "lower_is_better": m in LOWER_IS_BETTER,
        "rows_compared": st.rows,
        "rows_excluded": st.excluded,
        "confidence": level,
        "tolerance": rule.tolerance,
        "method": "paired Poisson bootstrap, percentile interval (Efron & Tibshirani 1993)",
    }
    cand = st.candidate
    if cand is None or st.rows == 0:
        return out | {
            "promote": False,
            "reason": "no rows left to compare the models on (every test row was one the current "
            "model trained on, or the test split is empty)",
        }
    out["replicates"] = cand.replicates.replicates
    c_all = cand.metrics(task, thresholds[0], rule.beta)
    c_reps = cand.replicates.values(rule.beta)
    out["candidate"] = c_all.get(m)
    reasons: list[str] = []
    ok = True

    if rule.skill_gate:
        out["skill"], why = _skill(task, c_all, c_reps, level)
        ok = out["skill"]["passed"]
        reasons.append(why)

    if st.current is None:
        out["current"] = None
        reasons.append("there is no current model")
    else:
        o_all = st.current.metrics(task, thresholds[1], rule.beta)
        out["current"] = o_all.get(m)
        diff = sign * (c_reps.get(m, np.full(out["replicates"], np.nan))
                       - st.current.replicates.values(rule.beta).get(m, np.nan))  # fmt: skip
        iv = percentile_interval(diff, level)
        point = (
            sign * (out["candidate"] - out["current"])
            if _finite(out["candidate"]) and _finite(out["current"])
            else None
        )
        out["improvement"] = point
        out["interval"] = iv
        not_worse = iv is not None and iv[0] >= -rule.tolerance
        out["not_worse"] = not_worse
        what = (
            f"{m} {_num(out['candidate'])} vs current {_num(out['current'])}: improvement "
            f"{_num(point, '+')} with {level:.0%} interval {_interval_text(iv)}"
        )
        if not_worse:
            reasons.append(f"{what}, not worse beyond retrain.tolerance={rule.tolerance:g}")
        else:
            ok = False
            reasons.append(
                f"{what}: {'undefined on these rows' if iv is None else 'it may be worse'} "
                f"beyond retrain.tolerance={rule.tolerance:g}"
            )
    out["promote"] = ok
    out["reason"] = "; ".join(reasons)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _num(v: Any, sign: str = "") -> str:
    return f"{v:{sign}.4g}" if _finite(v) else "undefined"
