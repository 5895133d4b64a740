"""Confidence intervals by a Poisson bootstrap whose replicate weights are a hash of (seed, row
id, replicate), so they do not depend on the sharding (Hanley & MacGibbon's Poisson bootstrap
approximation; percentile intervals, Efron & Tibshirani 1993, ch. 13)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from distml.stats.binary import confusion_metrics, ranking
from distml.stats.keys import sample_keys, splitmix64

BOOT_BINS = 2000
_POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])


def poisson_weights(ids: np.ndarray, seed: int, replicates: int) -> np.ndarray:
    """(replicates, n) Poisson(1) weights, each a pure function of (seed, id, replicate)."""
    out = np.empty((replicates, len(ids)), dtype=np.float64)
    base = splitmix64(ids.astype(np.uint64, copy=False))
    for b in range(replicates):
        k = sample_keys(base ^ np.uint64(b), seed)
        u = (k >> np.uint64(11)).astype(np.float64) * 2.0**-53
        out[b] = np.searchsorted(_POISSON_CDF, u, side="right")
    return out


@dataclass
class Bootstrap:
    """Mergeable Poisson-bootstrap replicates: binned score histograms and confusion counts."""

    hist: np.ndarray  # (B, BOOT_BINS + 1, 2): positive and negative weight per score bin
    confusion: np.ndarray  # (B, 4): tn, fp, fn, tp at the threshold

    @classmethod
    def of(cls, ids, score, label, threshold: float, replicates: int, seed: int) -> Bootstrap:
        ok = ~np.isnan(score)
        ids, score, y = ids[ok], score[ok], np.asarray(label)[ok] == 1
        w = poisson_weights(ids, seed, replicates)
        bins = np.floor(np.clip(score, 0, 1) * BOOT_BINS).astype(np.int64)
        hist = np.zeros((replicates, BOOT_BINS + 1, 2))
        pred = score >= threshold
        conf = np.zeros((replicates, 4))
        for b in range(replicates):
            hist[b, :, 0] = np.bincount(bins, weights=w[b] * y, minlength=BOOT_BINS + 1)
            hist[b, :, 1] = np.bincount(bins, weights=w[b] * ~y, minlength=BOOT_BINS + 1)
            conf[b] = [
                w[b][~y & ~pred].sum(),
                w[b][~y & pred].sum(),
                w[b][y & ~pred].sum(),
                w[b][y & pred].sum(),
            ]
        return cls(hist, conf)

    def merge(self, o: Bootstrap) -> Bootstrap:
        return Bootstrap(self.hist + o.hist, self.confusion + o.confusion)

    def intervals(self, beta: float = 1.0, level: float = 0.95) -> dict[str, list[float] | None]:
        values: dict[str, list[float]] = {}
        for b in range(self.hist.shape[0]):
            pos, neg = self.hist[b, ::-1, 0], self.hist[b, ::-1, 1]
            m: dict[str, Any] = ranking(pos, neg) | confusion_metrics(*self.confusion[b], beta)
            for k, v in m.items():
                if v is not None:
                    values.setdefault(k, []).append(v)
        lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
        return {
            k: [float(np.percentile(v, lo)), float(np.percentile(v, hi))] for k, v in values.items()
        }
