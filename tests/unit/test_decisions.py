"""The rules behind distml's automatic verdicts, on hand-worked values: retrain's comparison of a
candidate with the current model (distml/retrain.py) and monitor's status (distml/monitor.py)."""

from __future__ import annotations

import pytest

from distml.monitor import _Verdict, status_of
from distml.retrain import _decide


@pytest.mark.parametrize(
    ("metric", "cand", "cur", "tol", "promote"),
    [
        ("rmse", 1.05, 1.0, 0.1, True),  # lower is better: 1.05 <= 1.0 + 0.1
        ("rmse", 1.05, 1.0, 0.01, False),
        ("rmse", 0.95, 1.0, 0.0, True),
        ("log_loss", 0.31, 0.30, 0.02, True),
        ("roc_auc", 0.79, 0.80, 0.02, True),  # higher is better: 0.79 >= 0.80 - 0.02
        ("roc_auc", 0.79, 0.80, 0.005, False),
        ("average_precision", 0.5, 0.4, 0.0, True),
        ("roc_auc", 0.5, None, 0.0, True),  # no current model
    ],
)
def test_retrain_promotes_within_the_tolerance_in_the_metrics_direction(
    metric, cand, cur, tol, promote
):
    ok, why = _decide(metric, cand, cur, tol)
    assert ok is promote
    assert ("lower is better" in why) is (metric in ("rmse", "log_loss"))


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
