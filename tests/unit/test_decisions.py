"""The rules behind distml's automatic verdicts: retrain's paired comparison and skill gate
(distml/stats/paired.py; expected intervals from scikit-learn's weighted metrics on the same
replicate weights), monitoring's intervals and verdicts (distml/stats/intervals.py, published
values) and monitor's status (distml/monitor.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from distml.monitor import _Verdict, status_of
from distml.stats.bootstrap import poisson_weights
from distml.stats.intervals import rate_change, verdict, wilson
from distml.stats.paired import PairedState, Rule, Scored, decide


def _paired(task, y, cand, cur, replicates=200, seed=3, ids=None) -> PairedState:
    ids = np.arange(len(y)) if ids is None else ids
    w = np.ones(len(y))
    th = 0.5 if task == "binary" else None
    st = PairedState(rows=len(y))
    st.candidate = Scored.of(task, cand, y, ids, w, replicates, seed, th)
    if cur is not None:
        st.current = Scored.of(task, cur, y, ids, w, replicates, seed, th)
    return st


def _binary(n=3000, signal=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.float64)
    good = 1 / (1 + np.exp(-(signal * y + rng.normal(0, 1, n) - 2)))
    weak = 1 / (1 + np.exp(-(0.3 * signal * y + rng.normal(0, 1, n) - 2)))
    return y, good, weak


def test_the_paired_interval_is_the_percentile_of_the_same_rows_reweighted():
    """Independently: each replicate's Poisson weights, scikit-learn's weighted ROC AUC of both
    models, their difference, numpy's percentiles."""
    y, good, weak = _binary()
    rule = Rule("roc_auc", 0.0, 0.9, True)
    d = decide(_paired("binary", y, good, weak), "binary", rule)
    diffs = [
        roc_auc_score(y, good, sample_weight=w) - roc_auc_score(y, weak, sample_weight=w)
        for w in poisson_weights(np.arange(len(y)), 3, 200)
    ]
    want = np.percentile(diffs, [5, 95])
    assert d["interval"] == pytest.approx(want, abs=2e-3)  # 2,000-bin replicate AUCs
    assert d["improvement"] == pytest.approx(
        roc_auc_score(y, good) - roc_auc_score(y, weak), abs=1e-3
    )
    assert d["promote"] and d["not_worse"] and d["skill"]["passed"]


def test_not_worse_reads_the_intervals_lower_end_against_the_tolerance():
    y, good, weak = _binary()
    d = decide(_paired("binary", y, weak, good), "binary", Rule("roc_auc", 0.0, 0.95, False))
    lo = d["interval"][0]
    assert lo < 0 and not d["promote"]  # the weaker candidate
    # the same comparison with a tolerance just past and just short of the lower end
    just_ok = decide(
        _paired("binary", y, weak, good), "binary", Rule("roc_auc", -lo + 1e-9, 0.95, False)
    )
    short = decide(
        _paired("binary", y, weak, good), "binary", Rule("roc_auc", -lo - 1e-6, 0.95, False)
    )
    assert just_ok["promote"] and not short["promote"]
    # identical models: every replicate's difference is 0
    same = decide(_paired("binary", y, good, good), "binary", Rule("roc_auc", 0.0, 0.95, True))
    assert same["interval"] == [0.0, 0.0] and same["improvement"] == 0.0 and same["promote"]


def test_lower_is_better_metrics_count_a_lower_error_as_the_improvement():
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 2000)
    close, far = y + rng.normal(0, 0.5, 2000), y + rng.normal(0, 2.0, 2000)
    rmse = lambda p: float(np.sqrt(np.mean((p - y) ** 2)))  # noqa: E731
    d = decide(_paired("regression", y, close, far), "regression", Rule("rmse", 0.0, 0.95, True))
    assert d["lower_is_better"] and d["improvement"] == pytest.approx(rmse(far) - rmse(close))
    assert d["interval"][0] > 0 and d["promote"]
    d = decide(_paired("regression", y, far, close), "regression", Rule("rmse", 0.0, 0.95, True))
    assert d["improvement"] == pytest.approx(rmse(close) - rmse(far))
    assert d["interval"][1] < 0 and not d["promote"]


