"""Evaluation as a map over scored shards returning exactly mergeable states.

A shard's state is its score histogram: for each distinct score, the (weighted) count of positive
and negative rows. Merging adds histograms, so ROC AUC, average precision, log loss and every
threshold metric are computed exactly on the driver, the same for any number of shards, and equal
to scikit-learn's on the gathered predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from distml import parallel
from distml.errors import UserError
from distml.shards import Shard, join, read_shard, write_parquet

EPS = float(np.finfo(np.float64).eps)


@dataclass
class ScoreHist:
    """Mergeable: distinct score -> positive and negative weight (and row counts)."""

    parts: list[pl.DataFrame] = field(default_factory=list)
    nan_scores: int = 0

    @classmethod
    def of(
        cls, score: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None
    ) -> ScoreHist:
        score = np.asarray(score, dtype=np.float64)
        nan = np.isnan(score)
        w = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=np.float64)
        y = np.asarray(label) == 1
        df = pl.DataFrame(
            {
                "score": score[~nan],
                "pos": np.where(y, w, 0.0)[~nan],
                "neg": np.where(y, 0.0, w)[~nan],
            }
        )
        return cls([_compact(df)], int(nan.sum()))

    def merge(self, o: ScoreHist) -> ScoreHist:
        self.parts.extend(o.parts)
        self.nan_scores += o.nan_scores
        if len(self.parts) > 32:
            self.parts = [_compact(pl.concat(self.parts))]
        return self

    def table(self) -> pl.DataFrame:
        """Distinct scores in descending order with their positive and negative weights."""
        if not self.parts:
            return pl.DataFrame(schema={"score": pl.Float64, "pos": pl.Float64, "neg": pl.Float64})
        return _compact(pl.concat(self.parts)).sort("score", descending=True)


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by("score").agg(pl.col("pos").sum(), pl.col("neg").sum())


def _curve(t: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    scores = t["score"].to_numpy()
    tp = np.cumsum(t["pos"].to_numpy())
    fp = np.cumsum(t["neg"].to_numpy())
    p = float(tp[-1]) if len(tp) else 0.0
    n = float(fp[-1]) if len(fp) else 0.0
    return scores, tp, fp, p, n


def binary_metrics(hist: ScoreHist, threshold: float) -> dict[str, Any]:
    """Exact binary metrics; label 1 is positive and ``score >= threshold`` predicts it."""
    t = hist.table()
    scores, tp, fp, p, n = _curve(t)
    out: dict[str, Any] = {"rows": p + n, "positives": p, "negatives": n, "threshold": threshold}
    if hist.nan_scores:
        out["nan_scores"] = hist.nan_scores
    if p + n == 0:
        return out | {"error": "no rows to evaluate"}
    if p > 0 and n > 0:
        tpr = np.concatenate([[0.0], tp / p])
        fpr = np.concatenate([[0.0], fp / n])
        out["roc_auc"] = float(np.trapezoid(tpr, fpr))
    else:
        out["roc_auc"] = None
        out["roc_auc_undefined"] = "only one class present"
    if p > 0:
        recall = tp / p
        precision = tp / (tp + fp)
        out["average_precision"] = float(
            np.sum(np.diff(np.concatenate([[0.0], recall])) * precision)
        )
    else:
        out["average_precision"] = None
    pos, neg = t["pos"].to_numpy(), t["neg"].to_numpy()
    s = np.clip(scores, EPS, 1 - EPS)
    out["log_loss"] = float((np.sum(pos * -np.log(s)) + np.sum(neg * -np.log1p(-s))) / (p + n))
    k = int(np.searchsorted(-scores, -threshold, side="right"))  # rows with score >= threshold
    tp_t = float(tp[k - 1]) if k else 0.0
    fp_t = float(fp[k - 1]) if k else 0.0
    fn_t, tn_t = p - tp_t, n - fp_t
    prec = tp_t / (tp_t + fp_t) if tp_t + fp_t else 0.0
    rec = tp_t / p if p else 0.0
    out |= {
        "accuracy": (tp_t + tn_t) / (p + n),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "confusion_matrix": [[_num(tn_t), _num(fp_t)], [_num(fn_t), _num(tp_t)]],
    }
    return out


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def choose_threshold(
    hist: ScoreHist, policy: str, value: float, min_recall: float
) -> dict[str, Any]:
    """Pick the decision threshold on the valid split."""
    if policy == "fixed":
        return {"policy": policy, "value": value}
    scores, tp, fp, p, _ = _curve(hist.table())
    if p == 0:
        return {
            "policy": policy,
            "value": value,
            "note": f"no positives in valid; fell back to {value}",
        }
    precision = tp / (tp + fp)
    recall = tp / p
    if policy == "max_f1":
        f1 = np.where(
            precision + recall > 0,
            2 * precision * recall / np.maximum(precision + recall, 1e-300),
            0,
        )
        i = int(np.argmax(f1))  # first max = the highest threshold among ties
        return {"policy": policy, "value": float(scores[i]), "valid_f1": float(f1[i])}
    ok = np.flatnonzero(recall >= min_recall - 1e-12)
    i = int(ok[np.argmax(precision[ok])])
    return {
        "policy": policy,
        "value": float(scores[i]),
        "min_recall": min_recall,
        "valid_recall": float(recall[i]),
        "valid_precision": float(precision[i]),
    }


def score_shard(
    shard: Shard,
    model: bytes,
    features: tuple[str, ...],
    label: str,
    id_column: str | None,
    split: str,
    out: str | None,
) -> tuple[ScoreHist, int]:
    """Score one feature shard, write its predictions, and return its score histogram."""
    keep = [c for c in (id_column, label) if c]
    df = read_shard(shard, [*keep, *features])
    booster = xgb.Booster(params={"nthread": 1})
    booster.load_model(bytearray(model))
    x = df.select(features).to_numpy().astype(np.float32, copy=False)
    score = booster.inplace_predict(x).astype(np.float64)
    if out is not None:
        pred = df.select(keep).with_columns(pl.Series("score", score), pl.lit(split).alias("split"))
        if label != "label":
            pred = pred.rename({label: "label"})
        write_parquet(pred, join(out, f"part-{split}-{shard.index:05d}.parquet"))
    return ScoreHist.of(score, df.get_column(label).to_numpy()), shard.num_rows


def score(
    shards: tuple[Shard, ...],
    booster: xgb.Booster,
    features: list[str],
    label: str,
    id_column: str | None,
    split: str,
    out: str | None,
    num_cpus: float,
    stats,
) -> ScoreHist:
    model = bytes(booster.save_raw("ubj"))
    return parallel.map_merge(
        score_shard,
        shards,
        ScoreHist.merge,
        ScoreHist(),
        args=(model, tuple(features), label, id_column, split, out),
        label=f"evaluate: score {split}",
        num_cpus=num_cpus,
        stats=stats,
    )


def check_binary(hist: ScoreHist, split: str) -> None:
    t = hist.table()
    if t.height and not math.isfinite(float(t["score"].max())):
        raise UserError(f"Scores on the {split} split are not finite; check the model's objective.")
