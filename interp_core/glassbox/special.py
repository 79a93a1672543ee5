"""The error function in NumPy float64, so the glass box's exact GELU needs nothing but NumPy.

``erf`` follows W. J. Cody, "Rational Chebyshev approximations for the error function",
*Mathematics of Computation* 23 (107), 631-637 (1969), with the coefficients and evaluation
scheme of Cody's Fortran routine CALERF (SPECFUN, netlib, revision of 1990). Three regions:

* ``|x| <= 0.5``: erf(x) = x P(x^2) / Q(x^2), degree 4 / 4;
* ``0.5 < |x| <= 4``: erfc(x) = exp(-x^2) P(x) / Q(x), degree 8 / 8;
* ``|x| > 4``: erfc(x) = exp(-x^2) / x (1/sqrt(pi) - z P(z) / Q(z)), z = 1/x^2, degree 5 / 5;

and erf = 1 - erfc beyond 0.5, odd in x. Cody bounds the approximations' relative error below
about 1e-18 (6e-19, 8e-19 and 4e-18 over the three regions), so in float64 the result is off
only by rounding, a few ulp (tests/glassbox/test_special.py checks < 1e-14 against
``math.erf``). exp(-x^2) is computed as exp(-r^2) exp(-(x - r)(x + r)) with r = x rounded
down to a sixteenth, as CALERF does, so the rounding of x^2 is not amplified for large x.

Examples:
    >>> import numpy as np
    >>> from interp_core.glassbox.special import erf
    >>> float(erf(0.5))
    0.5204998778130465
    >>> erf(np.array([-np.inf, 0.0, np.inf])).tolist()
    [-1.0, 0.0, 1.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["erf"]

_SMALL_P = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
            3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_SMALL_Q = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
            2.84423683343917062e03)  # fmt: skip
"""CALERF's A and B: erf(x) = x P(x^2) / Q(x^2) for |x| <= 0.5."""

_MID_P = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_MID_Q = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
"""CALERF's C and D: erfc(x) = exp(-x^2) P(x) / Q(x) for 0.5 < x <= 4."""

_LARGE_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
            1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_LARGE_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
            6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
"""CALERF's P and Q: erfc(x) = exp(-x^2) / x (1/sqrt(pi) - z P(z) / Q(z)), z = 1/x^2, x > 4."""

_INV_SQRT_PI = 5.6418958354775628695e-1
"""1 / sqrt(pi)."""
_X_BIG = 26.543
"""Beyond this erfc underflows float64 (CALERF's XBIG); larger x are clamped to it."""


def _ratio(z: np.ndarray, p: tuple[float, ...], q: tuple[float, ...]) -> np.ndarray:
    """CALERF's nested evaluation of P(z) / Q(z): p[-1] is the leading numerator coefficient,
    p[-2] and q[-1] the constant terms, Q monic."""
    num, den = p[-1] * z, z
    for a, b in zip(p[:-2], q[:-1], strict=True):
        num, den = (num + a) * z, (den + b) * z
    return (num + p[-2]) / (den + q[-1])


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    """exp(-y^2) without the error of rounding y^2: y = r + (y - r), r a multiple of 1/16."""
    r = np.floor(y * 16.0) / 16.0
    return np.exp(-r * r) * np.exp(-(y - r) * (y + r))


def _erfc_positive(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.5 (the mid and large regions)."""
    y = np.minimum(y, _X_BIG)
    mid = y <= 4.0
    out = np.empty_like(y)
    out[mid] = _ratio(y[mid], _MID_P, _MID_Q)
    z = 1.0 / (y[~mid] * y[~mid])
    out[~mid] = (_INV_SQRT_PI - z * _ratio(z, _LARGE_P, _LARGE_Q)) / y[~mid]
    return _exp_minus_square(y) * out


def erf(x: np.ndarray | float) -> np.ndarray:
    """The error function erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt, elementwise in float64.

    Args:
        x: any array-like of reals; computed in float64.

    Returns:
        float64 array of x's shape (a 0-d array for a scalar); erf(+-inf) = +-1, NaN stays NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    small = y <= 0.5  # NaN is not: it goes through the erfc branch and stays NaN
    out = np.empty_like(x)
    out[small] = x[small] * _ratio(x[small] * x[small], _SMALL_P, _SMALL_Q)
    out[~small] = np.copysign(1.0 - _erfc_positive(y[~small]), x[~small])
    return out
