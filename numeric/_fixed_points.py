"""Fixed points of any compiled cell at a constant input: damped Newton on G(s) = F(s) − s,
batched over many starts, with the exact structured Jacobian or with Jacobian actions.

s is the whole state vector (the cell's states concatenated in declaration order; for an LSTM
s = (h, c)) and F(s) = step(s, x) at the constant input x.  A fixed point solves G(s) = 0.

Newton step.  δ solves (J(s) − I) δ = −G(s) with J = ∂F/∂s the exact step Jacobian:

* ``method="dense"``: J from ``CompiledCell.state_jacobian`` and one batched LU solve,
  O(B·S³) per iteration (a singular J − I falls back to the pseudo-inverse);
* ``method="krylov"``: Newton–Krylov (Knoll & Keyes 2004) — δ from GMRES (Saad & Schultz
  1986; ``_fixed_point_krylov``) with the action v ↦ J v − v of ``CompiledCell.jvp``, never
  forming J, O(k·B·S²) per iteration for k Krylov steps.  The linear solve stops at
  ‖G + (J − I) δ‖ ≤ η‖G‖ with the forcing term η = min(0.1, ‖G‖) (Eisenstat & Walker 1996),
  which keeps Newton's quadratic convergence near the root;
* ``method="auto"``: dense while B·S² ≤ :data:`DENSE_ENTRIES` (a 256 MB float64 Jacobian
  stack), Krylov beyond.

Damping.  The step s ← s + α δ takes the largest α ∈ {1, ½, ¼, …, 2⁻³⁰} with
‖G(s + α δ)‖ ≤ (1 − 10⁻⁴ α) ‖G(s)‖ (Armijo backtracking on ‖G‖, Dennis & Schnabel 1996,
§6.3), independently per start.  δ is a descent direction of ½‖G‖² whenever the linear solve
reduced its residual, so only a stationary point of ‖G‖ that is not a root (no fixed point
nearby), a singular J − I, or round-off stop it.

Every start ends with one of :data:`REASONS`, its residual ‖F(s) − s‖₂ at the returned point
(the one the iteration evaluated there, not computed again), and its iteration count; ``converged`` is ``residual ≤ tolerance`` — a point
that did not reach the tolerance is never reported as a fixed point.  Deduplication
(:meth:`FixedPointSearch.unique`) and the stability of the distinct points
(:meth:`FixedPoints.stability`, :func:`classify`) follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._arrays import arrays
from ._compiled import CompiledCell
from ._errors import ArgumentError, check_integer, is_real
from ._fixed_point_krylov import gmres
from ._spectra import Stability, classify, jacobian_eigenvalues

METHODS = ("auto", "dense", "krylov")
DENSE_ENTRIES = 2**25
"""``method="auto"`` solves densely while B·S² ≤ this (2²⁵ entries: 256 MB in float64)."""

REASONS = {
    "converged": "‖F(s) − s‖ ≤ tolerance",
    "max_iterations": "the iteration budget ran out before the tolerance was reached",
    "stalled": "no damped Newton step lowers ‖F(s) − s‖: a local minimum of the residual that is not a fixed "
               "point, a singular J − I, or a round-off floor above the tolerance",
    "non_finite": "the state, the residual or the Newton direction is not finite (inf or nan)",
}
"""Why each start stopped."""

_ARMIJO = 1e-4
_HALVINGS = 30


@dataclass(frozen=True, eq=False)
class FixedPointSearch:
    """One Newton run per start (see the module docstring).

    ``states``: the final iterates ``{state: batch + (size,)}`` (arrays of the cell's
    back-end); ``residual``: ‖F(s) − s‖₂ at them (NumPy, batch shape); ``converged``:
    ``residual ≤ tolerance``; ``reasons``: a key of :data:`REASONS` per start;
    ``iterations``: Newton iterations taken per start.  ``compiled``, ``inputs`` and
    ``params`` are those of the search."""

    states: dict
    residual: np.ndarray
    converged: np.ndarray
    reasons: np.ndarray
    iterations: np.ndarray
    tolerance: float
    method: str
    compiled: CompiledCell
    inputs: dict
    params: dict

    def summary(self) -> str:
        """One line per way of stopping: how many starts, and the residuals they ended with."""
        lines = [f"{int(self.converged.sum())}/{self.converged.size} starts converged to ‖F(s) − s‖ ≤ "
                 f"{self.tolerance:.0e} ({self.method})"]
        for reason in REASONS:
            chosen = self.reasons == reason
            if reason != "converged" and chosen.any():
                worst = self.residual[chosen]
                lines.append(f"  {int(chosen.sum())} {reason}: residual {np.nanmin(worst):.1e}..{np.nanmax(worst):.1e}"
                             f" — {REASONS[reason]}")
        return "\n".join(lines)

    def unique(self, distance: float = 1e-7) -> FixedPoints:
        """The distinct converged points: starts whose points differ by at most ``distance``
        in the max norm (relative to max(1, ‖s‖_∞)) are one point.

        A point converged to ‖G‖ ≤ 10⁻¹² lies within about 10⁻¹²·‖(J − I)⁻¹‖ of the exact fixed
        point, so the default 10⁻⁷ merges copies of one point unless it is nearly degenerate
        (‖(J − I)⁻¹‖ ≳ 10⁵, e.g. closed gates leaving a near-continuum of fixed points), and
        separates distinct points unless they are that close.  Points are taken in order of
        increasing residual, each joining the first representative within ``distance``."""
        if not is_real(distance) or not distance > 0:
            raise ArgumentError(f"distance={distance!r} must be a number > 0 (the max-norm gap that separates points)")
        vectors = _join(self.states, arrays(self.compiled.backend))
        flat = arrays(self.compiled.backend).to_numpy(vectors).reshape(-1, vectors.shape[-1])
        residual, converged = self.residual.reshape(-1), self.converged.reshape(-1)
        labels = np.full(residual.shape, -1)
        representatives: list[int] = []
        for start in np.argsort(np.where(converged, residual, np.inf), kind="stable"):
            if not converged[start]:
                break
            point = flat[start]
            for label, other in enumerate(representatives):
                if np.max(np.abs(point - flat[other])) <= distance * max(1.0, np.max(np.abs(flat[other]))):
                    labels[start] = label
                    break
            else:
                labels[start] = len(representatives)
                representatives.append(start)
        chosen = np.asarray(representatives, dtype=int)
        batch = self.residual.shape
        states = {name: value.reshape((-1, value.shape[-1]))[chosen] for name, value in self.states.items()}
        counts = np.bincount(labels[labels >= 0], minlength=len(chosen))
        return FixedPoints(states, residual[chosen], counts, labels.reshape(batch), self.compiled, self.inputs,
                           self.params)


@dataclass(frozen=True, eq=False)
class FixedPoints:
    """Distinct fixed points: ``states`` ``{state: (K, size)}``, their ``residual`` ``(K,)``,
    ``counts`` (how many starts reached each) and ``labels`` (per start of the search: the
    index of its point, −1 if it did not converge)."""

    states: dict
    residual: np.ndarray
    counts: np.ndarray
    labels: np.ndarray
    compiled: CompiledCell
    inputs: dict
    params: dict

    def __len__(self) -> int:
        return int(self.residual.shape[0])

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of J at each point, ``(K, S)`` complex, by decreasing modulus."""
        return jacobian_eigenvalues(self.compiled, self.states, _unbatched(self.inputs), self.params)

    def stability(self, *, marginal: float = 1e-6, slow: float = 1e-2) -> Stability:
        """:func:`classify` of each point's eigenvalues (thresholds documented there)."""
        return classify(self.eigenvalues(), marginal=marginal, slow=slow)


