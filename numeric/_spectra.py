"""Eigenvalues of step Jacobians — at fixed points and along trajectories, batched — and the
linear stability they imply.

For a map s ↦ F(s) the eigenvalues λ of J = ∂F/∂s at a fixed point decide its linear
stability: a perturbation along an eigenvector is multiplied by λ per step, so it decays for
|λ| < 1, grows for |λ| > 1, and is marginal (neither, to first order) for |λ| = 1; its decay
time is −1/ln|λ| steps, long ("slow modes", Can, Krishnamurthy & Schwab 2020,
arXiv:2002.00025) when |λ| is close to 1.  Along a trajectory the eigenvalues of the step
Jacobians J_t describe the local linearisation (their moduli are not the Lyapunov exponents,
which need the products: ``Trajectory.lyapunov``).

Eigenvalues are returned as NumPy complex arrays whatever the cell's back-end (they are for
analysis and figures), sorted by decreasing modulus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ._arrays import to_numpy
from ._compiled import CompiledCell
from ._errors import ArgumentError, check_integer, is_real

KINDS = ("stable", "marginal", "saddle", "repelling")
"""The stability classes of :func:`classify`."""


def eigenvalues(matrices) -> np.ndarray:
    """Eigenvalues of each square matrix of ``matrices`` ``(..., S, S)`` (NumPy or torch), as
    a NumPy complex array ``(..., S)`` sorted by decreasing modulus (ties by decreasing real
    part)."""
    matrices = to_numpy(matrices)
    if matrices.ndim < 2 or matrices.shape[-1] != matrices.shape[-2]:
        raise ArgumentError(f"eigenvalues() takes square matrices (..., S, S), got shape {matrices.shape}")
    values = np.linalg.eigvals(matrices).astype(complex)
    order = np.lexsort((-values.real, -np.abs(values)), axis=-1)
    return np.take_along_axis(values, order, axis=-1)


def jacobian_eigenvalues(compiled: CompiledCell, states: Mapping, inputs: Mapping | None = None,
                         params: Mapping | None = None) -> np.ndarray:
    """Eigenvalues of the step Jacobian J = ∂s'/∂s at ``states`` (any batch shape), ``(..., S)``
    sorted by decreasing modulus; S is the whole state (2n for an LSTM's (h, c))."""
    if not isinstance(compiled, CompiledCell):
        raise ArgumentError(f"jacobian_eigenvalues() takes a CompiledCell, got {type(compiled).__name__}")
    return eigenvalues(compiled.state_jacobian(states, inputs, params))


def trajectory_eigenvalues(trajectory, steps: Iterable[int] | None = None) -> np.ndarray:
    """Eigenvalues of J_t for each t in ``steps`` (default 1..T) of a ``Trajectory``,
    ``(len(steps), ..., S)`` sorted by decreasing modulus; one Jacobian formed at a time."""
    steps = list(range(1, trajectory.steps + 1)) if steps is None else list(steps)
    if not steps:
        raise ArgumentError("steps is empty; pass the steps t (1..T) whose Jacobians J_t you want")
    for t in steps:
        check_integer("t", t, 1, trajectory.steps)
    return np.stack([eigenvalues(trajectory.step_jacobian(t)) for t in steps])


@dataclass(frozen=True)
class Stability:
    """Linear stability of fixed points from their Jacobian eigenvalues (:func:`classify`).

    Arrays have the batch shape of the eigenvalues: ``kind`` (one of :data:`KINDS`),
    ``unstable`` (the number of directions with |λ| > 1 + marginal), ``marginal`` (with
    ||λ| − 1| ≤ marginal), ``slow`` (with ||λ| − 1| ≤ slow, marginal ones included) and
    ``spectral_radius`` (max |λ|)."""

    kind: np.ndarray
    unstable: np.ndarray
    marginal: np.ndarray
    slow: np.ndarray
    spectral_radius: np.ndarray


def classify(values, *, marginal: float = 1e-6, slow: float = 1e-2) -> Stability:
    """The stability of fixed points whose Jacobian eigenvalues are ``values`` ``(..., S)``.

    With m = ``marginal``: a direction is unstable when |λ| > 1 + m, marginal when
    ||λ| − 1| ≤ m.  A point is ``"stable"`` if every |λ| < 1 − m, ``"marginal"`` if none is
    unstable but some are marginal, ``"saddle"`` if some but not all directions are unstable,
    ``"repelling"`` if all are.  ``slow`` counts the slow modes, ||λ| − 1| ≤ ``slow`` (decay
    time −1/ln|λ| ≳ 1/slow steps).

    The default m = 10⁻⁶ is far above the error of computed eigenvalues of a well-conditioned
    J (round-off ε·‖J‖ ≈ 10⁻¹⁵, and a fixed point converged to ‖F(s) − s‖ ≤ 10⁻¹² moves J by
    about 10⁻¹²·‖(J − I)⁻¹‖·‖∂J/∂s‖), yet it resolves a mode as slow as 10⁶ steps; a
    non-normal J with eigenvalue condition numbers beyond ~10⁵ needs a larger m.  The default
    slow = 10⁻² marks modes that take ≳ 100 steps to decay."""
    for name, value in (("marginal", marginal), ("slow", slow)):
        if not is_real(value) or not value > 0:
            raise ArgumentError(f"{name}={value!r} must be a number > 0 (a distance of |λ| from 1)")
    values = np.asarray(values)
    if values.ndim < 1:
        raise ArgumentError("classify() takes eigenvalues (..., S), one row per fixed point")
    moduli = np.abs(values)
    unstable = np.sum(moduli > 1 + marginal, axis=-1)
    on_circle = np.sum(np.abs(moduli - 1) <= marginal, axis=-1)
    size = values.shape[-1]
    kind = np.where(unstable == size, "repelling",
                    np.where(unstable > 0, "saddle", np.where(on_circle > 0, "marginal", "stable")))
    return Stability(kind, unstable, on_circle, np.sum(np.abs(moduli - 1) <= slow, axis=-1), moduli.max(axis=-1))


def fraction_near(values, point: complex = 1.0, width: float = 0.05) -> np.ndarray:
    """The fraction of the eigenvalues ``values`` ``(..., S)`` within ``width`` of ``point``
    (|λ − point| < width), per row: the empirical mass of the delta peak at 1 that closed
    update gates create (Can, Krishnamurthy & Schwab 2020)."""
    if not is_real(width) or not width > 0:
        raise ArgumentError(f"width={width!r} must be a number > 0")
    return np.mean(np.abs(np.asarray(values) - point) < width, axis=-1)