def test_the_skill_gate_reads_the_lower_end_not_the_point():
    """400 rows with a faint signal: ROC AUC above 0.5 on the point, not on its interval."""
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.2).astype(np.float64)
    s = 1 / (1 + np.exp(-(0.15 * y + rng.normal(0, 1, 400))))
    point = roc_auc_score(y, s)
    reps = [roc_auc_score(y, s, sample_weight=w) for w in poisson_weights(np.arange(400), 3, 200)]
    assert point > 0.5 and np.percentile(reps, 2.5) < 0.5  # the case, checked independently
    d = decide(_paired("binary", y, s, None), "binary", Rule("roc_auc", 0.0, 0.95, True))
    assert d["skill"]["value"] == pytest.approx(point, abs=1e-3) and d["skill"]["passed"] is False
    assert d["promote"] is False and "no skill shown" in d["reason"]
    # the gate off: no current model, nothing else to pass
    assert decide(_paired("binary", y, s, None), "binary", Rule("roc_auc", 0.0, 0.95, False))[
        "promote"
    ]
    # regression: no better than the mean of the rows (R^2 <= 0) is no skill
    yr = rng.normal(size=500)
    d = decide(
        _paired("regression", yr, rng.normal(size=500), None),
        "regression",
        Rule("rmse", 0, 0.95, True),
    )
    assert d["skill"]["metric"] == "r2" and not d["skill"]["passed"] and not d["promote"]


def test_wilson_and_newcombe_on_published_values():
    # Newcombe (1998), example (a): 56/70 - 48/80 = 0.2, method 10: [0.0524, 0.3339]
    ch = rate_change(56, 70, 48, 80, 0.95)
    assert ch["difference"] == pytest.approx(0.2)
    assert ch["interval"] == pytest.approx([0.0524, 0.3339], abs=5e-5)
    # Wilson's score interval (Newcombe 1998, single proportions, method 3): 81/263 is
    # [0.2553, 0.3662]; 0/10 is [0, 0.2775]
    assert wilson(81, 263, 0.95) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson(0, 10, 0.95) == pytest.approx((0.0, 0.2775), abs=5e-5)


@pytest.mark.parametrize(
    ("interval", "worse", "status"),
    [
        ([-0.1, 0.05], -1.0, "ok"),  # includes 0
        ([-0.3, -0.1], -1.0, "warn"),  # a fall, nearest end 0.1 below, under 0.2 * |1|
        ([-0.5, -0.25], -1.0, "drift"),  # a fall beyond 0.2 of the reference
        ([0.25, 0.5], -1.0, "ok"),  # a rise of a higher-is-better metric
        ([0.25, 0.5], 1.0, "drift"),  # a rise of an error
        ([0.25, 0.5], 0.0, "drift"),  # either way (a rate)
        ([-0.15, -0.05], 0.0, "warn"),
    ],
)
def test_a_verdict_reads_the_interval_not_the_point(interval, worse, status):
    assert verdict(interval, worse, 1.0, 0.2) == status


@pytest.mark.parametrize(
    ("value", "status"),
    [(None, "ok"), (0.0, "ok"), (0.0999, "ok"), (0.1, "warn"), (0.2499, "warn"), (0.25, "drift")],
)
def test_status_thresholds_are_inclusive(value, status):
    assert status_of(value, 0.1, 0.25) == status


def test_the_verdict_is_the_worst_status_with_every_reason():
    v = _Verdict()
    for status, why in [("warn", "a"), ("drift", "b"), ("ok", "c"), ("warn", "d")]:
        v.add(status, why)
    assert v.worst == "drift" and v.reasons == ["a", "b", "d"]
