"""Binary classification metrics from an exactly mergeable score histogram (no Ray, no I/O).

A shard's state is its score histogram (distinct score -> positive and negative weight). Merging
adds histograms, so ROC AUC, average precision, log loss, Brier score, calibration and every
threshold metric equal scikit-learn's on the gathered predictions for any sharding. ``bins``
rounds scores down to a fixed grid for bounded memory; the AUC's worst-case error is then
reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

EPS = float(np.finfo(np.float64).eps)


@dataclass
class ScoreHist:
    """Mergeable: distinct score -> positive and negative weight."""

    parts: list[pl.DataFrame] = field(default_factory=list)
    nan_scores: int = 0
    bins: int | None = None

    @classmethod
    def of(cls, score, label, weight=None, bins: int | None = None) -> ScoreHist:
        score = np.asarray(score, dtype=np.float64)
        nan = np.isnan(score)
        w = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=np.float64)
        y = np.asarray(label) == 1
        s = score[~nan]
        if bins:
            s = np.floor(np.clip(s, 0, 1) * bins) / bins
        df = pl.DataFrame(
            {"score": s, "pos": np.where(y, w, 0.0)[~nan], "neg": np.where(y, 0.0, w)[~nan]}
        )
        return cls([_compact(df)], int(nan.sum()), bins)

    def merge(self, o: ScoreHist) -> ScoreHist:
        self.parts.extend(o.parts)
        self.nan_scores += o.nan_scores
        self.bins = self.bins or o.bins
        if len(self.parts) > 32:
            self.parts = [_compact(pl.concat(self.parts))]
        return self

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct scores in descending order with their positive and negative weights."""
        if not self.parts:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        t = _compact(pl.concat(self.parts)).sort("score", descending=True)
        return t["score"].to_numpy(), t["pos"].to_numpy(), t["neg"].to_numpy()


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by("score").agg(pl.col("pos").sum(), pl.col("neg").sum())


def ranking(pos: np.ndarray, neg: np.ndarray) -> dict[str, float | None]:
    """ROC AUC and average precision from weights ordered by descending score (ties grouped)."""
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    p = float(tp[-1]) if len(tp) else 0.0
    n = float(fp[-1]) if len(fp) else 0.0
    out: dict[str, float | None] = {"roc_auc": None, "average_precision": None}
    if p > 0 and n > 0:
        out["roc_auc"] = float(np.trapezoid(np.r_[0.0, tp / p], np.r_[0.0, fp / n]))
    if p > 0:
        prec = np.divide(tp, tp + fp, out=np.zeros_like(tp, dtype=float), where=(tp + fp) > 0)
        out["average_precision"] = float(np.sum(np.diff(np.r_[0.0, tp / p]) * prec))
    return out


def confusion_metrics(
    tn: float, fp: float, fn: float, tp: float, beta: float = 1.0
) -> dict[str, float]:
    """Threshold metrics from a (weighted) confusion matrix, with scikit-learn's zero_division=0."""
    n = tn + fp + fn + tp
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    spec = tn / (tn + fp) if tn + fp else 0.0
    b2 = beta * beta
    mcc_den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "accuracy": (tp + tn) / n if n else 0.0,
        "balanced_accuracy": (rec + spec) / 2 if (tp + fn) and (tn + fp) else (rec or spec),
        "precision": prec,
        "recall": rec,
        "specificity": spec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "fbeta": (1 + b2) * prec * rec / (b2 * prec + rec) if b2 * prec + rec else 0.0,
        "mcc": (tp * tn - fp * fn) / mcc_den if mcc_den else 0.0,
    }


def binned_error_bounds(pos: np.ndarray, neg: np.ndarray) -> dict[str, float | None]:
    """Worst-case |binned - exact| for AUC and AP when scores were rounded into bins.

    AUC: pairs of a positive and a negative in the same bin count as ties (1/2) but could be
    ordered either way. AP: inside a bin precision lies between tp0/(tp0+fp1) and tp1/(tp1+fp0).
    """
    p, n = float(pos.sum()), float(neg.sum())
    tp1, fp1 = np.cumsum(pos), np.cumsum(neg)
    tp0, fp0 = tp1 - pos, fp1 - neg
    hi = np.divide(tp1, tp1 + fp0, out=np.ones_like(tp1), where=(tp1 + fp0) > 0)
    lo = np.divide(tp0, tp0 + fp1, out=np.zeros_like(tp0), where=(tp0 + fp1) > 0)
    return {
        "roc_auc_max_error": 0.5 * float((pos * neg).sum()) / (p * n) if p and n else None,
        "average_precision_max_error": float((pos / p * (hi - lo)).sum()) if p else None,
    }


def _confusion_at(scores, pos, neg, threshold: float) -> tuple[float, float, float, float]:
    k = int(np.searchsorted(-scores, -threshold, side="right"))  # rows with score >= threshold
    tp, fp = float(pos[:k].sum()), float(neg[:k].sum())
    return float(neg.sum()) - fp, fp, float(pos.sum()) - tp, tp


