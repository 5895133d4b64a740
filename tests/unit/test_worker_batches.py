"""A training worker's share read from Parquet once and replayed for XGBoost's later passes gives
the same QuantileDMatrix, and the same model, as reading it on every pass (XGBoost passes over
an iterator several times to build a QuantileDMatrix)."""

import numpy as np
import polars as pl
import xgboost as xgb

from distml.data.shards import plan
from distml.model.worker import PieceIter, TrainJob, share


class Counting(PieceIter):
    """Counts the Parquet batches read."""

    reads = 0

    def _iter(self):
        for batch in super()._iter():
            Counting.reads += 1
            yield batch


def test_a_kept_share_is_read_once_and_trains_the_same_model(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        n = 3000 + 500 * i
        x = rng.standard_normal((n, 4)).astype(np.float32)
        y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.standard_normal(n) > 0).astype(np.int8)
        df = pl.DataFrame({f"f{j}": x[:, j] for j in range(4)}).with_columns(pl.Series("y", y))
        df.write_parquet(tmp_path / f"part-{i}.parquet")
    shards = plan(str(tmp_path)).shards
    job = TrainJob(
        train=tuple(shards),
        valid=(),
        features=("f0", "f1", "f2", "f3"),
        label="y",
        weight=None,
        params={
            "objective": "binary:logistic",
            "tree_method": "hist",
            "max_depth": 4,
            "max_bin": 64,
        },
        num_boost_round=20,
        early_stopping_rounds=None,
        checkpoint_every=10,
        batch_rows=1000,  # several batches per piece
        nthread=1,
    )
    models, reads = {}, {}
    for keep in (False, True):
        Counting.reads = 0
        it = Counting(share(shards, 0, 1), job, keep=keep)
        dm = xgb.QuantileDMatrix(it, max_bin=64)
        it.release()
        reads[keep] = Counting.reads
        assert dm.num_row() == sum(s.num_rows for s in shards)
        booster = xgb.train({**job.params, "nthread": 1}, dm, 20)
        models[keep] = bytes(booster.save_raw("ubj"))
    batches = sum(-(-s.num_rows // 1000) for s in shards)
    assert reads[True] == batches  # read once, replayed for XGBoost's other passes
    assert reads[False] >= 2 * batches  # read on every pass
    assert models[True] == models[False]
