"""The NumPy back-end's σ and softplus against a 50-digit mpmath reference, over the whole line.

The generated NumPy kernels evaluate every gate with ``numeric.arrays("numpy").sigmoid``; it must be
accurate relative to its value where that value is tiny (σ(−700) ≈ 1e-304) and must not
warn of overflow where e^{−x} overflows.  The comparison is relative (the ``"mp"`` rtol of
``verify._tolerances``), checked at results above the smallest normal number; the same check
is shown to reject σ(x) = (1 + tanh(x/2))/2, which cancels to 0 below x ≈ −38.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

from gatejac import numeric
from gatejac.verify._tolerances import tolerance

_POINTS = np.concatenate([
    -np.logspace(-300, np.log10(745.0), 400), [0.0], np.logspace(-300, np.log10(745.0), 400),
    np.linspace(-40.0, 40.0, 801),
])

NUMPY = numeric.arrays("numpy")

_EXACT = {
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
}


def _assert_relatively_accurate(function, name: str, dtype) -> None:
    x = _POINTS.astype(dtype)
    x = x[np.isfinite(x)]
    with mpmath.workdps(50):
        exact = np.array([float(_EXACT[name](mpmath.mpf(float(v)))) for v in x])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflow, or 0/0
        actual = function(x)
    assert actual.dtype == dtype, f"{name} returned {actual.dtype} for {np.dtype(dtype)} input"
    oracle = "mp" if dtype == np.float64 else "reference"
    rtol = tolerance(oracle, dtype, 0.0).rtol
    checked = np.abs(exact) >= np.finfo(dtype).tiny
    error = np.abs(actual.astype(np.float64) - exact)
    bad = checked & ~(error <= rtol * np.abs(exact))
    assert not bad.any(), f"{name}: {bad.sum()} points off, e.g. x = {x[bad][0]!r}: {actual[bad][0]!r} vs {exact[bad][0]!r}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_numpy_function_is_accurate_relative_to_its_value(name, dtype):
    _assert_relatively_accurate(getattr(NUMPY, name), name, dtype)


def test_the_check_rejects_a_sigmoid_that_cancels():
    with pytest.raises(AssertionError, match="sigmoid: .* points off"):
        _assert_relatively_accurate(lambda x: (1 + np.tanh(x / 2)) / 2, "sigmoid", np.float64)


def test_the_check_rejects_a_sigmoid_that_overflows():
    with pytest.raises(RuntimeWarning, match="overflow"):
        _assert_relatively_accurate(lambda x: 1 / (1 + np.exp(-x)), "sigmoid", np.float64)


def test_sigmoid_limits_and_nan():
    x = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(NUMPY.sigmoid(x), [0.0, 1.0, np.nan])
