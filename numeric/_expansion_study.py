"""The truncation study of the first-order gate expansion and the gate ratios r_j (Livi 2025,
arXiv:2508.12121, appendix; docs/theory.md: “The first-order gate expansion”).

For factor stacks A, B (:func:`expansion_factors`) and a grid of ε:

* E_trunc(ε) = ‖F(ε) − F(0) − ε L_F(0)[B]‖_F, with F(ε) from direct products
  (:func:`window_products`) and F(0), L_F(0)[B] from the recurrence (:func:`expand_window`);
* C₂(ε) = E_trunc(ε)/ε², which tends to ‖c₂‖_F as ε → 0;
* the small-ε slope: the ordinary least-squares slope of log E_trunc on log ε over the first
  five grid points, ≈ 2 for a remainder ε² c₂ + O(ε³).  It is meaningful only where the
  remainder at the smallest ε stands above the round-off of F:
  ‖c₂‖_F ε_min² > 1e3 · eps · ‖F(0)‖_F (eps the dtype's machine epsilon).  Where that guard
  fails the slope is NaN and ``slope_guard_ok`` is False (``fitted_slope`` keeps the fit);
* the remainder bound ‖R₂(ε)‖ ≤ (a + εb)^ℓ − a^ℓ − ℓεb a^{ℓ−1} (any submultiplicative norm;
  here the spectral norm), a = max_j ‖A_j‖₂, b = max_j ‖B_j‖₂, ℓ the number of factors —
  evaluated as a^ℓ Σ_{m≥2} C(ℓ, m) x^m with x = εb/a, without the cancellation of the
  difference form at small ε;
* :func:`gate_ratios`: ‖A_j‖₂ and ‖B_j‖₂ from singular values, r_j = ‖B_j‖₂/‖A_j‖₂ and its
  median, 90th, 99th percentile and maximum over the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._arrays import arrays_of
from ._errors import ArgumentError
from ._expansion import WindowExpansion, check_factors, expand_window, window_products

EPS_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
"""The paper's ε grid (its appendix check): 1e-5 to 1 in half-decades."""

SLOPE_POINTS = 5
"""The small-ε slope is fitted over the first five grid points."""

GUARD_FACTOR = 1e3
"""The slope needs ‖c₂‖_F ε_min² > GUARD_FACTOR · eps · ‖F(0)‖_F."""


@dataclass(frozen=True)
class GateRatios:
    """Per-step spectral norms (``(T, ...)``) and the statistics of r_j over the steps (``(...)``)."""

    a_norms: object
    b_norms: object
    ratios: object
    median: object
    p90: object
    p99: object
    max: object


def spectral_norms(factors):
    """‖F_j‖₂ (the largest singular value) of each matrix of a stack ``(..., S, S)``."""
    return arrays_of(factors).svdvals(factors)[..., 0]


def gate_ratios(A, B) -> GateRatios:
    """‖A_j‖₂, ‖B_j‖₂ (exact, from singular values), r_j = ‖B_j‖₂/‖A_j‖₂ (inf where ‖A_j‖₂ = 0)
    and the median, p90, p99 and max of r_j over the T steps (percentiles by linear
    interpolation between order statistics, as ``numpy.percentile``)."""
    check_factors(A, B, "exact")
    xp = arrays_of(A)
    a_norms, b_norms = spectral_norms(A), spectral_norms(B)
    with xp.quietly():
        ratios = b_norms / a_norms
    steps, batch = int(ratios.shape[0]), tuple(ratios.shape[1:])
    ordered = -xp.sort_descending(-xp.reshape(ratios, (steps, -1)).T)  # ascending, one row per batch entry

    def percentile(q: float):
        position = q / 100 * (steps - 1)
        low = math.floor(position)
        high = min(low + 1, steps - 1)
        value = ordered[..., low] + (position - low) * (ordered[..., high] - ordered[..., low])
        return xp.reshape(value, batch)

    return GateRatios(a_norms, b_norms, ratios, percentile(50), percentile(90), percentile(99), percentile(100))