def calibration(scores, pos, neg, bins: int = 10) -> dict[str, Any]:
    """Reliability curve over equal-width score bins and the expected calibration error."""
    idx = np.minimum((np.clip(scores, 0, 1) * bins).astype(int), bins - 1)
    w = pos + neg
    total = w.sum()
    curve, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        wb = w[m].sum()
        if wb <= 0:
            continue
        mean_score = float((scores[m] * w[m]).sum() / wb)
        frac_pos = float(pos[m].sum() / wb)
        curve.append(
            {
                "bin": [b / bins, (b + 1) / bins],
                "mean_score": mean_score,
                "fraction_positive": frac_pos,
                "weight": float(wb),
            }
        )
        ece += wb / total * abs(mean_score - frac_pos)
    return {"bins": bins, "curve": curve, "ece": float(ece)}


def curves(scores, pos, neg, max_points: int = 400) -> dict[str, list[list[float]]]:
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    p, n = tp[-1], fp[-1]
    keep = np.unique(np.linspace(0, len(scores) - 1, min(len(scores), max_points)).astype(int))
    roc = [[0.0, 0.0]] + [[float(fp[i] / n), float(tp[i] / p)] for i in keep] if p and n else []
    pr = [[float(tp[i] / p), float(tp[i] / (tp[i] + fp[i]))] for i in keep] if p else []
    thr = [
        [float(scores[i]), float(tp[i] / (tp[i] + fp[i])), float(tp[i] / p) if p else 0.0]
        for i in keep
    ]
    return {"roc": roc, "pr": pr, "threshold_precision_recall": thr}


def binary_metrics(
    hist: ScoreHist, threshold: float, beta: float = 1.0, details: bool = False
) -> dict[str, Any]:
    """Exact binary metrics; label 1 is positive and ``score >= threshold`` predicts it."""
    scores, pos, neg = hist.arrays()
    p, n = float(pos.sum()), float(neg.sum())
    out: dict[str, Any] = {
        "rows": plain_number(p + n),
        "positives": plain_number(p),
        "negatives": plain_number(n),
        "threshold": threshold,
    }
    if hist.nan_scores:
        out["nan_scores_excluded"] = hist.nan_scores
    if p + n == 0:
        return out | {"error": "no rows to evaluate"}
    out |= ranking(pos, neg)
    if out["roc_auc"] is None:
        out["roc_auc_undefined"] = "only one class present: ROC AUC needs positives and negatives"
    if hist.bins:
        out |= binned_error_bounds(pos, neg)
        out["score_bins"] = hist.bins
    s = np.clip(scores, EPS, 1 - EPS)
    out["log_loss"] = float((pos @ -np.log(s) + neg @ -np.log1p(-s)) / (p + n))
    out["brier"] = float((pos @ (1 - scores) ** 2 + neg @ scores**2) / (p + n))
    tn, fp, fn, tp = _confusion_at(scores, pos, neg, threshold)
    out |= confusion_metrics(tn, fp, fn, tp, beta)
    out["beta"] = beta
    out["confusion_matrix"] = [
        [plain_number(tn), plain_number(fp)],
        [plain_number(fn), plain_number(tp)],
    ]
    if details:
        out["calibration"] = calibration(scores, pos, neg)
        out["curves"] = curves(scores, pos, neg)
    return out


def plain_number(x: float) -> int | float:
    """An integer-valued float as an int (counts in JSON read as counts)."""
    return int(x) if float(x).is_integer() else x


def choose_threshold(
    hist: ScoreHist, policy: str, value: float, min_recall: float
) -> dict[str, Any]:
    """Pick the decision threshold on the valid split."""
    if policy == "fixed":
        return {"policy": policy, "value": value}
    scores, pos, neg = hist.arrays()
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    p = float(tp[-1]) if len(tp) else 0.0
    if p == 0:
        return {
            "policy": policy,
            "value": value,
            "note": f"no positives in valid; used eval.threshold.value={value}",
        }
    precision, recall = tp / (tp + fp), tp / p
    if policy == "max_f1":
        f1 = np.where(
            precision + recall > 0,
            2 * precision * recall / np.maximum(precision + recall, 1e-300),
            0,
        )
        i = int(np.argmax(f1))  # the first maximum is the highest threshold among ties
        return {"policy": policy, "value": float(scores[i]), "valid_f1": float(f1[i])}
    # NOTE: recall is exactly 1 at the lowest score (tp[-1] is p), so every target <= 1 is met.
    ok = np.flatnonzero(recall >= min_recall - 1e-12)
    best = ok[precision[ok] == precision[ok].max()]
    i = int(best[0])
    return {
        "policy": policy,
        "value": float(scores[i]),
        "min_recall": min_recall,
        "reached": True,
        "valid_recall": float(recall[i]),
        "valid_precision": float(precision[i]),
    }
