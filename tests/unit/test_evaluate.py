"""Merged score histograms give scikit-learn's metrics exactly, for any sharding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from distml.stats.binary import ScoreHist, binary_metrics, choose_threshold


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


@settings(max_examples=40, deadline=None)
@given(
    st.integers(4, 300),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 10_000), max_size=10),
    st.booleans(),
    st.floats(0.5, 3.0),
)
def test_every_binary_metric_equals_sklearn_weighted_or_not(n, seed, cuts, weighted, beta):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    y[0], y[1] = 0, 1
    score = np.round(np.clip(rng.random(n) * 0.7 + 0.25 * y, 0, 1), 2)
    w = rng.uniform(0.2, 9, n) if weighted else None
    t = float(np.round(rng.uniform(0.2, 0.8), 2))
    m = binary_metrics(_merged(score, y, cuts, w), t, beta)
    pred = (score >= t).astype(int)
    kw = {"sample_weight": w}
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score, **kw), abs=1e-9)
    assert m["average_precision"] == pytest.approx(
        skm.average_precision_score(y, score, **kw), abs=1e-9
    )
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, score, **kw), abs=1e-9)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, score, **kw), abs=1e-9)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred, **kw), abs=1e-9)
    assert m["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, pred, **kw), abs=1e-9
    )
    assert m["precision"] == pytest.approx(
        skm.precision_score(y, pred, zero_division=0, **kw), abs=1e-9
    )
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0, **kw), abs=1e-9)
    assert m["specificity"] == pytest.approx(
        skm.recall_score(1 - y, 1 - pred, zero_division=0, **kw), abs=1e-9
    )
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0, **kw), abs=1e-9)
    assert m["fbeta"] == pytest.approx(
        skm.fbeta_score(y, pred, beta=beta, zero_division=0, **kw), abs=1e-9
    )
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred, **kw), abs=1e-9)
    cm = skm.confusion_matrix(y, pred, labels=[0, 1], **kw)
    assert np.allclose(m["confusion_matrix"], cm)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(20, 400),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 10_000), max_size=8),
    st.integers(2, 5),
)
def test_multiclass_metrics_equal_sklearn(n, seed, cuts, k):
    from distml.stats.multiclass import MulticlassState

    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    st_ = None
    for a, b in _shards(n, cuts):
        part = MulticlassState.of(proba[a:b], y[a:b])
        st_ = part if st_ is None else st_.merge(part)
    m = st_.metrics()
    pred = proba.argmax(axis=1)
    for avg in ("macro", "micro", "weighted"):
        assert m[f"precision_{avg}"] == pytest.approx(
            skm.precision_score(y, pred, average=avg, zero_division=0), abs=1e-9
        )
        assert m[f"recall_{avg}"] == pytest.approx(
            skm.recall_score(y, pred, average=avg, zero_division=0), abs=1e-9
        )
        assert m[f"f1_{avg}"] == pytest.approx(
            skm.f1_score(y, pred, average=avg, zero_division=0), abs=1e-9
        )
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=list(range(k))).tolist()
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=list(range(k))), abs=1e-9)
    for c in range(k):
        assert m["per_class"][str(c)]["roc_auc_ovr"] == pytest.approx(
            skm.roc_auc_score(y == c, proba[:, c]), abs=1e-9
        )
    if k > 2:
        expected = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
        assert m["roc_auc_ovr_macro"] == pytest.approx(expected, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 300),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 10_000), max_size=8),
    st.booleans(),
)
def test_regression_metrics_equal_sklearn(n, seed, cuts, weighted):
    from distml.stats.multiclass import RegressionState

    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    y[0] = 0.0  # MAPE's epsilon path
    pred = y + rng.normal(0, 3, n)
    w = rng.uniform(0.2, 9, n) if weighted else None
    st_ = None
    for a, b in _shards(n, cuts):
        part = RegressionState.of(pred[a:b], y[a:b], None if w is None else w[a:b])
        st_ = part if st_ is None else st_.merge(part)
    m = st_.metrics()
    kw = {"sample_weight": w}
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred, **kw)), rel=1e-9)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred, **kw), rel=1e-9)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred, **kw), rel=1e-9, abs=1e-9)
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred, **kw), rel=1e-9)


def test_binned_auc_stays_within_its_stated_error():
    rng = np.random.default_rng(3)
    y = (rng.random(50_000) < 0.1).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(size=50_000) + 1.5 * y - 2)))
    exact = skm.roc_auc_score(y, score)
    exact_ap = skm.average_precision_score(y, score)
    for bins in (10, 100, 1000):
        m = binary_metrics(ScoreHist.of(score, y, bins=bins), 0.5)
        assert abs(m["roc_auc"] - exact) <= m["roc_auc_max_error"] + 1e-12
        assert abs(m["average_precision"] - exact_ap) <= m["average_precision_max_error"] + 1e-12
    assert binary_metrics(ScoreHist.of(score, y, bins=1000), 0.5)["roc_auc_max_error"] < 0.002


def test_bootstrap_intervals_cover_the_true_auc_about_95_percent():
    """Populations with a known AUC (normal scores, shift 1: AUC = Phi(1/sqrt 2) = 0.76025)."""
    from scipy.stats import norm

    from distml.stats.bootstrap import Bootstrap

    true_auc = norm.cdf(1 / np.sqrt(2))
    reps, covered = 150, 0
    for r in range(reps):
        rng = np.random.default_rng(1000 + r)
        y = (rng.random(400) < 0.5).astype(int)
        z = rng.normal(size=400) + y
        score = norm.cdf(z / 3)  # monotone map into (0, 1) keeps the AUC
        ids = np.arange(400, dtype=np.uint64) + np.uint64(r * 1000)
        half = Bootstrap.of(ids[:200], score[:200], y[:200], 0.5, 200, seed=r)
        boot = half.merge(Bootstrap.of(ids[200:], score[200:], y[200:], 0.5, 200, seed=r))
        lo, hi = boot.intervals()["roc_auc"]
        covered += lo <= true_auc <= hi
    rate = covered / reps
    # 95% nominal; with 150 repetitions the binomial sd is 1.8 points
    assert 0.89 <= rate <= 0.995, rate


def test_bootstrap_is_independent_of_sharding():
    from distml.stats.bootstrap import Bootstrap

    rng = np.random.default_rng(0)
    ids = rng.permutation(1000).astype(np.uint64)
    y = (rng.random(1000) < 0.3).astype(int)
    s = rng.random(1000)
    whole = Bootstrap.of(ids, s, y, 0.5, 50, seed=1)
    parts = Bootstrap.of(ids[:300], s[:300], y[:300], 0.5, 50, seed=1).merge(
        Bootstrap.of(ids[300:], s[300:], y[300:], 0.5, 50, seed=1)
    )
    assert np.allclose(whole.hist, parts.hist) and np.allclose(whole.confusion, parts.confusion)


def test_nan_scores_are_counted_and_excluded():
    m = binary_metrics(ScoreHist.of(np.array([0.2, np.nan, 0.8]), np.array([0, 1, 1])), 0.5)
    assert m["nan_scores_excluded"] == 1 and m["rows"] == 2 and m["roc_auc"] == 1.0


def test_recall_targets_at_the_edge_and_out_of_reach():
    y = np.array([0, 1, 0, 1, 0])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    # recall 1.0 is reached only at the lowest positive's score, whatever the precision there
    full = choose_threshold(ScoreHist.of(s, y), "min_recall", 0.5, 1.0)
    assert full["reached"] and full["value"] == 0.2 and full["valid_recall"] == 1.0
    assert full["valid_precision"] == pytest.approx(skm.precision_score(y, s >= 0.2))
    # with no positives in valid no threshold reaches any recall: said so, fixed value used
    none = choose_threshold(ScoreHist.of(s, np.zeros(5, dtype=int)), "min_recall", 0.42, 0.9)
    assert none["value"] == 0.42 and "no positives" in none["note"]
    # the chosen threshold applied to another split can miss the target there: reported as is
    test = binary_metrics(ScoreHist.of(np.array([0.15, 0.5]), np.array([1, 1])), full["value"])
    assert test["recall"] == 0.5


def test_gates_parse_and_fail_with_reasons():
    from distml.errors import UserError
    from distml.eval.gates import model_gates as check_gates

    g = check_gates(["recall>=0.9", "roc_auc > 0.8"], {"recall": 0.5, "roc_auc": 0.95})
    assert not g["passed"] and g["reasons"] == ["recall=0.5 does not satisfy >= 0.9"]
    assert check_gates(["roc_auc>=0.8"], {"roc_auc": None})["reasons"] == [
        "roc_auc is undefined on test"
    ]
    with pytest.raises(UserError, match="eval.gates"):
        check_gates(["recall is high"], {})


def test_small_and_empty_slices_are_listed_not_scored():
    from distml.config import EvalConfig
    from distml.eval.evaluate import split_metrics
    from distml.scoring import ScoreState

    big = ScoreHist.of(np.linspace(0, 1, 300), np.arange(300) % 2)
    small = ScoreHist.of(np.array([0.3, 0.7]), np.array([0, 1]))
    empty = ScoreHist.of(np.array([]), np.array([]))
    st_ = ScoreState(
        metric=big, slices={"region": {"north": big, "south": small, "nowhere": empty}}
    )
    m = split_metrics(
        st_, "binary", 0.5, EvalConfig(min_slice_size=100, bootstrap=0), details=False
    )
    region = m["slices"]["region"]
    assert region["north"]["rows"] == 300 and region["north"]["roc_auc"] is not None
    assert region["south"] == {"rows": 2, "skipped": "fewer than eval.min_slice_size=100 rows"}
    assert region["nowhere"]["rows"] == 0 and "skipped" in region["nowhere"]


def test_bootstrap_interval_width_matches_the_known_standard_error():
    """A 95% interval is about 2 * 1.96 standard errors wide; 80% or 99% intervals are not.

    Standard errors computed here independently: the binomial one for accuracy at a fixed
    threshold, DeLong's for ROC AUC."""
    from distml.stats.bootstrap import Bootstrap

    rng = np.random.default_rng(11)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) * 1.5 + 2.0 * y - 1.5)))
    ids = rng.permutation(10 * n)[:n].astype(np.uint64)
    boot = Bootstrap.of(ids, score, y, 0.5, 1000, seed=5)
    iv = boot.intervals()

    acc = np.mean((score >= 0.5) == y)
    se_acc = np.sqrt(acc * (1 - acc) / n)
    pos, neg = np.sort(score[y == 1]), np.sort(score[y == 0])
    v10 = (np.searchsorted(neg, pos, "left") + np.searchsorted(neg, pos, "right")) / 2 / len(neg)
    v01 = 1 - (np.searchsorted(pos, neg, "left") + np.searchsorted(pos, neg, "right")) / 2 / len(
        pos
    )
    se_auc = np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    for name, se in (("accuracy", se_acc), ("roc_auc", se_auc)):
        lo, hi = iv[name]
        ratio = (hi - lo) / (2 * 1.959964 * se)
        # 99% intervals would be 1.31 times as wide, 80% intervals 0.65 times
        assert 0.88 <= ratio <= 1.12, (name, ratio)
