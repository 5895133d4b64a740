"""Distributed XGBoost training: the driver side.

``train_booster`` starts ``num_workers`` training workers (distml/model/worker.py) as a
gang-scheduled actor group (distml/cluster/actors.py) joined by XGBoost's collective
(distml/model/collective.py), and a small keeper on the driver's node that stores rank 0's checkpoints before training goes on, so
the newest checkpoint on storage is the newest trained. When a worker or its node dies, the
driver ends the whole group and starts a new one from that checkpoint, up to ``max_failures``
times.

Why not Ray Train: its XGBoostTrainer's start (controller, placement group, backend) cost as much
as a whole 1M-row run, and after a crash it resumed from a checkpoint older than the newest on
disk (docs/training.md has the measurement). The actors here start with one placement group and
resume from the newest checkpoint by construction.

A session run in threads (cluster.executor) trains its one worker in this process instead, with
the same Worker and Keeper, and no restarts: nothing but the process itself can be lost.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import xgboost as xgb

from distml.cluster import actors
from distml.cluster.session import threads
from distml.data.fs import join
from distml.errors import UserError
from distml.model.checkpoints import Keeper, checkpoint_dir, newest_checkpoint
from distml.model.collective import Collective
from distml.model.worker import RankResult, TrainJob, Worker, model_names
from distml.progress import clock, human, say

MODEL_FILE = "model.ubj"


@dataclass(frozen=True)
class Resources:
    """What the workers reserve and how often a lost one may be replaced."""

    num_workers: int
    cpus_per_worker: float
    use_gpu: bool = False
    max_failures: int = 1


class WorkersLost(Exception):
    """A worker process or its node was lost during an attempt (not an error in the work):
    training may restart from the newest checkpoint. ``__cause__`` is Ray's error."""


@dataclass(frozen=True)
class TrainResult:
    """What training did (run.json's train stage, the curve's per-size entry)."""

    workers: int
    started_from_rounds: int
    failures: int
    resumed_from_rounds: list[int]
    restarted_unix: list[float]
    checkpoints_written: list[tuple[int, float]]
    """(rounds, unix time) of each checkpoint stored."""
    best_iteration: int | None
    rounds_trained: int
    rank_rows: list[int]
    rank_models: list[dict[str, Any]]
    """Per rank: model_sha256, rounds, best_iteration (equal on every rank)."""
    nodes: list[str]
    matrix_seconds: float
    """The slowest rank's matrix build (s)."""
    boost_seconds: float
    """The slowest rank's boosting (s)."""
    cache_bytes: list[int]
    seconds: float
    """Wall time of fit, restarts included (s)."""


@dataclass
class _Attempts:
    """What happened across restarts (run.json's train stage)."""

    started_from_rounds: int = 0
    failures: int = 0
    resumed_from_rounds: list[int] = field(default_factory=list)
    restarted_unix: list[float] = field(default_factory=list)


def _run_group(
    job: TrainJob, res: Resources, start_raw: bytes | None, keeper: actors.KeeperClient, tick
) -> tuple[list[RankResult], list[str]]:
    """One attempt: a worker group and its collective, from ``start_raw``; raises WorkersLost
    (from Ray's error) when a worker or node was lost, the work's own error otherwise."""
    group = actors.ActorGroup(Worker, res.num_workers, res.cpus_per_worker, int(res.use_gpu))
    coll = Collective(res.num_workers)
    try:
        args = coll.start(actors.driver_ip())
        world = res.num_workers
        refs = group.call(
            "run", [(job, world, f"{i:05d}", args, start_raw, keeper) for i in range(world)]
        )
        results = group.wait(refs, tick)
        nodes = group.nodes()
        coll.stop()
        return results, nodes
    except Exception as err:
        lost = actors.node_lost(err) or group.lost()
        coll.abandon()
        if lost:
            raise WorkersLost(_first_line(err)) from err
        raise
    finally:
        group.end()


