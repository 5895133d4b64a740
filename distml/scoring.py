"""The one scoring path: raw rows -> the fitted preprocessor -> the XGBoost model -> scores.

Evaluation (the sample's valid and test rows), ``distml predict`` and ``distml monitor`` (new
data, with the training run's contract) and ``distml retrain`` (the candidate's test rows scored
by the current model) all map ``score_shard`` over shards, so a row gets the same score
wherever it is scored: the same ``preprocess.apply``, the same booster, the same float32 matrix.
A shard task returns a small mergeable ``ScoreState``; what it holds depends on ``Summary``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from distml.cluster.tasks import MapStats, map_merge
from distml.data.columns import (
    CAST_FAILED,
    LABEL,
    PREDICTION,
    PROBA_PREFIX,
    REASON,
    SCORE,
    SPLIT,
    WEIGHT,
)
from distml.data.fs import join, write_parquet
from distml.data.reading import read_or_skip
from distml.data.shards import Shard
from distml.preprocess.apply import apply
from distml.profile.state import ProfileJob, ProfileState, profile_frame
from distml.quality.contract import Contract
from distml.stats.binary import ScoreHist
from distml.stats.bootstrap import Bootstrap, StateReplicates
from distml.stats.keys import row_ids
from distml.stats.multiclass import evaluation_state
from distml.stats.sketches import NumericSketch
from distml.target import Target

NULL_SLICE = "\u2205"


@dataclass(frozen=True)
class Model:
    """What scoring needs from a training run: the model (XGBoost UBJSON), its task, the fitted
    preprocessor and the decision threshold (binary)."""

    raw: bytes
    task: str
    spec: dict[str, Any]
    threshold: float | None = None

    @property
    def features(self) -> list[str]:
        return list(self.spec["output_columns"])

    @property
    def target(self) -> Target:
        """The label's classes in code order (saved in preprocessor.json)."""
        return Target.from_json(self.spec["target"])

    def booster(self) -> xgb.Booster:
        booster = xgb.Booster(params={"nthread": 1})
        booster.load_model(bytearray(self.raw))
        booster.set_param({"device": "cpu"})  # scoring tasks run on CPUs, whatever trained it
        return booster


def predict(model: Model, rows: pl.DataFrame, booster: xgb.Booster | None = None) -> np.ndarray:
    """Scores of raw rows: shape (n,) for binary (P(positive)) and regression, (n, k) for
    multiclass (class probabilities)."""
    feats = apply(model.spec, rows).select(model.features)
    booster = booster or model.booster()
    pred = np.asarray(booster.inplace_predict(feats.to_numpy().astype(np.float32, copy=False)))
    return pred.reshape(len(rows), -1) if model.task == "multiclass" else pred.astype(np.float64)


def prediction_frame(keep: pl.DataFrame, pred: np.ndarray, model: Model) -> pl.DataFrame:
    """``keep`` (id, label) with score, prediction (at the threshold, binary; the top class,
    multiclass), both in the label's own values, and the class probabilities."""
    target = model.target
    if model.task == "multiclass":
        return keep.with_columns(
            pl.Series(SCORE, pred.max(axis=1)),
            target.decode(pred.argmax(axis=1)).alias(PREDICTION),
            *[
                pl.Series(f"{PROBA_PREFIX}{target.classes[k]}", pred[:, k])
                for k in range(pred.shape[1])
            ],
        )
    out = keep.with_columns(pl.Series(SCORE, pred))
    if model.task == "binary" and model.threshold is not None:
        positive = (pred >= model.threshold).astype(np.int64)
        out = out.with_columns(target.decode(positive).alias(PREDICTION))
    return out


@dataclass(frozen=True)
class Summary:
    """Which mergeable states a scoring task returns besides its row counts."""

    metrics: bool = True
    """The evaluation state of the scored rows (needs their labels)."""
    bins: int | None = None
    """Scores rounded down to this many bins in binary histograms (null: exact)."""
    row_weight: str | None = None
    """The rows' own weights (data.weight_column): the evaluation state is weighted by them."""
    weighted: bool = False
    """Also the state weighted by the sample's ``weight`` (population estimates)."""
    replicates: int = 0
    """Poisson-bootstrap replicates (a binary model's need ``threshold``)."""
    threshold: float | None = None
    """The decision threshold of the replicates' confusion counts."""
    seed: int = 0
    slices: tuple[str, ...] = ()
    """Raw columns whose values get their own histograms (binary)."""
    score_sketch: bool = False
    """The distribution of the score (monitoring)."""
    profile: ProfileJob | None = None
    """The profile of the rows as read (monitoring)."""


@dataclass(frozen=True)
class ScoreJob:
    """One scoring map: what to read, which rows to score, where to write, what to return."""

    model: Model
    columns: tuple[str, ...]
    """Columns read from each shard."""
    label: str | None
    id_column: str | None
    split: str | None = None
    """Score only this split's rows of a sample/ folder (and tag the predictions with it)."""
    contract: Contract | None = None
    """Rows that break it are quarantined, not scored (new data)."""
    out: str | None = None
    """predictions/ (and quarantine/) are written under this folder."""
    summary: Summary = field(default_factory=Summary)
    on_bad_file: str = "error"
    """A file that cannot be read: 'error' (a UserError naming it) or 'skip' (listed)."""


