"""Batch scoring: a trained run's preprocessor and model applied to new sharded data.

``distml predict model_run=<run or model dir> data.path=<new data>`` conforms the new files to the
training schema and checks the training run's row rules (the same contract), quarantines rows
that break them, and scores the rest in parallel Ray tasks with the saved ``preprocessor.json``,
``model.ubj`` and threshold. Each shard task writes ``predictions/part-NNNNN.parquet`` (id,
``score``, ``prediction``, the label when present) and its quarantined rows; per shard and in total
``rows_in = rows_scored + rows_quarantined`` (``predict.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb
from omegaconf import OmegaConf

from distml import parallel, preprocess, quality, shards
from distml.config import Settings, to_settings
from distml.errors import UserError
from distml.evaluate import task_of
from distml.metrics import MulticlassState, RegressionState, ScoreHist
from distml.profile import REASON, ProfileJob, ProfileState, profile_frame
from distml.shards import CAST_FAILED, Shard, join, read_shard, write_parquet
from distml.sketch import NumericSketch, from_json

MODEL_FILES = ("model.ubj", "preprocessor.json")


@dataclass(frozen=True)
class ModelRun:
    """What scoring needs from a training run (or a promoted model directory)."""

    path: str
    settings: Settings
    spec: dict[str, Any]
    model: bytes
    threshold: float | None
    reference: dict[str, Any]

    @property
    def task(self) -> str:
        return task_of(self.settings.model.params)


def load_run(path: str | None, key: str = "model_run") -> ModelRun:
    if not path:
        raise UserError(
            f"Set {key} to a training run directory (outputs/<date>/<time>) or a promoted model "
            f"directory (models/current), e.g. `distml predict {key}=outputs/... data.path=...`."
        )
    path = os.path.realpath(path)
    missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise UserError(
            f"The {key} '{path}' has no {', '.join(missing)}: point it at a run that finished "
            "training (distml run) or at a promoted model directory."
        )
    cfg_path = next(
        (
            p
            for p in (
                os.path.join(path, ".hydra", "config.yaml"),
                os.path.join(path, "config.yaml"),
            )
            if os.path.isfile(p)
        ),
        None,
    )
    if cfg_path is None:
        raise UserError(f"The {key} '{path}' has no .hydra/config.yaml or config.yaml.")
    settings = to_settings(
        OmegaConf.merge(OmegaConf.structured(Settings), OmegaConf.load(cfg_path))
    )
    threshold = None
    th = os.path.join(path, "threshold.json")
    if os.path.isfile(th):
        with open(th) as f:
            threshold = float(json.load(f)["value"])
    ref: dict[str, Any] = {}
    rp = os.path.join(path, "reference.json")
    if os.path.isfile(rp):
        with open(rp) as f:
            ref = json.load(f)
    with open(os.path.join(path, "model.ubj"), "rb") as f:
        model = f.read()
    return ModelRun(
        path,
        settings,
        preprocess.load(os.path.join(path, "preprocessor.json")),
        model,
        threshold,
        ref,
    )


def plan_new_data(run: ModelRun, uri: str | None, on_bad_file: str) -> tuple[shards.Dataset, list]:
    """New data, conformed to the training schema (the label may be absent)."""
    if not uri:
        raise UserError("Set data.path to the Parquet data to score (a folder, glob or URI).")
    s = run.settings
    ds = shards.plan(uri, s.data.shard_rows, on_bad_file=on_bad_file)
    families = dict(run.reference.get("schema", {}))
    present = set(quality.polars_schema(ds.schema))
    needed = set(preprocess.input_columns(run.spec)) | {c for c in (s.data.id_column,) if c}
    lacking = sorted(c for c in needed if c not in present)
    if lacking:
        raise UserError(
            f"The data at data.path '{uri}' lacks the columns {lacking} that the model in "
            f"'{run.path}' needs. Available columns: {', '.join(sorted(present))}."
        )
    families = {c: t for c, t in families.items() if c in present}
    ds, skipped = quality.conform(ds, replace(s.quality, schema=families), on_bad_file)
    return ds, skipped


def contract_for(run: ModelRun, ds: shards.Dataset) -> quality.Contract:
    """The training run's row rules; those on the label only when the new data has labels."""
    s = run.settings
    schema = quality.polars_schema(ds.schema)
    label = s.data.label if s.data.label in schema else None
    cfg = s.quality
    if label is None:
        keep = {
            k: r
            for k, r in cfg.rules.items()
            if r.column != s.data.label and (r.expr is None or s.data.label not in r.expr)
        }
        cfg = replace(cfg, rules=keep)
    values = quality.expected_labels(cfg, s.model.params) if label else None
    c = quality.build_contract(cfg, schema, label, values)
    return replace(c, parse_marker=any(sh.marker for sh in ds.shards))


