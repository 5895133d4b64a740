"""The learning curve's model and the recommended size.

The test metric m(n) of a model trained on n rows is fitted with an inverse power law (the usual
model of learning curves, Cortes et al. 1994; Hestness et al. 2017): ``m(n) = a - b n^-c`` for a
metric where higher is better, ``a + b n^-c`` where lower is better, by weighted least squares
(scipy.optimize.curve_fit; the weights are the bootstrap intervals' widths when there are
any). ``a`` is the plateau; the covariance of the estimates gives its standard error and, by the
delta method, that of the curve extrapolated to larger sizes.

The plateau is kept inside the metric's possible values; a fit whose exponent or plateau ends
on a bound, or whose plateau is less certain than the measured values' spread, is reported but
not trusted. The recommendation is the smallest measured size whose metric is no worse than the
largest measured size's, nor than the trusted plateau, by more than ``tolerance`` (absolute, in
the metric's units).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PowerLaw:
    a: float
    b: float
    c: float
    cov: np.ndarray
    sign: float
    """-1: higher is better (a - b n^-c); +1: lower is better (a + b n^-c)."""
    a_range: tuple[float, float] = (-math.inf, math.inf)

    def __call__(self, n: np.ndarray | float) -> np.ndarray | float:
        return self.a + self.sign * self.b * np.power(n, -self.c)

    def stderr(self, n: float) -> float | None:
        """The fitted value's standard error at ``n`` rows (delta method); None when the fit's
        covariance is unknown."""
        g = np.array([1.0, self.sign * n**-self.c, -self.sign * self.b * n**-self.c * math.log(n)])
        v = float(g @ self.cov @ g)
        return math.sqrt(max(0.0, v)) if math.isfinite(v) else None

    @property
    def plateau_stderr(self) -> float | None:
        """The standard error of ``a``, the metric at infinitely many rows."""
        v = float(self.cov[0, 0])
        return math.sqrt(max(0.0, v)) if math.isfinite(v) else None

    def problems(self, values: np.ndarray) -> list[str]:
        """Why the plateau cannot be trusted, given the measured ``values`` (empty: it can)."""
        out = []
        if min(abs(self.c - b) for b in C_BOUNDS) < 1e-3:
            out.append(f"the exponent c={self.c:.3g} ended on its bound")
        if any(math.isfinite(b) and abs(self.a - b) < 1e-6 for b in self.a_range):
            out.append(f"the plateau ended on the metric's bound {self.a:.4g}")
        se, spread = self.plateau_stderr, float(np.ptp(values))
        if se is None:
            out.append("the fit's covariance is unknown")
        elif se > spread:
            out.append(
                f"the plateau's standard error {se:.2g} exceeds the spread of the measured values "
                f"{spread:.2g}"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None))
        return {
            "model": "a - b * n^-c" if self.sign < 0 else "a + b * n^-c",
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "stderr": {
                k: float(v) if math.isfinite(v) else None for k, v in zip("abc", se, strict=True)
            },
        }


C_BOUNDS = (0.01, 3.0)
"""The exponent's search range: a fit that ends on either bound has not found a power law."""


def fit_power_law(
    n: np.ndarray,
    y: np.ndarray,
    lower_is_better: bool,
    sigma: np.ndarray | None = None,
    a_range: tuple[float, float] = (-math.inf, math.inf),
) -> PowerLaw | None:
    """The least-squares inverse power law through (n, y), its plateau ``a`` kept inside
    ``a_range`` (the metric's possible values); None when it does not converge or there are
    fewer than four points. ``sigma``: the standard errors of ``y`` (then the covariance is in
    their units, ``absolute_sigma``); without them the residuals set the scale."""
    from scipy.optimize import curve_fit

    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if len(n) < 4 or not np.all(np.isfinite(y)):
        return None
    sign = 1.0 if lower_is_better else -1.0

    def f(x, a, b, c):
        return a + sign * b * np.power(x, -c)

    lo, hi = a_range
    a0 = float(np.clip(y[np.argmax(n)], lo, hi))
    span = max(abs(y.max() - y.min()), 1e-6)
    p0 = [a0, span * float(n.min()) ** 0.5, 0.5]
    sig = None if sigma is None or not np.all(sigma > 0) else np.asarray(sigma, dtype=float)
    bounds = ([lo, 0.0, C_BOUNDS[0]], [hi, np.inf, C_BOUNDS[1]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = curve_fit(
                f, n, y, p0=p0, sigma=sig, absolute_sigma=sig is not None, bounds=bounds,
                maxfev=20000,
            )  # fmt: skip
    except (RuntimeError, ValueError):
        return None
    if not np.all(np.isfinite(pcov)):
        pcov = np.full((3, 3), np.nan)
    return PowerLaw(float(popt[0]), float(popt[1]), float(popt[2]), pcov, sign, a_range)


def recommend(
    sizes: list[int],
    values: list[float],
    tolerance: float,
    lower_is_better: bool,
    plateau: float | None = None,
) -> tuple[int, str]:
    """The smallest size whose value is no worse than the largest size's (nor than the plateau,
    when given) by more than ``tolerance``, and why."""
    order = np.argsort(sizes)
    sizes = [int(sizes[i]) for i in order]
    values = [float(values[i]) for i in order]
    best = values[-1]

    def gap(v: float, ref: float) -> float:
        return v - ref if lower_is_better else ref - v

    for s, v in zip(sizes, values, strict=True):
        if s == sizes[-1] and plateau is None:
            return s, (
                f"every smaller size is worse than the largest size's {best:.6g} by more than "
                f"{tolerance:g}"
            )
        if gap(v, best) <= tolerance and (plateau is None or gap(v, plateau) <= tolerance):
            why = f"{v:.6g}, no worse than the largest size's {best:.6g} by more than {tolerance:g}"
            return s, why + (
                f" nor than the fitted plateau {plateau:.6g}" if plateau is not None else ""
            )
    assert plateau is not None
    return sizes[-1], (
        f"the curve has not flattened: the fitted plateau {plateau:.6g} is more than {tolerance:g} "
        f"from the largest size's {best:.6g}; more rows are likely to help"
    )
