"""Distributed XGBoost on Ray actors joined by XGBoost's collective.

Each worker is a Ray actor that streams its row-balanced share of the feature Parquet into a
QuantileDMatrix (or an ExtMemQuantileDMatrix backed by a disk cache); the driver runs XGBoost's
RabitTracker, so all ranks allreduce histograms and grow the same trees. Rank 0 sends a checkpoint
every ``checkpoint_every`` rounds to a small keeper actor on the driver's node, which writes it to
the run's storage before training goes on; the newest checkpoint on storage is therefore the
newest one trained. When a worker or its node dies, the driver ends the whole group and starts a
new one from that checkpoint, up to ``max_failures`` times.

Why not Ray Train: on this machine its XGBoostTrainer took ~13 s from ``fit()`` to the first line
of the worker loop (controller, placement group, backend), the whole cost of a 1M-row run, and
after a crash it resumed from a checkpoint older than the newest on disk. The actors here start in
about a second and resume from the newest checkpoint by construction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from distml.checkpoints import Keeper, checkpoint_dir, newest_checkpoint
from distml.errors import UserError
from distml.parallel import node_id
from distml.progress import clock, human, say
from distml.shards import Shard, join, read_shard

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
    external_memory: bool = False


class PieceIter(xgb.DataIter):
    """Feeds a worker's pieces to XGBoost in batches of at most ``batch_rows`` rows.

    Only one batch is materialised at a time; the DMatrix keeps the quantised matrix (in memory,
    or in pages under ``cache_prefix`` for external memory).
    """

    def __init__(
        self, pieces: Sequence[Piece], job: TrainJob, cache_prefix: str | None = None
    ) -> None:
        self.pieces = list(pieces)
        self.job = job
        self._batches = self._iter()
        super().__init__(cache_prefix=cache_prefix, release_data=True)

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


class ReportCallback(xgb.callback.TrainingCallback):
    """Rank 0 reports progress every round and a checkpoint every ``every`` rounds."""

    def __init__(self, keeper, every: int) -> None:
        self.keeper = keeper
        self.every = every
        self._last = 0.0

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log) -> bool:
        import ray

        # NOTE: XGBoost restarts `epoch` at 0 when continuing from a model: read the round from it.
        rounds = model.num_boosted_rounds()
        metrics = {f"{d}_{m}": float(v[-1]) for d, ms in evals_log.items() for m, v in ms.items()}
        if rounds % self.every == 0:
            # Wait until the checkpoint is stored, so a failure after this round resumes here.
            ray.get(self.keeper.save.remote(rounds, bytes(model.save_raw("ubj")), metrics))
            self._last = time.perf_counter()
        elif time.perf_counter() - self._last >= 1.0:
            self._last = time.perf_counter()
            self.keeper.progress.remote(rounds, metrics)
        return False


class Worker:
    """One rank: builds its DMatrix from its share and trains inside XGBoost's collective."""

    def ping(self) -> bool:
        return True

    def run(
        self,
        job: TrainJob,
        world: int,
        task_id: str,
        tracker_args: dict[str, Any],
        start_raw: bytes | None,
        keeper,
    ) -> dict[str, Any]:
        from xgboost import collective

        if world == 1:
            return self._train(job, 0, 1, start_raw, keeper)
        with collective.CommunicatorContext(dmlc_task_id=task_id, **tracker_args):
            return self._train(job, collective.get_rank(), world, start_raw, keeper)

    def _train(
        self, job: TrainJob, rank: int, world: int, start_raw: bytes | None, keeper
    ) -> dict[str, Any]:
        cache = tempfile.mkdtemp(prefix="distml-xgb-") if job.external_memory else None
        try:
            out = self._boost(job, rank, world, start_raw, keeper, cache)
            out.setdefault("cache_bytes", 0)
            return out
        finally:  # the matrices are gone by now: their pages can be deleted
            if cache:
                shutil.rmtree(cache, ignore_errors=True)

    def _boost(
        self, job: TrainJob, rank: int, world: int, start_raw: bytes | None, keeper, cache
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        params = {**job.params, "nthread": job.nthread}

        def matrix(shards, name, ref=None):
            prefix = os.path.join(cache, name) if cache else None
            it = PieceIter(share(shards, rank, world), job, prefix)
            kw = {"max_bin": params.get("max_bin", 256), "ref": ref}
            return xgb.ExtMemQuantileDMatrix(it, **kw) if cache else xgb.QuantileDMatrix(it, **kw)

        dtrain = matrix(job.train, "train")
        # Only valid is evaluated: the train metric costs a pass per round and stops nothing.
        evals = [(matrix(job.valid, "valid", ref=dtrain), "valid")] if job.valid else []
        t1 = time.perf_counter()
        start = xgb.Booster(model_file=bytearray(start_raw)) if start_raw else None
        done = start.num_boosted_rounds() if start is not None else 0
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=max(0, job.num_boost_round - done),
            evals=evals,
            early_stopping_rounds=job.early_stopping_rounds if job.valid else None,
            callbacks=[ReportCallback(keeper, job.checkpoint_every)] if rank == 0 else [],
            xgb_model=start,
            verbose_eval=False,
        )
        out: dict[str, Any] = {
            "rank": rank,
            "node": node_id(),
            "rows": dtrain.num_row(),
            "matrix_seconds": t1 - t0,
            "boost_seconds": time.perf_counter() - t1,
        }
        if cache:
            out["cache_bytes"] = _du(cache)  # measured while the pages exist
        best = getattr(booster, "best_iteration", None)
        n = booster.num_boosted_rounds()
        final = bytes(
            (booster[: best + 1] if best is not None and best + 1 < n else booster).save_raw("ubj")
        )
        # every rank reports what it grew: joined by the collective, all ranks hold the same model
        out.update(model_sha256=hashlib.sha256(final).hexdigest(), best_iteration=best, rounds=n)
        if rank == 0:
            out["model"] = final
        return out