@dataclass(frozen=True)
class ScoreJob:
    spec: dict[str, Any]
    model: bytes
    task: str
    threshold: float | None
    contract: quality.Contract
    columns: tuple[str, ...]
    id_column: str | None
    label: str | None
    out: str | None
    """Where predictions/ and quarantine/ go (None: monitor, which writes nothing per row)."""
    profile: ProfileJob | None = None
    score_bins: int | None = None
    summaries: bool = False
    """Return score histograms and sketches (monitor); predict only writes the rows."""


@dataclass
class ScoreState:
    rows_in: int = 0
    rows_scored: int = 0
    rows_quarantined: int = 0
    per_shard: dict[str, dict[str, int]] = field(default_factory=dict)
    scores: Any = None
    """ScoreHist (binary; label 0 where unknown), MulticlassState or RegressionState."""
    labelled: Any = None
    """The same with the true labels, when the data has them (live metrics)."""
    profile: ProfileState | None = None
    score_sketch: NumericSketch | None = None
    """The distribution of the score (binary: P(1); regression: the prediction)."""

    def merge(self, o: ScoreState) -> ScoreState:
        self.rows_in += o.rows_in
        self.rows_scored += o.rows_scored
        self.rows_quarantined += o.rows_quarantined
        self.per_shard.update(o.per_shard)
        for name in ("scores", "labelled", "profile", "score_sketch"):
            a, b = getattr(self, name), getattr(o, name)
            setattr(self, name, b if a is None else (a if b is None else a.merge(b)))
        return self


def booster_of(model: bytes) -> xgb.Booster:
    booster = xgb.Booster(params={"nthread": 1})
    booster.load_model(bytearray(model))
    booster.set_param({"device": "cpu"})
    return booster


def score_frame(booster: xgb.Booster, spec: dict[str, Any], df: pl.DataFrame, task: str):
    """Scores of raw rows: (n,) for binary and regression, (n, classes) for multiclass."""
    feats = preprocess.apply(spec, df).select(spec["output_columns"])
    pred = np.asarray(booster.inplace_predict(feats.to_numpy().astype(np.float32, copy=False)))
    return pred.reshape(len(df), -1) if task == "multiclass" else pred.astype(np.float64)


def _states(task: str, pred: np.ndarray, y: np.ndarray | None, bins: int | None):
    if task == "multiclass":
        return MulticlassState.of(pred, np.zeros(len(pred), dtype=np.int64)), (
            MulticlassState.of(pred, y) if y is not None else None
        )
    if task == "regression":
        return RegressionState.of(pred, np.zeros(len(pred))), (
            RegressionState.of(pred, y) if y is not None else None
        )
    return ScoreHist.of(pred, np.zeros(len(pred)), bins=bins), (
        ScoreHist.of(pred, y, bins=bins) if y is not None else None
    )