@dataclass
class ScoreState:
    """A scoring task's mergeable result."""

    rows_in: int = 0
    rows_scored: int = 0
    rows_quarantined: int = 0
    per_shard: dict[str, dict[str, int]] = field(default_factory=dict)
    metric: Any = None
    """ScoreHist (binary), MulticlassState or RegressionState of the labelled scored rows."""
    weighted: Any = None
    boot: Bootstrap | StateReplicates | None = None
    slices: dict[str, dict[str, ScoreHist]] = field(default_factory=dict)
    score_sketch: NumericSketch | None = None
    profile: ProfileState | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files that could not be read (on_bad_file 'skip'), with the reason."""

    def merge(self, o: ScoreState) -> ScoreState:
        self.skipped.extend(o.skipped)
        self.rows_in += o.rows_in
        self.rows_scored += o.rows_scored
        self.rows_quarantined += o.rows_quarantined
        self.per_shard.update(o.per_shard)
        for f in fields(self):
            if f.name in ("metric", "weighted", "boot", "score_sketch", "profile"):
                a, b = getattr(self, f.name), getattr(o, f.name)
                setattr(self, f.name, b if a is None else (a if b is None else a.merge(b)))
        for c, d in o.slices.items():
            mine = self.slices.setdefault(c, {})
            for v, h in d.items():
                mine[v] = mine[v].merge(h) if v in mine else h
        return self


def bootstrap_ids(df: pl.DataFrame, id_column: str | None, shard: Shard) -> np.ndarray:
    """The rows' ids for bootstrap weights: the id column's, else the row's place (file, row)."""
    if id_column:
        return row_ids(df, id_column)
    start = shard.row_offset
    return np.arange(start, start + len(df), dtype=np.uint64) + np.uint64(shard.file_index << 40)


def _summarize(st: ScoreState, df: pl.DataFrame, pred: np.ndarray, job: ScoreJob, shard: Shard):
    """Fill the states ``job.summary`` asks for from the scored rows."""
    sm, task = job.summary, job.model.task
    if sm.score_sketch and task != "multiclass":
        st.score_sketch = NumericSketch.of(pl.Series(pred))
    if not sm.metrics or job.label is None:
        return
    y = job.model.target.encode(df.get_column(job.label))
    rw = df.get_column(sm.row_weight).cast(pl.Float64).to_numpy() if sm.row_weight else None
    st.metric = evaluation_state(task, pred, y, rw, sm.bins)
    if sm.weighted:
        st.weighted = evaluation_state(task, pred, y, df.get_column(WEIGHT).to_numpy(), sm.bins)
    if sm.replicates and (sm.threshold is not None or task != "binary"):
        ids = bootstrap_ids(df, job.id_column, shard)
        st.boot = (
            Bootstrap.of(ids, pred, y, sm.threshold, sm.replicates, sm.seed, rw)
            if task == "binary"
            else StateReplicates.of(task, ids, pred, y, sm.replicates, sm.seed, rw)
        )
    if task != "binary":
        return
    for c in sm.slices:
        col = df.get_column(c).cast(pl.String).fill_null(NULL_SLICE).to_numpy()
        st.slices[c] = {
            str(v): ScoreHist.of(
                pred[col == v], y[col == v], None if rw is None else rw[col == v], bins=sm.bins
            )
            for v in np.unique(col)
        }


def _part(job: ScoreJob, shard: Shard) -> str:
    return (
        f"part-{job.split}-{shard.index:05d}.parquet"
        if job.split
        else f"part-{shard.index:05d}.parquet"
    )


def score_shard(shard: Shard, job: ScoreJob) -> tuple[ScoreState, int]:
    """Score one shard's rows; write its predictions (and quarantine); return its state."""
    df, skipped = read_or_skip(shard, list(job.columns), job.on_bad_file)
    if df is None:
        return ScoreState(skipped=[skipped]), 0  # type: ignore[list-item]
    if job.split is not None:
        df = df.filter(pl.col(SPLIT) == job.split)
    st = ScoreState(rows_in=df.height)
    if job.summary.profile is not None:
        st.profile, _ = profile_frame(df, job.summary.profile)
    good = df
    if job.contract is not None:
        ok = job.contract.check(df, shard.path)
        good, bad = df.filter(ok), df.filter(~ok)
        if bad.height and job.out is not None:
            reasons = bad.with_columns(job.contract.reasons().alias(REASON)).drop(
                CAST_FAILED, strict=False
            )
            write_parquet(reasons, join(job.out, "quarantine", _part(job, shard)))
        st.rows_quarantined = bad.height
    st.rows_scored = good.height
    if good.height:
        pred = predict(job.model, good)
        _summarize(st, good, pred, job, shard)
        if job.out is not None:
            keep = good.select(
                *([job.id_column] if job.id_column else []),
                *([pl.col(job.label).alias(LABEL)] if job.label else []),
            )
            frame = prediction_frame(keep, pred, job.model)
            if job.split is not None:
                frame = frame.with_columns(pl.lit(job.split).alias(SPLIT))
            write_parquet(frame, join(job.out, "predictions", _part(job, shard)))
    st.per_shard[shard.key] = {
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
    }
    return st, shard.num_rows


def score(
    shards: tuple[Shard, ...] | list[Shard],
    job: ScoreJob,
    label: str,
    num_cpus: float = 1.0,
    stats: MapStats | None = None,
) -> ScoreState:
    """``score_shard`` mapped over the shards on Ray, the states merged on the driver."""
    return map_merge(
        score_shard,
        shards,
        ScoreState.merge,
        ScoreState(),
        args=(job,),
        label=label,
        num_cpus=num_cpus,
        stats=stats,
    )
