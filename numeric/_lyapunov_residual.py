"""Lyapunov exponents of weakly coupled residual networks (the WCRNN of Dubinin &
Effenberger 2024, arXiv:2307.14823), h_t = R h_{t−1} + γ tanh(a_t), a_t = W h_{t−1} + V x_t + b:
the predictions from the residual's eigenvalues and the sub-/critical/super-critical labels.
Exponents in natural log per step.

Step Jacobian J_t = R + γ D_t W with D_t = diag(1 − tanh² a_t) (0 < (D_t)_ii ≤ 1).

* γ = 0: LE_i = ln|λ_i(R)| (exactly at every T for a diagonal R; docs/theory.md: “Lyapunov exponents”).
* First order, R = diag(λ_1, …, λ_n) with well-separated moduli (γ‖W‖₂ ≪ min_{i≠j} |λ_i − λ_j|):
  the i-th diagonal entry of J_t is λ_i + γ (D_t)_ii W_ii and the off-diagonal coupling enters
  at O(γ²), so

      LE_i ≈ ln|λ_i| + (γ/λ_i) ⟨(D_t)_ii⟩_t W_ii          (:func:`first_order_exponents`).

* Homogeneous R = λI: ‖J_t‖₂ ≤ |λ| + γ‖W‖₂ and σ_min(J_t) ≥ |λ| − γ‖W‖₂, and singular values
  of products are bounded by the products of the factors', so every exponent (and every
  finite-time exponent) lies in [ln(|λ| − γ‖W‖₂), ln(|λ| + γ‖W‖₂)]: within
  −ln(1 − γ‖W‖₂/|λ|) of ln|λ| (:func:`coupling_band`), the O(γ) band that :func:`criticality`
  takes as "zero" at λ = 1.
"""

from __future__ import annotations

import numpy as np

from ._arrays import to_numpy
from ._errors import ArgumentError, check_integer, is_real


def first_order_exponents(trajectory, burn_in: int = 0):
    """ln|λ_i| + (γ/λ_i) ⟨(D_t)_ii⟩ W_ii for a WCRNN with linear residual and diagonal R (a
    ``wcrnn(residual_matrix="diagonal")`` vector ``lam``, or a dense ``R`` that is diagonal),
    the mean taken over the steps t > ``burn_in`` of ``trajectory``; sorted descending, shape
    ``(..., n)``, NumPy, natural log per step (see the module docstring)."""
    params = {name: to_numpy(value) for name, value in trajectory.params.items()}
    residual = _diagonal_residual(trajectory.compiled.cell, params)
    check_integer("burn_in", burn_in, 0, trajectory.steps - 1)
    states = {name: value[burn_in:-1] for name, value in trajectory.states.items()}
    inputs = {name: value[burn_in:] for name, value in trajectory.inputs.items()}
    activation = to_numpy(trajectory.compiled.intermediates(states, inputs, trajectory.params)["a"])
    slope = (1 - np.tanh(activation) ** 2).mean(axis=0)
    exponents = np.log(np.abs(residual)) + params["gamma"] / residual * slope * np.diagonal(params["W"])
    return -np.sort(-exponents, axis=-1)


def coupling_band(params) -> float:
    """−ln(1 − γ‖W‖₂/|λ|) for a WCRNN with homogeneous residual R = λI (``params`` with a
    scalar ``lam``, or a dense ``R`` equal to λI): every exponent lies within this of ln|λ|
    (see the module docstring); ``inf`` when γ‖W‖₂ ≥ |λ|."""
    params = {name: to_numpy(value) for name, value in params.items()}
    if "R" in params:
        residual = params["R"]
        lam = float(residual[0, 0])
        if not np.array_equal(residual, lam * np.eye(len(residual))):
            raise ArgumentError("coupling_band needs a homogeneous residual R = λI; this R is not a multiple of I")
    elif "lam" in params and np.ndim(params["lam"]) == 0:
        lam = float(params["lam"])
    else:
        raise ArgumentError(
            "coupling_band takes the parameters of a homogeneous WCRNN: a scalar 'lam' or a dense 'R' = λI "
            f"(got {sorted(params)})"
        )
    ratio = float(params["gamma"]) * float(np.linalg.norm(params["W"], 2)) / abs(lam)
    return float(-np.log1p(-ratio)) if ratio < 1 else float("inf")


def criticality(largest, margin: float):
    """The regime of a network from its largest exponent (natural log per step), as labels of
    the same shape (NumPy strings): ``"subcritical"`` where LE_max < −margin (perturbations
    fade), ``"supercritical"`` where LE_max > margin (they grow), ``"critical"`` in between —
    the edge of chaos of Dubinin & Effenberger 2024.  ``margin`` ≥ 0 is the band of exponents
    that count as zero, e.g. :func:`coupling_band` for a weakly coupled residual network."""
    if not is_real(margin) or not margin >= 0:
        raise ArgumentError(f"margin={margin!r} must be a number ≥ 0 (the band of exponents that count as zero)")
    largest = to_numpy(largest)
    return np.where(largest < -margin, "subcritical", np.where(largest > margin, "supercritical", "critical"))


def _diagonal_residual(cell, params: dict):
    """The diagonal (λ_1, …, λ_n) of a linear-residual WCRNN's R, or an error saying why not."""
    if cell.name != "wcrnn" or not cell.convention.startswith("h' = R h"):
        raise ArgumentError(
            f"first_order_exponents is for the WCRNN with a linear residual (cells.wcrnn()); got cell {cell.name!r} "
            f"({cell.convention})"
        )
    if "R" in params:
        residual = np.diagonal(params["R"])
        if not np.array_equal(params["R"], np.diag(residual)):
            raise ArgumentError("first_order_exponents needs a diagonal residual R; this R has off-diagonal entries")
    elif np.ndim(params["lam"]) == 1:
        residual = params["lam"]
    else:
        raise ArgumentError(
            "first_order_exponents needs distinct residual eigenvalues (the formula is per unit); a homogeneous "
            "R = λI is degenerate — compare with coupling_band instead"
        )
    if np.any(residual == 0):
        raise ArgumentError("first_order_exponents: R has a zero eigenvalue, whose exponent is −inf at γ = 0")
    return residual
