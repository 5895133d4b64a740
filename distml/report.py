"""report.html: one self-contained page (inline CSS and PNG plots, no remote scripts or fonts),
the plots as PNG files under ``plots/`` for terminals and CI logs, and the summary table printed
when a run ends."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import matplotlib

from distml.objective import HEADLINE

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


def table(rows: list[list[Any]], head: list[str]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def png(fig) -> bytes:
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
        out["roc"] = png(fig)
    if c and c["pr"]:
        fig, ax = plt.subplots(figsize=(4.2, 4))
        x, y = zip(*c["pr"], strict=True)
        ax.plot(x, y, color="#d62728", label=f"AP {test['average_precision']:.4f}")
        ax.axhline(test["positives"] / max(test["rows"], 1), ls=":", color="#999")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)", ylim=(0, 1.02))
        ax.legend(loc="upper right")
        out["pr"] = png(fig)
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
        out["calibration"] = png(fig)
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
        out["confusion_matrix"] = png(fig)
    return out


def _load(run_dir: str, name: str) -> Any:
    p = os.path.join(run_dir, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def threshold_text(th: dict[str, Any]) -> str:
    """How the threshold was chosen, as threshold.json says (a fallback names itself)."""
    if th.get("note"):
        return f"{th['value']:.6g} ({th['note']})"
    return f"{th['value']:.6g} ({th['policy']}, chosen on valid)"


def _gate(metrics: dict[str, Any]) -> str:
    gate = metrics.get("gate")
    if not gate:
        return ""
    status = (
        "<span class='ok'>passed</span>" if gate["passed"] else "<span class='bad'>FAILED</span>"
    )
    rows = [[g["gate"], g["value"], "yes" if g["passed"] else "no"] for g in gate["gates"]]
    return f"<h2>Model gate: {status}</h2>" + table(rows, ["gate", "value", "passed"])


def _metrics(metrics: dict[str, Any]) -> str:
    splits = [s for s in ("valid", "test") if s in metrics]
    test = metrics.get("test", {})
    keys = [k for k, v in test.items() if (v is None or isinstance(v, int | float)) and k != "beta"]
    out = "<h2>Metrics</h2>" + table(
        [[k, *[metrics[s].get(k) for s in splits]] for k in keys], ["metric", *splits]
    )
    if metrics.get("threshold"):
        out += f"<p>Threshold <b>{html.escape(threshold_text(metrics['threshold']))}</b>.</p>"
    if test.get("intervals"):
        method = html.escape(test.get("intervals_method", ""))
        out += f"<h3>95% intervals (test)</h3><p class='note'>{method}</p>"
        out += table(
            [[k, lo, hi] for k, (lo, hi) in test["intervals"].items()], ["metric", "low", "high"]
        )
    if test.get("population"):
        rows = [[k, v] for k, v in test["population"].items() if not isinstance(v, dict | list)]
        out += "<h3>Population-weighted (test)</h3>" + table(rows, ["metric", "value"])
    return out


def _plots(pngs: dict[str, bytes]) -> str:
    if not pngs:
        return ""
    imgs = "".join(
        f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        for name, data in pngs.items()
    )
    return f"<h2>Plots</h2><div class='plots'>{imgs}</div>"


def _thresholds_and_slices(test: dict[str, Any]) -> str:
    out = ""
    curves = test.get("curves") or {}
    rows = curves.get("threshold_precision_recall")
    if rows:
        step = max(1, len(rows) // 15)
        out += "<h2>Thresholds (test)</h2>" + table(
            rows[::step], ["threshold", "precision", "recall"]
        )
    if test.get("slices"):
        out += "<h2>Slices (test)</h2>"
        head = ["value", "rows", "positives", "roc_auc", "precision", "recall", "f1", "note"]
        for col, vals in test["slices"].items():
            rows = [
                [v, *(m.get(k) for k in head[1:-1]), m.get("skipped", "")] for v, m in vals.items()
            ]
            out += f"<h3>{html.escape(col)}</h3>" + table(rows, head)
    return out


def _importance(run_dir: str) -> str:
    imp = _load(run_dir, "feature_importance.json")
    if not imp or not imp.get("gain"):
        return ""
    top = sorted(imp["gain"].items(), key=lambda kv: -kv[1])[:25]
    rows = [[k, v, imp.get("cover", {}).get(k)] for k, v in top]
    return "<h2>Feature importance (gain, cover)</h2>" + table(rows, ["feature", "gain", "cover"])


def _estimated(dup: dict, key: str, error: str) -> object:
    """A duplicate count, or its estimate with the 95% error when it was not counted exactly."""
    if dup.get("exact", True):
        return dup[key]
    return f"~{dup[key]:,} (+/- {dup[error]:,.0f}, 95%, estimated)"


def _quality(run_dir: str) -> str:
    prof = _load(run_dir, "profile.json")
    if not prof:
        return ""
    dup, fresh = prof.get("duplicates") or {}, prof.get("freshness") or {}
    rows = [
        ["rows in", prof["rows_in"]],
        ["rows accepted", prof["rows_accepted"]],
        ["rows quarantined", prof["rows_quarantined"]],
        *[[f"rule {k}", v] for k, v in (prof.get("rules") or {}).items()],
        *([["duplicate rows", _estimated(dup, "rows", "rows_error_95")]] if "rows" in dup else []),
        *([["duplicate ids", _estimated(dup, "ids", "ids_error_95")]] if "ids" in dup else []),
        *[[f"skipped file {f['path']}", f["reason"]] for f in prof.get("skipped_files", [])],
        *([[f"newest {fresh['column']}", fresh.get("newest")]] if fresh else []),
    ]
    out = "<h2>Data quality</h2>" + table(rows, ["", "rows"])
    gates = [
        [g["gate"], g["column"] or "", g["value"], g["limit"], "pass" if g["passed"] else "FAIL"]
        for g in prof.get("gates") or []
    ]
    if gates:
        out += table(gates, ["gate", "column", "value", "limit", "result"])
    stats = ("type", "nulls", "null_rate", "distinct", "mean", "std", "min", "max")
    cols = [
        [
            c,
            *(v.get(k) for k in stats),
            ", ".join(f"{k} ({n:,})" for k, n in (v.get("top") or [])[:5]),
        ]
        for c, v in prof["columns"].items()
    ]
    return out + table(cols, ["column", *(k.replace("_", " ") for k in stats), "top values"])


def _sampling(run_dir: str) -> str:
    samp = _load(run_dir, "sampling_report.json")
    if not samp:
        return ""
    strata = html.escape(", ".join(samp["strata_columns"]) or "(none)")
    rows = [
        [s, v["population"], v["sample"], v["weight"], v["train"], v["valid"], v["test"]]
        for s, v in list(samp["strata"].items())[:100]
    ]
    return (
        f"<h2>Sampling</h2><p>{samp['sample_rows']:,} of {samp['population_rows']:,} rows, "
        f"strata {strata}, seed {samp['seed']}.</p>"
        + table(rows, ["stratum", "N_h", "n_h", "weight", "train", "valid", "test"])
    )


def build_html(
    run_dir: str, metrics: dict[str, Any], pngs: dict[str, bytes], sections: Sequence[str] = ()
) -> str:
    """The report page: ``sections`` (e.g. the learning curve), then gate, metrics, plots,
    thresholds, slices, importance, quality, sampling."""
    head = (
        "<!doctype html><html><head><meta charset='utf-8'><title>distml report</title>"
        f"<style>{CSS}</style></head><body><h1>distml run report</h1>"
        f"<p class='note'>{html.escape(os.path.abspath(run_dir))}</p>"
    )
    parts = [
        *sections,
        _gate(metrics),
        _metrics(metrics),
        _plots(pngs),
        _thresholds_and_slices(metrics.get("test", {})),
        _importance(run_dir),
        _quality(run_dir),
        _sampling(run_dir),
    ]
    return head + "".join(parts) + "</body></html>"


def write_run_report(run_dir: str, metrics: dict[str, Any], sections: Sequence[str] = ()) -> str:
    pngs = plots(metrics) if metrics.get("task", "binary") == "binary" else {}
    os.makedirs(os.path.join(run_dir, "plots"), exist_ok=True)
    for name, data in pngs.items():
        with open(os.path.join(run_dir, "plots", f"{name}.png"), "wb") as f:
            f.write(data)
    path = os.path.join(run_dir, "report.html")
    with open(path, "w") as f:
        f.write(build_html(run_dir, metrics, pngs, sections))
    return path


def print_summary(metrics: dict[str, Any], run_dir: str) -> None:
    splits = [sp for sp in ("valid", "test") if sp in metrics]
    lines = [f"{'metric':<20}" + "".join(f"{sp:>14}" for sp in splits)]
    for n in HEADLINE[metrics.get("task", "binary")]:
        cells = []
        for sp in splits:
            v = metrics[sp].get(n)
            text = (
                "n/a"
                if v is None
                else (f"{v:,}" if isinstance(v, int) or float(v).is_integer() else f"{v:.4f}")
            )
            cells.append(f"{text:>14}")
        lines.append(f"{n:<20}" + "".join(cells))
    if "threshold" in metrics:
        lines.append(f"threshold: {threshold_text(metrics['threshold'])}")
    if "gate" in metrics:
        lines.append(
            "gate: "
            + (
                "passed"
                if metrics["gate"]["passed"]
                else "FAILED: " + "; ".join(metrics["gate"]["reasons"])
            )
        )
    lines.append(f"report: {os.path.join(run_dir, 'report.html')}")
    print("\n".join(["", f"distml run finished: {run_dir}", *lines]), flush=True)