def _du(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------
# Driver


def _node_lost(err: BaseException) -> bool:
    """A worker process or its node is gone (not an error raised by the training code)."""
    import ray.exceptions as rex

    return isinstance(err, rex.RayActorError | rex.WorkerCrashedError | rex.NodeDiedError)


def _lost_worker(workers, timeout: float = 60.0) -> bool:
    """Whether any worker is dead or unreachable (its node gone), asked while others may still
    run: a rank whose peer died fails in a collective before Ray reports the peer's death."""
    import ray

    refs = [w.ping.remote() for w in workers]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    if pending:
        return True
    for r in ready:
        try:
            ray.get(r)
        except Exception as err:  # noqa: BLE001 - any failure to answer means the worker is gone
            if _node_lost(err):
                return True
    return False


def _here() -> bool:
    return True


def _settle(timeout: float = 120.0) -> None:
    """Wait until every node Ray lists as alive answers, or is declared dead: a killed node is
    listed as alive until its health checks run out, and a group started before that would place
    workers on it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_here)
    refs = [
        probe.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote()
        for n in ray.nodes()
        if n["Alive"]
    ]
    ray.wait(refs, num_returns=len(refs), timeout=timeout)  # a failed probe is ready too


def _drop_tracker(tracker) -> None:
    """Free a failed group's tracker off the main thread: it reports the lost connection as an
    error and may wait for workers that no longer exist."""
    if tracker is None:
        return

    def free() -> None:
        with contextlib.suppress(Exception):
            tracker.free()

    threading.Thread(target=free, daemon=True).start()


def _start_group(job, num_workers, cpus_per_worker, use_gpu, start_raw, keeper):
    """Gang-schedule the workers (a placement group: all of them or none, so concurrent trials
    cannot each hold part of a group and wait forever), spread over the nodes."""
    import ray
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
    from xgboost.tracker import RabitTracker

    bundle = {"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
    pg = placement_group([bundle] * num_workers, strategy="SPREAD")
    ready, _ = ray.wait([pg.ready()], timeout=10)
    if not ready:
        say("train", f"waiting for {num_workers} x {bundle} in the Ray cluster")
        ray.get(pg.ready())
    tracker = None
    args: dict[str, Any] = {}
    if num_workers > 1:
        # Workers reach the tracker at this node's address; bootstrap must finish in 10 minutes.
        tracker = RabitTracker(
            n_workers=num_workers,
            host_ip=ray.util.get_node_ip_address(),
            sortby="task",
            timeout=600,
        )
        tracker.start()
        args = tracker.worker_args()
    workers = [
        ray.remote(Worker)
        .options(
            num_cpus=cpus_per_worker,
            num_gpus=1 if use_gpu else 0,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                pg, placement_group_bundle_index=i
            ),
            max_restarts=0,
            max_concurrency=2,  # answers ping() while run() trains
        )
        .remote()
        for i in range(num_workers)
    ]
    refs = [
        w.run.remote(job, num_workers, f"{i:05d}", args, start_raw, keeper)
        for i, w in enumerate(workers)
    ]
    return tracker, pg, workers, refs


def _end_group(pg, workers) -> None:
    import ray
    from ray.util.placement_group import remove_placement_group

    for w in workers:
        ray.kill(w)
    with contextlib.suppress(Exception):
        remove_placement_group(pg)


def fit(
    job: TrainJob,
    *,
    num_workers: int,
    cpus_per_worker: float,
    storage: str,
    use_gpu: bool = False,
    max_failures: int,
    resume_from: str | None = None,
    progress_every: float = 10.0,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Train on ``num_workers`` actors; return the final booster and what happened.

    Starts from the newest checkpoint under ``resume_from`` (a stopped run's train folder) if
    given; checkpoints go to ``storage``, and a group restarted after a failure starts from the
    newest one there.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # actors do not share the driver's working directory
    storage = storage if "://" in storage else os.path.abspath(storage)
    keeper = (
        ray.remote(Keeper)
        .options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False
            ),
        )
        .remote(storage)
    )
    first = newest_checkpoint(resume_from) if resume_from else None
    info: dict[str, Any] = {
        "workers": num_workers,
        "failures": 0,
        "resumed_from_rounds": [],
        "started_from_rounds": first[0] if first else 0,
    }
    start_raw = first[1] if first else None
    total_rows = sum(s.num_rows for s in job.train)
    t0 = time.perf_counter()
    while True:
        tracker, pg, workers, refs = _start_group(
            job, num_workers, cpus_per_worker, use_gpu, start_raw, keeper
        )
        try:
            results = _wait(refs, keeper, job, total_rows, t0, progress_every)
            break
        except Exception as err:
            lost = _node_lost(err) or _lost_worker(workers)
            _end_group(pg, workers)
            _drop_tracker(tracker)
            if not lost:
                cause = getattr(err, "cause", err)
                if isinstance(cause, xgb.core.XGBoostError):
                    raise UserError(
                        f"XGBoost stopped training: {str(cause).strip().splitlines()[0]} "
                        "Check model.params (passed to xgboost.train as given) and the "
                        "cluster.* settings."
                    ) from err
                raise
            if info["failures"] >= max_failures:
                raise UserError(
                    f"Training lost a worker {info['failures'] + 1} time(s), more than "
                    f"cluster.max_failures={max_failures} allows; the last: "
                    f"{str(err).strip().splitlines()[0]} Checkpoints are in {storage}: check the "
                    "cluster's nodes, then rerun with model.resume_from=<this run directory> (or "
                    "raise cluster.max_failures)."
                ) from err
            _settle()
            info["failures"] += 1
            info.setdefault("restarted_unix", []).append(time.time())
            ckpt = newest_checkpoint(storage)
            start_raw = ckpt[1] if ckpt else start_raw
            resumed = ckpt[0] if ckpt else info["started_from_rounds"]
            info["resumed_from_rounds"].append(resumed)
            say(
                "train",
                f"a worker was lost ({type(err).__name__}); restarting {num_workers} workers "
                f"from the checkpoint at round {resumed} "
                f"(failure {info['failures']} of cluster.max_failures={max_failures})",
            )
    if tracker is not None:
        tracker.wait_for(60)
    _end_group(pg, workers)
    info["checkpoints_written"] = ray.get(keeper.history.remote())
    ray.kill(keeper)
    head = next(r for r in results if r["rank"] == 0)
    booster = xgb.Booster(model_file=bytearray(head["model"]))
    info.update(
        best_iteration=head["best_iteration"],
        rounds_trained=head["rounds"],
        rank_rows=[r["rows"] for r in sorted(results, key=lambda r: r["rank"])],
        rank_models=[
            {k: r[k] for k in ("model_sha256", "rounds", "best_iteration")}
            for r in sorted(results, key=lambda r: r["rank"])
        ],
        nodes=sorted({r["node"] for r in results}),
        matrix_seconds=max(r["matrix_seconds"] for r in results),
        boost_seconds=max(r["boost_seconds"] for r in results),
        cache_bytes=[r["cache_bytes"] for r in sorted(results, key=lambda r: r["rank"])],
        seconds=time.perf_counter() - t0,
    )
    return booster, info


def _wait(refs, keeper, job: TrainJob, total_rows: int, t0: float, every: float) -> list[dict]:
    """Wait for every rank; raise the first failure at once. Print progress every ``every`` s."""
    import ray

    pending, done = list(refs), {}
    last = time.perf_counter()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        for r in ready:
            done[r] = ray.get(r)  # raises the worker's error, or RayActorError if it died
        if time.perf_counter() - last >= every and pending:
            last = time.perf_counter()
            p = ray.get(keeper.get.remote())
            if p:
                el = time.perf_counter() - t0
                metrics = "  ".join(f"{k}={v:.5g}" for k, v in p.items() if k != "rounds")
                say(
                    "train",
                    f"round {p['rounds']}/{job.num_boost_round}  {human(total_rows)} rows  "
                    f"{human(total_rows * p['rounds'] / el)} row-rounds/s  {clock(el)}  {metrics}",
                )
    return [done[r] for r in refs]


def check_resume(resume_from: str | None) -> str | None:
    """``model.resume_from`` names a run directory (or its train folder) holding checkpoints."""
    if not resume_from:
        return None
    for cand in (join(resume_from, "train"), resume_from):
        if newest_checkpoint(cand):
            return cand
    raise UserError(
        f"model.resume_from='{resume_from}' has no training checkpoints (looked for "
        f"{checkpoint_dir(join(resume_from, 'train'))}/model-*.ubj). Name the run directory of "
        "a run that reached its first checkpoint (model.checkpoint_every), or drop "
        "model.resume_from."
    )


def importance(booster: xgb.Booster) -> dict[str, dict[str, float]]:
    return {t: booster.get_score(importance_type=t) for t in ("gain", "cover", "weight")}
