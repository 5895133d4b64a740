"""Early stopping at the data's positive count: about 100 valid positives, a smooth signal, five
seeds. distml (stopping on the objective's log loss) against one ``xgboost.train`` with fixed
rounds on the same train rows, both scored on the same test rows by scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from distml.config import Settings
from distml.data.columns import SPLIT
from distml.errors import ConfigError
from distml.objective import stopping_metric
from distml.pipeline import run_pipeline

FEATURES = [f"x{i}" for i in range(6)]
FIXED_ROUNDS = 100
PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1}


def _data(path, seed: int) -> str:
    """24k rows, about 3% positives (about 108 in a 15% valid split); the log-odds a smooth
    function of four of the six features."""
    rng = np.random.default_rng(seed)
    n = 24_000
    x = rng.normal(size=(n, 6))
    logit = -4.1 + 1.0 * x[:, 0] + 0.8 * np.sin(1.5 * x[:, 1]) + 0.5 * x[:, 2] * x[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    df = pl.DataFrame({"id": np.arange(n), "y": y, **{c: x[:, i] for i, c in enumerate(FEATURES)}})
    path.mkdir()
    for i in range(3):
        df[i * 8000 : (i + 1) * 8000].write_parquet(path / f"p{i}.parquet")
    return str(path)


@pytest.mark.parametrize("seed", range(5))
def test_early_stopping_is_as_good_as_fixed_rounds_at_100_valid_positives(
    seed, ray_local, tmp_path
):
    s = Settings()
    s.seed = seed
    s.data.path = _data(tmp_path / "data", seed)
    s.data.label = "y"
    s.sampling.fraction = 1.0
    s.eval.bootstrap = 0
    s.model.stopping_metric = "aucpr"  # asked for, but ~100 valid positives: the loss instead
    out = tmp_path / "run"
    run_pipeline(s, str(out))

    trained = json.loads((out / "run.json").read_text())["stages"]["train"]
    assert trained["stopping_metric"] == "logloss", trained
    assert "fewer than model.ranking_min_positives=1,000" in trained["stopping_reason"]

    sample = pl.read_parquet(out / "sample" / "*.parquet")
    train, valid, test = (sample.filter(pl.col(SPLIT) == k) for k in ("train", "valid", "test"))
    valid_pos = int(valid["y"].sum())
    assert 70 <= valid_pos <= 150, valid_pos

    def matrix(df: pl.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(df.select(FEATURES).to_numpy(), label=df["y"].to_numpy())

    params = {**PARAMS, "seed": seed, "nthread": 2}
    ref = xgb.train(params, matrix(train), num_boost_round=FIXED_ROUNDS)
    # XGBoost's own early stopping on valid log loss, on the raw features: the round distml keeps
    es = xgb.train(
        {**params, "eval_metric": "logloss"},
        matrix(train),
        num_boost_round=300,
        evals=[(matrix(valid), "valid")],
        early_stopping_rounds=20,
        verbose_eval=False,
    )
    ref_auc = roc_auc_score(test["y"], ref.predict(xgb.DMatrix(test.select(FEATURES).to_numpy())))

    preds = pl.read_parquet(out / "predictions" / "*.parquet").filter(pl.col(SPLIT) == "test")
    ours = roc_auc_score(preds["label"], preds["score"])
    assert sorted(preds["id"]) == sorted(test["id"])  # the same test rows
    print(
        f"seed {seed}: valid positives {valid_pos}, rounds kept {trained['best_iteration'] + 1} "
        f"(xgboost on valid logloss: {es.best_iteration + 1}), test ROC AUC {ours:.4f} vs "
        f"{ref_auc:.4f} at {FIXED_ROUNDS} fixed rounds"
    )
    assert abs(trained["best_iteration"] - es.best_iteration) <= 1
    # stopping early costs at most 0.01 of test ROC AUC against the fixed rounds (at depth 6 on
    # ~700 training positives, 100 fixed rounds overfit: distml is often the better of the two)
    assert ours >= ref_auc - 0.01, (ours, ref_auc, trained["best_iteration"])


def test_a_ranking_stopping_metric_needs_enough_valid_positives():
    params = {"objective": "binary:logistic"}
    few = stopping_metric(params, "aucpr", 106, 1000)
    assert few.metric == "logloss" and few.asked == "aucpr" and "106" in few.reason
    many = stopping_metric(params, "aucpr", 1500, 1000)
    assert many.metric == "aucpr"
    assert stopping_metric(params, None, 5, 1000).metric == "logloss"
    assert stopping_metric({"objective": "reg:squarederror"}, None, None, 1000).metric == "rmse"
    # a loss asked for is used at any count
    assert stopping_metric(params, "logloss", 3, 1000).metric == "logloss"


def test_a_stopping_metric_is_checked_against_xgboosts_names():
    s = Settings()
    s.model.stopping_metric = "roc_auc"
    with pytest.raises(ConfigError, match="distml's roc_auc is XGBoost's auc"):
        s.model.__post_init__()
    s.model.stopping_metric = "ndcg@5"
    s.model.__post_init__()  # an @ argument is XGBoost's
