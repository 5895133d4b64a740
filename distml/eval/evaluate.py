"""The evaluate stage: the sample's valid and test rows scored in parallel Ray tasks through the
one scoring path (distml/scoring.py), their exact states merged on the driver.

The threshold is chosen on valid (``eval.threshold``), then test is scored with it: one pass per
split writes ``predictions/`` and returns the unweighted and population-weighted states, the
Poisson-bootstrap replicates and per-slice histograms (distml/stats/).
"""

from __future__ import annotations

from typing import Any

from distml.cluster.tasks import MapStats
from distml.config import EvalConfig
from distml.data.columns import SPLIT, WEIGHT
from distml.data.shards import Dataset
from distml.eval.gates import model_gates
from distml.objective import BINARY_HEADLINE
from distml.preprocess.apply import input_columns
from distml.scoring import Model, ScoreJob, ScoreState, Summary, score
from distml.stats.binary import ScoreHist, binary_metrics, choose_threshold
from distml.target import key


def split_metrics(
    st: ScoreState, task: str, threshold: float | None, cfg: EvalConfig, details: bool
) -> dict[str, Any]:
    """metrics.json's entry for one split."""
    if st.metric is None:
        return {"rows": 0, "error": "no rows to evaluate"}
    if task != "binary":
        return st.metric.metrics() | _intervals(st, cfg)
    assert threshold is not None
    m = binary_metrics(st.metric, threshold, cfg.beta, details=details)
    if st.weighted is not None:
        pop = binary_metrics(st.weighted, threshold, cfg.beta)
        m["population"] = {
            k: v for k, v in pop.items() if k not in ("confusion_matrix", "beta", "threshold")
        }
        m["population"]["note"] = (
            "weighted by the sample's inverse inclusion probabilities (N_h/n_h)"
        )
    m |= _intervals(st, cfg)
    if st.slices:
        m["slices"] = {
            c: {v: _slice(h, threshold, cfg) for v, h in sorted(vals.items())}
            for c, vals in st.slices.items()
        }
    return m


INTERVAL_LEVEL = 0.95
"""The level of metrics.json's ``intervals`` (monitoring reads it back)."""


def _intervals(st: ScoreState, cfg: EvalConfig) -> dict[str, Any]:
    if st.boot is None:
        return {}
    return {
        "intervals": st.boot.intervals(cfg.beta, INTERVAL_LEVEL),
        "intervals_method": f"Poisson bootstrap, {st.boot.replicates} replicates, "
        f"{INTERVAL_LEVEL:.0%} percentile",
    }


def _slice(h: ScoreHist, threshold: float, cfg: EvalConfig) -> dict[str, Any]:
    _, pos, neg = h.arrays()
    rows = int(pos.sum() + neg.sum())
    if rows < cfg.min_slice_size:
        return {
            "rows": rows,
            "skipped": f"fewer than eval.min_slice_size={cfg.min_slice_size} rows",
        }
    m = binary_metrics(h, threshold, cfg.beta)
    return {k: m.get(k) for k in BINARY_HEADLINE}


def _name_classes(m: dict[str, Any], classes: tuple) -> None:
    """Per-class metrics keyed by the label's own values; the confusion matrix's order."""
    if "per_class" in m:
        m["per_class"] = {key(classes[int(k)]): v for k, v in m["per_class"].items()}
    m["classes"] = [key(c) for c in classes]


def evaluate_model(
    model: Model,
    sample: Dataset,
    *,
    label: str,
    id_column: str | None,
    row_weight: str | None = None,
    cfg: EvalConfig,
    seed: int,
    out: str | None,
    num_cpus: float = 1.0,
    stats: MapStats | None = None,
) -> dict[str, Any]:
    """Score the sample's valid rows (choose the threshold), then its test rows; return
    metrics.json's content. ``out``: the run directory that receives predictions/."""
    cols = [c for c in (id_column, label, WEIGHT, row_weight, SPLIT, *cfg.slices) if c]
    base = ScoreJob(
        model=model,
        columns=tuple(dict.fromkeys([*cols, *input_columns(model.spec)])),
        label=label,
        id_column=id_column,
        split="valid",
        out=out,
        summary=Summary(bins=cfg.bins, row_weight=row_weight, weighted=True, seed=seed),
    )
    task = model.task
    metrics: dict[str, Any] = {"task": task}
    states = {"valid": score(sample.shards, base, "evaluate: score valid", num_cpus, stats)}
    threshold = None
    if task == "binary":
        th, ref = cfg.threshold, states["valid"].metric
        chosen = (
            choose_threshold(ref, th.policy, th.value, th.min_recall)
            if ref is not None
            else {
                "policy": "fixed",
                "value": th.value,
                "note": f"no valid rows; used eval.threshold.value={th.value}",
            }
        )
        metrics["threshold"] = chosen
        threshold = chosen["value"]
    test_summary = Summary(
        bins=cfg.bins,
        row_weight=row_weight,
        weighted=True,
        replicates=cfg.bootstrap if threshold is not None or task != "binary" else 0,
        threshold=threshold,
        seed=seed,
        slices=tuple(cfg.slices),
    )
    test = ScoreJob(**{**base.__dict__, "split": "test", "summary": test_summary})
    states["test"] = score(sample.shards, test, "evaluate: score test", num_cpus, stats)
    for split, st in states.items():
        if st.rows_scored:
            metrics[split] = split_metrics(st, task, threshold, cfg, details=split == "test")
            if task == "multiclass":
                _name_classes(metrics[split], model.target.classes)
    if cfg.gates and "test" in metrics:
        metrics["gate"] = model_gates(list(cfg.gates), metrics["test"])
    return metrics
