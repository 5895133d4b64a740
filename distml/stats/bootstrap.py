"""Confidence intervals by a Poisson bootstrap whose replicate weights are a hash of (seed, row
id, replicate), so they do not depend on the sharding (Hanley & MacGibbon's Poisson bootstrap
approximation; percentile intervals, Efron & Tibshirani 1993, ch. 13).

Two models scored on the same rows with the same (seed, row ids) get the same replicate weights:
their replicates are paired, and the replicate distribution of a difference in a metric gives its
interval (distml/stats/paired.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from distml.stats.binary import EPS, confusion_metrics, ranking
from distml.stats.keys import sample_keys, splitmix64
from distml.stats.multiclass import MulticlassState, RegressionState

BOOT_BINS = 2000
_POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])


def poisson_weights(ids: np.ndarray, seed: int, replicates: int) -> Iterator[np.ndarray]:
    """Each replicate's Poisson(1) weights of the rows, (n,) at a time: a pure function of
    (seed, id, replicate)."""
    base = splitmix64(ids.astype(np.uint64, copy=False))
    for b in range(replicates):
        k = sample_keys(base ^ np.uint64(b), seed)
        u = (k >> np.uint64(11)).astype(np.float64) * 2.0**-53
        yield np.searchsorted(_POISSON_CDF, u, side="right").astype(np.float64)


def percentile_interval(values: np.ndarray, level: float) -> list[float] | None:
    """The central ``level`` percentile interval of the finite replicate values (None when fewer
    than half the replicates define the statistic)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0 or 2 * len(v) < len(values):
        return None
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [float(np.percentile(v, lo)), float(np.percentile(v, hi))]


class _Replicated:
    """Percentile intervals from the replicates' values (``values``: metric -> (B,))."""

    def values(self, beta: float = 1.0) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def intervals(self, beta: float = 1.0, level: float = 0.95) -> dict[str, list[float]]:
        """Each metric's central ``level`` percentile interval over the replicates."""
        return {
            k: iv
            for k, v in self.values(beta).items()
            if (iv := percentile_interval(v, level)) is not None
        }


@dataclass
class Bootstrap(_Replicated):
    """Mergeable Poisson-bootstrap replicates of a binary model's scores: binned score
    histograms, confusion counts at the threshold and loss sums, per replicate."""

    hist: np.ndarray  # (B, BOOT_BINS + 1, 2): positive and negative weight per score bin
    confusion: np.ndarray  # (B, 4): tn, fp, fn, tp at the threshold
    losses: np.ndarray | None = None  # (B, 2): weighted log loss and Brier sums

    @classmethod
    def of(
        cls, ids, score, label, threshold: float, replicates: int, seed: int, weight=None
    ) -> Bootstrap:
        """``weight``: the rows' own weights (data.weight_column), times each replicate's."""
        ok = ~np.isnan(score)
        ids, score, y = ids[ok], score[ok], np.asarray(label)[ok] == 1
        rw = None if weight is None else np.asarray(weight, dtype=np.float64)[ok]
        bins = np.floor(np.clip(score, 0, 1) * BOOT_BINS).astype(np.int64)
        s = np.clip(score, EPS, 1 - EPS)
        ll = np.where(y, -np.log(s), -np.log1p(-s))
        brier = np.where(y, (1 - score) ** 2, score**2)
        # one bincount each: (bin, is negative) for the histogram; tn, fp, fn, tp for confusion
        cell_hist = bins * 2 + (~y).astype(np.int64)
        cell_conf = y.astype(np.int64) * 2 + (score >= threshold).astype(np.int64)
        losses_rows = np.stack([ll, brier])
        hist = np.zeros((replicates, BOOT_BINS + 1, 2))
        conf = np.zeros((replicates, 4))
        losses = np.zeros((replicates, 2))
        for b, w in enumerate(poisson_weights(ids, seed, replicates)):
            if rw is not None:
                w = w * rw
            hist[b] = np.bincount(cell_hist, weights=w, minlength=2 * (BOOT_BINS + 1)).reshape(
                -1, 2
            )
            conf[b] = np.bincount(cell_conf, weights=w, minlength=4)
            losses[b] = losses_rows @ w
        return cls(hist, conf, losses)

    def merge(self, o: Bootstrap) -> Bootstrap:
        losses = None if self.losses is None or o.losses is None else self.losses + o.losses
        return Bootstrap(self.hist + o.hist, self.confusion + o.confusion, losses)

    @property
    def replicates(self) -> int:
        return int(self.hist.shape[0])

    def values(self, beta: float = 1.0) -> dict[str, np.ndarray]:
        """Each metric's value in each replicate, (B,) (NaN where a replicate leaves it
        undefined, e.g. AUC without positives)."""
        out: dict[str, np.ndarray] = {}
        for b in range(self.replicates):
            pos, neg = self.hist[b, ::-1, 0], self.hist[b, ::-1, 1]
            m: dict[str, Any] = ranking(pos, neg) | confusion_metrics(*self.confusion[b], beta)
            if self.losses is not None:
                n = float(pos.sum() + neg.sum())
                m["log_loss"] = self.losses[b, 0] / n if n else None
                m["brier"] = self.losses[b, 1] / n if n else None
            for k, v in m.items():
                out.setdefault(k, np.full(self.replicates, np.nan))[b] = np.nan if v is None else v
        return out


@dataclass
class StateReplicates(_Replicated):
    """Mergeable Poisson-bootstrap replicates of a multiclass or regression model: one exact
    evaluation state per replicate (MulticlassState with binned one-vs-rest histograms, or
    RegressionState)."""

    states: list[Any]

    @classmethod
    def of(cls, task: str, ids, pred, label, replicates: int, seed: int, weight=None):
        rw = None if weight is None else np.asarray(weight, dtype=np.float64)
        states: list[Any] = []
        for w in poisson_weights(ids, seed, replicates):
            w = w if rw is None else w * rw
            if task == "multiclass":
                states.append(MulticlassState.of(pred, label, w, bins=BOOT_BINS))
            else:
                states.append(RegressionState.of(pred, label, w))
        return cls(states)

    def merge(self, o: StateReplicates) -> StateReplicates:
        return StateReplicates([a.merge(b) for a, b in zip(self.states, o.states, strict=True)])

    @property
    def replicates(self) -> int:
        return len(self.states)

    def values(self, beta: float = 1.0) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for b, st in enumerate(self.states):
            for k, v in st.metrics().items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out.setdefault(k, np.full(len(self.states), np.nan))[b] = v
        return out
