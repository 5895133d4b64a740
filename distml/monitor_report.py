"""What ``distml monitor`` shows: the console summary and monitor.html (one self-contained page:
the verdict and its reasons, then plots of each compared feature's distribution, the score
distribution, the label rate and the live metrics against training, each with its interval)."""

from __future__ import annotations

import base64
import html
import os
from typing import Any

from distml.report import CSS, plt, png, table

FEATURE_PLOTS = 12  # the features with the largest PSI get a plot; the table lists all


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
        sc = report["score"]
        lines.append(f"  {'score':<24} PSI {sc['psi']:.4f}  {sc['status']}")
    lab = report.get("label")
    if lab and "rate_change" in lab:
        ch = lab["rate_change"]
        lines.append(
            f"  {'positive rate':<24} {ch['rate']:.4g} vs {ch['reference_rate']:.4g} "
            f"[{ch['interval'][0]:+.4g}, {ch['interval'][1]:+.4g}]  {lab['status']}"
        )
    elif lab:
        lines.append(f"  {'label':<24} PSI {lab['psi']:.4f}  {lab['status']}")
    for name, ch in (report.get("live_vs_training") or {}).items():
        if "difference" in ch:
            lines.append(
                f"  {'live ' + name:<24} {ch['live']:.4g} vs {ch['training']:.4g} "
                f"[{ch['interval'][0]:+.4g}, {ch['interval'][1]:+.4g}]  {ch['status']}"
            )
    if report.get("not_checked"):
        lines.append(f"  not checked: {report['not_checked']}")
    lines.append(f"report: {os.path.join(run_dir, 'monitor.html')}")
    print("\n".join(lines), flush=True)


def _bars(title: str, res: dict[str, Any]) -> bytes:
    """Reference vs new share of rows per bin (a numeric column's reference quantile bins or a
    category's values)."""
    labels = [str(x) for x in res["bins"]]
    n = len(labels)
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    x = list(range(n))
    ax.bar([i - 0.2 for i in x], res["reference_share"], 0.4, label="training", color="#607d8b")
    ax.bar([i + 0.2 for i in x], res["new_share"], 0.4, label="new", color="#ef6c00")
    step = max(1, n // 8)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([s[:24] for s in labels[::step]], rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_ylim(
        0, max(max(res["reference_share"], default=0), max(res["new_share"], default=0)) * 1.1 or 1
    )
    ax.set_title(f"{title} · PSI {res['psi']:.3f} · {res.get('status', '')}", fontsize=9)
    ax.legend(fontsize=7)
    return png(fig)


