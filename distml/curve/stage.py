"""``distml curve``: the data stages of a run once, then one model per training size.

    profile -> sample -> preprocess (cached like a run's) -> curve

The curve stage: (1) a map over the sample's shards returns every train row's stratum and key
(small: four numbers a row, bounded by the sample) and writes the valid and test rows to
``curve/holdout/``; (2) the cut of each stratum at each size;
(3) a map over the sample's shards writes the nested training sets as bands
(``curve/train/band-BB``, the fitted preprocessor applied); (4) the models are trained at most
``curve.max_concurrent`` at once, each on its own gang-scheduled worker group (the sweep
launcher's scheduling: all of a trial's workers or none); (5) each is scored on the sample's
valid (threshold) and test rows in curve/holdout/, the same rows for every size.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import polars as pl

from distml.cluster.session import check_fits, worker_cpus
from distml.cluster.tasks import map_merge
from distml.config import CurveConfig, CurveSettings
from distml.curve import nested
from distml.curve.report import check_metric, metric_name, summarize, write_outputs
from distml.data.columns import STRATUM, WEIGHT, row_weight_column
from distml.data.shards import Shard, plan
from distml.errors import UserError
from distml.model.train import MODEL_FILE, TrainResult, train_booster
from distml.pipeline.context import RunContext, Stage
from distml.pipeline.runner import cached_data_stages, prepare
from distml.pipeline.stages import resources, score_model, train_job
from distml.preprocess.apply import apply_shard
from distml.progress import say
from distml.sampling.first_pass import add_counts
from distml.sampling.plan import size_note
from distml.scoring import Model

ORDER_SCHEMA = {STRATUM: pl.String, "_key": pl.UInt64, "_shard": pl.Int64, "_row": pl.Int64}
SIZE_MARGIN = 100
"""Rows added to the sample sized from curve.sizes: the split's rounding per stratum."""


def sized(s: CurveSettings, population: int) -> CurveSettings:
    """With curve.sizes and no sample size set, a sample whose train split holds the largest:
    every row when that is about all of the ``population`` rows."""
    sm = s.sampling
    if s.curve.sizes is None or any(x is not None for x in (sm.size, sm.fraction, sm.max_memory)):
        return s
    size = math.ceil(max(s.curve.sizes) / sm.split.train) + SIZE_MARGIN
    fit = replace(sm, size=size) if size < population else replace(sm, fraction=1.0)
    return replace(s, sampling=fit)


def run_curve(s: CurveSettings, run_dir: str) -> dict[str, Any]:
    """The learning curve into ``run_dir``; curve.json's content."""
    for key, value in (
        ("pipeline.until", s.pipeline.until),
        ("model.resume_from", s.model.resume_from),
    ):
        if value is not None:
            raise UserError(
                f"{key}={value} does not apply to `distml curve`, which runs the data stages "
                f"once and then trains one model per size. Drop {key}."
            )
    if s.sampling.split.test <= 0:
        raise UserError(
            "`distml curve` compares the models on the sample's test rows, and "
            "sampling.split.test is 0: set it above 0 (e.g. 0.15)."
        )
    ctx = prepare(s, run_dir, s.curve.workers_per_trial, "curve.workers_per_trial")
    ctx.settings = sized(ctx.settings, ctx.dataset.num_rows)
    name = metric_name(ctx.task, s.curve.metric)  # before any stage runs
    cluster = ctx.settings.cluster
    # what `distml run` would give its workers: the largest size trains as it would
    run_cpus = worker_cpus(cluster, s.curve.workers_per_trial)
    ctx.cpus_per_worker = worker_cpus(cluster, s.curve.workers_per_trial, s.curve.max_concurrent)
    check_fits(s.curve.workers_per_trial, ctx.cpus_per_worker, "curve.workers_per_trial")
    cached_data_stages(ctx)
    shutil.rmtree(ctx.out("curve"), ignore_errors=True)
    with ctx.record.stage("curve") as st:
        result, largest = curve(ctx, s.curve, name, st, run_cpus)
    write_outputs(run_dir, result, largest)
    ctx.record.data["curve"] = {k: result[k] for k in ("metric", "recommendation")}
    ctx.record.save()
    return result


def _order(ctx: RunContext, sample: list[Shard], st: Stage) -> pl.DataFrame:
    """Every train row of the sample as (stratum, _key, _shard, _row); the valid and test rows
    written to curve/holdout/."""
    s = ctx.settings
    return map_merge(
        nested.order_task,
        sample,
        lambda a, b: pl.concat([a, b], rechunk=False),
        pl.DataFrame(schema=ORDER_SCHEMA),
        args=(s.data.id_column, s.seed, ctx.out("curve", "holdout")),
        label="curve: order",
        num_cpus=ctx.num_cpus,
        stats=st.stats,
    )


def _sizes(ctx: RunContext, train_rows: int) -> list[int]:
    s, c = ctx.settings, ctx.settings.curve
    if c.sizes is None:
        return nested.ladder(train_rows, c.steps, c.smallest)
    sizes = sorted({int(n) for n in c.sizes})
    if sizes[-1] > train_rows:
        how = size_note(s.sampling, ctx.dataset.num_rows)
        fix = (
            "Lower the largest of curve.sizes (the sample already holds every row)."
            if s.sampling.fraction == 1.0
            else "Raise sampling.size, or drop it and distml sizes the sample from curve.sizes."
        )
        raise UserError(
            f"curve.sizes asks for {sizes[-1]:,} training rows, but the sample's train split holds "
            f"{train_rows:,} (the sample: {how}; sampling.split.train={s.sampling.split.train}). "
            + fix
        )
    return sizes