def score_shard(shard: Shard, job: ScoreJob) -> tuple[ScoreState, int]:
    cols = [*job.columns, *([CAST_FAILED] if job.contract.parse_marker else [])]
    df = read_shard(shard, cols)
    st = ScoreState(rows_in=df.height)
    ok = job.contract.accepted()
    good = df.filter(ok)
    if job.profile is not None:
        st.profile, _ = profile_frame(df, job.profile)
    if job.out is not None:
        bad = df.filter(~ok)
        if bad.height:
            bad = bad.with_columns(job.contract.reasons().alias(REASON)).select(
                *job.columns, REASON
            )
            write_parquet(bad, join(job.out, "quarantine", f"part-{shard.index:05d}.parquet"))
    st.rows_quarantined = df.height - good.height
    st.rows_scored = good.height
    if good.height:
        pred = score_frame(booster_of(job.model), job.spec, good, job.task)
        if job.summaries:
            y = good.get_column(job.label).to_numpy() if job.label else None
            st.scores, st.labelled = _states(job.task, pred, y, job.score_bins)
            if job.task != "multiclass":
                st.score_sketch = NumericSketch.of(pl.Series(pred))
        if job.out is not None:
            write_parquet(
                _predictions(good, pred, job),
                join(job.out, "predictions", f"part-{shard.index:05d}.parquet"),
            )
    st.per_shard[shard.key] = {
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
    }
    return st, df.height


def _predictions(good: pl.DataFrame, pred: np.ndarray, job: ScoreJob) -> pl.DataFrame:
    keep = [c for c in (job.id_column, job.label) if c]
    out = good.select(keep)
    if job.task == "multiclass":
        return out.with_columns(
            pl.Series("score", pred.max(axis=1)),
            pl.Series("prediction", pred.argmax(axis=1)),
            *[pl.Series(f"proba_{k}", pred[:, k]) for k in range(pred.shape[1])],
        )
    out = out.with_columns(pl.Series("score", pred))
    if job.task == "binary" and job.threshold is not None:
        out = out.with_columns((pl.col("score") >= job.threshold).cast(pl.Int8).alias("prediction"))
    return out


def make_job(run: ModelRun, ds: shards.Dataset, out: str | None, **extra: Any) -> ScoreJob:
    s = run.settings
    contract = contract_for(run, ds)
    label = s.data.label if s.data.label in ds.columns else None
    id_col = s.data.id_column if s.data.id_column in ds.columns else None
    needed = [*preprocess.input_columns(run.spec), *contract.columns]
    if extra.get("profile") is not None:
        needed = list(ds.columns)
    columns = tuple(
        c for c in dict.fromkeys([*(x for x in (id_col, label) if x), *needed]) if c != CAST_FAILED
    )
    return ScoreJob(
        spec=run.spec,
        model=run.model,
        task=run.task,
        threshold=run.threshold,
        contract=contract,
        columns=columns,
        id_column=id_col,
        label=label,
        out=out,
        **extra,
    )


def score_all(ds: shards.Dataset, job: ScoreJob, s: Settings, label: str) -> ScoreState:
    """One map over the data's shards on Ray (predict writes rows; monitor merges summaries)."""
    from distml.runtime import ray_session

    with ray_session(s.cluster):
        return parallel.map_merge(
            score_shard,
            ds.shards,
            ScoreState.merge,
            ScoreState(),
            args=(job,),
            label=label,
            num_cpus=s.cluster.task_cpus,
        )


def run_predict(s: Settings, run_dir: str) -> dict[str, Any]:

    run = load_run(s.model_run)
    ds, skipped = plan_new_data(run, s.data.path, s.data.on_bad_file)
    os.makedirs(run_dir, exist_ok=True)
    st = score_all(ds, make_job(run, ds, run_dir), s, "predict")
    out = {
        "model_run": run.path,
        "data_path": ds.uri,
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
        "threshold": run.threshold,
        "skipped_files": skipped,
        "empty_files": list(ds.empty_files),
        "per_shard": st.per_shard,
    }
    with open(os.path.join(run_dir, "predict.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(
        f"distml predict: scored {st.rows_scored:,} of {st.rows_in:,} rows "
        f"({st.rows_quarantined:,} quarantined) -> {os.path.join(run_dir, 'predictions')}",
        flush=True,
    )
    return out


def reference_sketches(run: ModelRun) -> dict[str, Any]:
    return {c: from_json(d) for c, d in run.reference.get("columns", {}).items()}
