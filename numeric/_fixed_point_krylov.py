"""Batched restarted GMRES on the array namespace, for the Newton–Krylov fixed-point search.

Solves A x = b for many right-hand sides at once, each with its own operator (a row of the
batch is one start of the fixed-point search and A its J − I), using only the action
v ↦ A v — so J is never formed.  This is GMRES of Saad & Schultz (1986): the Arnoldi process
with modified Gram–Schmidt builds an orthonormal basis V_k of the Krylov space
span{r₀, A r₀, …, A^{k−1} r₀}, A V_k = V_{k+1} H_k with H_k upper Hessenberg, and
x_k = x₀ + V_k y_k with y_k = argmin ‖β e₁ − H_k y‖₂ (β = ‖r₀‖).  Givens rotations reduce H_k
to triangular form as it grows, so |g_{k+1}| (the last entry of the rotated β e₁) is the
residual norm ‖b − A x_k‖₂ without forming x_k.

Every operation acts on all rows at once (``(B, S)`` vectors); a row whose residual is
already below its tolerance contributes a zero Krylov vector from then on (its Hessenberg
column is zero and its coefficient 0), which freezes it while the others continue.  A row
whose Krylov space is exhausted (A-invariant, "happy breakdown": h_{k+1,k} = 0) is solved
exactly and frozen in the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._arrays import arrays_of


def _norms(xp, vectors):
    """‖v‖₂ of each row of ``vectors`` ``(B, S)``, shape ``(B, 1)``."""
    return xp.sqrt(xp.dot(vectors, vectors))


def gmres(apply: Callable, rhs, tolerance, *, dimension: int, restarts: int):
    """x with ‖b − A x‖₂ ≤ ``tolerance`` (per row, ``(B,)`` NumPy array) where the Krylov
    budget allows, for b = ``rhs`` ``(B, S)`` and ``apply(V) = A V`` acting row by row.

    At most ``restarts`` cycles of ``dimension`` Arnoldi steps (GMRES(m) restarted from the
    current x).  Returns ``(x, residual)`` with the residual norms ``(B,)`` recomputed from
    b − A x at the end (not the Givens estimate).  Starting from x₀ = 0, every cycle can only
    lower ‖b − A x‖, so even an unconverged x is a descent direction for the Newton step."""
    xp = arrays_of(rhs)
    wanted = xp.asarray(np.asarray(tolerance)[:, None], str(rhs.dtype).removeprefix("torch."))  # (B, 1)
    solution = 0 * rhs
    residual = rhs
    for _ in range(restarts):
        solution = solution + _cycle(xp, apply, residual, wanted, dimension)
        residual = rhs - apply(solution)
        if bool(np.all(xp.to_numpy(_norms(xp, residual)) <= np.asarray(tolerance)[:, None])):
            break
    return solution, xp.to_numpy(_norms(xp, residual))[:, 0]


def _cycle(xp, apply: Callable, residual, wanted, dimension: int):
    """One GMRES(``dimension``) cycle from x₀ = 0 for the system A x = ``residual``."""
    beta = _norms(xp, residual)
    safe = xp.where(beta > 0, beta, xp.ones_like(beta))
    basis = [xp.where(beta > wanted, residual / safe, 0 * residual)]
    triangle = []          # columns of the rotated Hessenberg matrix, each (B, j + 1)
    cosines, sines = [], []
    rotated = [beta]       # the rotated β e₁, entries (B, 1)
    for step in range(dimension):
        w = apply(basis[step])
        column = []
        for vector in basis:  # modified Gram–Schmidt
            h = xp.dot(w, vector)
            w = w - h * vector
            column.append(h)
        norm = _norms(xp, w)
        for i, (c, s) in enumerate(zip(cosines, sines)):  # earlier rotations on the new column
            column[i], column[i + 1] = c * column[i] + s * column[i + 1], -s * column[i] + c * column[i + 1]
        radius = xp.sqrt(column[step] * column[step] + norm * norm)
        nonzero = radius > 0
        c = xp.where(nonzero, column[step] / xp.where(nonzero, radius, xp.ones_like(radius)), xp.ones_like(radius))
        s = xp.where(nonzero, norm / xp.where(nonzero, radius, xp.ones_like(radius)), 0 * radius)
        column[step] = radius
        cosines.append(c)
        sines.append(s)
        rotated.append(-s * rotated[step])
        rotated[step] = c * rotated[step]
        triangle.append(column)
        live = (norm > 0) & (xp.abs(rotated[step + 1]) > wanted)  # rows still short of their tolerance
        basis.append(xp.where(live, w / xp.where(norm > 0, norm, xp.ones_like(norm)), 0 * w))
        if not bool(xp.to_numpy(xp.abs(rotated[step + 1]) > wanted).any()):
            break
    return _combine(xp, basis, _back_substitute(xp, triangle, rotated))


def _back_substitute(xp, triangle: list, rotated: list) -> list:
    """y with R y = g (R upper triangular from the columns ``triangle``); a zero pivot (a
    frozen row's column) gives y_j = 0."""
    size = len(triangle)
    coefficients = [None] * size
    for j in range(size - 1, -1, -1):
        value = rotated[j]
        for k in range(j + 1, size):
            value = value - triangle[k][j] * coefficients[k]
        pivot = triangle[j][j]
        usable = xp.abs(pivot) > 0
        coefficients[j] = xp.where(usable, value / xp.where(usable, pivot, xp.ones_like(pivot)), 0 * value)
    return coefficients


def _combine(xp, basis: list, coefficients: list):
    """Σ_j y_j v_j."""
    total = 0 * basis[0]
    for vector, weight in zip(basis, coefficients):
        total = total + weight * vector
    return total