def _bands(
    ctx: RunContext, sample: list[Shard], cuts, sizes: list[int], st: Stage
) -> list[list[Shard]]:
    """Write the nested training sets as bands; each size's feature shards (bands 0..i)."""
    s = ctx.settings
    rw = row_weight_column(s.data.weight_column)
    keep = tuple(c for c in (s.data.id_column, s.data.label, WEIGHT, rw, STRATUM) if c)
    parts = nested.banding(cuts, s.data.id_column, s.seed)
    rows = map_merge(
        apply_shard,
        sample,
        add_counts,
        {},
        args=(ctx.spec, ctx.out("curve", "train"), keep, parts),
        label="curve: training sets",
        num_cpus=ctx.num_cpus,
        stats=st.stats,
    )
    want = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    got = [rows.get(f"band-{b:02d}", 0) for b in range(len(sizes))]
    if got != want:  # a broken invariant, not a user error
        raise RuntimeError(f"curve bands hold {got} rows, expected {want}")
    bands = [
        plan(
            ctx.out("curve", "train", f"band-{b:02d}"), s.data.shard_rows, what="curve band"
        ).shards
        for b in range(len(sizes))
    ]
    return [[sh for band in bands[: i + 1] for sh in band] for i in range(len(sizes))]


def curve(
    ctx: RunContext, cfg: CurveConfig, metric: str, st: Stage, run_cpus: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train and score one model per size; curve.json's content and the largest's metrics.

    When the largest size is the whole train split, its model is `distml run`'s: trained on the
    run's own feature shards (features/train, in their order) with the CPUs per worker a run
    gets (``run_cpus``), so the same rows, order and threads give the same trees."""
    s = ctx.settings
    assert ctx.spec is not None
    sample = plan(ctx.out("sample"), s.data.shard_rows, what="sample folder")
    order = _order(ctx, list(sample.shards), st)
    sizes = _sizes(ctx, order.height)
    whole = sizes[-1] == order.height
    counts = {str(k): int(v) for k, v in order.group_by(STRATUM).len().iter_rows()}
    cuts = nested.cuts(order, sizes)
    del order
    train_sets = _bands(ctx, list(sample.shards), cuts, sizes, st)
    holdout_dir = ctx.out("curve", "holdout")
    if not os.path.isdir(holdout_dir):
        raise UserError(
            "The sample has no valid or test rows, so the models cannot be compared: set "
            "sampling.split.test above 0 (and a sampling.size that leaves test rows)."
        )
    holdout = plan(holdout_dir, s.data.shard_rows, what="curve holdout")
    valid_dir = ctx.out("features", "valid")
    valid = plan(valid_dir, s.data.shard_rows).shards if os.path.isdir(valid_dir) else ()
    say("curve", f"{len(sizes)} sizes {sizes}, at most {cfg.max_concurrent} trained at once")
    res = resources(ctx, cfg.workers_per_trial)

    run_train = (
        plan(ctx.out("features", "train"), s.data.shard_rows).shards
        if whole and os.path.isdir(ctx.out("features", "train"))
        else None
    )

    def trial(i: int) -> tuple[Any, dict[str, Any]]:
        n = sizes[i]
        storage = ctx.out("curve", str(n), "train")
        if run_train is not None and i == len(sizes) - 1:
            job = replace(train_job(ctx, run_train, valid), nthread=max(1, int(run_cpus)))
            big = replace(res, cpus_per_worker=run_cpus)
            return train_booster(job, big, storage, name=f"curve {n:,}", cancel=cancel)
        job = train_job(ctx, train_sets[i], valid)
        return train_booster(job, res, storage, name=f"curve {n:,}", cancel=cancel)

    points: list[dict[str, Any]] = []
    cancel = threading.Event()  # Ctrl-C or a failed trial: the others stop within a second
    pool = ThreadPoolExecutor(max_workers=cfg.max_concurrent)
    try:
        futures = [pool.submit(trial, i) for i in range(len(sizes))]
        for n, fut in zip(sizes, futures, strict=True):  # scored in size order as they finish
            booster, info = _result(fut)
            points.append(_score(ctx, holdout, n, booster, info, st))
            points[-1]["rows_by_stratum"] = nested.sizes_by_stratum(counts, n)
            check_metric(points[-1]["metrics"], metric)
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    st.entry["rows"] = sample.num_rows
    st.entry["sizes"] = sizes
    c = summarize(points, ctx.task, cfg, counts, ctx.dataset.num_rows)
    return c, points[-1]["metrics"]


def _result(fut: Future) -> Any:
    """``fut.result()``, waiting in short steps: a wait with no timeout is not interrupted by
    Ctrl-C here, so a curve could not be stopped until its running trials ended."""
    while True:
        try:
            return fut.result(timeout=0.5)
        except TimeoutError:
            continue


def _score(
    ctx: RunContext, holdout, n: int, booster, info: TrainResult, st: Stage
) -> dict[str, Any]:
    """One size's model saved and scored on the sample's valid and test rows (``holdout``)."""
    out = ctx.out("curve", str(n))
    os.makedirs(out, exist_ok=True)
    booster.save_model(os.path.join(out, MODEL_FILE))
    t0 = time.perf_counter()
    model = Model(bytes(booster.save_raw("ubj")), ctx.task, ctx.spec)
    metrics = score_model(ctx, model, holdout, out, st)
    return {
        "train_rows": n,
        # building the matrices and boosting; waiting for CPUs while others train is not counted
        "train_seconds": round(info.matrix_seconds + info.boost_seconds, 3),
        "wall_seconds": round(info.seconds, 3),
        "score_seconds": round(time.perf_counter() - t0, 3),
        "rank_rows": info.rank_rows,
        "rounds": booster.num_boosted_rounds(),
        "best_iteration": info.best_iteration,
        "metrics": metrics,
        "model": os.path.join(out, MODEL_FILE),
    }
