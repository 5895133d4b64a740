"""Multiclass and regression objectives train and evaluate end to end (metrics vs scikit-learn)."""

import json

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from distml.config import Settings
from distml.pipeline import run_pipeline


def _dataset(path, kind: str) -> str:
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=(n, 4))
    if kind == "multiclass":
        y = np.digitize(x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, n), [-0.7, 0.7])
    else:
        y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.5, n) + 10
    df = pl.DataFrame({"id": np.arange(n), "y": y, **{f"x{i}": x[:, i] for i in range(4)}})
    path.mkdir()
    for i in range(3):
        df[i * 2000 : (i + 1) * 2000].write_parquet(path / f"p{i}.parquet")
    return str(path)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_objective_end_to_end(kind, ray_local, tmp_path):
    s = Settings()
    s.data.path = _dataset(tmp_path / "data", kind)
    s.data.label = "y"
    s.sampling.size = 5000
    s.model.num_boost_round = 30
    s.model.params = (
        {"objective": "multi:softprob", "num_class": 3, "eval_metric": "mlogloss", "max_depth": 4}
        if kind == "multiclass"
        else {"objective": "reg:squarederror", "eval_metric": "rmse", "max_depth": 4}
    )
    s.eval.bootstrap = 0
    run_pipeline(s, str(tmp_path / "run"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["task"] == kind
    preds = pl.read_parquet(tmp_path / "run" / "predictions" / "*.parquet").filter(
        pl.col("split") == "test"
    )
    y = preds["label"].to_numpy()
    if kind == "multiclass":
        assert m["test"]["f1_macro"] == pytest.approx(
            skm.f1_score(y, preds["prediction"].to_numpy(), average="macro"), abs=1e-9
        )
        assert m["test"]["accuracy"] > 0.7
    else:
        assert m["test"]["rmse"] == pytest.approx(
            np.sqrt(skm.mean_squared_error(y, preds["score"].to_numpy())), rel=1e-9
        )
        assert m["test"]["r2"] > 0.9
        # a continuous label is not a stratum: the sample has a single stratum
        assert (
            json.loads((tmp_path / "run" / "sampling_report.json").read_text())["strata_columns"]
            == []
        )