class _HereKeeper:
    """A Keeper in this process behind the actor client's methods (cluster.executor threads)."""

    def __init__(self, storage: str) -> None:
        self.keeper = Keeper(storage)
        self.stopping = threading.Event()

    def stop_requested(self) -> bool:
        """Set when the command is interrupted: the worker stops after the current round."""
        return self.stopping.is_set()

    def save(self, rounds: int, raw: bytes, metrics: dict[str, float]) -> None:
        self.keeper.save(rounds, raw, metrics)

    def progress(self, rounds: int, metrics: dict[str, float]) -> None:
        self.keeper.progress(rounds, metrics)

    def latest(self) -> dict[str, Any]:
        return dict(self.keeper.get())

    def history(self) -> list[tuple[int, float]]:
        return self.keeper.history()

    def stop(self) -> None:
        pass


def _run_here(
    job: TrainJob, res: Resources, start_raw: bytes | None, keeper: _HereKeeper, tick
) -> tuple[list[RankResult], list[str]]:
    """The one worker in a thread of this process, ``tick`` about once a second meanwhile."""
    box: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            box["result"] = Worker().run(job, 1, "00000", {}, start_raw, keeper)
        except BaseException as err:  # noqa: BLE001 - raised again in the calling thread
            box["error"] = err
        finally:
            finished.set()

    # NOTE: waits on an Event, not Thread.join: a join interrupted by Ctrl-C marks the thread
    # stopped in CPython 3.11, and a second join would return while XGBoost still runs.
    threading.Thread(target=work, name="distml-train", daemon=True).start()
    try:
        while not finished.wait(1.0):
            tick()
    except BaseException:  # Ctrl-C: let XGBoost finish its round and the worker clean up
        keeper.stopping.set()
        finished.wait(60.0)
        raise
    if "error" in box:
        raise box["error"]
    return [box["result"]], ["this process"]


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _user_error(err: BaseException, storage: str, res: Resources, failures: int) -> UserError:
    if isinstance(err, WorkersLost):
        return UserError(
            f"Training lost a worker {failures + 1} time(s), more than "
            f"cluster.max_failures={res.max_failures} allows; the last: "
            f"{_first_line(err)} Checkpoints are in {storage}: check the "
            "cluster's nodes, then rerun with model.resume_from=<this run directory> (or "
            "raise cluster.max_failures)."
        )
    cause = getattr(err, "cause", err)  # a RayTaskError's cause: the worker's own error
    return UserError(
        f"XGBoost stopped training: {_first_line(cause)} Check model.params "
        "(passed to xgboost.train as given) and the cluster.* settings."
    )


