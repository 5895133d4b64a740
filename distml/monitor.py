"""Drift monitoring: new data against the training reference, in one pass over its shards.

``distml monitor model_run=<run or model dir> data.path=<new data>`` profiles the new data with the
same mergeable statistics as the profile stage and scores it with the run's model (one Ray task
per group of shards, states merged on the driver), then compares with the training run's
``reference.json``: per feature PSI and Jensen-Shannon distance over reference-quantile bins
(numeric) or the reference's top categories (categorical), Wasserstein distance for numeric
features; PSI of the score and of the label; live metrics when labels are present; and the
training run's data-quality gates. ``monitor.json`` holds ``status`` = ok | warn | drift, and the
exit code follows it (0, 4, 5).
"""

from __future__ import annotations

import json
import os
from typing import Any

from distml.artifacts import write_json
from distml.cluster.session import choose_executor
from distml.config import MonitorSettings
from distml.config.quality import parse_now
from distml.data.shards import Dataset
from distml.errors import UserError
from distml.eval.evaluate import INTERVAL_LEVEL
from distml.monitor_report import print_summary, to_html
from distml.objective import LOWER_IS_BETTER, QUALITY_METRICS
from distml.preprocess.apply import input_columns
from distml.profile.gates import dataset_gates, gate_summary
from distml.profile.report import build_report
from distml.profile.state import ProfileJob, ProfileState
from distml.scoring import ScoreState, Summary, score
from distml.stats.binary import binary_metrics
from distml.stats.compare import compare_categories, compare_numeric, psi
from distml.stats.intervals import metric_change, rate_change, verdict
from distml.stats.sketches import CategorySketch, NumericSketch, from_json
from distml.trained.run import ModelRun, contract_for, load_run, plan_new_data, score_job

EXIT = {"ok": 0, "warn": 4, "drift": 5}


class DriftDetected(UserError):
    """Not an error: the exit code carries the monitor's status."""

    prefix = "warning"

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = EXIT[status]


def status_of(value: float | None, warn: float, drift: float) -> str:
    if value is None:
        return "ok"
    return "drift" if value >= drift else ("warn" if value >= warn else "ok")


def run_monitor(s: MonitorSettings, run_dir: str) -> dict[str, Any]:
    """``distml monitor``: monitor.json and monitor.html; a DriftDetected (exit 4 or 5) unless ok."""
    run = load_run(s.model_run)
    if "columns" not in run.reference:
        raise UserError(
            f"The model_run '{run.path}' has no reference.json (written by distml run's profile "
            "stage since this version): retrain it to monitor against it."
        )
    unknown = [n for n in s.monitor.live_metrics if n not in QUALITY_METRICS[run.task]]
    if unknown:
        raise UserError(
            f"monitor.live_metrics names {unknown}, not metrics of this {run.task} model; pick "
            f"from: {', '.join(QUALITY_METRICS[run.task])}."
        )
    ds, skipped = plan_new_data(run, s.data.path, s.data.on_bad_file)
    executor = choose_executor(s.cluster, ds.num_rows, workers=1)
    os.makedirs(run_dir, exist_ok=True)
    label = run.settings.data.label if run.settings.data.label in ds.columns else None
    id_col = run.id_column
    pjob = ProfileJob(
        contract=contract_for(run, ds),
        columns=tuple(ds.columns),
        label=label or "",
        id_column=id_col if id_col in ds.columns else None,
        quarantine=None,
        hashes=None,
        on_bad_file=s.data.on_bad_file,
        classification=label is not None and run.task != "regression",
    )
    th = run.model.threshold if run.model.threshold is not None else 0.5
    summary = Summary(
        bins=s.monitor.score_bins,
        score_sketch=True,
        profile=pjob,
        replicates=s.monitor.bootstrap if label else 0,
        threshold=th if run.task == "binary" else None,
        seed=s.seed,
    )
    st = score(
        ds.shards,
        score_job(run, ds, None, summary, every_column=True, on_bad_file=s.data.on_bad_file),
        "monitor",
        s.cluster.task_cpus,
    )
    report = compare(run, s, st, pjob, ds, [*skipped, *st.skipped])
    report["executor"] = executor
    write_json(os.path.join(run_dir, "monitor.json"), report)
    with open(os.path.join(run_dir, "monitor.html"), "w") as f:
        f.write(to_html(report))
    print_summary(report, run_dir)
    if report["status"] != "ok":
        raise DriftDetected(
            report["status"],
            f"monitor status {report['status']}: {'; '.join(report['reasons'])}. "
            f"Details in {os.path.join(run_dir, 'monitor.json')} and monitor.html.",
        )
    return report