def _errorbars(
    title: str, note: str, rows: list[tuple[str, float, list | None, float, list | None]]
) -> bytes:
    """Training and live values side by side per name, each with its interval (``note``: which
    intervals, under the axis)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    for i, (_, new, new_iv, ref, ref_iv) in enumerate(rows):
        for dx, v, iv, color, lab in (
            (-0.12, ref, ref_iv, "#607d8b", "training"),
            (0.12, new, new_iv, "#ef6c00", "live"),
        ):
            err = [[v - iv[0]], [iv[1] - v]] if iv else None
            ax.errorbar(
                [i + dx],
                [v],
                yerr=err,
                fmt="o",
                color=color,
                capsize=4,
                label=lab if i == 0 else None,
            )
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows], fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(note, fontsize=7)
    ax.legend(fontsize=7)
    return png(fig)


def plots(report: dict[str, Any]) -> dict[str, bytes]:
    """The page's plots by name: ``feature:<column>`` (largest PSI first, at most
    ``FEATURE_PLOTS``), ``score``, ``label`` and ``live``."""
    out: dict[str, bytes] = {}
    feats = sorted(
        ((c, r) for c, r in report["features"].items() if r.get("bins")),
        key=lambda kv: -kv[1].get("psi", 0.0),
    )
    for c, r in feats[:FEATURE_PLOTS]:
        out[f"feature:{c}"] = _bars(c, r)
    if report.get("score", {}).get("bins"):
        out["score"] = _bars("score", report["score"])
    lab = report.get("label") or {}
    if "rate_change" in lab:
        ch = lab["rate_change"]
        out["label"] = _errorbars(
            f"positive rate · {lab['status']}",
            f"bars: {ch['level']:.0%} Wilson intervals",
            [
                (
                    "positive rate",
                    ch["rate"],
                    ch["rate_interval"],
                    ch["reference_rate"],
                    ch["reference_rate_interval"],
                )
            ],
        )
    live = [
        (name, ch["live"], ch["live_interval"], ch["training"], ch["training_interval"])
        for name, ch in (report.get("live_vs_training") or {}).items()
        if "difference" in ch
    ]
    if live:
        ch = next(c for c in report["live_vs_training"].values() if "difference" in c)
        note = (
            f"bars: training {ch['training_interval_level']:.0%}, live {ch['level']:.0%} intervals"
        )
        out["live"] = _errorbars("live metrics vs training (test split)", note, live)
    return out


def _img(data: bytes, alt: str) -> str:
    b64 = base64.b64encode(data).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def _iv(ch: dict[str, Any]) -> str:
    return f"[{ch['interval'][0]:+.4g}, {ch['interval'][1]:+.4g}]"


def _labels_and_live(report: dict[str, Any], pngs: dict[str, bytes]) -> list[str]:
    """The label rate's and the live metrics' plots and tables."""
    parts: list[str] = []
    lab = report.get("label") or {}
    live = report.get("live_vs_training") or {}
    if "label" in pngs or "live" in pngs or "score" in pngs:
        parts.append("<h2>Labels, scores and live metrics</h2><div class='plots'>")
        parts += [_img(pngs[k], k) for k in ("label", "live", "score") if k in pngs]
        parts.append("</div>")
    if "rate_change" in lab:
        ch = lab["rate_change"]
        row = [lab["positive"], ch["reference_rate"], ch["rate"], ch["difference"], _iv(ch)]
        head = ["positive label", "training rate", "new rate", "change", "interval", "status"]
        parts.append(table([[*row, lab["status"]]], head))
    if live:
        rows = [
            [name, ch["training"], ch["live"], ch["difference"], _iv(ch), ch["status"]]
            if "difference" in ch
            else [name, None, None, None, ch.get("skipped", ""), ""]
            for name, ch in live.items()
        ]
        head = ["metric", "training (test)", "live", "change", "interval", "status"]
        parts.append(table(rows, head))
    return parts


def to_html(report: dict[str, Any]) -> str:
    pngs = plots(report)
    color = {"ok": "ok", "warn": "bad", "drift": "bad"}[report["status"]]
    reasons = (
        "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>no drift</li>"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>distml monitor</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>Monitor: <span class='{color}'>{report['status']}</span></h1>",
        f"<p>{report['rows_in']:,} rows from {html.escape(report['data_path'])} against "
        f"{html.escape(report['model_run'])}.</p><ul>{reasons}</ul>",
    ]
    if report.get("not_checked"):
        parts.append(f"<p class='bad'>Not checked: {html.escape(report['not_checked'])}.</p>")
    th = report.get("thresholds", {})
    parts.append(
        "<p class='note'>Features: PSI warn at "
        f"{th.get('psi_warn')}, drift at {th.get('psi_drift')}. Label rate and live metrics: a change "
        f"counts when its {th.get('confidence', 0):.0%} interval excludes 0 (warn) and drift when "
        "it also lies beyond monitor.label_rate_drift / monitor.metric_drop_drift of the training "
        "value.</p>"
    )
    parts += _labels_and_live(report, pngs)
    feats = [k for k in pngs if k.startswith("feature:")]
    if feats:
        parts.append("<h2>Feature distributions: training vs new</h2><div class='plots'>")
        parts += [_img(pngs[k], k) for k in feats]
        parts.append("</div>")
    rows = [
        [
            c,
            r.get("kind"),
            r.get("psi"),
            r.get("js_distance"),
            r.get("wasserstein"),
            r.get("status", r.get("skipped", "")),
        ]
        for c, r in report["features"].items()
    ]
    parts.append(table(rows, ["column", "kind", "PSI", "JS distance", "Wasserstein", "status"]))
    gates = [
        [g["gate"], g["column"] or "", g["value"], g["limit"], "pass" if g["passed"] else "FAIL"]
        for g in report["quality"]["gates"]
    ]
    parts.append("<h2>Data quality gates</h2>")
    parts.append(table(gates, ["gate", "column", "value", "limit", "result"]))
    parts.append("</body></html>")
    return "".join(parts)
