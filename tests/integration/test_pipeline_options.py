"""Options that change what the pipeline computes, checked end to end through the CLI against an
independent computation on the run's own outputs (scikit-learn, numpy)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn import metrics as skm

from tests.integration.conftest import distml

FAST = ["model.num_boost_round=60", "eval.bootstrap=0", "cluster.cpus_per_worker=0.5"]


def test_sample_weights_make_a_balanced_sample_estimate_the_population(
    on_session_ray, small_data, tmp_path
):
    """Equal allocation gives a 50/50 sample of a 5%-positive population; trained with the
    sample's inverse-probability weights the model's probabilities are the population's again."""
    out = tmp_path / "w"
    distml(
        "run",
        *on_session_ray,
        *FAST,
        f"hydra.run.dir={out}",
        "sampling.size=6000",
        "sampling.allocation=equal",
        "model.use_sample_weights=true",
        "eval.threshold.policy=fixed",
        "eval.threshold.value=0.3",
    )
    population_rate = pl.read_parquet(f"{small_data}/*.parquet")["label"].mean()
    sample = pl.read_parquet(out / "sample" / "*.parquet")
    assert sample["label"].mean() == pytest.approx(0.5, abs=0.01)
    preds = pl.read_parquet(out / "predictions" / "*.parquet").filter(pl.col("split") == "test")
    weights = sample.filter(pl.col("split") == "test").select("id", "weight").unique("id")
    joined = preds.unique("id").join(weights, on="id")
    w, s = joined["weight"].to_numpy(), joined["score"].to_numpy()
    # XGBoost starts from the weighted mean label of the train rows, which the weights N_h/n_h
    # make the population's positive rate (unweighted: the sample's, 0.5)
    booster = xgb.Booster(model_file=str(out / "model.ubj"))
    learner = json.loads(booster.save_config())["learner"]["learner_model_param"]
    assert float(learner["base_score"].strip("[]")) == pytest.approx(population_rate, rel=1e-5)
    # and the population-weighted mean probability on test stays near it (unweighted: ~0.25)
    assert np.average(s, weights=w) < 0.15

    # eval.threshold.policy=fixed: the threshold is the value given, and the metrics are at it
    assert json.loads((out / "threshold.json").read_text()) == {"policy": "fixed", "value": 0.3}
    m = json.loads((out / "metrics.json").read_text())["test"]
    y = preds["label"].to_numpy()
    pred = preds["score"].to_numpy() >= 0.3
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))


def test_binned_metrics_a_recall_target_and_content_ids(on_session_ray, tmp_path):
    """eval.bins, eval.threshold.policy=min_recall and data.id_column=null in one run."""
    out = tmp_path / "b"
    distml(
        "run",
        *on_session_ray,
        *FAST,
        f"hydra.run.dir={out}",
        "sampling.size=12000",
        "data.id_column=null",
        "eval.bins=50",
        "eval.threshold.policy=min_recall",
        "eval.threshold.min_recall=0.9",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pl.read_parquet(out / "predictions" / "*.parquet")
    assert "id" not in preds.columns  # no id column: rows are identified by their content
    assert preds.height == 12000 * 0.3
    binned = lambda s: np.floor(np.clip(s, 0, 1) * 50) / 50  # noqa: E731
    for split in ("valid", "test"):
        d = preds.filter(pl.col("split") == split)
        y, s = d["label"].to_numpy(), d["score"].to_numpy()
        m = metrics[split]
        assert m["score_bins"] == 50
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, binned(s)), abs=1e-9)
        assert abs(m["roc_auc"] - skm.roc_auc_score(y, s)) <= m["roc_auc_max_error"] + 1e-12
        assert m["average_precision"] == pytest.approx(
            skm.average_precision_score(y, binned(s)), abs=1e-9
        )
    # the threshold: of the binned valid scores whose recall is at least 0.9, the one with the
    # highest precision (then the highest score)
    d = preds.filter(pl.col("split") == "valid")
    y, s = d["label"].to_numpy(), binned(d["score"].to_numpy())
    cands = [
        (skm.precision_score(y, s >= t), t)
        for t in np.unique(s)
        if skm.recall_score(y, s >= t) >= 0.9
    ]
    best = max(cands)
    th = json.loads((out / "threshold.json").read_text())
    assert th["policy"] == "min_recall" and th["value"] == pytest.approx(best[1])
    assert th["valid_recall"] == pytest.approx(skm.recall_score(y, s >= th["value"]))
    assert metrics["test"]["threshold"] == th["value"]
