"""Lyapunov spectra along a trajectory: the k leading exponents by QR on an S×k frame
carried by Jacobian actions, finite-time exponents over windows, and the determinant rate
that the full spectrum must sum to.

Units: every exponent here is in **natural log per step** (divide by Δt for a rate per unit of
continuous time); a negative exponent λ is a memory fading over −1/λ steps.

The method is Benettin et al. 1980 (docs/theory.md: “Lyapunov exponents”): from an orthonormal
frame Q_0 (S×k),

    Q_t R_t = qr(J_t Q_{t−1}),      LE_i = (1/(T − T_b)) Σ_{t = T_b+1}^{T} ln|(R_t)_ii|,

the first T_b steps (``burn_in``) only aligning the frame.  J_t Q_{t−1} is a Jacobian action
(``Trajectory.stepper``): with ``method="action"`` (the default for k < S/4) the step
Jacobian's diagonal factors stored by the rollout advance the k columns,
Σ_a u_a ⊙ (M_a Q) + d ⊙ Q (``_tangent``; the cell's jvp for a cell without that form), and no
dense Jacobian kernel is called.  With many columns (the GRU and LSTM from k ≈ 5 and 11) the
factors are first summed into J_t's matrix columns, C = Σ_a diag(u_a) M_a + diag(d), and the
frame advances by C Q (``_tangent_formed``): at n = 256, k = 32 that is 2.3 M multiply–adds
per GRU step against 6.3 M.  Cutting the averaging span
into windows of w steps gives the finite-time exponents

    LE_i^(m) = (1/w) Σ_{t in window m} ln|(R_t)_ii|,

whose mean over the windows is LE_i and whose spread is the distribution of finite-time
exponents.  For the full spectrum Π_i |(R_t)_ii| = |det J_t| at every step, so

    Σ_i LE_i = (1/(T − T_b)) Σ_{t > T_b} ln|det J_t|          (:func:`log_det_rate`),

an independent check when the right side is taken from an LU factorisation of J_t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._arrays import arrays, arrays_of, to_numpy
from ._errors import check_integer
from ._growth import qr_log_growth

UNITS = "natural log per step"
"""The unit of every Lyapunov exponent gatejac returns."""


@dataclass(frozen=True)
class LyapunovSpectrum:
    """The result of :func:`lyapunov_spectrum`, in :data:`UNITS` (natural log per step).

    * ``exponents`` — ``(..., k)``, the k leading exponents sorted descending;
    * ``finite_time`` — ``(W, ..., k)``, the exponent of each of the W windows of ``window``
      steps (column i follows ``exponents[..., i]``), or None when no window was asked for;
    * ``steps`` — T − T_b, the number of steps averaged; ``burn_in`` — T_b; ``window`` — w.
    """

    exponents: object
    finite_time: object
    steps: int
    burn_in: int
    window: int | None
    units: str = UNITS

    def time_scales(self):
        """Memory time-scales −1/LE_i in steps (NumPy), ``inf`` where LE_i ≥ 0."""
        exponents = to_numpy(self.exponents)
        return np.where(exponents < 0, -1.0 / np.where(exponents < 0, exponents, -1.0), np.inf)


def lyapunov_spectrum(trajectory, count: int | None = None, *, burn_in: int = 0, window: int | None = None,
                      frame=None, method: str = "auto") -> LyapunovSpectrum:
    """The ``count`` leading Lyapunov exponents of ``trajectory`` (all S by default) and, with
    ``window`` = w, the finite-time exponents of the consecutive w-step windows after
    ``burn_in`` (a last, shorter window is dropped from ``finite_time`` but counted in
    ``exponents``).  ``frame``, ``method``: as for ``Trajectory.lyapunov`` (the starting frame
    is ``trajectory.starting_frame(count, frame)``: I for the full spectrum, a fixed generic
    frame for count < S; ``method="action"`` never calls the dense Jacobian kernel).  Benettin et al. 1980; see
    the module docstring for the equations.  Exponents in natural log per step."""
    frame = trajectory.starting_frame(count, frame)
    steps = trajectory.steps
    check_integer("burn_in", burn_in, 0, steps - 1)
    span = steps - burn_in
    if window is not None:
        check_integer("window", window, 1, span)

    columns, xp = int(frame.shape[-1]), arrays(trajectory.compiled.backend)
    apply, back = trajectory.stepper(columns, method=method), (lambda value: value)
    native = trajectory.numpy_stepper(columns, method=method)
    if native is not None and xp.numpy_views([frame]):  # the whole sweep in NumPy, converted once
        apply, frame, back = native, to_numpy(frame), (lambda value: xp.asarray(value, str(value.dtype)))
    frame, _ = qr_log_growth(apply, range(1, burn_in + 1), frame)
    length = span if window is None else window
    pieces, start = [], burn_in
    while start < steps:
        stop = min(start + length, steps)
        frame, growth = qr_log_growth(apply, range(start + 1, stop + 1), frame)
        pieces.append((growth, stop - start))
        start = stop
    total = pieces[0][0]
    for growth, _ in pieces[1:]:
        total = total + growth
    order = _descending_order(total)
    exponents = _take(total / span, order)
    finite_time = None
    if window is not None:
        finite_time = back(arrays_of(total).stack([_take(growth / size, order) for growth, size in pieces
                                                   if size == window]))
    return LyapunovSpectrum(back(exponents), finite_time, span, burn_in, window)


def log_det_rate(trajectory, burn_in: int = 0, *, chunk: int = 256):
    """(1/(T − T_b)) Σ_{t > T_b} ln|det J_t|, shape ``(...)`` (NumPy, natural log per step):
    what the full Lyapunov spectrum sums to.  The determinants come from LU factorisations of
    the dense step Jacobians (``numpy.linalg.slogdet``), formed ``chunk`` steps at a time, so
    they are independent of the QR sweep of :func:`lyapunov_spectrum`."""
    steps = trajectory.steps
    check_integer("burn_in", burn_in, 0, steps - 1)
    check_integer("chunk", chunk, 1, None)
    total = 0.0
    for start in range(burn_in, steps, chunk):
        window = trajectory.window(start, min(start + chunk, steps))  # the arguments of J_{start+1} .. J_stop
        jacobians = to_numpy(trajectory.compiled.state_jacobian(*window, trajectory.params))
        total = total + np.linalg.slogdet(jacobians)[1].sum(axis=0)
    return np.asarray(total) / (steps - burn_in)


def _descending_order(values):
    """Indices sorting the last axis of ``values`` in decreasing order (NumPy or torch)."""
    if isinstance(values, np.ndarray):
        return np.argsort(-values, axis=-1, kind="stable")
    return values.argsort(dim=-1, descending=True, stable=True)


def _take(values, order):
    """``values`` reordered along the last axis by ``order`` (NumPy or torch)."""
    if isinstance(values, np.ndarray):
        return np.take_along_axis(values, order, axis=-1)
    return values.gather(-1, order)
