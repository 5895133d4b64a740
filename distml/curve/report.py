"""The learning curve's outputs: curve.json, plots/curve.png, a section at the top of report.html
(the rest of the page is the largest size's model) and the table printed when it ends."""

from __future__ import annotations

import base64
import html
import math
import os
from typing import Any

import numpy as np

from distml.artifacts import write_json
from distml.config import CurveConfig
from distml.curve.fit import fit_power_law, recommend
from distml.errors import UserError
from distml.objective import LOWER_IS_BETTER, QUALITY_METRICS, default_metric, metric_range
from distml.report import plt, png, table, write_run_report

EXTRAPOLATE = (2, 5, 10)
"""The fitted curve is extrapolated to these multiples of the largest size."""
Z95 = 1.959964


def _g(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2g}"


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def metric_name(task: str, metric: str | None) -> str:
    """curve.metric, or the task's default; a UserError unless it measures quality."""
    name = metric or default_metric(task)
    if name not in QUALITY_METRICS[task]:
        raise UserError(
            f"curve.metric '{name}' is not a quality metric of a {task} model; pick one of: "
            f"{', '.join(QUALITY_METRICS[task])}."
        )
    return name


def check_metric(metrics: dict[str, Any], name: str) -> None:
    """A UserError unless the test split has rows and a value of the metric."""
    test = metrics.get("test") or {}
    if not test.get("rows"):
        raise UserError(
            "The sample has no test rows, so the models cannot be compared: set "
            "sampling.split.test above 0 (and a sampling.size that leaves test rows)."
        )
    if not _scalar(test.get(name)):
        raise UserError(
            f"curve.metric '{name}' has no value on the sample's {test['rows']:,} test rows "
            "(e.g. a single class there). Pick another curve.metric, or a larger sampling.size."
        )


def _fit(n: np.ndarray, y: np.ndarray, iv: list, name: str) -> tuple[Any, list[str]]:
    """The power law (weighted by the intervals when every size has one) and why its plateau
    is not trusted (empty: it is)."""
    sigma = np.array([(b - a) / (2 * Z95) for a, b in iv]) if all(iv) else None
    law = fit_power_law(n, y, name in LOWER_IS_BETTER, sigma, metric_range(name))
    if law is None:
        return None, ["no fitted curve: it needs at least 4 sizes and a fit that converges"]
    return law, law.problems(y)


def _warnings(c: dict[str, Any], population: int) -> list[str]:
    """What makes the curve less telling than it looks."""
    out, pts = [], c["points"]
    for p in pts:
        empty = [h for h, m in p["rows_by_stratum"].items() if m == 0]
        if empty:
            out.append(f"at {p['train_rows']:,} training rows the strata {empty} have no rows")
    beyond = [e["train_rows"] for e in c["extrapolated"] if e["train_rows"] > population]
    if beyond:
        out.append(
            f"the extrapolation to {', '.join(f'{b:,}' for b in beyond)} training rows goes "
            f"beyond the {population:,} rows of the data"
        )
    return out


def _no_recommendation(iv: list, tolerance: float, test_rows: int, population: int) -> str | None:
    """Why no size can be recommended (None: one can). The rule: sizes closer than
    ``tolerance`` can be told apart only when the test metric's 95% intervals are no wider than
    it, i.e. their median half-width is at most ``tolerance``; without intervals there is no way
    to know."""
    if not all(iv):
        return (
            "no recommendation: the sizes' test metrics have no intervals (eval.bootstrap=0), "
            "so distml cannot tell whether two sizes differ by more than curve.tolerance; set "
            "eval.bootstrap (e.g. 200)"
        )
    half = float(np.median([(b - a) / 2 for a, b in iv]))
    if half <= tolerance:
        return None
    # a half-width shrinks as 1/sqrt(test rows)
    need = math.ceil(test_rows * (half / max(tolerance, 1e-12)) ** 2)
    more = (
        f"about {need:,} test rows (a larger sampling.size or sampling.split.test)"
        if need <= population
        else f"about {need:,} test rows, more than the data's {population:,} rows hold"
    )
    return (
        f"no recommendation: the test metric's 95% intervals (median half-width {half:.3g}) are "
        f"wider than curve.tolerance={tolerance:g}, so sizes closer than that cannot be told "
        f"apart on {test_rows:,} test rows. To get one: {more}, or a looser curve.tolerance (at "
        f"least {half:.3g})"
    )


