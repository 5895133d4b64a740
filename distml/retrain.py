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

from distml import __version__
from distml.artifacts import write_json
from distml.config import RetrainSettings
from distml.data.columns import SPLIT
from distml.data.fs import filesystem
from distml.data.shards import Dataset, plan
from distml.errors import GateFailed, UserError
from distml.objective import LOWER_IS_BETTER, default_metric, task_of
from distml.pipeline import run_pipeline
from distml.predict import ModelRun, load_run
from distml.preprocess.apply import input_columns
from distml.scoring import ScoreJob, Summary, score
from distml.stats.binary import binary_metrics

BUNDLE = (
    "model.ubj",
    "preprocessor.json",
    "threshold.json",
    "metrics.json",
    "reference.json",
    "profile.json",
    "feature_importance.json",
)


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


def current_metrics(run: ModelRun, sample_dir: str, s: RetrainSettings) -> dict[str, Any]:
    """The current model's test metrics on the candidate's test rows (the same scoring path)."""
    ds = plan(sample_dir, s.data.shard_rows, what="sample folder")
    label = s.data.label
    cols = [label, SPLIT, *input_columns(run.model.spec)]
    job = ScoreJob(
        model=run.model,
        columns=tuple(dict.fromkeys(cols)),
        label=label,
        id_column=None,
        split="test",
        summary=Summary(bins=s.eval.bins),
    )
    st = score(ds.shards, job, "retrain: score current model", s.cluster.task_cpus)
    if st.metric is None:
        raise UserError(
            "The candidate's test split is empty; raise sampling.size or sampling.split.test."
        )
    if run.task == "binary":
        th = run.model.threshold if run.model.threshold is not None else 0.5
        return binary_metrics(st.metric, th, s.eval.beta)
    return st.metric.metrics()


def _current_dir(s: RetrainSettings) -> str | None:
    if s.model_run:
        return s.model_run
    link = os.path.join(s.retrain.models_dir, "current")
    return link if os.path.exists(link) else None


def promote(run_dir: str, s: RetrainSettings, record: dict[str, Any]) -> str:
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
    write_json(os.path.join(tmp, "model.json"), {**record, "version": name})
    os.replace(tmp, target)
    link_tmp = os.path.join(root, ".current.tmp")
    if os.path.lexists(link_tmp):
        os.remove(link_tmp)
    os.symlink(name, link_tmp)
    os.replace(link_tmp, os.path.join(root, "current"))
    return target


def _decide(metric: str, c_val: float, o_val: float | None, tolerance: float) -> tuple[bool, str]:
    """Is the candidate not worse than the current model by more than ``tolerance``?"""
    lower = metric in LOWER_IS_BETTER
    if o_val is None:
        return True, "no current model"
    if lower:
        better = c_val <= o_val + tolerance
        return better, f"{metric} {c_val:.6g} vs current {o_val:.6g} (lower is better)"
    better = c_val >= o_val - tolerance
    return better, f"{metric} {c_val:.6g} vs current {o_val:.6g}"


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


def run_retrain(s: RetrainSettings, run_dir: str) -> dict[str, Any]:
    """``distml retrain``: the pipeline on new data, both models judged on its test rows, the
    candidate promoted or not (retrain.json; a GateFailed, exit 3, when not)."""
    if not s.data.path:
        raise UserError("Set data.path to the new data to retrain on.")
    current_path = _current_dir(s)
    current = load_run(current_path) if current_path else None
    task = task_of(s.model.params)
    metric = s.retrain.metric or default_metric(task)
    cand, gate_ok = _candidate(s, run_dir)
    ds = plan(s.data.path, s.data.shard_rows)
    cur = current_metrics(current, os.path.join(run_dir, "sample"), s) if current else None
    c_val, o_val = cand["test"].get(metric), (cur or {}).get(metric)
    if c_val is None:
        raise UserError(
            f"retrain.metric '{metric}' is not among the test metrics of a {task} model; pick one "
            f"of {', '.join(k for k, v in cand['test'].items() if isinstance(v, int | float))}."
        )
    better, why = _decide(metric, c_val, o_val, s.retrain.tolerance)
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
    write_json(os.path.join(run_dir, "retrain.json"), out)
    verdict = f"promoted to {out['model_dir']}" if promoted else "not promoted"
    print(f"distml retrain: candidate {verdict}: {out['reason']}", flush=True)
    if not promoted:
        raise GateFailed(
            f"The candidate was not promoted: {out['reason']}. The current model stays; "
            f"{os.path.join(run_dir, 'retrain.json')} has both sets of metrics."
        )
    return out