def _unbatched(inputs: dict) -> dict:
    """Inputs of a search are constant; per-start inputs cannot follow deduplicated points."""
    for name, value in inputs.items():
        if value.ndim > 1:
            raise ArgumentError(
                f"inputs[{name!r}] has a batch shape {tuple(value.shape[:-1])}: each start had its own input, so the "
                "distinct points have none; run one search per input to analyse its points"
            )
    return inputs


def fixed_points(compiled: CompiledCell, starts: Mapping, inputs: Mapping | None = None,
                 params: Mapping | None = None, *, tolerance: float = 1e-12, max_iterations: int = 100,
                 method: str = "auto", max_step: float = 1.0, krylov_dimension: int = 50,
                 krylov_restarts: int = 4) -> FixedPointSearch:
    """Damped Newton for F(s) = s from every start (see the module docstring).

    ``starts`` is ``{state: batch + (size,)}`` (one start per batch entry; every state of the
    cell, e.g. h and c of an LSTM); ``inputs`` ``{input: (size,)}`` is the constant input (or
    ``batch + (size,)``, one per start), omitted for a cell without inputs; ``params`` as for
    :meth:`CompiledCell.step`.  Stops a start when ‖F(s) − s‖₂ ≤ ``tolerance`` or after
    ``max_iterations``.  ``method``: "dense", "krylov" or "auto"; the Krylov solver takes at
    most ``krylov_restarts`` cycles of ``krylov_dimension`` steps per Newton iteration.
    Works with both back-ends and keeps the dtype."""
    if not isinstance(compiled, CompiledCell):
        raise ArgumentError(
            f"fixed_points() takes a CompiledCell, got {type(compiled).__name__}; use numeric.compile(cell) first"
        )
    if method not in METHODS:
        raise ArgumentError(f"method={method!r} is not one of {list(METHODS)}")
    if not is_real(tolerance) or not tolerance > 0:
        raise ArgumentError(f"tolerance={tolerance!r} must be a number > 0 (the target ‖F(s) − s‖₂)")
    if not is_real(max_step) or not max_step > 0:
        raise ArgumentError(f"max_step={max_step!r} must be a number > 0 (the largest change of a state entry "
                            "per Newton step)")
    check_integer("max_iterations", max_iterations, 1, None)
    check_integer("krylov_dimension", krylov_dimension, 1, None)
    check_integer("krylov_restarts", krylov_restarts, 1, None)
    xp = arrays(compiled.backend)
    inputs, params = dict(inputs or {}), dict(params or {})
    compiled.step(starts, inputs, params)  # checks names, shapes, dtypes and batch shapes
    sizes = {s.name: int(starts[s.name].shape[-1]) for s in compiled.cell.states}
    batch = tuple(xp.batch_shape(*starts.values(), *inputs.values()))
    if not batch:
        raise ArgumentError("starts have no batch axis; pass each state as (B, size), e.g. value[None] for one start")
    if any(v.ndim > 1 for v in inputs.values()):
        inputs = {n: xp.flatten_batch(v, batch) for n, v in inputs.items()}
    problem = _Problem(compiled, inputs, params, sizes)
    # a fresh (B, S) array (concat copies), so the iteration never writes into the caller's starts
    state = _join({n: xp.flatten_batch(starts[n], batch) for n in sizes}, xp)
    size = int(state.shape[-1])
    if method == "auto":
        method = "dense" if int(state.shape[0]) * size * size <= DENSE_ENTRIES else "krylov"
    solver = _Newton(problem, method, float(tolerance), float(max_step), krylov_dimension, krylov_restarts)
    with xp.dense_scope():  # one BLAS thread throughout: the kernels' dense writes and the solves alternate
        state, residual, reasons, iterations = solver.run(state, max_iterations)
    converged = residual <= tolerance
    reasons = np.where(converged, "converged", np.where(reasons == "converged", "max_iterations", reasons))
    return FixedPointSearch(
        {n: xp.reshape(v, batch + (sizes[n],)) for n, v in _split(state, sizes).items()},
        residual.reshape(batch), converged.reshape(batch), reasons.reshape(batch), iterations.reshape(batch),
        float(tolerance), method, compiled, problem.inputs, params,
    )


