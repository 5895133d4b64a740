"""One training rank: its row-balanced share of the feature Parquet streamed into an XGBoost
(Quantile)DMatrix, and ``xgboost.train`` inside XGBoost's collective.

This is the worker side only; it knows nothing of Ray. The cluster layer runs ``Worker`` as an
actor on each rank and hands it a checkpoint client (``keeper``) with ``save`` and ``progress``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xgboost as xgb

from distml.data.reading import read_shard
from distml.data.shards import Shard
from distml.model.collective import worker_context


class CheckpointClient(Protocol):
    """What rank 0 reports to: ``save`` returns once the checkpoint is on storage."""

    def save(self, rounds: int, raw: bytes, metrics: dict[str, float]) -> None: ...

    def progress(self, rounds: int, metrics: dict[str, float]) -> None: ...


def model_names(features: Sequence[str]) -> list[str]:
    """Feature names XGBoost accepts for any column names: '[', ']' and '<' (which XGBoost
    rejects) become '_', and names that then repeat get their position; the originals are kept
    beside the model (feature_importance.json, the report) in the same order."""
    names = [re.sub(r"[\[\]<]", "_", f) for f in features]
    seen: set[str] = set()
    out = []
    for i, n in enumerate(names):
        n = n if n not in seen else f"{n}#{i}"
        seen.add(n)
        out.append(n)
    return out


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
    external_memory: bool = False
    stopping_metric: str | None = None
    """The valid metric early stopping watches (in params' eval_metric); None: the last one."""


KEEP_BYTES = 1 << 28
"""A share whose float32 batches fit in this many bytes (256 MiB) is read once, not once per pass:
the batches are kept while XGBoost builds the matrix, so this bounds what a worker adds."""


class PieceIter(xgb.DataIter):
    """Feeds a worker's pieces to XGBoost in batches of at most ``batch_rows`` rows.

    XGBoost passes over the data several times to build a QuantileDMatrix (4 in XGBoost 3.2:
    counts, quantiles, then the matrix). A share of at most KEEP_BYTES of float32 values
    (``keep``) is read from Parquet once and its batches replayed until ``release``; a larger
    share is read again on every pass, one batch materialised at a time. The DMatrix keeps the
    quantised matrix (in memory, or in pages under ``cache_prefix`` for external memory).
    """

    def __init__(
        self,
        pieces: Sequence[Piece],
        job: TrainJob,
        cache_prefix: str | None = None,
        keep: bool = False,
    ) -> None:
        self.pieces = list(pieces)
        self.job = job
        self.names = model_names(job.features)
        self._kept: list[dict[str, Any]] | None = [] if keep else None
        self._complete = False  # the kept batches are the whole share
        self._replay = False
        self._batches = self._arrays()
        super().__init__(cache_prefix=cache_prefix, release_data=True)

    def _iter(self):
        cols = [*self.job.features, self.job.label] + ([self.job.weight] if self.job.weight else [])
        for p in self.pieces:
            df = read_shard(p.shard, cols).slice(p.start, p.stop - p.start)
            for lo in range(0, df.height, self.job.batch_rows):
                yield df.slice(lo, self.job.batch_rows)

    def _arrays(self):
        for batch in self._iter():
            kw = {}
            if self.job.weight:
                kw["weight"] = batch.get_column(self.job.weight).to_numpy()
            yield {
                "data": batch.select(self.job.features).to_numpy().astype(np.float32, copy=False),
                "label": batch.get_column(self.job.label).to_numpy().astype(np.float32),
                **kw,
            }

    def next(self, input_data) -> bool:
        arrays = next(self._batches, None)
        if arrays is None:
            if self._kept is not None:
                self._complete = True
            return False
        if self._kept is not None and not self._replay:
            self._kept.append(arrays)
        input_data(**arrays, feature_names=self.names)
        return True

    def release(self) -> None:
        """Drop the kept batches (call once the DMatrix is built)."""
        self._kept, self._complete = None, False

    def reset(self) -> None:
        if self._kept is not None and self._complete:
            self._replay = True
            self._batches = iter(self._kept)
            return
        if self._kept is not None:
            self._kept = []  # a pass stopped early: keep the next one from the start
        self._batches = self._arrays()


class ReportCallback(xgb.callback.TrainingCallback):
    """Rank 0 reports progress every second and a checkpoint every ``every`` rounds."""

    def __init__(self, keeper: CheckpointClient, every: int) -> None:
        self.keeper = keeper
        self.every = every
        self._last = 0.0

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log) -> bool:
        # NOTE: XGBoost restarts `epoch` at 0 when continuing from a model: read the round from it.
        rounds = model.num_boosted_rounds()
        metrics = {f"{d}_{m}": float(v[-1]) for d, ms in evals_log.items() for m, v in ms.items()}
        if rounds % self.every == 0:
            # NOTE: wait until the checkpoint is stored, so a failure after this round resumes here.
            self.keeper.save(rounds, bytes(model.save_raw("ubj")), metrics)
            self._last = time.perf_counter()
        elif time.perf_counter() - self._last >= 1.0:
            self._last = time.perf_counter()
            self.keeper.progress(rounds, metrics)
        # a worker in the driver's process (cluster.executor threads) stops when it is interrupted
        return bool(getattr(self.keeper, "stop_requested", lambda: False)())


