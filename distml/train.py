"""Distributed XGBoost on Ray Train: each worker streams its row-balanced share of the feature
Parquet into a QuantileDMatrix; XGBoost's collective (set up by Ray Train's XGBoost backend)
allreduces histograms, so all ranks grow the same trees; rank 0 writes the checkpoints.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from distml.shards import Shard, read_shard

MODEL_FILE = "model.ubj"


@dataclass(frozen=True)
class Piece:
    """Rows ``[start, stop)`` of one shard: a worker's share is a list of pieces."""

    shard: Shard
    start: int
    stop: int


def share(shards: Sequence[Shard], rank: int, world: int) -> list[Piece]:
    """The rows of rank ``rank``: an equal slice of the global row order, whatever the files."""
    total = sum(s.num_rows for s in shards)
    lo, hi = rank * total // world, (rank + 1) * total // world
    pieces, offset = [], 0
    for s in shards:
        a, b = max(lo, offset), min(hi, offset + s.num_rows)
        if a < b:
            pieces.append(Piece(s, a - offset, b - offset))
        offset += s.num_rows
    return pieces


@dataclass(frozen=True)
class TrainJob:
    """Everything a training worker needs, as plain picklable data."""

    train: tuple[Shard, ...]
    valid: tuple[Shard, ...]
    features: tuple[str, ...]
    label: str
    weight: str | None
    params: dict[str, Any]
    num_boost_round: int
    early_stopping_rounds: int | None
    checkpoint_every: int
    batch_rows: int
    nthread: int


class PieceIter(xgb.DataIter):
    """Feeds a worker's pieces to XGBoost in batches of at most ``batch_rows`` rows.

    Only one batch is materialised at a time; QuantileDMatrix keeps the quantised matrix.
    """

    def __init__(self, pieces: Sequence[Piece], job: TrainJob) -> None:
        self.pieces = list(pieces)
        self.job = job
        self._batches = self._iter()
        super().__init__(release_data=True)

    def _iter(self):
        cols = [*self.job.features, self.job.label] + ([self.job.weight] if self.job.weight else [])
        for p in self.pieces:
            df = read_shard(p.shard, cols).slice(p.start, p.stop - p.start)
            for lo in range(0, df.height, self.job.batch_rows):
                yield df.slice(lo, self.job.batch_rows)

    def next(self, input_data) -> bool:
        batch = next(self._batches, None)
        if batch is None:
            return False
        kw = {}
        if self.job.weight:
            kw["weight"] = batch.get_column(self.job.weight).to_numpy()
        input_data(
            data=batch.select(self.job.features).to_numpy().astype(np.float32, copy=False),
            label=batch.get_column(self.job.label).to_numpy().astype(np.float32),
            feature_names=list(self.job.features),
            **kw,
        )
        return True

    def reset(self) -> None:
        self._batches = self._iter()


class CheckpointCallback(xgb.callback.TrainingCallback):
    """Reports a checkpoint every ``every`` rounds; every rank reports, only rank 0 saves."""

    def __init__(self, every: int, rank: int) -> None:
        self.every = every
        self.rank = rank

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log) -> bool:
        # NOTE: XGBoost restarts `epoch` at 0 when continuing from a checkpoint, so the round is
        # read from the model. Every rank reaches the same rounds (early stopping is agreed via
        # allreduced metrics), so all call report() equally often, which Ray Train requires.
        rounds = model.num_boosted_rounds()
        if rounds % self.every == 0:
            report(model, self.rank, {"rounds": rounds, **_last(evals_log)})
        return False


def _last(evals_log) -> dict[str, float]:
    return {f"{d}_{m}": float(v[-1]) for d, ms in evals_log.items() for m, v in ms.items() if v}


def report(model: xgb.Booster, rank: int, metrics: dict[str, Any]) -> None:
    import ray.train

    if rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            model.save_model(os.path.join(tmp, MODEL_FILE))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(metrics, checkpoint=None)


def train_worker(config: dict[str, Any]) -> None:
    """Ray Train's per-worker loop (runs inside XGBoost's CommunicatorContext when world > 1)."""
    import ray.train

    job: TrainJob = config["job"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    params = {**job.params, "nthread": job.nthread}
    dtrain = xgb.QuantileDMatrix(
        PieceIter(share(job.train, rank, world), job), max_bin=params.get("max_bin", 256)
    )
    evals = [(dtrain, "train")]
    if job.valid:
        dvalid = xgb.QuantileDMatrix(PieceIter(share(job.valid, rank, world), job), ref=dtrain)
        evals.append((dvalid, "valid"))
    start_model = None
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start_model = xgb.Booster(model_file=os.path.join(d, MODEL_FILE))
    done = start_model.num_boosted_rounds() if start_model is not None else 0
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=max(0, job.num_boost_round - done),
        evals=evals,
        early_stopping_rounds=job.early_stopping_rounds if job.valid else None,
        callbacks=[CheckpointCallback(job.checkpoint_every, rank)],
        xgb_model=start_model,
        verbose_eval=False,
    )
    best = getattr(booster, "best_iteration", None)
    final = (
        booster[: best + 1]
        if best is not None and best + 1 < booster.num_boosted_rounds()
        else booster
    )
    attrs = {"best_iteration": best, "rounds_trained": booster.num_boosted_rounds(), "final": True}
    final.set_attr(**{k: str(v) for k, v in attrs.items()})
    report(
        final,
        rank,
        {k: v for k, v in attrs.items() if v is not None} | {"rank_rows": dtrain.num_row()},
    )


def fit(
    job: TrainJob,
    *,
    num_workers: int,
    cpus_per_worker: int,
    storage: str,
    use_gpu: bool = False,
    max_failures: int,
    name: str = "xgboost",
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Train on Ray Train and return the final booster (read back from the last checkpoint)."""
    import ray.train
    from ray.train.xgboost import XGBoostTrainer

    trainer = XGBoostTrainer(
        train_worker,
        train_loop_config={"job": job},
        scaling_config=ray.train.ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=os.path.abspath(storage) if "://" not in storage else storage,
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError("training finished without a checkpoint")
    with result.checkpoint.as_directory() as d:
        booster = xgb.Booster(model_file=os.path.join(d, MODEL_FILE))
    return booster, dict(result.metrics or {})


def importance(booster: xgb.Booster) -> dict[str, dict[str, float]]:
    return {t: booster.get_score(importance_type=t) for t in ("gain", "cover", "weight")}