class _Problem:
    """G(s) = F(s) − s on flat state vectors ``(B, S)``, for a subset ``rows`` of the starts."""

    def __init__(self, compiled: CompiledCell, inputs: dict, params: dict, sizes: dict):
        self.compiled, self.inputs, self.params, self.sizes = compiled, inputs, params, sizes
        self.xp = arrays(compiled.backend)

    def _inputs(self, rows) -> dict:
        return {n: v[rows] if v.ndim > 1 else v for n, v in self.inputs.items()}

    def residual(self, state, rows):
        new = self.compiled.step(_split(state, self.sizes), self._inputs(rows), self.params)
        return _join(new, self.xp) - state

    def jacobian_minus_identity(self, state, rows):
        jacobian = self.compiled.state_jacobian(_split(state, self.sizes), self._inputs(rows), self.params)
        return jacobian - self.xp.eye(int(state.shape[-1]), state)

    def action(self, state, rows):
        """v ↦ (J − I) v at ``state``, by the cell's jvp."""
        states, inputs = _split(state, self.sizes), self._inputs(rows)
        return lambda v: _join(self.compiled.jvp(states, inputs, self.params, _split(v, self.sizes)), self.xp) - v


class _Newton:
    """The damped Newton iteration of the module docstring, on all active starts at once."""

    def __init__(self, problem: _Problem, method: str, tolerance: float, max_step: float, dimension: int,
                 restarts: int):
        self.problem, self.method, self.tolerance, self.max_step = problem, method, tolerance, max_step
        self.dimension, self.restarts = dimension, restarts
        self.xp = problem.xp

    def run(self, state, max_iterations: int):
        """``(state, ‖G(state)‖₂, reasons, iterations)`` per start: every norm is the one of the
        residual evaluated at the state returned (the start's, or the last accepted step's)."""
        xp = self.xp
        count = int(state.shape[0])
        reasons = np.full(count, "converged", dtype=object)
        iterations = np.zeros(count, dtype=int)
        residual = self.problem.residual(state, slice(None))
        norms = _norm(xp, residual)
        active = np.isfinite(norms) & (norms > self.tolerance)
        reasons[~np.isfinite(norms)] = "non_finite"
        for _ in range(max_iterations):
            rows = np.flatnonzero(active)
            if rows.size == 0:
                break
            direction = self._capped(self._direction(state[rows], residual[rows], norms[rows], rows))
            finite = np.isfinite(_norm(xp, direction))
            reasons[rows[~finite]] = "non_finite"
            active[rows[~finite]] = False
            rows, direction = rows[finite], direction[finite]
            accepted, new_state, new_residual, new_norms = self._line_search(state[rows], direction, norms[rows], rows)
            reasons[rows[~accepted]] = "stalled"
            active[rows[~accepted]] = False
            moved = rows[accepted]
            state[moved], residual[moved], norms[moved] = new_state, new_residual, new_norms
            iterations[moved] += 1
            active[moved] = norms[moved] > self.tolerance
        return state, norms, reasons.astype(str), iterations

    def _direction(self, state, residual, norms, rows):
        """δ with (J − I) δ ≈ −G (dense LU or GMRES, see the module docstring)."""
        if self.method == "dense":
            return _solve(self.xp, self.problem.jacobian_minus_identity(state, rows), -residual)
        forcing = np.minimum(0.1, norms) * norms
        direction, _ = gmres(self.problem.action(state, rows), -residual, forcing,
                             dimension=self.dimension, restarts=self.restarts)
        return direction

    def _capped(self, direction):
        """δ scaled down to ‖δ‖_∞ ≤ max_step (a trust radius in state units)."""
        xp = self.xp
        with xp.quietly():
            largest = xp.to_numpy(xp.abs(direction)).max(axis=-1, initial=0.0)
        factor = np.where(largest > self.max_step, self.max_step / np.where(largest > 0, largest, 1.0), 1.0)
        return direction * xp.asarray(factor[:, None], _dtype_name(direction))

    def _line_search(self, state, direction, norms, rows):
        """Armijo backtracking per start: ``(accepted, state, residual, norms)`` of the accepted ones."""
        xp = self.xp
        count = int(state.shape[0])
        accepted = np.zeros(count, dtype=bool)
        new_state, new_residual, new_norms = state, 0 * state, norms.copy()  # state: already a copy (state[rows])
        step = 1.0
        pending = np.arange(count)
        for _ in range(_HALVINGS + 1):
            trial = state[pending] + step * direction[pending]
            with xp.quietly():
                trial_residual = self.problem.residual(trial, rows[pending])
            trial_norms = _norm(xp, trial_residual)
            good = np.isfinite(trial_norms) & (trial_norms <= (1 - _ARMIJO * step) * norms[pending])
            chosen = pending[good]
            new_state[chosen], new_residual[chosen], new_norms[chosen] = trial[good], trial_residual[good], \
                trial_norms[good]
            accepted[chosen] = True
            pending = pending[~good]
            if pending.size == 0:
                break
            step /= 2
        return accepted, new_state[accepted], new_residual[accepted], new_norms[accepted]


