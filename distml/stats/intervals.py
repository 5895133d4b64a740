"""Intervals for monitoring's comparisons of new data with the training run: a rate's change
(Wilson's score interval, Wilson 1927, and Newcombe's hybrid score interval for a difference of
two independent proportions, Newcombe 1998, method 10) and a metric's change between two
independent samples (the normal approximation from each side's own interval).

Each verdict reads an interval, not a point: a change is *significant* when the interval of the
difference excludes 0, and *large* when its end nearest to no change is beyond a relative
threshold; monitoring calls the first warn and both drift (distml/monitor.py).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any


def z_of(level: float) -> float:
    """The two-sided normal quantile of ``level`` (1.96 at 0.95)."""
    return NormalDist().inv_cdf((1 + level) / 2)


def wilson(k: float, n: float, level: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion k/n (k successes in n trials)."""
    if n <= 0:
        return 0.0, 1.0
    z, p = z_of(level), k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def rate_change(k_new: float, n_new: float, k_ref: float, n_ref: float, level: float) -> dict:
    """The new rate minus the reference rate with Newcombe's hybrid score interval, and the same
    relative to the reference rate."""
    p1, p2 = k_new / n_new, k_ref / n_ref
    l1, u1 = wilson(k_new, n_new, level)
    l2, u2 = wilson(k_ref, n_ref, level)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    out: dict[str, Any] = {
        "reference_rate": p2,
        "rate": p1,
        "rate_interval": [l1, u1],
        "reference_rate_interval": [l2, u2],
        "difference": d,
        "interval": [lo, hi],
        "level": level,
        "method": "Newcombe's hybrid score interval (Newcombe 1998, method 10)",
    }
    if p2 > 0:
        out["relative"] = d / p2
        out["relative_interval"] = [lo / p2, hi / p2]
    return out


def metric_change(
    new: float,
    new_iv: list[float] | None,
    ref: float,
    ref_iv: list[float] | None,
    level: float,
    ivs_level: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """``new - ref`` for two independent estimates, each with its own interval (at the levels
    ``ivs_level`` = (new's, ref's), default ``level`` for both; standard errors read off as
    half-width / z of that level; a missing interval counts as exact), and its interval at
    ``level`` by the normal approximation: d ± z·sqrt(se_new² + se_ref²)."""
    z = z_of(level)
    levels = ivs_level or (level, level)
    se = [
        (iv[1] - iv[0]) / (2 * z_of(lv)) if iv else 0.0
        for iv, lv in zip((new_iv, ref_iv), levels, strict=True)
    ]
    d = new - ref
    half = z * math.hypot(*se)
    return {
        "training": ref,
        "training_interval": ref_iv,
        "live": new,
        "live_interval": new_iv,
        "difference": d,
        "interval": [d - half, d + half],
        "relative": d / ref if ref else None,
        "level": level,
    }


def verdict(interval: list[float], worse_sign: float, ref: float, large: float) -> str:
    """ok | warn | drift for a change with ``interval`` (new minus reference): warn when the
    interval lies wholly on the worse side of 0 (``worse_sign`` -1: a fall is worse, +1: a rise,
    0: either way), drift when it also lies beyond ``large`` times ``|ref|`` there."""
    lo, hi = interval
    for s in (-1.0, 1.0) if worse_sign == 0 else (worse_sign,):
        near = hi if s < 0 else lo  # the end nearest to no change
        if s * near > 0:
            return "drift" if s * near >= large * abs(ref) else "warn"
    return "ok"
