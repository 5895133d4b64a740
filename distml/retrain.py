"""Gated retraining: a candidate trained on new data replaces the current model only when the
evidence says it is not worse and has skill.

``distml retrain data.path=<new data> [model_run=<current>] [overrides]`` runs the pipeline on the
new data (a fresh profile, sample and split) into its own run directory. Then one map over the
candidate's test rows scores them with both models (each through its own preprocessor, the one
scoring path), leaving out the rows the current model trained on (its ``trained_rows.parquet``:
distml/eval/trained_rows.py), so both are judged on rows neither trained on. The paired bootstrap
on those rows (distml/stats/paired.py) gives the improvement in ``retrain.metric`` with its
interval at ``retrain.confidence`` and the candidate's skill interval; the candidate is promoted
(distml/registry.py: the next ``vNNNN`` and ``current``, atomically, with a history line) only
when it passes its evaluation gates (eval.gates), is not worse beyond ``retrain.tolerance`` and,
with ``retrain.skill_gate``, shows skill. ``retrain.json`` records the decision and its reason;
the exit code is 0 when the candidate was promoted, 3 when it was not.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from distml import __version__, registry
from distml.artifacts import write_json
from distml.cluster.tasks import map_merge
from distml.config import RetrainSettings
from distml.data.columns import SPLIT
from distml.data.fs import filesystem
from distml.data.reading import read_or_skip
from distml.data.shards import Dataset, Shard, plan
from distml.errors import GateFailed, UserError
from distml.eval.trained_rows import TrainedRows, load_trained_rows
from distml.objective import QUALITY_METRICS, default_metric, task_of
from distml.pipeline import run_pipeline
from distml.preprocess.apply import input_columns
from distml.scoring import Model, bootstrap_ids, predict
from distml.stats.paired import PairedState, Rule, Scored, decide
from distml.trained.run import ModelRun, load_run


def data_fingerprint(ds: Dataset) -> str:
    """sha256 over every file's path, size and row count (metadata only)."""
    fs, _ = filesystem(ds.uri)
    h = hashlib.sha256()
    rows: dict[str, int] = {}
    for sh in ds.shards:
        rows[sh.path] = rows.get(sh.path, 0) + sh.num_rows
    for path in sorted(rows):
        size = fs.get_file_info(path).size
        h.update(f"{os.path.basename(path)}\t{size}\t{rows[path]}\n".encode())
    return h.hexdigest()


def code_version() -> dict[str, Any]:
    out: dict[str, Any] = {"distml": __version__}
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=os.path.dirname(__file__),
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode == 0:
            out["git"] = sha.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


@dataclass(frozen=True)
class PairedJob:
    """The comparison map: the test rows of the candidate's sample, scored by both models."""

    task: str
    candidate: Model
    current: Model | None
    columns: tuple[str, ...]
    label: str
    id_column: str | None
    row_weight: str | None
    trained: TrainedRows | None
    """The current model's trained rows, left out (None: none known)."""
    replicates: int
    seed: int


def paired_shard(shard: Shard, job: PairedJob) -> tuple[PairedState, int]:
    """One shard's test rows that the current model did not train on, scored by both models."""
    df, _ = read_or_skip(shard, list(job.columns), "error")
    assert df is not None
    n = df.height
    ids = bootstrap_ids(df, job.id_column, shard)  # before filtering: a row's place in its file
    test = (df.get_column(SPLIT) == "test").to_numpy()
    df, ids = df.filter(pl.Series(test)), ids[test]
    st = PairedState()
    if job.trained is not None and df.height:
        seen = job.trained.seen(df)
        st.excluded = int(seen.sum())
        df, ids = df.filter(pl.Series(~seen)), ids[~seen]
    st.rows = df.height
    if not df.height:
        return st, n
    rw = df.get_column(job.row_weight).cast(pl.Float64).to_numpy() if job.row_weight else None
    for name, model in (("candidate", job.candidate), ("current", job.current)):
        if model is None:
            continue
        y = model.target.encode(df.get_column(job.label))
        pred = predict(model, df)
        th = model.threshold if model.threshold is not None else 0.5
        setattr(st, name, Scored.of(job.task, pred, y, ids, rw, job.replicates, job.seed, th))
    return st, n


def _same_question(cand: Model, cur: Model, current_path: str) -> None:
    if cand.task != cur.task or cand.target.classes != cur.target.classes:
        raise UserError(
            f"The current model '{current_path}' is a {cur.task} model of the classes "
            f"{list(cur.target.classes)}, the candidate a {cand.task} model of "
            f"{list(cand.target.classes)}: they answer different questions and cannot be compared. "
            "Point model_run (or retrain.models_dir) at a model of the same label, or promote "
            "the candidate by hand with distml promote."
        )


