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

import html
import json
import os
from typing import Any

import numpy as np

from distml import preprocess, quality
from distml.config import Settings
from distml.errors import UserError
from distml.metrics import binary_metrics
from distml.predict import (
    ScoreState,
    contract_for,
    load_run,
    make_job,
    plan_new_data,
    score_all,
)
from distml.profile import ProfileJob, ProfileState, build_report
from distml.sketch import (
    CategorySketch,
    NumericSketch,
    from_json,
    js_distance,
    psi,
    wasserstein,
)

EXIT = {"ok": 0, "warn": 4, "drift": 5}


class DriftDetected(UserError):
    """Not an error: the exit code carries the monitor's status."""

    prefix = "warning"

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = EXIT[status]


def compare_numeric(ref: NumericSketch, new: NumericSketch, bins: int) -> dict[str, Any]:
    edges = ref.edges(bins)
    p, q = ref.histogram(edges), new.histogram(edges)  # exact: edges are bucket boundaries
    if ref.nulls == 0 and new.nulls == 0:
        p, q = p[:-1], q[:-1]
    w = wasserstein(ref, new)
    std = _std(ref)
    return {
        "kind": "numeric",
        "psi": psi(p, q),
        "js_distance": js_distance(p, q),
        "wasserstein": w,
        "wasserstein_in_reference_std": (w / std) if w is not None and std else None,
        "reference_null_rate": ref.nulls / max(1, ref.count + ref.nulls),
        "null_rate": new.nulls / max(1, new.count + new.nulls),
    }


def _std(sk: NumericSketch) -> float:
    from distml.sketch import bucket_upper

    if sk.count < 2:
        return 0.0
    x = np.array([bucket_upper(k) for k in sk.counts])
    w = np.array(list(sk.counts.values()), dtype=float)
    m = float(np.average(x, weights=w))
    return float(np.sqrt(np.average((x - m) ** 2, weights=w)))


def compare_categories(ref: CategorySketch, new: CategorySketch, top: int) -> dict[str, Any]:
    keys = ref.top(top)
    p = [ref.counts.get(k, 0) for k in keys] + [
        sum(v for k, v in ref.counts.items() if k not in keys)
    ]
    q = [new.counts.get(k, 0) for k in keys] + [
        sum(v for k, v in new.counts.items() if k not in keys)
    ]
    unseen = sorted((k for k in new.counts if k not in ref.counts), key=lambda k: -new.counts[k])
    return {
        "kind": "categorical",
        "psi": psi(p, q),
        "js_distance": js_distance(p, q),
        "unseen_values": unseen[:10],
        "unseen_share": sum(new.counts[k] for k in unseen) / max(1, sum(new.counts.values())),
    }


def status_of(value: float | None, warn: float, drift: float) -> str:
    if value is None:
        return "ok"
    return "drift" if value >= drift else ("warn" if value >= warn else "ok")