def _recommendation(
    points: list[dict[str, Any]],
    n: np.ndarray,
    y: np.ndarray,
    size: int | None,
    why: str,
    name: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {"train_rows": size, "reason": why, "largest_train_rows": int(n[-1])}
    if size is None:
        return out
    rec = points[[p["train_rows"] for p in points].index(size)]
    return out | {
        name: float(y[[int(x) for x in n].index(size)]),
        "train_seconds": rec["train_seconds"],
        # noisy at small sizes: a smaller model is never reported as costing more
        "train_seconds_saved": round(
            max(0.0, points[-1]["train_seconds"] - rec["train_seconds"]), 3
        ),
    }


POINT_KEYS = ("rank_rows", "train_seconds", "wall_seconds", "score_seconds", "rounds")


def summarize(
    points: list[dict[str, Any]],
    task: str,
    cfg: CurveConfig,
    counts: dict[str, int],
    population: int,
) -> dict[str, Any]:
    """curve.json's content from the scored sizes (ascending), the fit and the recommendation;
    ``population``: the rows of the data."""
    name = metric_name(task, cfg.metric)
    lower = name in LOWER_IS_BETTER
    n = np.array([p["train_rows"] for p in points], dtype=float)
    y = np.array([p["metrics"]["test"][name] for p in points], dtype=float)
    iv = [p["metrics"]["test"].get("intervals", {}).get(name) for p in points]
    law, problems = _fit(n, y, iv, name)
    trusted = law is not None and not problems
    plateau = law.a if trusted else None
    test_rows = points[-1]["metrics"]["test"]["rows"]
    blocked = _no_recommendation(iv, cfg.tolerance, test_rows, population)
    if blocked:
        size, why = None, blocked
    else:
        size, why = recommend([int(x) for x in n], list(y), cfg.tolerance, lower, plateau)
        if problems:
            why += f" (the fitted plateau is not used: {'; '.join(problems)})"
        elif law is not None and law.plateau_stderr is not None:
            why += f" (the plateau's standard error is {law.plateau_stderr:.2g})"
    c: dict[str, Any] = {
        "metric": name,
        "lower_is_better": lower,
        "task": task,
        "tolerance": cfg.tolerance,
        "population_rows": population,
        "train_rows_by_stratum": counts,
        "points": [
            {
                "train_rows": p["train_rows"],
                "rows_by_stratum": p["rows_by_stratum"],
                name: float(v),
                "interval": i,
                "fitted": float(law(p["train_rows"])) if trusted else None,
                "test_rows": p["metrics"]["test"]["rows"],
                **{k: p[k] for k in POINT_KEYS},
                "best_iteration": p["best_iteration"],
                "model": p["model"],
            }
            for p, v, i in zip(points, y, iv, strict=True)
        ],
        "fit": None
        if law is None
        else {
            **law.to_json(),
            "plateau": law.a if trusted else None,
            "trusted": trusted,
            "not_trusted_because": problems,
            "weights": "bootstrap" if all(iv) else "none",
        },
        # only from a trusted fit: an untrusted one's plateau and extrapolation are not shown
        "extrapolated": [
            {
                "train_rows": int(f * n[-1]),
                name: float(law(f * n[-1])),
                "stderr": law.stderr(f * n[-1]),
            }
            for f in EXTRAPOLATE
            if trusted
        ],
        "recommendation": _recommendation(points, n, y, size, why, name),
    }
    c["warnings"] = _warnings(c, population)
    return c


def plot(c: dict[str, Any]) -> bytes:
    """The metric (with its 95% intervals) against training rows on a log scale, the fitted
    curve and its extrapolation, and the training seconds on a second axis."""
    name, pts = c["metric"], c["points"]
    n = np.array([p["train_rows"] for p in pts], dtype=float)
    y = np.array([p[name] for p in pts])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if all(p["interval"] for p in pts):
        lo = y - np.array([p["interval"][0] for p in pts])
        hi = np.array([p["interval"][1] for p in pts]) - y
        ax.errorbar(n, y, yerr=[np.clip(lo, 0, None), np.clip(hi, 0, None)], fmt="o", capsize=3,
                    color="C0", label=f"test {name} (95% interval)")  # fmt: skip
    else:
        ax.plot(n, y, "o", color="C0", label=f"test {name}")
    if c["fit"] and c["fit"]["trusted"]:  # an untrusted fit is not drawn
        f = c["fit"]
        xs = np.geomspace(n[0], n[-1] * EXTRAPOLATE[-1], 200)
        sign = 1.0 if c["lower_is_better"] else -1.0
        ax.plot(xs, f["a"] + sign * f["b"] * xs ** -f["c"], "--", color="C0", alpha=0.7,
                label=f"fit {f['model']}, plateau {f['a']:.4g}")  # fmt: skip
        ext = [e for e in c["extrapolated"] if e["stderr"] is not None]
        if ext:
            ax.errorbar([e["train_rows"] for e in ext], [e[name] for e in ext],
                        yerr=[Z95 * e["stderr"] for e in ext], fmt="D", mfc="none", color="C0",
                        capsize=3, alpha=0.7, label="extrapolated (95%)")  # fmt: skip
    if c["recommendation"]["train_rows"] is not None:
        ax.axvline(c["recommendation"]["train_rows"], color="C2", lw=1, ls="--", alpha=0.6,
                   zorder=0, label="recommended size")  # fmt: skip
    if c["extrapolated"] and c["extrapolated"][-1]["train_rows"] > c["population_rows"]:
        ax.axvline(
            c["population_rows"], color="0.5", lw=1, ls=":", zorder=0, label="rows of the data"
        )
    lo, hi = metric_range(name)  # the axis stays inside the metric's possible values
    y0, y1 = ax.get_ylim()
    ax.set_ylim(max(y0, lo), min(y1, hi))
    ax.set_xscale("log")
    ax.set_xlabel("training rows")
    ax.set_ylabel(f"test {name}")
    ax2 = ax.twinx()
    ax2.plot(n, [p["train_seconds"] for p in pts], "s:", color="C3", label="training seconds")
    ax2.set_ylabel("training seconds")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    # below the axes: the legend never hides a point
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.set_title("Learning curve")
    return png(fig)


def section(c: dict[str, Any], image: bytes) -> str:
    """report.html's learning-curve section."""
    name, r = c["metric"], c["recommendation"]
    rows = [
        [p["train_rows"], p[name], p["interval"], p["fitted"], p["train_seconds"], p["rounds"]]
        for p in c["points"]
    ]
    img = base64.b64encode(image).decode()
    if r["train_rows"] is None:
        advice = f"<p class='bad'>{html.escape(r['reason'][0].upper() + r['reason'][1:])}.</p>"
    else:
        saves = (
            "it is the largest size"
            if r["train_rows"] == r["largest_train_rows"]
            else f"it trains in {r['train_seconds']:.3g} s, {r['train_seconds_saved']:.3g} s less "
            "than the largest size"
        )
        advice = (
            f"<p>Recommended: <b>{r['train_rows']:,}</b> training rows "
            f"({html.escape(r['reason'])}); {saves}.</p>"
        )
    fit = c["fit"]
    if not fit:
        fit_text = "No fitted curve (fewer than 4 sizes, or the fit did not converge)."
    elif fit["trusted"]:
        se = ", ".join(f"{k} {_g(v)}" for k, v in fit["stderr"].items())
        fit_text = (
            f"Fitted {html.escape(fit['model'])}: a={fit['a']:.4g} (the plateau), "
            f"b={fit['b']:.4g}, c={fit['c']:.3g}; standard errors {se}."
        )
    else:
        fit_text = (
            "The fitted curve is not trusted, so no plateau or extrapolation is shown: "
            + html.escape("; ".join(fit["not_trusted_because"]))
            + "."
        )
    ext = table(
        [[e["train_rows"], e[name], e["stderr"]] for e in c["extrapolated"]],
        ["training rows", f"extrapolated {name}", "stderr"],
    )
    return (
        f"<h2>Learning curve</h2>{advice}"
        f"<img style='width:640px' alt='learning curve' src='data:image/png;base64,{img}'>"
        + table(
            rows, ["training rows", f"test {name}", "95% interval", "fitted", "train s", "rounds"]
        )
        + f"<p class='note'>{fit_text}</p>"
        + (ext if c["extrapolated"] else "")
        + "".join(f"<p class='bad'>Warning: {html.escape(w)}.</p>" for w in c["warnings"])
        + "<p class='note'>The metrics below are the largest size's model.</p>"
    )


def text(c: dict[str, Any], run_dir: str) -> str:
    """The table printed when the curve ends."""
    name, r = c["metric"], c["recommendation"]
    lines = [f"{'train rows':>12}  {name:>18}  {'95% interval':>21}  {'train s':>8}  rounds"]
    for p in c["points"]:
        iv = f"[{p['interval'][0]:.4f}, {p['interval'][1]:.4f}]" if p["interval"] else "n/a"
        mark = "  <- recommended" if p["train_rows"] == r["train_rows"] else ""
        lines.append(
            f"{p['train_rows']:>12,}  {p[name]:>18.4f}  {iv:>21}  {p['train_seconds']:>8.1f}  "
            f"{p['rounds']:>6}{mark}"
        )
    for e in c["extrapolated"]:
        lines.append(f"{e['train_rows']:>12,}  {e[name]:>18.4f}  (fitted, +/- {_g(e['stderr'])})")
    if r["train_rows"] is None:
        lines.append(r["reason"])
    else:
        lines.append(f"recommended: {r['train_rows']:,} training rows: {r['reason']}")
    lines.extend(f"warning: {w}" for w in c["warnings"])
    lines.append(
        f"curve: {os.path.join(run_dir, 'curve.json')}  plot: {os.path.join(run_dir, 'plots', 'curve.png')}"
    )
    return "\n".join(["", f"distml curve finished: {run_dir}", *lines])


def write_outputs(run_dir: str, c: dict[str, Any], metrics: dict[str, Any]) -> None:
    """curve.json, plots/curve.png and report.html (``metrics``: the largest size's)."""
    write_json(os.path.join(run_dir, "curve.json"), c)
    image = plot(c)
    os.makedirs(os.path.join(run_dir, "plots"), exist_ok=True)
    with open(os.path.join(run_dir, "plots", "curve.png"), "wb") as f:
        f.write(image)
    write_run_report(run_dir, metrics, [section(c, image)])
    print(text(c, run_dir), flush=True)