def compare(
    s: RetrainSettings, run_dir: str, current: ModelRun | None, metric: str
) -> dict[str, Any]:
    """The paired comparison on the candidate's test rows (one map) and the decision."""
    cand = load_run(run_dir)
    if current is not None:
        _same_question(cand.model, current.model, current.path)
    sample = plan(os.path.join(run_dir, "sample"), s.data.shard_rows, what="sample folder")
    trained = load_trained_rows(current.path) if current is not None else None
    note = None
    if current is not None and trained is None:
        note = (
            "the current model has no trained_rows.parquet (promoted by an older distml): rows it "
            "trained on cannot be told apart and may be among the compared rows"
        )
    elif trained is not None and not set(trained.columns) <= set(sample.columns):
        note = (
            f"the current model's rows are known by {list(trained.columns)}, which the new data "
            "does not all hold: rows it trained on may be among the compared rows"
        )
        trained = None
    models = [cand.model] + ([current.model] if current else [])
    id_col = cand.id_column if cand.id_column in sample.columns else None
    wcol = s.data.weight_column
    cols = [s.data.label, SPLIT, *(c for m in models for c in input_columns(m.spec))]
    cols += [c for c in (id_col, wcol) if c] + list(trained.columns if trained else ())
    job = PairedJob(
        task=cand.task,
        candidate=cand.model,
        current=current.model if current else None,
        columns=tuple(dict.fromkeys(cols)),
        label=s.data.label,
        id_column=id_col,
        row_weight=wcol,
        trained=trained,
        replicates=s.retrain.replicates,
        seed=s.seed,
    )
    st = map_merge(
        paired_shard,
        sample.shards,
        PairedState.merge,
        PairedState(),
        args=(job,),
        label="retrain: both models on the test rows",
        num_cpus=s.cluster.task_cpus,
    )
    r = s.retrain
    rule = Rule(metric, r.tolerance, r.confidence, r.skill_gate, s.eval.beta)
    out = decide(st, cand.task, rule)
    out["excluded_by"] = list(trained.columns) if trained else None
    if note:
        out["note"] = note
    return out


def _current_dir(s: RetrainSettings) -> str | None:
    if s.model_run:
        return s.model_run
    link = os.path.join(s.retrain.models_dir, registry.CURRENT)
    return link if os.path.exists(link) else None


def _candidate(s: RetrainSettings, run_dir: str) -> tuple[dict[str, Any], bool]:
    """The candidate's metrics.json, and whether it passed its evaluation gates."""
    try:
        rec = run_pipeline(s, run_dir)
    except GateFailed:
        if not os.path.isfile(os.path.join(run_dir, "metrics.json")):
            raise  # the new data failed its quality gates: nothing to compare
        rec = None  # the candidate failed its evaluation gate: recorded, not promoted
    with open(os.path.join(run_dir, "metrics.json")) as f:
        cand = json.load(f)
    gate_ok = rec is not None and cand.get("gate", {"passed": True})["passed"]
    return cand, gate_ok


def retrain_metric(s: RetrainSettings) -> str:
    """retrain.metric, or the task's default; a UserError unless it measures quality."""
    task = task_of(s.model.params)
    metric = s.retrain.metric or default_metric(task)
    if metric not in QUALITY_METRICS[task]:
        raise UserError(
            f"retrain.metric '{metric}' is not a quality metric of a {task} model; pick one of "
            f"{', '.join(QUALITY_METRICS[task])}."
        )
    return metric


def run_retrain(s: RetrainSettings, run_dir: str) -> dict[str, Any]:
    """``distml retrain``: the pipeline on new data, both models judged on the same held-out
    rows, the candidate promoted or not (retrain.json; a GateFailed, exit 3, when not)."""
    if not s.data.path:
        raise UserError("Set data.path to the new data to retrain on.")
    metric = retrain_metric(s)
    root = s.retrain.models_dir
    expected = registry.current_version(root)  # what a promotion will replace
    current_path = _current_dir(s)
    current = load_run(current_path) if current_path else None
    cand, gate_ok = _candidate(s, run_dir)
    decision = compare(s, run_dir, current, metric)
    promoted = bool(gate_ok and decision["promote"])
    reason = (
        decision["reason"]
        if gate_ok
        else "the candidate failed its evaluation gates (eval.gates); " + decision["reason"]
    )
    ds = plan(s.data.path, s.data.shard_rows)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source_run": os.path.abspath(run_dir),
        "data_path": ds.uri,
        "data_fingerprint": data_fingerprint(ds),
        "code_version": code_version(),
        "metric": metric,
        "metrics": {k: v for k, v in cand["test"].items() if not isinstance(v, dict | list)},
        "decision": {k: decision.get(k) for k in ("improvement", "interval", "skill", "reason")},
    }
    out = {
        **record,  # its "decision" (the model card's summary) is replaced by the whole one
        "promoted": promoted,
        "metric": metric,
        "candidate": decision.get("candidate"),
        "current": decision.get("current"),
        "improvement": decision.get("improvement"),
        "interval": decision.get("interval"),
        "current_model": os.path.realpath(current_path) if current_path else None,
        "candidate_gate_passed": gate_ok,
        "reason": reason,
        "decision": decision,
    }
    path = os.path.join(run_dir, "retrain.json")
    if promoted:
        try:
            out["model_dir"] = registry.promote(
                run_dir, root, record, expected=expected, by="distml retrain", reason=reason
            )
        except UserError as exc:  # another promotion came first: recorded, then said
            write_json(path, {**out, "promoted": False, "refused": str(exc)})
            raise
    write_json(path, out)
    if promoted:  # else the error below says it, once
        print(f"distml retrain: candidate promoted to {out['model_dir']}: {reason}", flush=True)
    else:
        raise GateFailed(
            f"The candidate was not promoted: {reason}. The current model stays; "
            f"{os.path.join(run_dir, 'retrain.json')} has the comparison."
        )
    return out
