"""Distances between two distributions over the same bins (population stability index, KS,
Jensen-Shannon, Wasserstein), and the sample-versus-population report that the sample stage
and drift monitoring both write."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from distml.stats.sketches import OTHER, TINY, CategorySketch, NumericSketch, bucket_upper


def histogram(values: pl.Series, edges: list[float]) -> list[int]:
    """The same bins for raw values (a sample's side of a comparison), by the sketch's own rule:
    a magnitude below ``TINY`` is 0 (the sketch's zero bucket)."""
    v = values.cast(pl.Float64).fill_nan(None)
    vals = v.drop_nulls().to_numpy()
    vals = np.where(np.abs(vals) < TINY, 0.0, vals)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), vals, side="left"), minlength=len(edges) + 1
    )
    return [*counts.tolist(), values.len() - len(vals)]


def psi(
    p_counts: list[int] | np.ndarray, q_counts: list[int] | np.ndarray, eps: float = 1e-4
) -> float:
    """Population stability index between two histograms over the same bins."""
    p = np.asarray(p_counts, dtype=float)
    q = np.asarray(q_counts, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p = np.maximum(p / p.sum(), eps)
    q = np.maximum(q / q.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(p_counts, q_counts) -> float:
    """Largest CDF gap over the bins (a lower bound of the continuous KS distance)."""
    p = np.asarray(p_counts, dtype=float)
    q = np.asarray(q_counts, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(p / p.sum()) - np.cumsum(q / q.sum()))))


def js_distance(p_counts, q_counts) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two histograms over the same bins."""
    p = np.asarray(p_counts, dtype=float)
    q = np.asarray(q_counts, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return float(math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2)))


def wasserstein(a: NumericSketch, b: NumericSketch) -> float | None:
    """Earth mover's distance between two sketched distributions (values at bucket boundaries,
    so within the sketches' relative error of the exact distance)."""
    if not a.count or not b.count:
        return None
    keys = sorted(set(a.counts) | set(b.counts), key=bucket_upper)
    xs = np.array([bucket_upper(k) for k in keys])
    ca = np.cumsum([a.counts.get(k, 0) for k in keys]) / a.count
    cb = np.cumsum([b.counts.get(k, 0) for k in keys]) / b.count
    return float(np.sum(np.abs(ca - cb)[:-1] * np.diff(xs)))


def top_and_other(counts: dict[str, int], keys: Sequence[str]) -> list[int]:
    """The counts of ``keys`` in order, then everything else in one last bin."""
    chosen = set(keys)
    return [counts.get(k, 0) for k in keys] + [sum(n for k, n in counts.items() if k not in chosen)]


def comparison(reference: dict, columns: Sequence[str], bins: int) -> dict[str, tuple[str, list]]:
    """What to histogram on the other side: population-quantile edges or the top categories."""
    out: dict[str, tuple[str, list]] = {}
    for c in columns:
        sk = reference.get(c)
        if isinstance(sk, NumericSketch) and sk.count:
            out[c] = ("num", sk.edges(bins))
        elif isinstance(sk, CategorySketch):
            out[c] = ("cat", sk.top(bins * 2))
    return out


def _numeric_labels(edges: list[float]) -> list[str]:
    return (
        [f"<= {edges[0]:.4g}" if edges else "all"]
        + [f"({a:.4g}, {b:.4g}]" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        + ([f"> {edges[-1]:.4g}"] if edges else [])
        + ["null"]
    )


def sample_vs_population(
    reference: dict,
    compare: dict[str, tuple[str, list]],
    sample_hists: dict[str, list[int]],
    threshold: float = 0.1,
) -> tuple[dict[str, Any], list[str]]:
    """Per column: the bins, both histograms, PSI and KS; and a warning per PSI above
    ``threshold`` (sampling_report.json ``features``)."""
    features, warnings = {}, []
    for c, (kind, ref) in compare.items():
        sk = reference[c]
        if kind == "num":
            pop, labels = sk.histogram(ref), _numeric_labels(ref)
        else:
            pop, labels = top_and_other(sk.counts, ref), [*ref, OTHER]
        smp = sample_hists.get(c, [0] * len(pop))
        value = psi(pop, smp)
        features[c] = {
            "kind": "numeric" if kind == "num" else "categorical",
            "bins": labels,
            "population": pop,
            "sample": smp,
            "psi": value,
            "ks": ks(pop, smp),
        }
        if kind == "num" and sk.fraction < 1.0:  # the profile's sketch of a share of the rows
            features[c]["population_fraction"] = sk.fraction
        if value > threshold:
            warnings.append(
                f"feature '{c}': PSI {value:.3f} between sample and population exceeds {threshold}"
            )
    return features, warnings


def sketch_std(sk: NumericSketch) -> float:
    """The standard deviation of a sketched distribution (values at bucket boundaries)."""
    if sk.count < 2:
        return 0.0
    x = np.array([bucket_upper(k) for k in sk.counts])
    w = np.array(list(sk.counts.values()), dtype=float)
    m = float(np.average(x, weights=w))
    return float(np.sqrt(np.average((x - m) ** 2, weights=w)))


def _shares(labels: list[str], p: Sequence[float], q: Sequence[float]) -> dict[str, Any]:
    """The bins and each side's share of rows in them (what monitor.html plots)."""
    tp, tq = max(1.0, float(sum(p))), max(1.0, float(sum(q)))
    return {
        "bins": labels,
        "reference_share": [float(x) / tp for x in p],
        "new_share": [float(x) / tq for x in q],
    }


def compare_numeric(ref: NumericSketch, new: NumericSketch, bins: int) -> dict[str, Any]:
    """New data against a reference over the reference's quantile bins (exact counts: the edges
    are bucket boundaries): PSI, Jensen-Shannon and Wasserstein distances, null rates."""
    edges = ref.edges(bins)
    p, q = ref.histogram(edges), new.histogram(edges)
    labels = _numeric_labels(edges)
    if ref.nulls == 0 and new.nulls == 0:
        p, q, labels = p[:-1], q[:-1], labels[:-1]
    w = wasserstein(ref, new)
    std = sketch_std(ref)
    return {
        "kind": "numeric",
        **_shares(labels, p, q),
        "psi": psi(p, q),
        "js_distance": js_distance(p, q),
        "wasserstein": w,
        "wasserstein_in_reference_std": (w / std) if w is not None and std else None,
        "reference_null_rate": ref.nulls / max(1, ref.count + ref.nulls),
        "null_rate": new.nulls / max(1, new.count + new.nulls),
    }


def compare_categories(ref: CategorySketch, new: CategorySketch, top: int) -> dict[str, Any]:
    """New data against a reference over the reference's top categories (the rest in one bin):
    PSI, Jensen-Shannon distance, and the values the reference never saw."""
    keys = ref.top(top)
    p, q = top_and_other(ref.counts, keys), top_and_other(new.counts, keys)
    unseen = sorted((k for k in new.counts if k not in ref.counts), key=lambda k: -new.counts[k])
    return {
        "kind": "categorical",
        **_shares([*keys, "(other)"], p, q),
        "psi": psi(p, q),
        "js_distance": js_distance(p, q),
        "unseen_values": unseen[:10],
        "unseen_share": sum(new.counts[k] for k in unseen) / max(1, sum(new.counts.values())),
    }
