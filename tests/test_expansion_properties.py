"""Hypothesis properties of the numeric first-order gate expansion (Livi 2025, arXiv:2508.12121,
appendix; docs/theory.md: “The first-order gate expansion”): on random factor stacks and on
random cells of ``gatejac.verify.strategies``, with both back-ends.

Tolerances come from the NORM MAJORANT of the window: with α_j = ‖A_j‖₂, β_j = ‖B_j‖₂, the
coefficients μ_k of Π_j (α_j + ε β_j) bound the spectral norm of F's ε^k coefficient (each of
its C(T, k) terms is a product of T factors).  A sum of such products computed in floating
point is off by at most ~T·S·eps·μ_k (S the state size, T the factors), so 1e-12·μ_k is a
safe round-off bound at T, S ≤ 8, and a central difference with step η is off from L_F(0)[B]
by at most Σ_{odd k≥3} η^{k−1} μ_k (truncation) + T·S·eps·Σ_k η^k μ_k/η (round-off).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_expansion_numeric import ETA, ad_transport, double_sums

from gatejac import numeric
from gatejac.verify import strategies

EPS64 = float(np.finfo(np.float64).eps)
BACKENDS = st.sampled_from(numeric.BACKENDS)
CONVENTIONS = st.sampled_from(["exact", "author"])


# -------------------------------------------------------------------------------- strategies
@st.composite
def factor_stacks(draw, max_steps: int = 8, max_size: int = 5):
    """``(A, B)`` NumPy stacks ``(T, 2, S, S)``: A_j of spectral norm ≲ 2, B_j of a drawn scale
    in [1e-3, 1] relative to A (the perturbative regime of the paper and beyond it)."""
    steps, size = draw(st.integers(1, max_steps)), draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.floats(1e-3, 1.0))
    A = rng.standard_normal((steps, 2, size, size)) / np.sqrt(size)
    B = scale * rng.standard_normal((steps, 2, size, size)) / np.sqrt(size)
    return A, B


@st.composite
def gated_trajectories(draw, backend: str = "numpy"):
    """A rolled-out random cell with at least one marked gate: batch (2,), 1–6 steps, sizes 1–3,
    whose states stay within ±10 (random cells with exp can blow up over a few steps; those
    are rejected, as the tolerances assume finite factors)."""
    cell = draw(strategies.random_cells().filter(lambda cell: bool(cell.gates)))
    sizes = draw(strategies.dimensions(cell, min_size=1, max_size=3))
    steps = draw(st.integers(1, 6))
    params = draw(strategies.parameters(cell, sizes=sizes, backend=backend))
    states = draw(strategies.states(cell, sizes=sizes, batch=(2,), backend=backend))
    inputs = draw(strategies.inputs(cell, sizes=sizes, batch=(steps, 2), backend=backend)) if cell.inputs else None
    with numeric.arrays(backend).quietly():
        trajectory = numeric.rollout(numeric.compile(cell, backend), states, inputs, params,
                                     steps=None if cell.inputs else steps)
    assume(all(np.all(np.abs(numeric.to_numpy(value)) <= 10) for value in trajectory.states.values()))
    return trajectory


def majorant(A, B) -> np.ndarray:
    """μ_k, k = 0..max(T, 2): the ε-coefficients of Π_j (‖A_j‖₂ + ε‖B_j‖₂), per batch entry."""
    alpha, beta = np.linalg.norm(A, 2, axis=(-2, -1)), np.linalg.norm(B, 2, axis=(-2, -1))
    coefficients = np.zeros((max(len(A), 2) + 1, *alpha.shape[1:]))
    coefficients[0] = 1
    for a, b in zip(alpha, beta):
        coefficients[1:] = a * coefficients[1:] + b * coefficients[:-1]
        coefficients[0] = a * coefficients[0]
    return coefficients


def _numpy(value):
    return numeric.to_numpy(value)


def _as(backend, *arrays):
    return tuple(numeric.arrays(backend).asarray(a, "float64") for a in arrays)


# --------------------------------------------------------------------- random factor stacks
@given(factor_stacks(), CONVENTIONS, BACKENDS)
def test_recurrence_equals_the_double_sums(stacks, convention, backend):
    A, B = _as(backend, *stacks)
    mu = majorant(*stacks)
    expansion = numeric.expand_window(A, B, convention)
    for k, (actual, reference) in enumerate(zip(expansion, double_sums(*stacks, convention))):
        error = np.linalg.norm(_numpy(actual) - reference, 2, axis=(-2, -1))
        assert np.all(error <= 1e-12 * mu[k] + 1e-300)


def central_difference_allowance(mu, steps: int, size: int):
    """How far (F(η) − F(−η))/2η may be from L_F(0)[B] in the spectral norm beyond 1e-7·‖L‖:
    its truncation Σ_{odd k≥3} η^{k−1} c_k (≤ √S Σ η^{k−1} μ_k in the Frobenius norm the
    tests use) and the round-off T·S·eps·Σ_k η^k μ_k/η of the difference."""
    truncation = sum(ETA ** (k - 1) * mu[k] for k in range(3, len(mu), 2))
    round_off = steps * size * EPS64 * sum(ETA**k * mu[k] for k in range(len(mu))) / ETA
    return np.sqrt(size) * truncation + round_off + 1e-300


@given(factor_stacks(), CONVENTIONS, BACKENDS)
def test_frechet_derivative_is_the_central_difference(stacks, convention, backend):
    """docs/theory.md: “Checkable properties”: L_F(0)[B] = (F(η) − F(−η))/2η, η = 1e-4, to 1e-7 relative — plus the
    difference's own truncation and round-off (:func:`central_difference_allowance`), which
    matter where ‖B_j‖ is not small against ‖A_j‖ (the paper's regime is checked at 1e-7
    alone in test_expansion_numeric)."""
    A, B = _as(backend, *stacks)
    plus, minus = _numpy(numeric.window_products(A, B, [ETA, -ETA], convention))
    first = _numpy(numeric.expand_window(A, B, convention).first)
    error = np.linalg.norm((plus - minus) / (2 * ETA) - first, axis=(-2, -1))
    allowed = 1e-7 * np.linalg.norm(first, axis=(-2, -1))
    steps, size = stacks[0].shape[0], stacks[0].shape[-1]
    assert np.all(error <= allowed + central_difference_allowance(majorant(*stacks), steps, size))


@given(factor_stacks(), factor_stacks(), st.floats(-10, 10), CONVENTIONS, BACKENDS)
def test_frechet_derivative_is_linear_in_b(stacks, other, factor, convention, backend):
    """docs/theory.md: “Checkable properties”: L_F(0)[B₁ + B₂] = L_F(0)[B₁] + L_F(0)[B₂] and
    L_F(0)[cB] = c L_F(0)[B], to 1e-12 of the majorant (L's round-off scale)."""
    A, B1 = stacks
    B2 = np.resize(other[1], B1.shape)  # any second direction of the same shape
    At, B1t, B2t = _as(backend, A, B1, B2)

    def first(direction):
        return _numpy(numeric.expand_window(At, direction, convention).first)

    scale = majorant(A, np.abs(B1) + np.abs(B2))[1] * (1 + abs(factor))
    additive = np.linalg.norm(first(B1t + B2t) - first(B1t) - first(B2t), 2, axis=(-2, -1))
    homogeneous = np.linalg.norm(first(factor * B1t) - factor * first(B1t), 2, axis=(-2, -1))
    assert np.all(additive <= 1e-12 * scale + 1e-300) and np.all(homogeneous <= 1e-12 * scale + 1e-300)


@given(factor_stacks(), st.floats(1e-6, 1), CONVENTIONS)
def test_remainder_bound_holds(stacks, eps, convention):
    """docs/theory.md: “Checkable properties”: ‖R₂(ε)‖₂ ≤ (a + εb)^ℓ − a^ℓ − ℓεb a^{ℓ−1} for every ε ∈ (0, 1] (plus the
    round-off of R₂ = F(ε) − F(0) − εL, ~T·S·eps·(a + εb)^ℓ, which is all of R₂ below ε ≈ 1e-6)."""
    A, B = stacks
    study = numeric.truncation_study(A, B, [eps / 16, eps / 8, eps / 4, eps / 2, eps], convention)
    a, b = np.max(np.linalg.norm(A, 2, axis=(-2, -1)), axis=0), np.max(np.linalg.norm(B, 2, axis=(-2, -1)), axis=0)
    steps, size = A.shape[0], A.shape[-1]
    round_off = 8 * steps * size * EPS64 * (a + study.eps[:, None] * b) ** steps
    assert np.all(study.remainder_norm <= study.remainder_bound + round_off)


@given(st.integers(2, 40), st.floats(0.1, 2.0), st.floats(0.01, 2.0), st.floats(1e-3, 1))
def test_remainder_bound_is_attained_by_equal_scalar_factors(steps, a, b, eps):
    """With A_j = a, B_j = b (1×1, b > 0) the remainder IS the bound: a bound any smaller fails
    the property above."""
    A, B = np.full((steps, 1, 1), a), np.full((steps, 1, 1), b)
    study = numeric.truncation_study(A, B, [eps / 16, eps / 8, eps / 4, eps / 2, eps])
    remainder = (a + eps * b) ** steps - a**steps - steps * eps * b * a ** (steps - 1)
    round_off = steps * EPS64 * (a + eps * b) ** steps
    assert abs(float(study.remainder_bound[-1]) - remainder) <= 1e-9 * remainder + round_off


# -------------------------------------------------------------------------- random cells
@settings(max_examples=30)
@given(gated_trajectories(), CONVENTIONS)
def test_random_cells_recurrence_double_sums_central_difference_and_autograd(trajectory, convention):
    """On random gated cells: the recurrence equals the O(T²) oracle, L_F(0)[B] the central
    difference in ε (with the majorant's truncation bound: the window is not always in the
    perturbative regime), and — exact convention — F(1) the autograd transport Φ(T, 0)."""
    A, B = numeric.expansion_factors(trajectory, convention)
    mu = majorant(A, B)
    expansion = numeric.expand_window(A, B, convention)
    for k, (actual, reference) in enumerate(zip(expansion, double_sums(A, B, convention))):
        assert np.all(np.linalg.norm(actual - reference, 2, axis=(-2, -1)) <= 1e-12 * mu[k] + 1e-300)
    plus, minus, one = numeric.window_products(A, B, [ETA, -ETA, 1.0], convention)
    error = np.linalg.norm((plus - minus) / (2 * ETA) - expansion.first, axis=(-2, -1))
    allowed = 1e-7 * np.linalg.norm(expansion.first, axis=(-2, -1))
    assert np.all(error <= allowed + central_difference_allowance(mu, A.shape[0], A.shape[-1]))
    if convention == "exact":
        transport = ad_transport(trajectory)
        error = np.linalg.norm(one - transport, 2, axis=(-2, -1))
        assert np.all(error <= 1e-10 * np.linalg.norm(transport, 2, axis=(-2, -1)) + 1e-12 * mu.sum(axis=0))


@settings(max_examples=10)
@given(st.data())
def test_random_cells_expand_alike_on_both_backends(data):
    trajectory = data.draw(gated_trajectories(backend="torch"))
    convention = data.draw(CONVENTIONS)
    A, B = numeric.expansion_factors(trajectory, convention)
    assert isinstance(A, torch.Tensor)
    reference = numeric.expand_window(A.numpy(), B.numpy(), convention)
    mu = majorant(A.numpy(), B.numpy())
    for k, (actual, expected) in enumerate(zip(numeric.expand_window(A, B, convention), reference)):
        assert np.all(np.linalg.norm(actual.numpy() - expected, 2, axis=(-2, -1)) <= 1e-12 * mu[k] + 1e-300)