def train_booster(
    job: TrainJob,
    res: Resources,
    storage: str,
    resume_from: str | None = None,
    progress_every: float = 10.0,
    name: str = "train",
    cancel: threading.Event | None = None,
) -> tuple[xgb.Booster, TrainResult]:
    """Train on ``res.num_workers`` workers; return the final booster and what happened.

    Starts from the newest checkpoint under ``resume_from`` (a stopped run's train folder) if
    given; checkpoints go to ``storage``, and a group restarted after a failure starts from the
    newest one there. ``name`` labels the progress lines. Once ``cancel`` is set (by a caller
    training several models from other threads) training stops within about a second and
    KeyboardInterrupt is raised.
    """
    storage = storage if "://" in storage else os.path.abspath(storage)  # actors' cwd differs
    first = newest_checkpoint(resume_from) if resume_from else None
    att = _Attempts(started_from_rounds=first[0] if first else 0)
    start_raw = first[1] if first else None
    t0 = time.perf_counter()
    here = threads() > 0
    keeper = _HereKeeper(storage) if here else actors.start_keeper(Keeper, storage)
    try:
        tick = _progress(job, keeper, t0, progress_every, name, cancel)
        while True:
            try:
                if here:
                    assert res.num_workers == 1, "threads train one worker"
                    results, nodes = _run_here(job, res, start_raw, keeper, tick)
                else:
                    results, nodes = _run_group(job, res, start_raw, keeper, tick)
                break
            except Exception as err:
                lost = isinstance(err, WorkersLost)
                if lost and att.failures < res.max_failures:
                    why = type(err.__cause__ or err).__name__  # Ray's error: which loss it was
                    start_raw = _restart(att, storage, res, start_raw, why, name)
                    continue
                if lost or isinstance(getattr(err, "cause", err), xgb.core.XGBoostError):
                    raise _user_error(err, storage, res, att.failures) from err
                raise
        written = keeper.history()
    finally:
        keeper.stop()
    ranked = sorted(results, key=lambda r: r.rank)
    assert ranked[0].model is not None, "rank 0 hands the model back"
    booster = xgb.Booster(model_file=bytearray(ranked[0].model))
    info = TrainResult(
        workers=res.num_workers,
        started_from_rounds=att.started_from_rounds,
        failures=att.failures,
        resumed_from_rounds=att.resumed_from_rounds,
        restarted_unix=att.restarted_unix,
        checkpoints_written=written,
        best_iteration=ranked[0].best_iteration,
        rounds_trained=ranked[0].rounds,
        rank_rows=[r.rows for r in ranked],
        rank_models=[
            {"model_sha256": r.model_sha256, "rounds": r.rounds, "best_iteration": r.best_iteration}
            for r in ranked
        ],
        nodes=sorted(set(nodes)),
        matrix_seconds=max(r.matrix_seconds for r in results),
        boost_seconds=max(r.boost_seconds for r in results),
        cache_bytes=[r.cache_bytes for r in ranked],
        seconds=time.perf_counter() - t0,
    )
    return booster, info


def _restart(
    att: _Attempts, storage: str, res: Resources, start_raw: bytes | None, why: str, name: str
) -> bytes | None:
    """After a lost worker: wait for Ray to settle, then the newest checkpoint on storage."""
    actors.settle()
    att.failures += 1
    att.restarted_unix.append(time.time())
    ckpt = newest_checkpoint(storage)
    resumed = ckpt[0] if ckpt else att.started_from_rounds
    att.resumed_from_rounds.append(resumed)
    say(
        name,
        f"a worker was lost ({why}); restarting {res.num_workers} workers from the checkpoint "
        f"at round {resumed} (failure {att.failures} of cluster.max_failures={res.max_failures})",
    )
    return ckpt[1] if ckpt else start_raw


def _progress(
    job: TrainJob,
    keeper: actors.KeeperClient | _HereKeeper,
    t0: float,
    every: float,
    name: str,
    cancel: threading.Event | None = None,
):
    """A tick printing rounds, rows, row-rounds/s, elapsed time and the valid metrics; it raises
    KeyboardInterrupt once ``cancel`` is set (the worker group then ends)."""
    total_rows = sum(s.num_rows for s in job.train)
    last = [time.perf_counter()]

    def tick() -> None:
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt(f"{name}: cancelled")
        if time.perf_counter() - last[0] < every:
            return
        last[0] = time.perf_counter()
        p = keeper.latest()
        if p:
            el = time.perf_counter() - t0
            metrics = "  ".join(f"{k}={v:.5g}" for k, v in p.items() if k != "rounds")
            say(
                name,
                f"round {p['rounds']}/{job.num_boost_round}  {human(total_rows)} rows  "
                f"{human(total_rows * p['rounds'] / el)} row-rounds/s  {clock(el)}  {metrics}",
            )

    return tick


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


def importance(booster: xgb.Booster, features: Sequence[str]) -> dict[str, dict[str, float]]:
    """Gain, cover and weight per feature, by the features' own names."""
    original = dict(zip(model_names(features), features, strict=True))
    return {
        t: {original.get(k, k): v for k, v in booster.get_score(importance_type=t).items()}
        for t in ("gain", "cover", "weight")
    }
