"""Multiclass (confusion matrix plus one-vs-rest histograms) and regression (exact moments)
evaluation states, and ``evaluation_state`` for any task: exactly mergeable, no Ray, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from distml.stats.binary import EPS, ScoreHist, plain_number, ranking


@dataclass
class MulticlassState:
    confusion: np.ndarray
    ovr: list[ScoreHist]
    log_loss_sum: float = 0.0

    @classmethod
    def of(
        cls,
        proba: np.ndarray,
        label: np.ndarray,
        weight: np.ndarray | None = None,
        bins: int | None = None,
    ) -> MulticlassState:
        """``bins``: the one-vs-rest histograms' scores rounded down to this many bins."""
        k = proba.shape[1]
        y = np.asarray(label).astype(np.int64)
        w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        pred = proba.argmax(axis=1)
        conf = np.zeros((k, k), dtype=np.float64)
        np.add.at(conf, (y, pred), w)
        p = np.clip(proba[np.arange(len(y)), y], EPS, 1 - EPS)
        return cls(
            conf,
            [ScoreHist.of(proba[:, c], (y == c).astype(int), w, bins) for c in range(k)],
            float(w @ -np.log(p)),
        )

    def merge(self, o: MulticlassState) -> MulticlassState:
        return MulticlassState(
            self.confusion + o.confusion,
            [a.merge(b) for a, b in zip(self.ovr, o.ovr, strict=True)],
            self.log_loss_sum + o.log_loss_sum,
        )

    def metrics(self) -> dict[str, Any]:
        c = self.confusion.astype(float)
        tp = np.diag(c)
        support = c.sum(axis=1)
        predicted = c.sum(axis=0)
        prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
        f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
        n = c.sum()
        per_class = {
            str(k): {
                "precision": float(prec[k]),
                "recall": float(rec[k]),
                "f1": float(f1[k]),
                "support": plain_number(support[k]),
                "roc_auc_ovr": ranking(*self.ovr[k].arrays()[1:])["roc_auc"],
            }
            for k in range(len(tp))
        }
        micro = float(tp.sum() / n) if n else 0.0
        present = support > 0
        aucs = [v["roc_auc_ovr"] for v in per_class.values() if v["roc_auc_ovr"] is not None]
        return {
            "rows": int(n),
            "accuracy": micro,
            "log_loss": self.log_loss_sum / n if n else None,
            "precision_macro": float(prec[present].mean()) if present.any() else 0.0,
            "recall_macro": float(rec[present].mean()) if present.any() else 0.0,
            "f1_macro": float(f1[present].mean()) if present.any() else 0.0,
            "precision_micro": micro,
            "recall_micro": micro,
            "f1_micro": micro,
            "precision_weighted": float((prec * support).sum() / n) if n else 0.0,
            "recall_weighted": float((rec * support).sum() / n) if n else 0.0,
            "f1_weighted": float((f1 * support).sum() / n) if n else 0.0,
            "roc_auc_ovr_macro": float(np.mean(aucs)) if aucs else None,
            "per_class": per_class,
            "confusion_matrix": [[plain_number(v) for v in row] for row in self.confusion.tolist()],
        }


@dataclass
class RegressionState:
    """Weighted moments of the label (Chan et al.) and sums of weighted errors."""

    w: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    sse: float = 0.0
    sae: float = 0.0
    sape: float = 0.0
    rows: int = 0

    @classmethod
    def of(
        cls, pred: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None
    ) -> RegressionState:
        y = np.asarray(label, dtype=np.float64)
        w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        e = pred - y
        sw = float(w.sum())
        mean = float(w @ y / sw) if sw else 0.0
        return cls(
            sw,
            mean,
            float(w @ (y - mean) ** 2),
            float(w @ (e * e)),
            float(w @ np.abs(e)),
            float(w @ (np.abs(e) / np.maximum(np.abs(y), EPS))),
            len(y),
        )

    def merge(self, o: RegressionState) -> RegressionState:
        w = self.w + o.w
        if w == 0:
            return RegressionState(rows=self.rows + o.rows)
        d = o.mean - self.mean
        return RegressionState(
            w,
            self.mean + d * o.w / w,
            self.m2 + o.m2 + d * d * self.w * o.w / w,
            self.sse + o.sse,
            self.sae + o.sae,
            self.sape + o.sape,
            self.rows + o.rows,
        )

    def metrics(self) -> dict[str, Any]:
        if self.w == 0:
            return {"rows": self.rows, "error": "no rows to evaluate"}
        return {
            "rows": self.rows,
            "rmse": math.sqrt(self.sse / self.w),
            "mae": self.sae / self.w,
            "r2": 1 - self.sse / self.m2 if self.m2 > 0 else None,
            "mape": self.sape / self.w,
        }


def evaluation_state(
    task: str, pred: np.ndarray, y: np.ndarray, w: np.ndarray | None, bins: int | None = None
) -> ScoreHist | MulticlassState | RegressionState:
    """The exact, mergeable evaluation state of scored rows for the task: ScoreHist (binary;
    ``bins``: scores rounded down to this many bins), MulticlassState or RegressionState."""
    if task == "multiclass":
        return MulticlassState.of(pred, y, w)
    if task == "regression":
        return RegressionState.of(pred, y, w)
    return ScoreHist.of(pred, y, w, bins=bins)
