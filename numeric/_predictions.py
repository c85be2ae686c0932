"""Random-matrix predictions for the Jacobian spectra of gated cells, as functions of the
cell's parameter values (Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025; Krishnamurthy,
Can & Schwab 2022, PRX 12, 011011).

Each supported cell's step Jacobian, with the derivative terms of the gates dropped, has the
form

    J ≈ diag(a) + diag(l) W diag(ρ),            W with i.i.d. entries of variance σ²/N,

read from the cell's gate values at a state (table :data:`FORMS`; n' = 1 − h̃², g' = 1 − g²):

==============  ===========  ====================  =================  ======
cell            a            l                     ρ                  W
==============  ===========  ====================  =================  ======
gru_chung/gain  1 − z        z ⊙ n'                r                  W_h
gru_cho         z            (1 − z) ⊙ n'          r                  W_h
gru_torch       z            (1 − z) ⊙ n' ⊙ r      1                  W_hn
lstm_torch      f            i ⊙ g'                o ⊙ (1 − tanh²c')  W_hg
lstm_gain       f            i ⊙ g'                o ⊙ (1 − tanh²c')  W_g
==============  ===========  ====================  =================  ======

For the GRUs the dropped terms (through W_z and W_r, or W_hz and W_hr) vanish at the zero
fixed point, and the W_z term vanishes at every fixed point (n* = h*).  For the LSTM the form
is the N×N matrix K = F + P E whose eigenvalues, with N zeros, are those of the 2N×2N J when
the output-gate term vanishes (at c = 0, or W_o = 0), P and E as in docs/theory.md.

* :func:`zero_fixed_point_disk` — at the zero fixed point with uniform gates the eigenvalues
  of diag(a) + (lρ) W fill (circular law) the disk of centre a and radius |lρ|·σ: for the
  Chung GRU centre 1 − z̄, radius z̄ r̄ σ_h; torch's GRU z → 1 − z; the LSTM centre f̄,
  radius ō ī σ_g (plus N zeros).  The disk lies inside the unit circle iff
  radius/(1 − centre) < 1 (for a centre in [0, 1)): for the GRUs that is r̄ σ_h < 1, the
  stability threshold, whatever z̄ ∈ (0, 1].
* :func:`heterogeneous_support` — with per-unit a, l, ρ the eigenvalues fill, as N → ∞, the
  set σ² ⟨l² ρ² / |λ − a|²⟩ ≥ 1 (the mean over units; Ahmadian, Fumarola & Miller 2015), and
  each unit with l ρ = 0 (a closed update gate) adds an exact eigenvalue a_i — at 1 for a
  closed GRU update gate, so the fraction of eigenvalues near 1 is the fraction of units whose
  gate is (nearly) closed.

σ is the ensemble's value if given, otherwise estimated from the weights as
σ̂ = ‖W‖_F/√N (the root-mean-square entry times √N, N the number of columns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from gatejac.symbolic import MatrixParameter

from ._arrays import arrays_of, to_numpy
from ._compiled import CompiledCell
from ._errors import ArgumentError, check_integer, is_real


@dataclass(frozen=True)
class _Form:
    """Where a cell's a, l, ρ (functions of its named values) and W come from."""

    a: Callable
    l: Callable  # noqa: E741 - the name of the spec
    rho: Callable
    weight: str
    zeros: int  # exact zero eigenvalues per unit beyond the N of the form (the LSTM's rank reduction)
    dropped: tuple = ()  # parameters that must vanish for the dropped terms to vanish at the zero fixed point


def _chung(v):
    return 1 - v["z"], v["z"] * (1 - v["h_tilde"] ** 2), v["r"]


def _lstm(v):
    return v["f"], v["i"] * (1 - v["g"] ** 2), v["o"] * (1 - np.tanh(v["c_new"]) ** 2)


FORMS = {
    "gru_chung": _Form(*(lambda v, k=k: _chung(v)[k] for k in range(3)), "W_h", 0),
    "gru_gain": _Form(*(lambda v, k=k: _chung(v)[k] for k in range(3)), "W_h", 0),
    "gru_cho": _Form(lambda v: v["z"], lambda v: (1 - v["z"]) * (1 - v["h_tilde"] ** 2), lambda v: v["r"], "W_h", 0),
    "gru_torch": _Form(lambda v: v["z"], lambda v: (1 - v["z"]) * (1 - v["h_tilde"] ** 2) * v["r"],
                       lambda v: np.ones_like(v["z"]), "W_hn", 0, ("b_hn",)),
    "lstm_torch": _Form(*(lambda v, k=k: _lstm(v)[k] for k in range(3)), "W_hg", 1),
    "lstm_gain": _Form(*(lambda v, k=k: _lstm(v)[k] for k in range(3)), "W_g", 1),
}
"""The cells with a prediction, and how their Jacobian maps onto diag(a) + diag(l) W diag(ρ)."""


