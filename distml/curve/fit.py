"""The learning curve's model and the recommended size.

The test metric m(n) of a model trained on n rows is fitted with an inverse power law (the usual
model of learning curves, Cortes et al. 1994; Hestness et al. 2017): ``m(n) = a - b n^-c`` for a
metric where higher is better, ``a + b n^-c`` where lower is better, by weighted least squares
(scipy.optimize.curve_fit; the weights are the bootstrap intervals' widths when there are
any). ``a`` is the plateau; the covariance of the estimates gives its standard error and, by the
delta method, that of the curve extrapolated to larger sizes.

The recommendation is the smallest measured size whose metric is within ``tolerance`` of the
largest measured size's and of the fitted plateau (when the fit succeeded).
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


def fit_power_law(
    n: np.ndarray, y: np.ndarray, lower_is_better: bool, sigma: np.ndarray | None = None
) -> PowerLaw | None:
    """The least-squares inverse power law through (n, y); None when it does not converge or
    there are fewer than four points."""
    from scipy.optimize import curve_fit

    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if len(n) < 4 or not np.all(np.isfinite(y)):
        return None
    sign = 1.0 if lower_is_better else -1.0

    def f(x, a, b, c):
        return a + sign * b * np.power(x, -c)

    a0 = y[np.argmax(n)]
    span = max(abs(y.max() - y.min()), 1e-6)
    p0 = [a0, span * float(n.min()) ** 0.5, 0.5]
    sig = None if sigma is None or not np.all(sigma > 0) else np.asarray(sigma, dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = curve_fit(
                f, n, y, p0=p0, sigma=sig, bounds=([-np.inf, 0, 0.01], [np.inf, np.inf, 3.0]),
                maxfev=20000,
            )  # fmt: skip
    except (RuntimeError, ValueError):
        return None
    if not np.all(np.isfinite(pcov)):
        pcov = np.full((3, 3), np.nan)
    return PowerLaw(float(popt[0]), float(popt[1]), float(popt[2]), pcov, sign)


def recommend(
    sizes: list[int],
    values: list[float],
    tolerance: float,
    lower_is_better: bool,
    plateau: float | None = None,
) -> tuple[int, str]:
    """The smallest size whose value is within ``tolerance`` of the largest size's (and of the
    plateau, when known), and why."""
    order = np.argsort(sizes)
    sizes = [int(sizes[i]) for i in order]
    values = [float(values[i]) for i in order]
    best = values[-1]

    def gap(v: float, ref: float) -> float:
        return v - ref if lower_is_better else ref - v

    for s, v in zip(sizes, values, strict=True):
        if gap(v, best) <= tolerance and (plateau is None or gap(v, plateau) <= tolerance):
            why = f"within {tolerance:g} of the largest size's {best:.6g}"
            return s, why + (
                f" and of the fitted plateau {plateau:.6g}" if plateau is not None else ""
            )
    assert plateau is not None
    return sizes[-1], (
        f"the curve has not flattened: the fitted plateau {plateau:.6g} is more than {tolerance:g} "
        f"from the largest size's {best:.6g}; more rows are likely to help"
    )
