"""Sweeps: `distml run -m a=1,2 b=x,y` runs every trial as a Ray task on the cluster, at most
``sweep.max_concurrent`` at once, and ranks them.

The Hydra launcher (``hydra/launcher=distml_ray``, the default; see distml/plugins) calls
``launch``, which runs the trials on Ray (distml/cluster/sweep.py). Each trial is a whole pipeline run in its own directory under ``hydra.sweep.dir``;
trials with the same data inputs and config share one computation of the data stages (see
distml/cache.py), so only training and evaluation repeat. After each batch the sweep directory
gets ``sweep.json`` and ``sweep.csv`` (every trial's overrides, status, metric and run directory,
ranked by ``sweep.metric``), and the leaderboard with the best trial's command line is printed.
Adaptive sweepers (``hydra/sweeper=optuna``) call ``launch`` once per batch and read each trial's
metric as its return value.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distml.artifacts import dumps

SUMMARY_JSON = "sweep.json"
SUMMARY_CSV = "sweep.csv"


@dataclass
class Tally:
    """Trials launched and failed by this process's sweeps: `distml run -m` exits 1 when any
    failed. Module state because Hydra's multirun hands the launcher's results to no caller
    (``hydra.main`` returns nothing); the CLI resets it before each command."""

    trials: int = 0
    failed: int = 0


TALLY = Tally()


def metric_of(record: dict[str, Any] | None, metric: str) -> float | None:
    split, name = metric.split(".", 1)
    v = ((record or {}).get("metrics") or {}).get(split, {}).get(name)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def launch(launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
    """Hydra's Launcher.launch: every trial on the Ray cluster, then the ranking."""
    from omegaconf import OmegaConf, open_dict

    from distml.cluster.sweep import run_trials
    from distml.config import ClusterConfig, SweepConfig

    base = launcher.config
    # only these groups: the rest may interpolate ${hydra:...}, set per trial by run_job
    sweep_cfg = SweepConfig(**OmegaConf.to_container(base.sweep, resolve=True))
    cluster = ClusterConfig(**OmegaConf.to_container(base.cluster, resolve=True))
    cwd = os.getcwd()
    sweep_dir = Path(str(base.hydra.sweep.dir)).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    configs = []
    for i, overrides in enumerate(job_overrides):
        idx = initial_job_idx + i
        cfg = launcher.hydra_context.config_loader.load_sweep_config(base, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = f"{cfg.hydra.job.name}_{idx}"
            cfg.hydra.job.num = idx
            # trials run in other processes (and nodes): every path they write is absolute
            cfg.hydra.sweep.dir = str(sweep_dir)
            cfg.hydra.runtime.cwd = cwd
        configs.append((idx, list(overrides), cfg))
    print(
        f"[sweep] {len(configs)} trials, at most {sweep_cfg.max_concurrent} at once, in {sweep_dir}",
        file=sys.stderr,
        flush=True,
    )
    objs = [(i, (launcher.hydra_context, launcher.task_function, c)) for i, _, c in configs]
    results = run_trials(objs, cluster, sweep_cfg.max_concurrent, sweep_cfg.trial_cpus, cwd)
    return _returns(configs, results, sweep_cfg, sweep_dir)


def _returns(configs, results, sweep_cfg, sweep_dir: Path) -> list:
    """Each trial's row in sweep.json and its JobReturn (a failed trial reports NaN)."""
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    rows, returns = [], []
    for idx, overrides, cfg in configs:
        run_dir = sweep_dir / str(cfg.hydra.sweep.subdir)
        res = results[idx]
        record = _read_json(run_dir / "run.json")
        ok = isinstance(res, JobReturn) and res.status == JobStatus.COMPLETED
        value = metric_of(record, sweep_cfg.metric) if ok else None
        error = None
        if not ok:
            exc = res._return_value if isinstance(res, JobReturn) else res
            error = _one_line(exc)
        rows.append(
            {
                "num": idx,
                "overrides": overrides,
                "status": "COMPLETED" if ok else "FAILED",
                "metric": value,
                "run_dir": str(run_dir),
                "error": error,
                "started_unix": _first(record, "start_unix"),
                "finished_unix": _last(record, "end_unix"),
                "cached_stages": [
                    n for n, st in (record or {}).get("stages", {}).items() if st.get("cached")
                ],
                "metrics": (record or {}).get("metrics", {}),
            }
        )
        ret = res if isinstance(res, JobReturn) else JobReturn(overrides=overrides, cfg=cfg)
        # A failed trial is reported in the leaderboard, sweep.json and the exit status (see
        # distml/cli.py), not as a traceback; adaptive sweepers see NaN, a failed trial for Optuna.
        ret.status = JobStatus.COMPLETED
        ret.return_value = value if value is not None else float("nan")
        TALLY.trials += 1
        TALLY.failed += 0 if ok else 1
        ret.cfg = cfg
        ret.hydra_cfg = OmegaConf.create({"hydra": OmegaConf.to_container(cfg.hydra)})
        returns.append(ret)

    summary = write_summary(sweep_dir, rows, sweep_cfg.metric, sweep_cfg.direction)
    print(leaderboard(summary), file=sys.stderr, flush=True)
    return returns


def _one_line(exc: BaseException) -> str:
    """The error's own message: a trial's UserError, or the last line of a Ray task error."""
    cause = getattr(exc, "cause", None) or exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(cause).__name__


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _first(record, key):
    vals = [st.get(key) for st in (record or {}).get("stages", {}).values() if st.get(key)]
    return min(vals) if vals else None


def _last(record, key):
    vals = [st.get(key) for st in (record or {}).get("stages", {}).values() if st.get(key)]
    return max(vals) if vals else None


def rank(trials: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Completed trials with a metric first, best first; the rest after, by trial number."""
    scored = [t for t in trials if t["metric"] is not None]
    scored.sort(key=lambda t: (-t["metric"] if direction == "maximize" else t["metric"], t["num"]))
    rest = sorted((t for t in trials if t["metric"] is None), key=lambda t: t["num"])
    out = []
    for i, t in enumerate(scored + rest):
        out.append({**t, "rank": i + 1 if t["metric"] is not None else None})
    return out


def command_line(overrides: list[str]) -> str:
    return shlex.join(["distml", "run", *overrides])


def write_summary(
    sweep_dir: Path, rows: list[dict[str, Any]], metric: str, direction: str
) -> dict[str, Any]:
    """Merge this batch into sweep.json (adaptive sweepers launch several) and rewrite sweep.csv."""
    old = _read_json(sweep_dir / SUMMARY_JSON) or {}
    trials = {t["num"]: t for t in old.get("trials", [])}
    trials.update({r["num"]: r for r in rows})
    ranked = rank(list(trials.values()), direction)
    best = next((t for t in ranked if t["rank"] == 1), None)
    summary = {
        "metric": metric,
        "direction": direction,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "trials": ranked,
        "best": None
        if best is None
        else {
            "num": best["num"],
            "metric": best["metric"],
            "overrides": best["overrides"],
            "run_dir": best["run_dir"],
            "command": command_line(best["overrides"]),
        },
    }
    tmp = sweep_dir / f".{SUMMARY_JSON}.tmp"
    tmp.write_text(dumps(summary))
    os.replace(tmp, sweep_dir / SUMMARY_JSON)
    names = sorted({k for t in ranked for sp in t["metrics"].values() for k in sp})
    splits = sorted({sp for t in ranked for sp in t["metrics"]})
    with open(sweep_dir / SUMMARY_CSV, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["rank", "num", "status", metric, "overrides", "run_dir", "cached_stages", "error"]
            + [f"{sp}.{n}" for sp in splits for n in names]
        )
        for t in ranked:
            w.writerow(
                [
                    t["rank"],
                    t["num"],
                    t["status"],
                    t["metric"],
                    " ".join(t["overrides"]),
                    t["run_dir"],
                    " ".join(t["cached_stages"]),
                    t["error"] or "",
                ]
                + [t["metrics"].get(sp, {}).get(n, "") for sp in splits for n in names]
            )
    return summary


def leaderboard(summary: dict[str, Any], top: int = 20) -> str:
    metric = summary["metric"]
    lines = [f"[sweep] leaderboard by {metric} ({summary['direction']}):"]
    lines.append(f"  {'rank':>4}  {'trial':>5}  {metric:>24}  overrides")
    for t in summary["trials"][:top]:
        value = f"{t['metric']:.5f}" if t["metric"] is not None else t["status"].lower()
        rank_s = str(t["rank"]) if t["rank"] else "-"
        extra = f"  ({t['error']})" if t["error"] else ""
        lines.append(
            f"  {rank_s:>4}  {t['num']:>5}  {value:>24}  {' '.join(t['overrides'])}{extra}"
        )
    if summary["best"]:
        lines.append(f"[sweep] best: {summary['best']['command']}")
    lines.append(
        "[sweep] sweep.json and sweep.csv in " + str(Path(summary["trials"][0]["run_dir"]).parent)
    )
    return "\n".join(lines)