@dataclass(frozen=True)
class Disk:
    """The predicted eigenvalue disk at the zero fixed point: ``centre``, ``radius``, the
    number of extra exact ``zeros`` (N for an LSTM, 0 for a GRU), ``sigma`` (σ used) and
    ``ratio`` = radius/(1 − centre), the stability parameter (r̄ σ_h for the GRUs,
    ō ī σ_g/(1 − f̄) for the LSTM): the disk is inside the unit circle iff ``ratio`` < 1."""

    centre: float
    radius: float
    zeros: int
    sigma: float
    ratio: float

    @property
    def stable(self) -> bool:
        """Whether the disk lies inside the unit circle (centre + radius < 1)."""
        return self.ratio < 1

    def boundary(self, points: int = 256) -> np.ndarray:
        """The circle as a closed polyline of ``points`` + 1 complex numbers."""
        check_integer("points", points, 3, None)
        return self.centre + self.radius * np.exp(2j * np.pi * np.arange(points + 1) / points)


@dataclass(frozen=True)
class Support:
    """The limiting eigenvalue support of diag(a) + diag(l) W diag(ρ), W i.i.d. of variance
    σ²/N (see the module docstring): ``a``, ``l``, ``rho`` ``(N,)`` and ``sigma``."""

    a: np.ndarray
    l: np.ndarray  # noqa: E741
    rho: np.ndarray
    sigma: float

    def value(self, points) -> np.ndarray:
        """σ² ⟨l² ρ² / |λ − a|²⟩ at the complex ``points`` (any shape); ≥ 1 inside the support."""
        points = np.asarray(points, dtype=complex)
        weights = (self.l * self.rho) ** 2
        with np.errstate(divide="ignore"):
            return self.sigma**2 * np.mean(weights / np.abs(points[..., None] - self.a) ** 2, axis=-1)

    def _active(self) -> np.ndarray:
        """Units that couple to the random part (l ρ ≠ 0); the others give exact eigenvalues a_i."""
        return self.l * self.rho != 0

    def rightmost_real(self) -> float:
        """The root x > max{a_i : l_i ρ_i ≠ 0} of σ² ⟨l² ρ² / (x − a)²⟩ = 1: the rightmost
        real point of the support.  The left side decreases strictly from +∞ to 0 there, so
        the root is unique; found by bisection to a relative width of machine ε."""
        active = self._active()
        if not active.any():
            raise ArgumentError("every unit has l·ρ = 0: the random part vanishes and the support is the points a_i")
        low = float(np.max(self.a[active]))
        high = low + self.sigma * float(np.sqrt(np.mean((self.l * self.rho) ** 2)))  # there the value is ≤ 1
        while high - low > 4 * np.finfo(float).eps * max(1.0, abs(high)):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if self.value(middle) > 1 else (low, middle)
        return 0.5 * (low + high)

    def boundary(self, points: int = 256, samples: int = 128) -> np.ndarray:
        """The outer boundary of the support as a closed polyline of ``points`` + 1 complex
        numbers: along each of ``points`` rays from the centre c = mean(a), the outermost r
        with value(c + r e^{iθ}) ≥ 1, located on ``samples`` radii and refined by bisection.
        Holes inside the support are not traced, and a part thinner than the radial grid
        step can be missed."""
        check_integer("points", points, 3, None)
        check_integer("samples", samples, 2, None)
        centre = float(np.mean(self.a))
        reach = float(np.max(np.abs(self.a - centre))) + self.sigma * float(np.sqrt(np.mean((self.l * self.rho) ** 2)))
        angles = 2 * np.pi * np.arange(points) / points
        rays = np.exp(1j * angles)
        radii = np.linspace(0, reach, samples + 1)
        inside = self.value(centre + radii[:, None] * rays) >= 1  # (samples + 1, points)
        last = np.where(inside.any(axis=0), samples - np.argmax(inside[::-1], axis=0), 0)
        low, high = radii[last], radii[np.minimum(last + 1, samples)]
        for _ in range(48):  # the grid step halved 48 times: below round-off
            middle = 0.5 * (low + high)
            grows = self.value(centre + middle * rays) >= 1
            low, high = np.where(grows, middle, low), np.where(grows, high, middle)
        edge = centre + 0.5 * (low + high) * rays
        return np.append(edge, edge[:1])

    def slow_fraction(self, width: float = 0.05) -> float:
        """The predicted fraction of eigenvalues (of the N×N form) within ``width`` of 1:
        the fraction of units with |a_i − 1| < width (for the Chung GRU, z_i < width)."""
        if not is_real(width) or not width > 0:
            raise ArgumentError(f"width={width!r} must be a number > 0")
        return float(np.mean(np.abs(self.a - 1) < width))


