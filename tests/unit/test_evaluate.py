"""Merged score histograms give scikit-learn's metrics exactly, for any sharding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from distml.evaluate import ScoreHist, binary_metrics, choose_threshold


def _shards(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({0, n, *[c % (n + 1) for c in cuts]})
    return list(zip(points[:-1], points[1:], strict=True))


def _merged(score, y, cuts, w=None) -> ScoreHist:
    h = ScoreHist()
    for a, b in _shards(len(y), cuts):
        h = h.merge(ScoreHist.of(score[a:b], y[a:b], None if w is None else w[a:b]))
    return h


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 400),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.sampled_from([3, 20, 1000]),
    st.floats(0.05, 0.95),
)
def test_metrics_equal_sklearn_over_random_shardings(n, seed, cuts, levels, threshold):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    y[0], y[1] = 0, 1
    # few distinct levels make many ties, which is where AUC implementations differ
    score = np.round(np.clip(rng.random(n) * 0.6 + 0.35 * y, 0, 1) * levels) / levels
    m = binary_metrics(_merged(score, y, cuts), threshold)
    pred = score >= threshold
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-9)
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, score), abs=1e-9)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, score), abs=1e-9)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0), abs=1e-12)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()


@settings(max_examples=30, deadline=None)
@given(
    st.integers(10, 300), st.integers(0, 2**32 - 1), st.lists(st.integers(0, 10_000), max_size=8)
)
def test_weighted_auc_and_ap_equal_sklearn(n, seed, cuts):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    y[0], y[1] = 0, 1
    score = np.round(rng.random(n) * 0.7 + 0.3 * y, 2)
    w = rng.uniform(0.5, 20, n)
    m = binary_metrics(_merged(score, y, cuts, w), 0.5)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score, sample_weight=w), abs=1e-9)
    assert m["average_precision"] == pytest.approx(
        skm.average_precision_score(y, score, sample_weight=w), abs=1e-9
    )


def test_one_class_reports_auc_undefined():
    m = binary_metrics(ScoreHist.of(np.array([0.1, 0.9]), np.array([0, 0])), 0.5)
    assert m["roc_auc"] is None and "one class" in m["roc_auc_undefined"]
    assert m["accuracy"] == 0.5


def test_threshold_policies_on_valid():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    h = ScoreHist.of(s, y)
    best = choose_threshold(h, "max_f1", 0.5, 0.9)
    f1s = {t: skm.f1_score(y, s >= t) for t in s}
    assert f1s[best["value"]] == pytest.approx(max(f1s.values()))
    r = choose_threshold(h, "min_recall", 0.5, 1.0)
    assert r["value"] == pytest.approx(0.4) and r["valid_recall"] == 1.0
    assert choose_threshold(h, "fixed", 0.33, 0.9)["value"] == 0.33