def run_monitor(s: Settings, run_dir: str) -> dict[str, Any]:

    run = load_run(s.model_run)
    if "columns" not in run.reference:
        raise UserError(
            f"The model_run '{run.path}' has no reference.json (written by distml run's profile "
            "stage since this version): retrain it to monitor against it."
        )
    ds, skipped = plan_new_data(run, s.data.path, s.data.on_bad_file)
    os.makedirs(run_dir, exist_ok=True)
    label = run.settings.data.label if run.settings.data.label in ds.columns else None
    id_col = run.settings.data.id_column
    pjob = ProfileJob(
        contract=contract_for(run, ds),
        columns=tuple(ds.columns),
        label=label or "",
        id_column=id_col if id_col in ds.columns else None,
        quarantine="",
        hash_dir=None,
        buckets=1,
        on_bad_file=s.data.on_bad_file,
        classification=label is not None and run.task != "regression",
    )
    job = make_job(run, ds, None, score_bins=s.monitor.score_bins, profile=pjob, summaries=True)
    st = score_all(ds, job, s, "monitor")
    report = compare(run, s, st, pjob, ds, skipped)
    with open(os.path.join(run_dir, "monitor.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
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


def compare(run, s: Settings, st: ScoreState, pjob: ProfileJob, ds, skipped) -> dict[str, Any]:
    m = s.monitor
    ts = run.settings
    prof_state = st.profile or ProfileState()
    features = [c for c in preprocess.input_columns(run.spec) if c in run.reference["columns"]]
    out_features: dict[str, Any] = {}
    reasons: list[str] = []
    worst = "ok"
    for c in features:
        ref = from_json(run.reference["columns"][c])
        new = prof_state.sketches.get(c)
        if run.reference["schema"].get(c) in ("datetime", "date"):
            out_features[c] = {
                "kind": "datetime",
                "skipped": "time moves on: compared through date parts",
            }
            continue
        if isinstance(ref, NumericSketch):
            res = compare_numeric(
                ref, new if isinstance(new, NumericSketch) else NumericSketch(), m.bins
            )
        else:
            res = compare_categories(
                ref, new if isinstance(new, CategorySketch) else CategorySketch(), m.top_categories
            )
        res["status"] = status_of(res["psi"], m.psi_warn, m.psi_drift)
        out_features[c] = res
        if res["status"] != "ok":
            reasons.append(f"feature {c} PSI {res['psi']:.3f}")
        worst = _worse(worst, res["status"])
    report: dict[str, Any] = {
        "model_run": run.path,
        "data_path": ds.uri,
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
        "thresholds": {"psi_warn": m.psi_warn, "psi_drift": m.psi_drift},
        "features": out_features,
    }
    # score drift: the new scores in the bins of the reference's test-split scores
    if "score" in run.reference and st.score_sketch is not None:
        ref = from_json(run.reference["score"])
        assert isinstance(ref, NumericSketch)
        res = compare_numeric(ref, st.score_sketch, m.bins)
        res["status"] = status_of(res["psi"], m.psi_warn, m.psi_drift)
        report["score"] = res
        if res["status"] != "ok":
            reasons.append(f"score PSI {res['psi']:.3f}")
        worst = _worse(worst, res["status"])
    ref_labels = run.reference.get("label_counts") or {}
    if ref_labels and prof_state.label_counts:
        keys = sorted(set(ref_labels) | set(prof_state.label_counts))
        p = [ref_labels.get(k, 0) for k in keys]
        q = [prof_state.label_counts.get(k, 0) for k in keys]
        value = psi(p, q)
        res = {
            "psi": value,
            "reference": {k: v / sum(p) for k, v in zip(keys, p, strict=True)},
            "new": {k: v / sum(q) for k, v in zip(keys, q, strict=True)},
            "status": status_of(value, m.psi_warn, m.psi_drift),
        }
        report["label"] = res
        if res["status"] != "ok":
            reasons.append(f"label PSI {value:.3f}")
        worst = _worse(worst, res["status"])
    if st.labelled is not None:
        if run.task == "binary":
            report["live_metrics"] = binary_metrics(st.labelled, run.threshold or 0.5, ts.eval.beta)
        else:
            report["live_metrics"] = st.labelled.metrics()
    # data quality: the training contract's gates on the new data's profile
    prof = build_report(
        ds,
        prof_state,
        pjob,
        None,
        ts.quality.freshness_column,
        quality.parse_now(ts.quality.now),
        ts.quality.top_k,
    )
    label_values = quality.expected_labels(ts.quality, ts.model.params)
    gates = quality.check_gates(
        prof,
        ts.quality,
        [c for c in features if c in ds.columns],
        pjob.label if pjob.label else ts.data.label,
        label_values if pjob.classification else None,
    )
    failed = [g for g in gates if not g["passed"]]
    report["quality"] = {
        "gates": gates,
        "passed": not failed,
        "rules": prof["rules"],
        "skipped_files": skipped,
    }
    if failed:
        reasons.append(f"data quality: {quality.gate_summary(gates)}")
        worst = _worse(worst, "warn")
    report["status"] = worst
    report["reasons"] = reasons
    return report


def _worse(a: str, b: str) -> str:
    order = ["ok", "warn", "drift"]
    return a if order.index(a) >= order.index(b) else b


def print_summary(report: dict[str, Any], run_dir: str) -> None:
    lines = [f"distml monitor: status {report['status'].upper()} ({report['rows_in']:,} rows)"]
    top = sorted(
        ((c, r) for c, r in report["features"].items() if "psi" in r),
        key=lambda kv: -kv[1]["psi"],
    )[:8]
    lines += [
        f"  {c:<24} PSI {r['psi']:.4f}  JS {r['js_distance']:.4f}  {r['status']}" for c, r in top
    ]
    if "score" in report:
        lines.append(
            f"  {'score':<24} PSI {report['score']['psi']:.4f}  {report['score']['status']}"
        )
    if "label" in report:
        lines.append(
            f"  {'label':<24} PSI {report['label']['psi']:.4f}  {report['label']['status']}"
        )
    lines.append(f"report: {os.path.join(run_dir, 'monitor.html')}")
    print("\n".join(lines), flush=True)


def to_html(report: dict[str, Any]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape(str(v))

    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{cell(x)}</td>"
            for x in (
                c,
                r.get("kind"),
                r.get("psi", ""),
                r.get("js_distance", ""),
                r.get("wasserstein", ""),
                r.get("status", r.get("skipped", "")),
            )
        )
        + "</tr>"
        for c, r in report["features"].items()
    )
    extra = ""
    for name in ("score", "label"):
        if name in report:
            extra += f"<p>{name}: PSI {cell(report[name]['psi'])} ({report[name]['status']})</p>"
    live = report.get("live_metrics")
    if live:
        extra += (
            "<h2>Live metrics</h2><table>"
            + "".join(
                f"<tr><td>{cell(k)}</td><td>{cell(v)}</td></tr>"
                for k, v in live.items()
                if not isinstance(v, dict | list)
            )
            + "</table>"
        )
    gates = "".join(
        f"<tr><td>{cell(g['gate'])}</td><td>{cell(g['column'] or '')}</td><td>{cell(g['value'])}</td>"
        f"<td>{cell(g['limit'])}</td><td>{'pass' if g['passed'] else 'FAIL'}</td></tr>"
        for g in report["quality"]["gates"]
    )
    color = {"ok": "#2e7d32", "warn": "#ef6c00", "drift": "#c62828"}[report["status"]]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>distml monitor</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
        f"<h1>Monitor: <span style='color:{color}'>{report['status']}</span></h1>"
        f"<p>{report['rows_in']:,} rows from {html.escape(report['data_path'])} against "
        f"{html.escape(report['model_run'])}; {html.escape('; '.join(report['reasons']) or 'no drift')}</p>"
        "<h2>Features</h2><table><tr><th>column</th><th>kind</th><th>PSI</th><th>JS distance</th>"
        f"<th>Wasserstein</th><th>status</th></tr>{rows}</table>{extra}"
        "<h2>Data quality gates</h2><table><tr><th>gate</th><th>column</th><th>value</th><th>limit</th>"
        f"<th>result</th></tr>{gates}</table></body></html>"
    )
