"""The evaluate stage: score valid and test shards in parallel Ray tasks, merge exact states.

The threshold is chosen on valid (``eval.threshold``), then test is scored with it: one pass per
split writes ``predictions/`` and returns a mergeable state (distml.metrics) with the unweighted and
population-weighted score histograms, Poisson-bootstrap replicates and per-slice histograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from distml import parallel
from distml.config import EvalConfig
from distml.keys import row_ids
from distml.metrics import (
    BINARY_HEADLINE,
    Bootstrap,
    MulticlassState,
    RegressionState,
    ScoreHist,
    binary_metrics,
    check_gates,
    choose_threshold,
)
from distml.shards import Shard, join, read_shard, write_parquet

SLICE_PREFIX = "__slice__"


def task_of(params: dict[str, Any]) -> str:
    """binary | multiclass | regression, from the XGBoost objective."""
    obj = str(params.get("objective", "reg:squarederror"))
    if obj.startswith("binary:"):
        return "binary"
    if obj.startswith("multi:"):
        return "multiclass"
    return "regression"


@dataclass(frozen=True)
class ScoreJob:
    model: bytes
    task: str
    features: tuple[str, ...]
    label: str
    id_column: str | None
    split: str
    out: str | None
    threshold: float | None = None
    replicates: int = 0
    seed: int = 0
    bins: int | None = None
    slices: tuple[str, ...] = ()
    weighted: bool = False


@dataclass
class SplitState:
    hist: Any = None
    weighted: Any = None
    boot: Bootstrap | None = None
    slices: dict[str, dict[str, ScoreHist]] = field(default_factory=dict)

    def merge(self, o: SplitState) -> SplitState:
        if o.hist is None:
            return self
        if self.hist is None:
            return o
        self.hist = self.hist.merge(o.hist)
        self.weighted = (
            self.weighted.merge(o.weighted)
            if self.weighted and o.weighted
            else (self.weighted or o.weighted)
        )
        self.boot = self.boot.merge(o.boot) if self.boot and o.boot else (self.boot or o.boot)
        for c, d in o.slices.items():
            mine = self.slices.setdefault(c, {})
            for v, h in d.items():
                mine[v] = mine[v].merge(h) if v in mine else h
        return self


def score_shard(shard: Shard, job: ScoreJob) -> tuple[SplitState, int]:
    """Score one feature shard, write its predictions, return its mergeable state."""
    keep = [c for c in (job.id_column, job.label) if c]
    extra = [f"{SLICE_PREFIX}{c}" for c in job.slices] + (["weight"] if job.weighted else [])
    df = read_shard(shard, list(dict.fromkeys([*keep, *extra, *job.features])))
    booster = xgb.Booster(params={"nthread": 1})
    booster.load_model(bytearray(job.model))
    booster.set_param({"device": "cpu"})  # scoring tasks run on CPUs, whatever trained the model
    pred = booster.inplace_predict(
        df.select(job.features).to_numpy().astype(np.float32, copy=False)
    )
    y = df.get_column(job.label).to_numpy()
    out = df.select(keep).rename({job.label: "label"} if job.label != "label" else {})
    st = SplitState()
    if job.task == "multiclass":
        proba = np.asarray(pred, dtype=np.float64).reshape(len(df), -1)
        out = out.with_columns(
            pl.Series("score", proba.max(axis=1)),
            pl.Series("prediction", proba.argmax(axis=1)),
            *[pl.Series(f"proba_{k}", proba[:, k]) for k in range(proba.shape[1])],
        )
        st.hist = MulticlassState.of(proba, y)
        if job.weighted:
            st.weighted = MulticlassState.of(proba, y, df.get_column("weight").to_numpy())
    elif job.task == "regression":
        score = np.asarray(pred, dtype=np.float64)
        out = out.with_columns(pl.Series("score", score))
        st.hist = RegressionState.of(score, y)
        if job.weighted:
            st.weighted = RegressionState.of(score, y, df.get_column("weight").to_numpy())
    else:
        score = np.asarray(pred, dtype=np.float64)
        out = out.with_columns(pl.Series("score", score))
        st.hist = ScoreHist.of(score, y, bins=job.bins)
        if job.weighted:
            st.weighted = ScoreHist.of(score, y, df.get_column("weight").to_numpy(), bins=job.bins)
        if job.replicates and job.threshold is not None:
            ids = (
                row_ids(df, job.id_column)
                if job.id_column
                else np.arange(shard.row_offset, shard.row_offset + len(df), dtype=np.uint64)
                + np.uint64(shard.file_index << 40)
            )
            st.boot = Bootstrap.of(ids, score, y, job.threshold, job.replicates, job.seed)
        for c in job.slices:
            col = df.get_column(f"{SLICE_PREFIX}{c}").cast(pl.String).fill_null("\u2205").to_numpy()
            st.slices[c] = {
                str(v): ScoreHist.of(score[col == v], y[col == v], bins=job.bins)
                for v in np.unique(col)
            }
    if job.out is not None:
        write_parquet(
            out.with_columns(pl.lit(job.split).alias("split")),
            join(job.out, f"part-{job.split}-{shard.index:05d}.parquet"),
        )
    return st, shard.num_rows


def score(shards: tuple[Shard, ...], job: ScoreJob, num_cpus: float, stats) -> SplitState:
    return parallel.map_merge(
        score_shard,
        shards,
        SplitState.merge,
        SplitState(),
        args=(job,),
        label=f"evaluate: score {job.split}",
        num_cpus=num_cpus,
        stats=stats,
    )


def split_metrics(
    st: SplitState, task: str, threshold: float | None, cfg: EvalConfig, details: bool
) -> dict[str, Any]:
    if st.hist is None:
        return {"rows": 0, "error": "no rows to evaluate"}
    if task != "binary":
        return st.hist.metrics()
    assert threshold is not None
    m = binary_metrics(st.hist, threshold, cfg.beta, details=details)
    if st.weighted is not None:
        pop = binary_metrics(st.weighted, threshold, cfg.beta)
        m["population"] = {
            k: v for k, v in pop.items() if k not in ("confusion_matrix", "beta", "threshold")
        }
        m["population"]["note"] = (
            "weighted by the sample's inverse inclusion probabilities (N_h/n_h)"
        )
    if st.boot is not None:
        m["intervals"] = st.boot.intervals(cfg.beta)
        m["intervals_method"] = (
            f"Poisson bootstrap, {st.boot.hist.shape[0]} replicates, 95% percentile"
        )
    if st.slices:
        m["slices"] = {
            c: {
                v: (
                    _slice_summary(binary_metrics(h, threshold, cfg.beta))
                    if h.arrays()[1].sum() + h.arrays()[2].sum() >= cfg.min_slice_size
                    else {
                        "rows": _rows(h),
                        "skipped": f"fewer than eval.min_slice_size={cfg.min_slice_size} rows",
                    }
                )
                for v, h in sorted(vals.items())
            }
            for c, vals in st.slices.items()
        }
    return m


def _rows(h: ScoreHist) -> int:
    _, pos, neg = h.arrays()
    return int(pos.sum() + neg.sum())


def _slice_summary(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in BINARY_HEADLINE}


def evaluate(
    booster: xgb.Booster,
    fplan: dict,
    features: list[str],
    *,
    label: str,
    id_column: str | None,
    params: dict[str, Any],
    cfg: EvalConfig,
    seed: int,
    pred_dir: str | None,
    weighted: bool,
    num_cpus: float,
    stats,
) -> dict[str, Any]:
    """Score valid (choose the threshold), then test; return metrics.json's content."""
    task = task_of(params)
    base = ScoreJob(
        model=bytes(booster.save_raw("ubj")),
        task=task,
        features=tuple(features),
        label=label,
        id_column=id_column,
        split="valid",
        out=pred_dir,
        bins=cfg.bins,
        weighted=weighted,
        seed=seed,
    )
    states: dict[str, SplitState] = {}
    metrics: dict[str, Any] = {"task": task}
    threshold = None
    if "valid" in fplan:
        states["valid"] = score(fplan["valid"].shards, base, num_cpus, stats)
    if task == "binary":
        th = cfg.threshold
        ref = states.get("valid")
        chosen = (
            choose_threshold(ref.hist, th.policy, th.value, th.min_recall)
            if ref and ref.hist
            else {"policy": "fixed", "value": th.value}
        )
        metrics["threshold"] = chosen
        threshold = chosen["value"]
    if "test" in fplan:
        job = ScoreJob(
            **{
                **base.__dict__,
                "split": "test",
                "threshold": threshold,
                "replicates": cfg.bootstrap,
                "slices": tuple(cfg.slices),
            }
        )
        states["test"] = score(fplan["test"].shards, job, num_cpus, stats)
    for split, st in states.items():
        metrics[split] = split_metrics(st, task, threshold, cfg, details=split == "test")
    if cfg.gates and "test" in metrics:
        metrics["gate"] = check_gates(list(cfg.gates), metrics["test"])
    return metrics