def _form(compiled: CompiledCell) -> _Form:
    if not isinstance(compiled, CompiledCell):
        raise ArgumentError(f"takes a CompiledCell, got {type(compiled).__name__}; use numeric.compile(cell) first")
    name = compiled.cell.name
    if name not in FORMS:
        raise ArgumentError(
            f"no random-matrix prediction for cell {name!r}; the predictions cover {sorted(FORMS)} (gated cells "
            "whose Jacobian is diag(a) + diag(l) W diag(rho) once the gate-derivative terms are dropped)"
        )
    return FORMS[name]


def _sigma(params: Mapping, weight: str, sigma) -> float:
    if sigma is not None:
        if not is_real(sigma) or not sigma > 0:
            raise ArgumentError(f"sigma={sigma!r} must be a number > 0 (the ensemble's weight scale)")
        return float(sigma)
    matrix = np.asarray(to_numpy(params[weight]), dtype=float)
    return float(np.sqrt(np.sum(matrix**2) / matrix.shape[1]))


def _values(compiled: CompiledCell, states: Mapping, inputs: Mapping | None, params: Mapping):
    """The cell's named values at one unbatched state, as NumPy ``(N,)`` arrays."""
    named = compiled.intermediates(states, inputs, params)
    values = {k: to_numpy(v) for k, v in named.items()}
    for name, value in values.items():
        if value.ndim != 1:
            raise ArgumentError(
                f"the prediction takes one state, not a batch: {name} has shape {value.shape}; "
                "pass each state as (size,)"
            )
    return values


def heterogeneous_support(compiled: CompiledCell, states: Mapping, inputs: Mapping | None = None,
                          params: Mapping | None = None, *, sigma: float | None = None) -> Support:
    """The predicted support of the spectrum of J at ``states`` (one state ``{state: (N,)}``,
    e.g. a fixed point) from the gate values there (:data:`FORMS`)."""
    form = _form(compiled)
    params = dict(params or {})
    values = _values(compiled, states, inputs, params)
    return Support(form.a(values), form.l(values), form.rho(values), _sigma(params, form.weight, sigma))


def zero_fixed_point_disk(compiled: CompiledCell, params: Mapping, *, sigma: float | None = None,
                          uniform: float = 1e-12) -> Disk:
    """The eigenvalue disk of J at the zero fixed point (state 0, input 0) with uniform gates.

    Checks that s = 0 is a fixed point there (‖F(0)‖_∞ ≤ 10⁻¹², e.g. b_h = 0 for a GRU,
    b_g = 0 for an LSTM), that the dropped terms vanish (torch's GRU needs b_hn = 0) and that
    a and l·ρ are the same for every unit to ``uniform`` (gate biases equal across units);
    for unequal gates use :func:`heterogeneous_support`."""
    form = _form(compiled)
    params = dict(params)
    cell = compiled.cell
    reference = params[form.weight]
    sizes = _sizes(compiled, params)
    states = {s.name: 0 * arrays_of(reference).ones(sizes[str(s.size)], reference) for s in cell.states}
    inputs = {x.name: 0 * arrays_of(reference).ones(sizes[str(x.size)], reference) for x in cell.inputs}
    moved = max(float(np.max(np.abs(to_numpy(v)))) for v in compiled.step(states, inputs, params).values())
    if moved > 1e-12:
        raise ArgumentError(
            f"the zero state is not a fixed point of {cell.name!r} at zero input (‖F(0)‖_∞ = {moved:.1e}); "
            "set the "
            "candidate's bias to zero (b_h for a GRU, b_in and b_hn for torch's GRU, b_g / b_ig + b_hg for an LSTM)"
        )
    for name in form.dropped:
        if name in params and float(np.max(np.abs(to_numpy(params[name])))) > 0:
            raise ArgumentError(
                f"{name} ≠ 0: the reset-gate derivative term of {cell.name!r} survives at the zero fixed point and "
                "the disk prediction does not hold; set it to zero or compare with the full Jacobian"
            )
    values = _values(compiled, states, inputs, params)
    a, coupling = form.a(values), form.l(values) * form.rho(values)
    for what, vector in (("a (the diagonal)", a), ("l·rho (the coupling)", coupling)):
        if np.ptp(vector) > uniform:
            raise ArgumentError(
                f"{what} differs across units by {np.ptp(vector):.1e} > uniform={uniform:.0e} (unequal gate biases): "
                "the disk needs uniform gates; use heterogeneous_support for the general support"
            )
    sigma = _sigma(params, form.weight, sigma)
    centre, radius = float(np.mean(a)), float(abs(np.mean(coupling))) * sigma
    ratio = radius / (1 - centre) if centre < 1 else float("inf")
    return Disk(centre, radius, form.zeros * int(reference.shape[1]), sigma, ratio)


def _sizes(compiled: CompiledCell, params: Mapping) -> dict[str, int]:
    """``{size name: value}`` read from the shapes of the matrix parameters (their rows and
    columns name the state and input sizes)."""
    sizes = {}
    for p in compiled.cell.parameters:
        if isinstance(p, MatrixParameter):
            sizes.update({str(dim): int(got) for dim, got in zip(p.shape, tuple(params[p.name].shape))})
    return sizes
