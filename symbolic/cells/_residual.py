"""Residual matrices for the WCRNN (Dubinin & Effenberger, docs/theory.md: “The catalogue”), as exact SymPy
matrices — values for the fixed parameter ``R`` of ``wcrnn(residual_matrix="dense")``.

* :func:`residual_homogeneous`  R = λ I              (every eigenvalue λ);
* :func:`residual_rotational`   R = λ Q, Q block-diagonal 2×2 rotations by θ_k
                                (eigenvalues λ e^{±iθ_k});
* :func:`residual_heterogeneous` R = diag(λ_1, …, λ_n)  (memory time-scales −1/ln|λ_i|).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import sympy

from .._errors import ShapeError, SpecError


def _real(value, what: str) -> sympy.Expr:
    """``value`` as a real, finite SymPy scalar, or a clear :class:`SpecError`."""
    try:
        expr = sympy.sympify(value, strict=True)
    except (sympy.SympifyError, TypeError):
        expr = None
    if (
        not isinstance(expr, sympy.Expr)
        or isinstance(expr, sympy.MatrixExpr)
        or expr.is_extended_real is False
        or expr.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)
    ):
        raise SpecError(
            f"{what}={value!r} must be a real finite number or a real SymPy scalar (e.g. 0.9, Rational(9, 10))"
        )
    return expr


def _reals(values, what: str) -> list[sympy.Expr]:
    """A non-empty sequence of real scalars, or a clear :class:`SpecError`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SpecError(f"{what}={values!r} must be a sequence of numbers, e.g. [0.5, 0.9]")
    items = [_real(v, f"{what}[{k}]") for k, v in enumerate(values)]
    if not items:
        raise SpecError(f"{what} is empty; give at least one value")
    return items


def residual_homogeneous(n: int, lam) -> sympy.ImmutableMatrix:
    """R = λ I_n: the homogeneous residual (subcritical |λ| < 1, critical |λ| = 1,
    supercritical |λ| > 1).  ``n`` is a positive integer; for a symbolic size use
    ``wcrnn(residual_matrix="homogeneous")``.

    Reference: Dubinin & Effenberger 2024, arXiv:2307.14823; the parametrisation is our reading of
    the paper's description, whose code was not available to us.
    """
    try:
        size = None if isinstance(n, bool) else operator.index(n)
    except TypeError:
        size = None
    if size is None or size < 1:
        raise ShapeError(f"residual_homogeneous: n={n!r} must be a positive integer (the hidden size)")
    return sympy.ImmutableMatrix(_real(lam, "lam") * sympy.eye(size))


def residual_rotational(lam, angles) -> sympy.ImmutableMatrix:
    """R = λ Q with Q block-diagonal, one 2×2 rotation [[cos θ, −sin θ], [sin θ, cos θ]] per
    angle θ_k; size 2·len(angles), eigenvalues λ e^{±iθ_k}, all of modulus |λ|.  The angles
    set oscillation frequencies (e.g. θ = 2π/28 for the row period of sequential MNIST).

    Reference: Dubinin & Effenberger 2024, arXiv:2307.14823; the parametrisation is our reading of
    the paper's description, whose code was not available to us.
    """
    scale = _real(lam, "lam")
    blocks = [
        scale * sympy.Matrix([[sympy.cos(t), -sympy.sin(t)], [sympy.sin(t), sympy.cos(t)]])
        for t in _reals(angles, "angles")
    ]
    return sympy.ImmutableMatrix(sympy.diag(*blocks))


def residual_heterogeneous(lams) -> sympy.ImmutableMatrix:
    """R = diag(λ_1, …, λ_n): one memory time-scale −1/ln|λ_i| per unit.  The same map as
    ``wcrnn(residual_matrix="diagonal")`` with ``lam = (λ_1, …, λ_n)``.

    Reference: Dubinin & Effenberger 2024, arXiv:2307.14823; the parametrisation is our reading of
    the paper's description, whose code was not available to us.
    """
    return sympy.ImmutableMatrix(sympy.diag(*_reals(lams, "lams")))
