"""interp_core.glassbox.special.erf: Cody's float64 erf vs math.erf, SciPy and its derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interp_core.glassbox.special import erf

REGION_EDGES = (0.5, 4.0, 26.543)
"""Where the approximation switches formula (and where erfc underflows)."""


def _grid() -> np.ndarray:
    """Dense over [-30, 30], log-spaced down to subnormal-free tiny |x|, and both sides of
    every region edge to the last ulp."""
    dense = np.linspace(-30.0, 30.0, 200_001)
    tiny = np.geomspace(1e-300, 1.0, 1_000)
    edges = [np.nextafter(e, t) for e in REGION_EDGES for t in (0.0, np.inf)] + list(REGION_EDGES)
    positive = np.concatenate([tiny, np.asarray(edges)])
    return np.concatenate([dense, positive, -positive])


def _max_rel(got: np.ndarray, ref: np.ndarray) -> float:
    ok = ref != 0
    assert np.array_equal(got[~ok], ref[~ok])  # erf(0) = 0 exactly
    return float(np.max(np.abs(got[ok] - ref[ok]) / np.abs(ref[ok])))


def test_erf_matches_math_erf_to_rounding():
    x = _grid()
    ref = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    assert _max_rel(got, ref) < 1e-14


def test_erf_matches_scipy():
    special = pytest.importorskip("scipy.special")
    x = _grid()
    assert _max_rel(erf(x), special.erf(x)) < 1e-14


def test_erf_is_odd_bounded_and_handles_the_ends():
    x = _grid()
    np.testing.assert_array_equal(erf(-x), -erf(x))
    assert np.all(np.abs(erf(x)) <= 1.0)
    assert erf(np.array([-np.inf, np.inf, 1e300])).tolist() == [-1.0, 1.0, 1.0]
    assert np.isnan(erf(np.nan))
    assert erf(0.3).shape == () and erf([[0.1, 2.0]]).shape == (1, 2)


def test_derivative_is_two_over_sqrt_pi_exp_minus_x_squared():
    """Central differences of erf against erf'(x) = 2/sqrt(pi) exp(-x^2), across all three
    regions and their edges: a wrong coefficient or a jump at an edge shows up here."""
    x = np.concatenate([np.linspace(-6.0, 6.0, 2_401), np.asarray(REGION_EDGES[:2])])
    h = 1e-5
    numeric = (erf(x + h) - erf(x - h)) / (2 * h)
    exact = 2.0 / math.sqrt(math.pi) * np.exp(-x * x)
    assert np.max(np.abs(numeric - exact)) < 1e-9


def test_no_jump_at_the_region_edges():
    for edge in REGION_EDGES[:2]:
        below, above = np.nextafter(edge, 0.0), np.nextafter(edge, np.inf)
        slope = 2.0 / math.sqrt(math.pi) * math.exp(-edge * edge)
        assert abs(float(erf(above) - erf(below))) <= slope * (above - below) + 4e-16


def test_the_complement_is_exact_in_the_tails_too():
    """erf rounds to +-1 beyond x ~ 6, so the tail coefficients are checked on erfc itself
    (the private helper erf is built from): relative error < 1e-14 up to where it underflows."""
    from interp_core.glassbox.special import _erfc_positive  # noqa: PLC0415

    y = np.concatenate([np.linspace(np.nextafter(0.5, 1.0), 26.5, 100_001), [4.0, 26.543]])
    ref = np.array([math.erfc(v) for v in y])
    assert _max_rel(_erfc_positive(y), ref) < 1e-14