def remainder_bound(a, b, steps: int, eps) -> np.ndarray:
    """(a + εb)^ℓ − a^ℓ − ℓεb a^{ℓ−1} = Σ_{m=2}^{ℓ} C(ℓ, m) a^{ℓ−m} (εb)^m for ℓ = ``steps``,
    NumPy float64 ``(E, ...)`` for ``a``, ``b`` of shape ``(...)`` and ε of shape ``(E,)``.

    With x = εb/a the sum is a^ℓ g(x), g(x) = (1 + x)^ℓ − 1 − ℓx, taken in logarithms (a^ℓ
    over- or underflows at ℓ = 1000): for ℓx ≤ 1/2 by its series (terms shrink by at least
    ℓx/(m+1) ≤ 1/6 each), above by g = e^L (1 − (1 + ℓx) e^{−L}), L = ℓ log1p(x), where the
    subtraction loses at most a few ulp.  a = 0 leaves the one term (εb)^ℓ (ℓ ≥ 2)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    eps = np.asarray(eps, dtype=np.float64).reshape((-1,) + (1,) * a.ndim)
    if steps < 2:
        return np.zeros(np.broadcast_shapes(eps.shape, a.shape))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = eps * b / a
        log_g = np.where(steps * x <= 0.5, np.log(_small_series(x, steps)), _large_log_g(x, steps))
        bound = np.exp(steps * np.log(a) + log_g)
        bound = np.where(a > 0, bound, np.where(b > 0, (eps * b) ** steps, 0.0))
        return np.where(b > 0, bound, 0.0)


def _small_series(x, steps: int):
    """g(x) = Σ_{m≥2} C(ℓ, m) x^m for ℓx ≤ 1/2 (elsewhere the result is not used)."""
    x = np.where(steps * x <= 0.5, x, 0.0)
    term = steps * (steps - 1) / 2 * x * x
    total = term.copy()
    for m in range(2, min(steps, 40)):  # ratio ≤ ℓx/(m+1) ≤ 1/6: 40 terms reach far below one ulp
        term = term * (steps - m) / (m + 1) * x
        total = total + term
    return total


def _large_log_g(x, steps: int):
    """log g(x) for ℓx > 1/2 (elsewhere the result is not used)."""
    x = np.where(steps * x > 0.5, x, 1.0)
    exponent = steps * np.log1p(x)
    return exponent + np.log1p(-(1 + steps * x) * np.exp(-exponent))


@dataclass(frozen=True)
class TruncationStudy:
    """The result of :func:`truncation_study` (module docstring); arrays of the factors' kind.

    ``eps`` ``(E,)``; ``products`` F(ε) ``(E, ..., S, S)``; ``truncation_error`` E_trunc,
    ``normalised_remainder`` C₂, ``remainder_norm`` ‖R₂(ε)‖₂ and ``remainder_bound``, each
    ``(E, ...)``; ``c2_frobenius``, ``fitted_slope``, ``slope_guard_ok`` and ``slope`` (NaN
    where the guard fails), each ``(...)``; ``expansion`` F(0), L_F(0)[B], c₂; ``ratios``
    the :class:`GateRatios`."""

    eps: object
    convention: str
    expansion: WindowExpansion
    products: object
    truncation_error: object
    normalised_remainder: object
    remainder_norm: object
    remainder_bound: object
    c2_frobenius: object
    fitted_slope: object
    slope_guard_ok: object
    slope: object
    ratios: GateRatios

    def notes(self) -> list[str]:
        """Plain-text notes a reader needs beside the numbers (empty when there are none)."""
        guard = np.asarray(arrays_of(self.slope_guard_ok).to_numpy(self.slope_guard_ok))
        if guard.all():
            return []
        where = [tuple(int(i) for i in index) for index in np.argwhere(~guard)]
        return [f"slope not fitted (NaN) for batch entries {where}: ‖c₂‖_F·ε_min² ≤ {GUARD_FACTOR:g}·eps·‖F(0)‖_F, "
                "so the remainder at the smallest ε is round-off; use a larger ε_min or a shorter window"]


def truncation_study(A, B, eps_grid=EPS_GRID, convention: str = "exact") -> TruncationStudy:
    """E_trunc(ε), C₂(ε), the small-ε slope with its round-off guard, ‖c₂‖_F, the remainder
    norm and bound, and the gate ratios of the window product of ``A`` and ``B``
    (``(T, ..., S, S)``, from :func:`expansion_factors` in the same ``convention``).

    ``eps_grid``: strictly increasing positive ε, at least five (the slope takes the first
    five); the default is the paper's grid :data:`EPS_GRID`."""
    convention = check_factors(A, B, convention)
    grid = _checked_grid(eps_grid)
    xp = arrays_of(A)
    dtype = str(A.dtype).removeprefix("torch.")
    expansion = expand_window(A, B, convention)
    products = window_products(A, B, grid, convention)
    shape = (len(grid),) + (1,) * (A.ndim - 1)
    eps = xp.asarray(np.array(grid), dtype)
    remainder = products - expansion.zeroth - xp.reshape(eps, shape) * expansion.first
    error = _frobenius(remainder)
    c2 = _frobenius(expansion.second)
    x = np.log(np.array(grid[:SLOPE_POINTS]))
    weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    with xp.quietly():  # E_trunc = 0 gives log −inf and a NaN slope (the guard fails there too)
        log_error = xp.log(error)
        fitted = sum(float(w) * log_error[i] for i, w in enumerate(weights))
    guard = c2 * grid[0] ** 2 > GUARD_FACTOR * xp.eps(A) * _frobenius(expansion.zeroth)
    ratios = gate_ratios(A, B)
    bound = remainder_bound(np.max(xp.to_numpy(ratios.a_norms), axis=0), np.max(xp.to_numpy(ratios.b_norms), axis=0),
                            int(A.shape[0]), grid)
    return TruncationStudy(
        eps=eps, convention=convention, expansion=expansion, products=products, truncation_error=error,
        normalised_remainder=error / xp.reshape(eps * eps, shape[:-2]),
        remainder_norm=spectral_norms(remainder), remainder_bound=xp.asarray(bound, dtype), c2_frobenius=c2,
        fitted_slope=fitted, slope_guard_ok=guard, slope=xp.where(guard, fitted, fitted * float("nan")),
        ratios=ratios,
    )


def _frobenius(matrices):
    """‖M‖_F of each matrix of a stack ``(..., S, S)``."""
    return arrays_of(matrices).sqrt((matrices * matrices).sum(axis=(-2, -1)))


def _checked_grid(eps_grid) -> list[float]:
    try:
        grid = [float(v) for v in (arrays_of(eps_grid).to_numpy(eps_grid).reshape(-1)
                                    if arrays_of(eps_grid).is_array(eps_grid) else eps_grid)]
    except (TypeError, ValueError):
        grid = []
    increasing = all(0 < u < v for u, v in zip(grid, grid[1:]))
    if len(grid) < SLOPE_POINTS or not increasing or not all(math.isfinite(v) and v > 0 for v in grid):
        raise ArgumentError(f"eps_grid={eps_grid!r} must be at least {SLOPE_POINTS} strictly increasing positive "
                            f"finite numbers (the slope is fitted over the first {SLOPE_POINTS}); "
                            "e.g. numeric.EPS_GRID")
    return grid
