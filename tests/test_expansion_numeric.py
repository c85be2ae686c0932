"""The numeric first-order gate expansion (numeric/_expansion.py, numeric/_expansion_study.py)
on the cells of the paper and the catalogue (Livi 2025, arXiv:2508.12121, appendix;
docs/theory.md: “The first-order gate expansion”).

Oracles, each independent of the code under test:
* the O(T²) double sums for L_F(0)[B] and c₂, written out with plain NumPy loops;
* torch autograd (``torch.func.jacrev``) through the compiled torch STEP — per step for
  A_j + B_j, re-rolled over the whole window for the transport Φ(T, 0);
* central differences in ε of the direct products F(ε) = Π (A_j + ε B_j).
The oracles are shared with tests/test_expansion_properties.py (random stacks and cells).
Tolerances: the issue's own (1e-10 relative for F(1) against autograd, 1e-12 absolute for
A + B, 1e-7 relative for the central difference with η = 1e-4: its truncation η²‖c₃‖ is
~1e-8 relative, its round-off ~eps·‖F‖/η ~ 1e-12), or ``verify.tolerance``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.symbolic import cells
from gatejac.verify import tolerance

GATED = [name for name in cells.names() if cells.get(name).gates]
PAPER = {"n": 64, "m": 3}
ETA = 1e-4


# ---------------------------------------------------------------------------------- helpers
def _trajectory(name, *, backend="numpy", steps=10, batch=(2,), sizes=None, seed=0, **options):
    cell = cells.get(name, **options)
    sizes = sizes or {"n": 4, "m": 3}
    states, _, params = numeric.random_values(cell, sizes, batch=batch, seed=seed, backend=backend)
    _, inputs, _ = numeric.random_values(cell, sizes, batch=(steps, *batch), seed=seed + 1, backend=backend)
    return numeric.rollout(numeric.compile(cell, backend), states, inputs, params)


def _paper_trajectory(gate, seed=0, *, backend="numpy", steps=100):
    """The paper's appendix check: N = 64, M = 3, T = 100, weights N(0, 0.2²), no biases, h₀ = 0,
    u_{t,k} = sin(f_k s_t + φ_k) + 0.05 ξ_{t,k}, s = linspace(0, 12, T), f = linspace(0.03, 0.09, M)."""
    cell = cells.get(gate)
    rng = np.random.default_rng(seed)
    shapes = numeric.shapes(cell, PAPER)
    params = {name: (0.2 * rng.standard_normal(shapes[name]) if len(shapes[name]) and not name.startswith("b")
                     else np.zeros(shapes[name])) for name in (p.name for p in cell.parameters)}
    phases, noise = rng.standard_normal(PAPER["m"]), rng.standard_normal((steps, PAPER["m"]))
    time, freq = np.linspace(0, 12, steps), np.linspace(0.03, 0.09, PAPER["m"])
    inputs = np.sin(time[:, None] * freq[None, :] + phases) + 0.05 * noise
    values = numeric.convert({"h": np.zeros(PAPER["n"]), "x": inputs[:, None, :], **params}, backend, "float64")
    return numeric.rollout(numeric.compile(cell, backend), {"h": values.pop("h")}, {"x": values.pop("x")}, values)


def _chain(matrices):
    """M_L ⋯ M_1 of a NumPy stack, by a plain loop (later factors on the left)."""
    product = np.broadcast_to(np.eye(matrices.shape[-1]), matrices.shape[1:]).copy()
    for matrix in matrices:
        product = matrix @ product
    return product


def double_sums(A, B, convention="exact"):
    """The O(T²) oracle: L_F(0)[B] = Σ_i (Π_{j>i} A_j) B_i (Π_{j<i} A_j) and
    c₂ = Σ_{i<j} (Π_{m>j} A_m) B_j (Π_{i<m<j} A_m) B_i (Π_{m<i} A_m), term by term, with the
    head and tail products from plain loops; the author order is the same sums over the
    time-reversed stacks (M_1 ⋯ M_T is the chain product of M_T, …, M_1)."""
    A, B = np.asarray(A), np.asarray(B)
    if convention == "author":
        A, B = A[::-1], B[::-1]
    steps = len(A)
    heads = [_chain(A[:i]) for i in range(steps + 1)]  # heads[i] = A_i ⋯ A_1 (0-based: A[i−1] ⋯ A[0])
    tails = [_chain(A[i:]) for i in range(steps + 1)]  # tails[i] = A_T ⋯ A_{i+1}
    first = sum(tails[i + 1] @ B[i] @ heads[i] for i in range(steps))
    second = 0
    for i in range(steps):
        middle = heads[0]  # Π_{i<m<j} A_m, grown one factor per j
        for j in range(i + 1, steps):
            second = second + tails[j + 1] @ B[j] @ middle @ B[i] @ heads[i]
            middle = A[j] @ middle
    return heads[-1], first, second


def relative(actual, reference):
    actual, reference = np.asarray(actual), np.asarray(reference)
    return float(np.linalg.norm(actual - reference) / np.linalg.norm(reference))


def _torch_values(trajectory):
    return ({n: torch.as_tensor(np.asarray(v)) for n, v in trajectory.states.items()},
            {n: torch.as_tensor(np.asarray(v)) for n, v in trajectory.inputs.items()},
            {n: torch.as_tensor(np.asarray(v)) for n, v in trajectory.params.items()})


def ad_step_jacobians(trajectory):
    """∂s_t/∂s_{t−1} for every step and batch entry by jacrev through the torch step, ``(T, ..., S, S)``."""
    step = numeric.compile(trajectory.compiled.cell, "torch")
    states, inputs, params = _torch_values(trajectory)
    sizes = trajectory.state_sizes

    def one_step(flat, x):
        pieces = dict(zip(sizes, torch.split(flat, list(sizes.values()), dim=-1)))
        new = step.step(pieces, x, params)
        return torch.cat([new[name] for name in sizes], dim=-1)

    flat = torch.cat([states[name][:-1] for name in sizes], dim=-1)
    batch = flat.shape[:-1]
    result = torch.func.vmap(torch.func.jacrev(one_step))(flat.reshape(-1, flat.shape[-1]),
                                                          {k: v.reshape(-1, v.shape[-1]) for k, v in inputs.items()})
    return result.reshape(*batch, *result.shape[-2:]).numpy()


def ad_transport(trajectory):
    """Φ(T, 0) = ∂s_T/∂s_0 by jacrev through the torch step re-rolled over the whole sequence."""
    step = numeric.compile(trajectory.compiled.cell, "torch")
    states, inputs, params = _torch_values(trajectory)
    sizes = trajectory.state_sizes

    def reroll(flat, window):
        pieces = dict(zip(sizes, torch.split(flat, list(sizes.values()), dim=-1)))
        for j in range(trajectory.steps):
            pieces = step.step(pieces, {k: v[j] for k, v in window.items()}, params)
        return torch.cat([pieces[name] for name in sizes], dim=-1)

    start = torch.cat([states[name][0] for name in sizes], dim=-1)
    return torch.func.vmap(torch.func.jacrev(reroll), in_dims=(0, 1))(start, inputs).numpy()


# ------------------------------------------------------------------------- the recurrence
@pytest.mark.parametrize("convention", ["exact", "author"])
@pytest.mark.parametrize("name", ["scalar_gate", "multi_gate", "lstm_torch"])
def test_recurrence_equals_the_double_sums(name, convention):
    A, B = numeric.expansion_factors(_trajectory(name), convention)
    expansion = numeric.expand_window(A, B, convention)
    for actual, reference in zip(expansion, double_sums(A, B, convention)):
        assert relative(actual, reference) < 1e-13


def test_the_orders_differ_and_author_is_the_reversed_chain():
    A, B = numeric.expansion_factors(_trajectory("multi_gate"))
    exact, author = numeric.expand_window(A, B), numeric.expand_window(A, B, "author")
    reversed_exact = numeric.expand_window(np.ascontiguousarray(A[::-1]), np.ascontiguousarray(B[::-1]))
    for a, r, e in zip(author, reversed_exact, exact):
        assert relative(a, r) < 1e-13 and relative(a, e) > 1e-2


@pytest.mark.parametrize("convention", ["exact", "author"])
def test_block_recurrence_and_streamed_actions_equal_the_dense_products(convention):
    trajectory = _trajectory("gru_torch", steps=9)
    A, B = numeric.expansion_factors(trajectory, convention)
    block = np.random.default_rng(1).standard_normal((4, 2))
    dense = numeric.expand_window(A, B, convention)
    for chunk in (2, 4, 64):  # chunks that split the window unevenly, and one chunk for all
        streamed = numeric.expansion_actions(trajectory, block, convention, chunk=chunk)
        for actual, matrix in zip(streamed, dense):
            assert actual.shape == (2, 4, 2) and relative(actual, matrix @ block) < 1e-13
    for actual, matrix in zip(numeric.expand_window(A, B, convention, block=block), dense):
        assert relative(actual, matrix @ block) < 1e-13
    windowed = numeric.expansion_actions(trajectory, block, convention, window=(2, 7), chunk=2)
    for actual, matrix in zip(windowed, numeric.expand_window(A[2:7], B[2:7], convention)):
        assert relative(actual, matrix @ block) < 1e-13


def test_torch_expansion_equals_numpy():
    numpy_view, torch_view = _trajectory("multi_gate"), _trajectory("multi_gate", backend="torch")
    for convention in ("exact", "author"):
        (A, B), (At, Bt) = (numeric.expansion_factors(t, convention) for t in (numpy_view, torch_view))
        assert isinstance(At, torch.Tensor) and At.dtype == torch.float64
        study, torch_study = (numeric.truncation_study(a, b, convention=convention) for a, b in ((A, B), (At, Bt)))
        def close(field, value, reference, scale=None):
            assert isinstance(value, torch.Tensor), field
            reference = np.asarray(reference)
            scale = float(np.max(np.abs(reference))) if scale is None else scale
            assert np.all(np.abs(value.numpy() - reference)
                          <= tolerance("reference", "float64", scale).bound(np.abs(reference))), field

        for index, field in enumerate(("zeroth", "first", "second")):
            close(field, torch_study.expansion[index], study.expansion[index])
        for field in ("products", "remainder_bound", "c2_frobenius"):
            close(field, getattr(torch_study, field), getattr(study, field))
        # E_trunc and ‖R₂‖₂ are differences of matrices of size ‖F(ε)‖_F: their round-off is on that scale
        scale = float(np.max(np.linalg.norm(study.products, axis=(-2, -1))))
        for field in ("truncation_error", "remainder_norm"):
            close(field, getattr(torch_study, field), getattr(study, field), scale)
        # where the guard holds E_trunc(ε_min) ≥ 1e3·eps·‖F(0)‖_F, so round-off moves log E_trunc, and the
        # slope, by at most ~1e-3
        assert np.array_equal(torch_study.slope_guard_ok.numpy(), study.slope_guard_ok)
        assert np.allclose(torch_study.slope.numpy(), study.slope, atol=1e-2, equal_nan=True)
        for field in ("median", "p90", "p99", "max"):
            assert np.allclose(getattr(torch_study.ratios, field).numpy(), getattr(study.ratios, field), rtol=1e-12)
        streamed = numeric.expansion_actions(torch_view, torch.eye(4, dtype=torch.float64), convention, chunk=3)
        for actual, reference in zip(streamed, numeric.expand_window(A, B, convention)):
            assert relative(actual.numpy(), reference) < 1e-13


# ----------------------------------------------------- exactness against autograd (§6 items 15, 16, A.6)
@pytest.mark.parametrize("name", GATED)
def test_f_at_one_is_the_autograd_transport_for_every_gated_cell(name):
    trajectory = _trajectory(name, steps=8)
    A, B = numeric.expansion_factors(trajectory)
    transport = ad_transport(trajectory)
    assert relative(numeric.window_products(A, B, [1.0])[0], transport) <= 1e-10
    assert np.max(np.abs(A + B - ad_step_jacobians(trajectory))) <= 1e-12


@pytest.mark.parametrize("gate", ["scalar_gate", "multi_gate"])
def test_author_gate_term_fails_the_autograd_check_and_the_exact_one_passes(gate):
    """docs/theory.md: “Where public code departs from the mathematics”, item 1 (Livi 2025's
    public code builds B_j from h_j): its A + B misses the Jacobian by ≥ 1e-3."""
    trajectory = _paper_trajectory(gate, steps=20)
    ad = ad_step_jacobians(trajectory)
    exact, author = (numeric.expansion_factors(trajectory, c) for c in ("exact", "author"))
    assert np.max(np.abs(sum(exact) - ad)) <= 1e-12
    assert np.max(np.abs(sum(author) - ad)) >= 1e-3
    assert np.max(np.abs(author[0] - exact[0])) == 0  # the frozen-gate part is the same


@pytest.mark.parametrize("name", ["leaky", "elman", "wcrnn"])
def test_a_cell_without_gates_has_no_gate_term_and_f_does_not_depend_on_eps(name):
    trajectory = _trajectory(name)
    A, B = numeric.expansion_factors(trajectory)
    assert np.all(B == 0)
    products = numeric.window_products(A, B, [0.0, 1e-3, 0.5, 1.0])
    assert all(np.array_equal(products[0], p) for p in products[1:])
    assert relative(products[-1], ad_transport(trajectory)) <= 1e-10


def test_chain_order_matches_autograd_and_the_reversed_order_does_not():
    """docs/theory.md: “Checkable properties”: for a non-commuting example the spectral norms of
    M_T ⋯ M_1 and M_1 ⋯ M_T differ, and only the first is the transport."""
    trajectory = _trajectory("multi_gate", steps=6, batch=(1,))
    A, B = numeric.expansion_factors(trajectory)
    assert np.max(np.abs(A[1] @ A[0] - A[0] @ A[1])) > 1e-2  # the factors do not commute
    chain, reverse = (numeric.window_products(A, B, [1.0], c)[0] for c in ("exact", "author"))
    transport = ad_transport(trajectory)
    assert relative(chain, transport) <= 1e-10 and relative(reverse, transport) > 1e-2
    norms = [np.linalg.norm(m[0], 2) for m in (chain, reverse)]
    assert abs(norms[0] - norms[1]) > 1e-3 * norms[0]


# ----------------------------------------------------------------- the paper's settings (§6 items 12, 13)
@pytest.mark.parametrize("convention", ["exact", "author"])
@pytest.mark.parametrize("gate", ["scalar_gate", "multi_gate"])
def test_paper_settings_slope_two_and_the_c2_plateau(gate, convention):
    trajectory = _paper_trajectory(gate)
    A, B = numeric.expansion_factors(trajectory, convention)
    study = numeric.truncation_study(A, B, numeric.EPS_GRID, convention)
    assert bool(study.slope_guard_ok[0]) and study.notes() == []
    assert 1.95 <= float(study.slope[0]) <= 2.05
    at = numeric.EPS_GRID.index(1e-4)
    c2 = float(study.c2_frobenius[0])
    assert abs(float(study.normalised_remainder[at, 0]) - c2) <= 1e-3 * c2
    _, first, second = double_sums(A[:, 0], B[:, 0], convention)
    assert relative(study.expansion.first[0], first) < 1e-12 and relative(study.expansion.second[0], second) < 1e-12
    assert np.all(study.remainder_norm <= study.remainder_bound)
    plus, minus = numeric.window_products(A, B, [ETA, -ETA], convention)
    assert relative(study.expansion.first, (plus - minus) / (2 * ETA)) <= 1e-7
    ratios = study.ratios
    reference = np.linalg.norm(B[:, 0], 2, axis=(-2, -1)) / np.linalg.norm(A[:, 0], 2, axis=(-2, -1))
    assert np.allclose(ratios.ratios[:, 0], reference, rtol=1e-13)
    assert np.allclose([ratios.median[0], ratios.p90[0], ratios.p99[0], ratios.max[0]],
                       np.percentile(reference, [50, 90, 99, 100]), rtol=1e-13)


def test_slope_guard_reports_a_remainder_below_round_off():
    """A gate term 1e-9 of the frozen part: ‖c₂‖ε_min² ~ 1e-28 is far below 1e3·eps·‖F(0)‖, the
    remainder at small ε is round-off, so the slope is NaN and a note says why."""
    A, B = numeric.expansion_factors(_trajectory("multi_gate"))
    study = numeric.truncation_study(A, 1e-9 * B)
    assert not np.any(study.slope_guard_ok) and np.all(np.isnan(study.slope))
    assert np.all(np.isfinite(study.fitted_slope))
    assert "slope not fitted (NaN) for batch entries [(0,), (1,)]" in study.notes()[0]


def test_remainder_bound_is_the_binomial_sum_without_cancellation():
    from fractions import Fraction
    from math import comb

    a, b, steps = np.array([0.9, 1.3, 0.0]), np.array([0.2, 0.05, 0.4]), 100
    eps = np.array([1e-12, 1e-5, 0.3, 1.0])
    bound = numeric.remainder_bound(a, b, steps, eps)
    for e, row in zip(eps, bound):
        for ai, bi, value in zip(a, b, row):
            exact = sum(comb(steps, m) * Fraction(ai) ** (steps - m) * (Fraction(e) * Fraction(bi)) ** m
                        for m in range(2, steps + 1))
            assert abs(value - float(exact)) <= 1e-13 * float(exact)
    assert np.all(numeric.remainder_bound(a, b, 1, eps) == 0)  # one factor: F is linear in ε
    assert np.all(numeric.remainder_bound(a, 0 * b, steps, eps) == 0)


# ----------------------------------------------------------------------------- mutations
def _expansion_checks(trajectory, factors, expand, products) -> dict[str, bool]:
    """The expansion's own checks, for a (possibly broken) way to get the factors, the
    recurrence and the direct products: True where a check passes."""
    A, B = factors(trajectory)
    zeroth, first, second = expand(A, B)
    plus, minus, small, one = products(A, B, [ETA, -ETA, 1e-4, 1.0])
    c2 = np.linalg.norm(second, axis=(-2, -1))
    plateau = np.linalg.norm(small - zeroth - 1e-4 * first, axis=(-2, -1)) / 1e-8
    return {
        "central difference": relative(first, (plus - minus) / (2 * ETA)) <= 1e-7,
        "C2 plateau": bool(np.all(np.abs(plateau - c2) <= 1e-3 * c2)),
        "F(1) = autograd transport": relative(one, ad_transport(trajectory)) <= 1e-10,
        "A + B = autograd Jacobian": float(np.max(np.abs(A + B - ad_step_jacobians(trajectory)))) <= 1e-12,
    }


def _dropped(A, B, step=3):
    B = B.copy()
    B[step] = 0
    return numeric.expand_window(A, B)


MUTANTS = {
    "none": (numeric.expansion_factors, numeric.expand_window, numeric.window_products),
    "drop B_3": (numeric.expansion_factors, _dropped, numeric.window_products),
    "reversed order": (numeric.expansion_factors, lambda A, B: numeric.expand_window(A, B, "author"),
                       lambda A, B, eps: numeric.window_products(A, B, eps, "author")),
    "h_j in the gate term": (lambda t: numeric.expansion_factors(t, "author"), numeric.expand_window,
                             numeric.window_products),
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_the_checks_pass_the_expansion_and_catch_each_mutant(mutant):
    trajectory = _trajectory("multi_gate", steps=8)
    outcome = _expansion_checks(trajectory, *MUTANTS[mutant])
    if mutant == "none":
        assert all(outcome.values()), outcome
    else:
        assert not all(outcome.values()), f"{mutant} passed every check: {outcome}"
    expected_failures = {"none": set(), "drop B_3": {"central difference", "C2 plateau"},
                         "reversed order": {"F(1) = autograd transport"},
                         "h_j in the gate term": {"F(1) = autograd transport", "A + B = autograd Jacobian"}}
    assert {name for name, ok in outcome.items() if not ok} == expected_failures[mutant]


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, message", [
    (lambda A, B, t: numeric.expand_window(A, B, "paper"), "convention='paper' is not one of"),
    (lambda A, B, t: numeric.expand_window(A, B[:-1]), "must be the same kind of array, shape and dtype"),
    (lambda A, B, t: numeric.expand_window(A[0, 0], B[0, 0]), "it needs (T, ..., S, S)"),
    (lambda A, B, t: numeric.expand_window(A.tolist(), B), "A is a list; pass a NumPy array or torch tensor"),
    (lambda A, B, t: numeric.expand_window(A, B, block=np.ones((3, 1))), "block has shape (3, 1); it needs"),
    (lambda A, B, t: numeric.expand_window(A, B, block=torch.ones(4, 1)), "pass an array of the factors' kind"),
    (lambda A, B, t: numeric.truncation_study(A, B, [1e-3, 1e-2, 1e-1]), "at least 5 strictly increasing"),
    (lambda A, B, t: numeric.truncation_study(A, B, [1, 0.1, 0.01, 1e-3, 1e-4]), "at least 5 strictly increasing"),
    (lambda A, B, t: numeric.window_products(A, B, [float("nan")]), "finite real numbers"),
    (lambda A, B, t: numeric.window_products(A, B, np.ones((2, 2))), "pass a 1-D sequence"),
    (lambda A, B, t: numeric.expansion_factors(t, window=(5, 5)), "window start k=5 must be an integer in 0..4"),
    (lambda A, B, t: numeric.expansion_factors(t, window=(0, 11)), "window end t=11 must be an integer in 1..10"),
    (lambda A, B, t: numeric.expansion_factors(t, window=3), "window=3 must be a pair (k, t)"),
    (lambda A, B, t: numeric.expansion_factors(t, "exact", params={}), "got a Trajectory and params"),
    (lambda A, B, t: numeric.expansion_factors(t.compiled), "needs initial_states="),
    (lambda A, B, t: numeric.expansion_factors(A), "takes a numeric.Trajectory or a CompiledCell, got ndarray"),
    (lambda A, B, t: numeric.expansion_actions(t, np.ones((4, 1)), chunk=0), "chunk=0 must be an integer ≥ 1"),
])
def test_errors_name_the_argument_and_the_fix(call, message):
    trajectory = _trajectory("multi_gate")
    A, B = numeric.expansion_factors(trajectory)
    with pytest.raises(numeric.ArgumentError) as error:
        call(A, B, trajectory)
    assert message in str(error.value)


def test_a_compiled_cell_is_rolled_out_first():
    trajectory = _trajectory("scalar_gate")
    from_cell = numeric.expansion_factors(trajectory.compiled, "author", initial_states=trajectory.states_at(0),
                                          inputs_sequence=trajectory.inputs, params=trajectory.params)
    for actual, reference in zip(from_cell, numeric.expansion_factors(trajectory, "author")):
        assert np.array_equal(actual, reference)