def _norm(xp, vectors) -> np.ndarray:
    """‖v‖₂ of each row, as a NumPy array (inf/nan rows give inf/nan)."""
    with xp.quietly():
        return xp.to_numpy(xp.sqrt(xp.dot(vectors, vectors)))[..., 0]


def _solve(xp, matrix, rhs):
    """x with ``matrix`` x = ``rhs`` for each batch entry (LU); if any matrix is singular to
    working precision, the minimum-norm least-squares step of the pseudo-inverse for all."""
    if xp.name == "numpy":
        try:
            return np.linalg.solve(matrix, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return (np.linalg.pinv(matrix) @ rhs[..., None])[..., 0]
    import torch

    solution, info = torch.linalg.solve_ex(matrix, rhs[..., None])
    if bool((info != 0).any()):
        solution = torch.linalg.pinv(matrix) @ rhs[..., None]
    return solution[..., 0]


def _dtype_name(array) -> str:
    """"float64" or "float32" for a NumPy array or a tensor."""
    return str(array.dtype).removeprefix("torch.")


def _join(states: Mapping, xp):
    """The state vector: the states concatenated along the last axis in declaration order."""
    return xp.concat(list(states.values()))


def _split(vector, sizes: dict) -> dict:
    """Inverse of :func:`_join` for the sizes ``{state: size}``."""
    pieces, start = {}, 0
    for name, size in sizes.items():
        pieces[name] = vector[..., start:start + size]
        start += size
    return pieces