class _Verdict:
    """The worst status so far and the reasons for it."""

    def __init__(self) -> None:
        self.worst = "ok"
        self.reasons: list[str] = []

    def add(self, status: str, reason: str) -> None:
        if status != "ok":
            self.reasons.append(reason)
        self.worst = _worse(self.worst, status)


def _features(
    run: ModelRun, m: Any, prof_state: ProfileState, features: list[str], v: _Verdict
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in features:
        if run.reference["schema"].get(c) in ("datetime", "date"):
            out[c] = {"kind": "datetime", "skipped": "time moves on: compared through date parts"}
            continue
        ref, new = from_json(run.reference["columns"][c]), prof_state.sketches.get(c)
        if isinstance(ref, NumericSketch):
            res = compare_numeric(
                ref, new if isinstance(new, NumericSketch) else NumericSketch(), m.bins
            )
        else:
            new = new if isinstance(new, CategorySketch) else CategorySketch()
            res = compare_categories(ref, new, m.top_categories)
        res["status"] = status_of(res["psi"], m.psi_warn, m.psi_drift)
        out[c] = res
        v.add(res["status"], f"feature {c} PSI {res['psi']:.3f}")
    return out


def _label_drift(run: ModelRun, ref_labels: dict, new_labels: dict, m: Any) -> dict[str, Any]:
    """Binary: the positive rate's change with its interval (distml/stats/intervals.py);
    multiclass: PSI over the classes."""
    keys = sorted(set(ref_labels) | set(new_labels))
    p = [ref_labels.get(k, 0) for k in keys]
    q = [new_labels.get(k, 0) for k in keys]
    out: dict[str, Any] = {
        "reference": {k: n / sum(p) for k, n in zip(keys, p, strict=True)},
        "new": {k: n / sum(q) for k, n in zip(keys, q, strict=True)},
        "psi": psi(p, q),
    }
    if run.task != "binary":
        return out | {"status": status_of(out["psi"], m.psi_warn, m.psi_drift)}
    positive = str(run.model.target.classes[1])
    ch = rate_change(
        new_labels.get(positive, 0), sum(q), ref_labels.get(positive, 0), sum(p), m.confidence
    )
    status = verdict(ch["interval"], 0.0, ch["reference_rate"], m.label_rate_drift)
    rule = (
        f"significant when the {m.confidence:.0%} interval of the change excludes 0; drift when it "
        f"also lies beyond monitor.label_rate_drift={m.label_rate_drift:g} of the reference rate"
    )
    return out | {"positive": positive, "rate_change": ch, "status": status, "rule": rule}


def _live_metric_names(task: str, m: Any) -> list[str]:
    if m.live_metrics:
        return list(m.live_metrics)
    return {
        "binary": ["roc_auc", "average_precision", "precision", "recall"],
        "multiclass": ["accuracy", "f1_macro"],
    }.get(task, ["rmse", "mae"])


def _live_vs_training(
    run: ModelRun, live: dict[str, Any], live_iv: dict[str, Any], m: Any, v: _Verdict
) -> dict[str, Any]:
    """Each live metric against the training run's test value, the difference's interval and
    its verdict (a significant fall of a higher-is-better metric, rise of an error)."""
    path = os.path.join(run.path, "metrics.json")
    train: dict[str, Any] = {}
    if os.path.isfile(path):
        with open(path) as f:
            train = json.load(f).get("test") or {}
    train_iv = train.get("intervals") or {}
    out: dict[str, Any] = {}
    for name in _live_metric_names(run.task, m):
        new, ref = live.get(name), train.get(name)
        if not isinstance(new, int | float) or not isinstance(ref, int | float):
            out[name] = {"skipped": "not measured on both the training test rows and the new rows"}
            continue
        ch = metric_change(
            new,
            live_iv.get(name),
            ref,
            train_iv.get(name),
            m.confidence,
            (m.confidence, INTERVAL_LEVEL),
        )
        ch["training_interval_level"] = INTERVAL_LEVEL
        if live_iv.get(name) is None:
            ch["status"] = "ok"
            ch["note"] = "no interval for the live value (monitor.bootstrap=0): no verdict"
        else:
            worse = 1.0 if name in LOWER_IS_BETTER else -1.0
            ch["status"] = verdict(ch["interval"], worse, ref, m.metric_drop_drift)
        out[name] = ch
        v.add(
            ch["status"],
            f"live {name} {new:.4g} vs {ref:.4g} at training (difference {ch['difference']:+.4g}, "
            f"{m.confidence:.0%} interval [{ch['interval'][0]:+.4g}, {ch['interval'][1]:+.4g}])",
        )
    return out


def _quality(
    run: ModelRun, prof_state: ProfileState, pjob: ProfileJob, ds: Dataset, features: list[str]
) -> dict[str, Any]:
    """The training contract's gates on the new data's profile."""
    ts = run.settings
    prof = build_report(
        ds,
        prof_state,
        pjob,
        None,
        ts.profile.freshness_column,
        parse_now(ts.profile.now),
        ts.profile.top_k,
    )
    label_values = list(run.model.target.classes) or None
    gates = dataset_gates(
        prof,
        ts.quality,
        [c for c in features if c in ds.columns],
        pjob.label if pjob.label else ts.data.label,
        label_values if pjob.classification else None,
    )
    return {"gates": gates, "passed": all(g["passed"] for g in gates), "rules": prof.rules}


def compare(
    run: ModelRun, s: MonitorSettings, st: ScoreState, pjob: ProfileJob, ds: Dataset, skipped: list
) -> dict[str, Any]:
    """monitor.json's content: per feature, score and label drift, live metrics, data quality."""
    m, v = s.monitor, _Verdict()
    prof_state = st.profile or ProfileState()
    features = [c for c in input_columns(run.model.spec) if c in run.reference["columns"]]
    report: dict[str, Any] = {
        "model_run": run.path,
        "data_path": ds.uri,
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
        "thresholds": {
            "psi_warn": m.psi_warn,
            "psi_drift": m.psi_drift,
            "confidence": m.confidence,
            "label_rate_drift": m.label_rate_drift,
            "metric_drop_drift": m.metric_drop_drift,
        },
        "features": _features(run, m, prof_state, features, v),
    }
    # score drift: the new scores in the bins of the reference's test-split scores
    if "score" in run.reference and st.score_sketch is not None:
        ref = from_json(run.reference["score"])
        assert isinstance(ref, NumericSketch)
        res = compare_numeric(ref, st.score_sketch, m.bins)
        res["status"] = status_of(res["psi"], m.psi_warn, m.psi_drift)
        report["score"] = res
        v.add(res["status"], f"score PSI {res['psi']:.3f}")
    ref_labels = run.reference.get("label_counts") or {}
    if ref_labels and prof_state.label_counts:
        lab = _label_drift(run, ref_labels, prof_state.label_counts, m)
        report["label"] = lab
        if "rate_change" in lab:
            ch = lab["rate_change"]
            why = (
                f"positive rate {ch['rate']:.4g} vs {ch['reference_rate']:.4g} at training "
                f"({m.confidence:.0%} interval of the change [{ch['interval'][0]:+.4g}, "
                f"{ch['interval'][1]:+.4g}])"
            )
        else:
            why = f"label PSI {lab['psi']:.3f}"
        v.add(lab["status"], why)
    if st.metric is not None:
        if run.task == "binary":
            th = run.model.threshold if run.model.threshold is not None else 0.5
            report["live_metrics"] = binary_metrics(st.metric, th, run.settings.eval.beta)
        else:
            report["live_metrics"] = st.metric.metrics()
        live_iv = st.boot.intervals(run.settings.eval.beta, m.confidence) if st.boot else {}
        report["live_intervals"] = live_iv
        report["live_vs_training"] = _live_vs_training(run, report["live_metrics"], live_iv, m, v)
    else:
        report["not_checked"] = (
            f"the new data has no '{run.settings.data.label}' column (data.label): the label and "
            "the live metrics are not compared with training"
        )
    report["quality"] = {**_quality(run, prof_state, pjob, ds, features), "skipped_files": skipped}
    if not report["quality"]["passed"]:
        v.add("warn", f"data quality: {gate_summary(report['quality']['gates'])}")
    report["status"] = v.worst
    report["reasons"] = v.reasons
    return report


def _worse(a: str, b: str) -> str:
    order = ["ok", "warn", "drift"]
    return a if order.index(a) >= order.index(b) else b
