"""report.html: one self-contained page (inline CSS and PNG plots, no remote scripts or fonts),
plus the plots as PNG files under ``plots/`` for terminals and CI logs."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1b1f24;max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}.plots img{width:380px;margin:.3rem}
.bad{color:#b00020;font-weight:bold}.ok{color:#0a7d32;font-weight:bold}.note{color:#555;font-size:.9rem}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return html.escape(", ".join(_fmt(x) for x in v))
    return html.escape(str(v))


def _table(rows: list[list[Any]], head: list[str]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plots(metrics: dict[str, Any]) -> dict[str, bytes]:
    """ROC, PR, calibration and confusion-matrix plots of the test split (binary)."""
    test = metrics.get("test", {})
    out: dict[str, bytes] = {}
    c = test.get("curves")
    if c and c["roc"]:
        fig, ax = plt.subplots(figsize=(4.2, 4))
        x, y = zip(*c["roc"], strict=True)
        ax.plot(x, y, color="#1f77b4", label=f"AUC {test['roc_auc']:.4f}")
        ax.plot([0, 1], [0, 1], ":", color="#999")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        ax.legend(loc="lower right")
        out["roc"] = _png(fig)
    if c and c["pr"]:
        fig, ax = plt.subplots(figsize=(4.2, 4))
        x, y = zip(*c["pr"], strict=True)
        ax.plot(x, y, color="#d62728", label=f"AP {test['average_precision']:.4f}")
        ax.axhline(test["positives"] / max(test["rows"], 1), ls=":", color="#999")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)", ylim=(0, 1.02))
        ax.legend(loc="upper right")
        out["pr"] = _png(fig)
    cal = test.get("calibration")
    if cal and cal["curve"]:
        fig, ax = plt.subplots(figsize=(4.2, 4))
        xs = [p["mean_score"] for p in cal["curve"]]
        ys = [p["fraction_positive"] for p in cal["curve"]]
        ax.plot(xs, ys, "o-", color="#2ca02c", label=f"ECE {cal['ece']:.4f}")
        ax.plot([0, 1], [0, 1], ":", color="#999")
        ax.set(
            xlabel="mean predicted probability",
            ylabel="fraction positive",
            title="Calibration (test)",
        )
        ax.legend(loc="upper left")
        out["calibration"] = _png(fig)
    cm = test.get("confusion_matrix")
    if cm:
        fig, ax = plt.subplots(figsize=(4.2, 4))
        ax.imshow(cm, cmap="Blues")
        for i, row in enumerate(cm):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:,}", ha="center", va="center", color="#000")
        ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test)")
        ax.set_xticks(range(len(cm)))
        ax.set_yticks(range(len(cm)))
        out["confusion_matrix"] = _png(fig)
    return out


def _load(run_dir: str, name: str) -> Any:
    p = os.path.join(run_dir, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def build_html(run_dir: str, metrics: dict[str, Any], pngs: dict[str, bytes]) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>distml report</title><style>{CSS}</style></head><body>"
    ]
    parts.append(
        f"<h1>distml run report</h1><p class='note'>{html.escape(os.path.abspath(run_dir))}</p>"
    )
    gate = metrics.get("gate")
    if gate:
        status = (
            "<span class='ok'>passed</span>"
            if gate["passed"]
            else "<span class='bad'>FAILED</span>"
        )
        parts.append(f"<h2>Model gate: {status}</h2>")
        parts.append(
            _table(
                [[g["gate"], g["value"], "yes" if g["passed"] else "no"] for g in gate["gates"]],
                ["gate", "value", "passed"],
            )
        )
    parts.append("<h2>Metrics</h2>")
    splits = [s for s in ("valid", "test") if s in metrics]
    keys = [
        k
        for k, v in metrics.get("test", {}).items()
        if (v is None or isinstance(v, int | float)) and k != "beta"
    ]
    parts.append(
        _table([[k, *[metrics[s].get(k) for s in splits]] for k in keys], ["metric", *splits])
    )
    th = metrics.get("threshold")
    if th:
        parts.append(
            f"<p>Threshold <b>{th['value']:.6g}</b> ({html.escape(th['policy'])}, chosen on valid).</p>"
        )
    iv = metrics.get("test", {}).get("intervals")
    if iv:
        parts.append(
            f"<h3>95% intervals (test)</h3><p class='note'>{html.escape(metrics['test'].get('intervals_method', ''))}</p>"
        )
        parts.append(_table([[k, lo, hi] for k, (lo, hi) in iv.items()], ["metric", "low", "high"]))
    pop = metrics.get("test", {}).get("population")
    if pop:
        parts.append("<h3>Population-weighted (test)</h3>")
        parts.append(
            _table(
                [[k, v] for k, v in pop.items() if not isinstance(v, dict | list)],
                ["metric", "value"],
            )
        )
    if pngs:
        parts.append("<h2>Plots</h2><div class='plots'>")
        for name, data in pngs.items():
            parts.append(
                f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
            )
        parts.append("</div>")
    curves = metrics.get("test", {}).get("curves")
    if curves and curves.get("threshold_precision_recall"):
        rows = curves["threshold_precision_recall"]
        step = max(1, len(rows) // 15)
        parts.append("<h2>Thresholds (test)</h2>")
        parts.append(_table(rows[::step], ["threshold", "precision", "recall"]))
    slices = metrics.get("test", {}).get("slices")
    if slices:
        parts.append("<h2>Slices (test)</h2>")
        for col, vals in slices.items():
            rows = [
                [
                    v,
                    m.get("rows"),
                    m.get("positives"),
                    m.get("roc_auc"),
                    m.get("precision"),
                    m.get("recall"),
                    m.get("f1"),
                    m.get("skipped", ""),
                ]
                for v, m in vals.items()
            ]
            parts.append(
                f"<h3>{html.escape(col)}</h3>"
                + _table(
                    rows,
                    ["value", "rows", "positives", "roc_auc", "precision", "recall", "f1", "note"],
                )
            )
    imp = _load(run_dir, "feature_importance.json")
    if imp and imp.get("gain"):
        top = sorted(imp["gain"].items(), key=lambda kv: -kv[1])[:25]
        parts.append("<h2>Feature importance (gain, cover)</h2>")
        parts.append(
            _table(
                [[k, v, imp.get("cover", {}).get(k)] for k, v in top], ["feature", "gain", "cover"]
            )
        )
    prof = _load(run_dir, "profile.json")
    if prof:
        parts.append("<h2>Data quality</h2>")
        dup = prof.get("duplicates") or {}
        fresh = prof.get("freshness") or {}
        parts.append(
            _table(
                [
                    ["rows in", prof["rows_in"]],
                    ["rows accepted", prof["rows_accepted"]],
                    ["rows quarantined", prof["rows_quarantined"]],
                    *[[f"rule {k}", v] for k, v in (prof.get("rules") or {}).items()],
                    *([["duplicate rows", dup["rows"]]] if "rows" in dup else []),
                    *([["duplicate ids", dup["ids"]]] if "ids" in dup else []),
                    *[
                        [f"skipped file {f['path']}", f["reason"]]
                        for f in prof.get("skipped_files", [])
                    ],
                    *([[f"newest {fresh['column']}", fresh.get("newest")]] if fresh else []),
                ],
                ["", "rows"],
            )
        )
        gates = prof.get("gates") or []
        if gates:
            parts.append(
                _table(
                    [
                        [
                            g["gate"],
                            g["column"] or "",
                            g["value"],
                            g["limit"],
                            "pass" if g["passed"] else "FAIL",
                        ]
                        for g in gates
                    ],
                    ["gate", "column", "value", "limit", "result"],
                )
            )
        cols = [
            [
                c,
                v.get("type"),
                v.get("nulls"),
                v.get("null_rate"),
                v.get("distinct"),
                v.get("mean"),
                v.get("std"),
                v.get("min"),
                v.get("max"),
                ", ".join(f"{k} ({n:,})" for k, n in (v.get("top") or [])[:5]),
            ]
            for c, v in prof["columns"].items()
        ]
        parts.append(
            _table(
                cols,
                [
                    "column",
                    "type",
                    "nulls",
                    "null rate",
                    "distinct",
                    "mean",
                    "std",
                    "min",
                    "max",
                    "top values",
                ],
            )
        )
    samp = _load(run_dir, "sampling_report.json")
    if samp:
        parts.append("<h2>Sampling</h2>")
        parts.append(
            f"<p>{samp['sample_rows']:,} of {samp['population_rows']:,} rows, strata {html.escape(', '.join(samp['strata_columns']) or '(none)')}, seed {samp['seed']}.</p>"
        )
        rows = [
            [s, v["population"], v["sample"], v["weight"], v["train"], v["valid"], v["test"]]
            for s, v in list(samp["strata"].items())[:100]
        ]
        parts.append(_table(rows, ["stratum", "N_h", "n_h", "weight", "train", "valid", "test"]))
    parts.append("</body></html>")
    return "".join(parts)


def write_report(run_dir: str, metrics: dict[str, Any]) -> str:
    pngs = plots(metrics) if metrics.get("task", "binary") == "binary" else {}
    os.makedirs(os.path.join(run_dir, "plots"), exist_ok=True)
    for name, data in pngs.items():
        with open(os.path.join(run_dir, "plots", f"{name}.png"), "wb") as f:
            f.write(data)
    path = os.path.join(run_dir, "report.html")
    with open(path, "w") as f:
        f.write(build_html(run_dir, metrics, pngs))
    return path