@dataclass(frozen=True)
class RankResult:
    """What one rank hands back after training."""

    rank: int
    rows: int
    """Rows of this rank's train matrix."""
    matrix_seconds: float
    boost_seconds: float
    cache_bytes: int
    """Bytes of external-memory pages (0 in memory)."""
    model_sha256: str
    """Of the model this rank holds: the same on every rank (joined by the collective)."""
    best_iteration: int | None
    rounds: int
    model: bytes | None = None
    """The model (UBJSON): rank 0's only, the others are equal by their hashes."""


class Worker:
    """One rank: builds its DMatrix from its share and trains inside XGBoost's collective."""

    def run(
        self,
        job: TrainJob,
        world: int,
        task_id: str,
        collective_args: dict[str, Any],
        start_raw: bytes | None,
        keeper: CheckpointClient,
    ) -> RankResult:
        with worker_context(world, task_id, collective_args) as rank:
            cache = tempfile.mkdtemp(prefix="distml-xgb-") if job.external_memory else None
            try:
                return self._boost(job, rank, world, start_raw, keeper, cache)
            finally:  # the matrices are gone by now: their pages can be deleted
                if cache:
                    shutil.rmtree(cache, ignore_errors=True)

    def _boost(
        self, job: TrainJob, rank: int, world: int, start_raw: bytes | None, keeper, cache
    ) -> RankResult:
        t0 = time.perf_counter()
        params = {**job.params, "nthread": job.nthread}

        def matrix(shards, name, ref=None):
            prefix = os.path.join(cache, name) if cache else None
            pieces = share(shards, rank, world)
            rows = sum(p.stop - p.start for p in pieces)
            keep = not cache and rows * len(job.features) * 4 <= KEEP_BYTES
            it = PieceIter(pieces, job, prefix, keep)
            kw = {"max_bin": params.get("max_bin", 256), "ref": ref}
            m = xgb.ExtMemQuantileDMatrix(it, **kw) if cache else xgb.QuantileDMatrix(it, **kw)
            it.release()
            return m

        dtrain = matrix(job.train, "train")
        # Only valid is evaluated: the train metric costs a pass per round and stops nothing.
        evals = [(matrix(job.valid, "valid", ref=dtrain), "valid")] if job.valid else []
        t1 = time.perf_counter()
        start = xgb.Booster(model_file=bytearray(start_raw)) if start_raw else None
        done = start.num_boosted_rounds() if start is not None else 0
        callbacks: list[xgb.callback.TrainingCallback] = []
        if rank == 0:
            callbacks.append(ReportCallback(keeper, job.checkpoint_every))
        if evals and job.early_stopping_rounds:
            # every rank sees the same (allreduced) valid metrics, so all stop at the same round
            callbacks.append(
                xgb.callback.EarlyStopping(
                    rounds=job.early_stopping_rounds,
                    metric_name=job.stopping_metric,
                    data_name="valid",
                )
            )
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=max(0, job.num_boost_round - done),
            evals=evals,
            callbacks=callbacks,
            xgb_model=start,
            verbose_eval=False,
        )
        best = getattr(booster, "best_iteration", None)
        n = booster.num_boosted_rounds()
        final = booster[: best + 1] if best is not None and best + 1 < n else booster
        raw = bytes(final.save_raw("ubj"))
        # every rank reports what it grew: joined by the collective, all ranks hold the same model
        return RankResult(
            rank=rank,
            rows=dtrain.num_row(),
            matrix_seconds=t1 - t0,
            boost_seconds=time.perf_counter() - t1,
            cache_bytes=_du(cache) if cache else 0,  # measured while the pages exist
            model_sha256=hashlib.sha256(raw).hexdigest(),
            best_iteration=best,
            rounds=n,
            model=raw if rank == 0 else None,  # NOTE: only rank 0 hands the model back
        )


def _du(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
