"""Integer allocation of a total across strata: proportional, capped, with a floor, summing exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from distml.errors import UserError


def allocate(
    total: int,
    weights: Mapping[str, float],
    caps: Mapping[str, int],
    floor: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Split ``total`` into integers n_h with floor_h <= n_h <= cap_h, n_h ~ lambda * weight_h.

    Water-filling finds the continuous allocation clamp(lambda*w_h, floor_h, cap_h) that sums to
    ``total``; it is rounded down and the remaining units go to the largest remainders (ties: the
    larger weight, then the stratum name), as scikit-learn's stratified splitters do. The result is
    deterministic and sums exactly to ``total``.
    """
    keys = sorted(caps)
    lo = {k: min(int((floor or {}).get(k, 0)), int(caps[k])) for k in keys}
    if total > sum(caps.values()):
        raise ValueError(f"total {total} exceeds the sum of caps {sum(caps.values())}")
    if sum(lo.values()) > total:
        raise UserError(
            f"The per-stratum minimum needs {sum(lo.values())} rows over {len(keys)} strata, more than "
            f"the {total} to allocate. Lower sampling.min_per_stratum or raise sampling.size."
        )

    def filled(lam: float) -> float:
        return sum(min(max(lam * weights[k], lo[k]), caps[k]) for k in keys)

    lam_lo, lam_hi = 0.0, 1.0
    while filled(lam_hi) < total and lam_hi < 1e300:
        lam_hi *= 2
    for _ in range(200):
        mid = (lam_lo + lam_hi) / 2
        if filled(mid) < total:
            lam_lo = mid
        else:
            lam_hi = mid
    x = _exact_quotas(total, weights, caps, lo, lam_hi)
    n = {k: min(max(math.floor(x[k]), lo[k]), caps[k]) for k in keys}
    rest = total - sum(n.values())
    order = sorted(keys, key=lambda k: (-(x[k] - math.floor(x[k])), -weights[k], k))
    while rest != 0:
        step = 1 if rest > 0 else -1
        moved = False
        for k in order if step > 0 else reversed(order):
            if rest == 0:
                break
            if (step > 0 and n[k] < caps[k]) or (step < 0 and n[k] > lo[k]):
                n[k] += step
                rest -= step
                moved = True
        if not moved:
            raise AssertionError("allocation cannot meet its total")
    return n


def _exact_quotas(
    total: int,
    weights: Mapping[str, float],
    caps: Mapping[str, int],
    lo: Mapping[str, int],
    lam: float,
) -> dict[str, Fraction]:
    """The continuous allocation in exact rational arithmetic: strata that ``lam`` (from the
    float search) pins at their floor or cap keep that bound, and the others share the rest in
    proportion to their weights. Equal remainders then tie exactly (and are ordered by weight
    and name), instead of by floating-point noise."""
    pinned = {k: lo[k] for k in caps if lam * weights[k] <= lo[k]}
    pinned |= {k: caps[k] for k in caps if k not in pinned and lam * weights[k] >= caps[k]}
    while True:
        free = [k for k in caps if k not in pinned]
        left = total - sum(pinned.values())
        wsum = sum(Fraction(weights[k]) for k in free)
        x = {k: left * Fraction(weights[k]) / wsum if wsum else Fraction(lo[k]) for k in free}
        out = {k: lo[k] if x[k] < lo[k] else caps[k] for k in free if not lo[k] <= x[k] <= caps[k]}
        if not out:
            return {**{k: Fraction(v) for k, v in pinned.items()}, **x}
        pinned |= out
