"""Gated retraining: a candidate trained on new data replaces the current model only if better.

``distml retrain data.path=<new data> [model_run=<current>] [overrides]`` runs the pipeline on the
new data (a fresh profile, sample and split) into its own run directory, then scores the
candidate's test split with the current model as well (its own preprocessor, model and
threshold), so both are judged on the same rows. The candidate is promoted (copied to
``<retrain.models_dir>/vNNNN`` and linked as ``<models_dir>/current``) only when it passes the
evaluation gates and its ``retrain.metric`` is not worse than the current model's by more than
``retrain.tolerance``. Every model directory records its data fingerprint, config, code version
and metrics (``model.json``). ``retrain.json`` in the run directory records the decision; the exit
code is 0 when the candidate was promoted, 3 when it was not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from typing import Any

import polars as pl

from distml import __version__, parallel, shards
from distml.config import Settings
from distml.errors import GateFailed, UserError
from distml.evaluate import task_of
from distml.metrics import MulticlassState, RegressionState, ScoreHist, binary_metrics
from distml.predict import ModelRun, booster_of, load_run, score_frame

LOWER_IS_BETTER = {"rmse", "mae", "log_loss", "brier", "mape"}
BUNDLE = (
    "model.ubj",
    "preprocessor.json",
    "threshold.json",
    "metrics.json",
    "reference.json",
    "profile.json",
    "feature_importance.json",
)


def default_metric(task: str) -> str:
    return {"binary": "average_precision", "multiclass": "f1_macro"}.get(task, "rmse")


def data_fingerprint(ds: shards.Dataset) -> str:
    """sha256 over every file's path, size and row count (metadata only)."""
    fs, _ = shards.filesystem(ds.uri)
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


def _score_test(shard: shards.Shard, run: ModelRun, label: str, bins: int | None):
    """The current model's state on one sample shard's test rows (raw rows, its own spec)."""
    df = shards.read_shard(shard).filter(pl.col("split") == "test")
    if df.height == 0:
        return None, shard.num_rows
    pred = score_frame(booster_of(run.model), run.spec, df, run.task)
    y = df.get_column(label).to_numpy()
    if run.task == "multiclass":
        return MulticlassState.of(pred, y), shard.num_rows
    if run.task == "regression":
        return RegressionState.of(pred, y), shard.num_rows
    return ScoreHist.of(pred, y, bins=bins), shard.num_rows


def current_metrics(run: ModelRun, sample_dir: str, s: Settings) -> dict[str, Any]:
    ds = shards.plan(sample_dir, s.data.shard_rows, what="sample folder")
    state = parallel.map_merge(
        _score_test,
        ds.shards,
        lambda a, b: b if a is None else (a if b is None else a.merge(b)),
        None,
        args=(run, s.data.label, s.eval.bins),
        label="retrain: score current model",
        num_cpus=s.cluster.task_cpus,
    )
    if state is None:
        raise UserError(
            "The candidate's test split is empty; raise sampling.size or sampling.split.test."
        )
    if run.task == "binary":
        return binary_metrics(
            state, run.threshold if run.threshold is not None else 0.5, s.eval.beta
        )
    return state.metrics()


def _current_dir(s: Settings) -> str | None:
    if s.model_run:
        return s.model_run
    link = os.path.join(s.retrain.models_dir, "current")
    return link if os.path.exists(link) else None


def promote(run_dir: str, s: Settings, record: dict[str, Any]) -> str:
    """Copy the candidate's artifacts to the next vNNNN and point ``current`` at it atomically."""
    root = os.path.abspath(s.retrain.models_dir)
    os.makedirs(root, exist_ok=True)
    taken = [int(d[1:]) for d in os.listdir(root) if d.startswith("v") and d[1:].isdigit()]
    name = f"v{max(taken, default=0) + 1:04d}"
    target = os.path.join(root, name)
    tmp = target + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for f in BUNDLE:
        if os.path.isfile(os.path.join(run_dir, f)):
            shutil.copy2(os.path.join(run_dir, f), tmp)
    shutil.copy2(os.path.join(run_dir, ".hydra", "config.yaml"), os.path.join(tmp, "config.yaml"))
    with open(os.path.join(tmp, "model.json"), "w") as f:
        json.dump({**record, "version": name}, f, indent=2)
    os.replace(tmp, target)
    link_tmp = os.path.join(root, ".current.tmp")
    if os.path.lexists(link_tmp):
        os.remove(link_tmp)
    os.symlink(name, link_tmp)
    os.replace(link_tmp, os.path.join(root, "current"))
    return target


def run_retrain(s: Settings, run_dir: str) -> dict[str, Any]:
    from distml.pipeline import run_pipeline
    from distml.runtime import ray_session

    if not s.data.path:
        raise UserError("Set data.path to the new data to retrain on.")
    current_path = _current_dir(s)
    current = load_run(current_path) if current_path else None
    task = task_of(s.model.params)
    metric = s.retrain.metric or default_metric(task)
    with ray_session(s.cluster):
        try:
            rec = run_pipeline(s, run_dir)
        except GateFailed:
            if not os.path.isfile(os.path.join(run_dir, "metrics.json")):
                raise  # the new data failed its quality gates: nothing to compare
            rec = None  # the candidate failed its evaluation gate: recorded below, not promoted
        with open(os.path.join(run_dir, "metrics.json")) as f:
            cand = json.load(f)
        ds = shards.plan(s.data.path, s.data.shard_rows)
        cur = current_metrics(current, os.path.join(run_dir, "sample"), s) if current else None
    c_val, o_val = cand["test"].get(metric), (cur or {}).get(metric)
    if c_val is None:
        raise UserError(
            f"retrain.metric '{metric}' is not among the test metrics of a {task} model; pick one "
            f"of {', '.join(k for k, v in cand['test'].items() if isinstance(v, int | float))}."
        )
    gate_ok = rec is not None and cand.get("gate", {"passed": True})["passed"]
    lower = metric in LOWER_IS_BETTER
    if o_val is None:
        better, why = True, "no current model"
    elif lower:
        better = c_val <= o_val + s.retrain.tolerance
        why = f"{metric} {c_val:.6g} vs current {o_val:.6g} (lower is better)"
    else:
        better = c_val >= o_val - s.retrain.tolerance
        why = f"{metric} {c_val:.6g} vs current {o_val:.6g}"
    promoted = bool(gate_ok and better)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source_run": os.path.abspath(run_dir),
        "data_path": ds.uri,
        "data_fingerprint": data_fingerprint(ds),
        "code_version": code_version(),
        "metric": metric,
        "metrics": {k: v for k, v in cand["test"].items() if not isinstance(v, dict | list)},
    }
    out = {
        "promoted": promoted,
        "metric": metric,
        "candidate": c_val,
        "current": o_val,
        "current_model": os.path.realpath(current_path) if current_path else None,
        "candidate_gate_passed": gate_ok,
        "reason": why if gate_ok else "the candidate failed its evaluation gates (eval.gates)",
        "current_metrics": cur,
        **record,
    }
    if promoted:
        out["model_dir"] = promote(run_dir, s, record)
    with open(os.path.join(run_dir, "retrain.json"), "w") as f:
        json.dump(out, f, indent=2, default=str)
    verdict = f"promoted to {out['model_dir']}" if promoted else "not promoted"
    print(f"distml retrain: candidate {verdict}: {out['reason']}", flush=True)
    if not promoted:
        raise GateFailed(
            f"The candidate was not promoted: {out['reason']}. The current model stays; "
            f"{os.path.join(run_dir, 'retrain.json')} has both sets of metrics."
        )
    return out
