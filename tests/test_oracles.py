"""The oracles of the verify layer: they agree with each other, and each one catches a
deliberately broken Jacobian.

Agreement is checked oracle against oracle (no kernel involved) on every view of every
catalogue cell, at the tolerance of the less exact of the two.  The broken Jacobians are
built from ``derive(cell)`` with ``Derivation.replace`` — one term dropped, one sign
flipped, one matrix transposed — and every oracle must fail them, naming the Jacobian and
(for the entrywise oracles) the structured term.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy

import gatejac.verify._check as checking
from gatejac.symbolic import Cell, Mat, Scale, apply, cells, derive, tanh
from gatejac.symbolic import term_text  # the printer the report names terms with
from gatejac.verify._oracles import (
    ORACLES,
    CotangentView,
    LeafView,
    ParameterView,
    TangentView,
    central_differences,
    complex_step_differences,
    complex_step_obstacle,
    make_point,
    oracles_for,
    taylor_test,
)
from gatejac.verify._tolerances import taylor_band, tolerance

SIZES = {"n": 3, "m": 2}


def _views(cell, point):
    """Every view of ``cell``'s step at ``point`` (tangents and cotangents seeded)."""
    rng = np.random.default_rng(7)
    leaves = {**point.states, **point.inputs, **point.params}
    views = [LeafView(cell, SIZES, "states"), LeafView(cell, SIZES, "inputs")]
    views += [ParameterView(cell, SIZES, p.name) for p in cell.parameters]
    views.append(TangentView(cell, SIZES, {k: rng.standard_normal(np.shape(v)) / 4 for k, v in leaves.items()}))
    views.append(CotangentView(cell, SIZES, {k: rng.standard_normal(v.shape) for k, v in point.states.items()}))
    if cell.gates:
        views.append(LeafView(cell, SIZES, "states", frozen=True))
    return views


def _assert_close(actual, expected, oracle, what):
    bound = tolerance(oracle, "float64", np.max(np.abs(expected))).bound(np.abs(expected))
    error = np.abs(actual - expected)
    assert actual.shape == expected.shape, what
    assert np.all(error <= bound), f"{what}: worst error {error.max():.2e} (bound {bound.max():.2e})"


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("name", cells.names())
def test_ad_fd_and_complex_step_agree_on_every_view(name):
    cell = cells.get(name)
    oracles = oracles_for(cell, SIZES)
    point = make_point(cell, SIZES, seed=11, index=0)
    for view in _views(cell, point):
        ad = oracles.jacobian("ad", view, point)
        assert np.max(np.abs(ad)) > 0.0, f"{name} {view.name}: a zero Jacobian would make agreement vacuous"
        _assert_close(oracles.jacobian("complex_step", view, point), ad, "complex_step", f"{name} {view.name}")
        _assert_close(oracles.jacobian("fd", view, point), ad, "fd", f"{name} {view.name}")


@pytest.mark.parametrize("name", ["scalar_gate", "lstm_torch"])
def test_the_50_digit_reference_agrees_with_ad(name):
    cell = cells.get(name)
    oracles = oracles_for(cell, SIZES)
    point = make_point(cell, SIZES, seed=5, index=0)
    views = [LeafView(cell, SIZES, "states"), LeafView(cell, SIZES, "states", frozen=True),
             ParameterView(cell, SIZES, cell.parameters[0].name)]
    for view in views:
        _assert_close(oracles.jacobian("mp", view, point), oracles.jacobian("ad", view, point), "mp", view.name)


def test_tangent_and_cotangent_views_are_the_jacobian_actions():
    """∂F/∂t of the tangent view is Σ J_leaf·d_leaf and the cotangent view's row is cᵀJ,
    assembled from the per-leaf AD Jacobians (so the views place values correctly)."""
    cell = cells.get("gru_torch")
    oracles = oracles_for(cell, SIZES)
    point = make_point(cell, SIZES, seed=2, index=0)
    views = _views(cell, point)
    tangent_view = next(v for v in views if isinstance(v, TangentView))
    cotangent_view = next(v for v in views if isinstance(v, CotangentView))
    per_leaf = {"h": oracles.jacobian("ad", LeafView(cell, SIZES, "states"), point),
                "x": oracles.jacobian("ad", LeafView(cell, SIZES, "inputs"), point)}
    per_leaf.update({p.name: oracles.jacobian("ad", ParameterView(cell, SIZES, p.name), point)
                     for p in cell.parameters})
    tangents = tangent_view.tangents
    expected_jvp = sum(np.einsum("bmn,bn->bm", per_leaf[k], tangents[k]) for k in ("h", "x"))
    expected_jvp += sum(np.einsum("bmn,n->bm", per_leaf[p.name], np.ravel(tangents[p.name])) for p in cell.parameters)
    _assert_close(oracles.jacobian("ad", tangent_view, point)[..., 0], expected_jvp, "ad", "jvp")

    c = cotangent_view.cotangents["h"]
    expected_vjp = [np.einsum("bm,bmn->bn", c, per_leaf[k]).ravel() for k in ("h", "x")]
    expected_vjp += [np.einsum("bm,bmn->n", c, per_leaf[p.name]) for p in cell.parameters]
    _assert_close(oracles.jacobian("ad", cotangent_view, point)[0, 0], np.concatenate(expected_vjp), "ad", "vjp")


# --------------------------------------------------------------------------- the numerical primitives
def _coupled(v):
    """F(v) = (sin v₀ · v₁, exp(v₁) + v₀³) on the last axis, with its exact Jacobian."""
    return np.stack([np.sin(v[..., 0]) * v[..., 1], np.exp(v[..., 1]) + v[..., 0] ** 3], axis=-1)


def _coupled_jacobian(v):
    x, y = v[..., 0], v[..., 1]
    return np.stack([np.stack([np.cos(x) * y, np.sin(x)], -1), np.stack([3 * x**2, np.exp(y)], -1)], -2)


def test_central_differences_and_complex_step_match_an_exact_jacobian():
    v = np.array([[0.3, -1.2], [2.0, 0.5]])
    exact = _coupled_jacobian(v)
    fd = central_differences(_coupled, v, 2.0**-17 * np.maximum(1, np.abs(v)))
    assert np.max(np.abs(fd - exact)) < 1e-9
    complex_step = complex_step_differences(_coupled, v.astype(complex))
    assert np.max(np.abs(complex_step - exact)) < 1e-15


def test_taylor_slope_is_two_for_the_right_jacobian_and_one_for_a_wrong_one():
    v = np.array([[0.3, -1.2], [2.0, 0.5]])
    direction = np.array([[0.6, -0.2], [0.1, 0.77]])
    direction /= np.linalg.norm(direction)
    right = taylor_test(_coupled, v, _coupled_jacobian(v), direction)
    wrong_jacobian = _coupled_jacobian(v)
    wrong_jacobian[:, 0, 1] *= -1.0  # one entry with the wrong sign
    wrong = taylor_test(_coupled, v, wrong_jacobian, direction)
    assert right.passed and abs(right.slope - 2.0) < 0.05
    assert not wrong.passed and abs(wrong.slope - 1.0) < 0.1
    assert "≈ 1 means" in wrong.detail


def test_taylor_test_of_a_linear_map_passes_at_round_off_and_still_catches_a_wrong_matrix():
    matrix = np.array([[[2.0, -1.0], [0.5, 3.0]]])
    linear = lambda v: np.einsum("bmn,bn->bm", matrix, v)  # noqa: E731
    v, direction = np.array([[1.0, 2.0]]), np.array([[0.6, 0.8]])
    exact = taylor_test(linear, v, matrix, direction)
    assert exact.passed and exact.slope is None and not any(exact.fitted)
    wrong = taylor_test(linear, v, matrix * 1.01, direction)
    assert not wrong.passed and abs(wrong.slope - 1.0) < 0.05


def test_taylor_fit_uses_the_small_steps_where_a_first_order_error_dominates():
    """r(ε) = 10⁻³ε² + ε³ (a right J with a small second-order term) has slope ≈ 3 at
    large ε but 2 at small ε; r(ε) = 10⁻²ε + ε² (a slightly wrong J) looks quadratic at
    large ε but is linear at small ε.  The first passes, the second fails."""
    band = taylor_band("float64")
    assert band.passes(2.0) and band.passes(3.0) and not band.passes(1.0)
    direction = np.ones((1, 1))
    v = np.zeros((1, 1))
    cubic = lambda w: 1e-3 * w**2 + w**3  # noqa: E731 - F with F'(0) = 0
    right = taylor_test(cubic, v, np.zeros((1, 1, 1)), direction)
    assert right.passed and 2.0 < right.slope < 2.5
    quadratic = lambda w: w**2  # noqa: E731
    wrong = taylor_test(quadratic, v, np.full((1, 1, 1), 1e-2), direction)
    assert not wrong.passed and abs(wrong.slope - 1.0) < 0.2


def test_complex_step_is_refused_for_a_non_analytic_cell():
    cell = Cell("absolute")
    h = cell.state("h", "n")
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, apply(sympy.Abs, tanh(W @ h)))
    reason = complex_step_obstacle(cell.validate())
    assert reason is not None and "Abs" in reason
    assert all(complex_step_obstacle(cells.get(name)) is None for name in cells.names())


# --------------------------------------------------------------------------- each oracle catches a broken Jacobian
def _with_block(derivation, group: str, key, terms):
    """``derivation`` with block ``key`` of ``group`` ("state" or "parameter:<name>") replaced."""
    blocks = _blocks(derivation, group)
    replaced = dataclasses.replace(blocks, blocks={**blocks.blocks, key: dataclasses.replace(blocks[key], terms=terms)})
    if group == "state":
        return derivation.replace(state=replaced)
    return derivation.replace(parameters={group.split(":", 1)[1]: replaced})


def _dropped(derivation, group, key, index):
    terms = _blocks(derivation, group)[key].terms
    return _with_block(derivation, group, key, terms[:index] + terms[index + 1:]), terms[index], "missing"


def _flipped(derivation, group, key, index):
    terms = _blocks(derivation, group)[key].terms
    flipped = terms[index].prepend(Scale(-1))
    return _with_block(derivation, group, key, terms[:index] + (flipped,) + terms[index + 1:]), flipped, "wrong"


def _transposed(derivation, group, key, index):
    terms = _blocks(derivation, group)[key].terms
    term = terms[index]
    matrix = term.factors[-1]
    assert isinstance(matrix, Mat)
    transposed = dataclasses.replace(term, factors=term.factors[:-1] + (Mat(matrix.matrix.T),))
    return _with_block(derivation, group, key, terms[:index] + (transposed,) + terms[index + 1:]), transposed, "wrong"


def _blocks(derivation, group):
    return derivation.state if group == "state" else derivation.parameter(group.split(":", 1)[1])


# (cell, Jacobian, block, term index, mutation): a candidate term, a gate term, a rank-one
# scalar-gate term, a parameter term and an LSTM cross-state block
MUTATIONS = [
    ("gru_torch", "state", ("h", "h"), 1, _dropped),
    ("multi_gate", "state", ("h", "h"), 0, _flipped),
    ("scalar_gate", "state", ("h", "h"), 1, _dropped),
    ("lstm_torch", "state", ("c", "h"), 0, _transposed),
    ("leaky", "parameter:W", ("h", "W"), 0, _flipped),
]


@pytest.mark.parametrize("oracle", ORACLES)
@pytest.mark.parametrize("cell_name, group, key, index, mutate", MUTATIONS,
                         ids=[f"{m[0]}-{m[4].__name__.strip('_')}" for m in MUTATIONS])
def test_every_oracle_catches_a_broken_jacobian_and_names_it(oracle, cell_name, group, key, index, mutate):
    cell = cells.get(cell_name)
    broken, culprit, role = mutate(derive(cell), group, key, index)
    report = checking.check(cell, derivation=broken, oracles=(oracle,), jacobians=(group,), points=1,
                            sizes=SIZES)
    (result,) = report.results
    assert not report.passed and report.failures == [result]
    assert (result.jacobian, result.oracle) == (group, oracle)
    if oracle == "taylor":
        assert abs(result.slope - 1.0) < 0.2, result.detail
        return
    assert result.row.startswith(f"{key[0]}[") and result.column.startswith(f"{key[1]}[")
    assert (role, term_text(cell, culprit)) in {
        (r, text) for r, text, _ in result.contributions}
    if role == "wrong":
        assert result.term == term_text(cell, culprit)


@pytest.mark.parametrize("cell_name, linear_in", [("gru_torch", set()), ("leaky", {"parameter:alpha"})])
def test_taylor_slope_is_two_for_the_derived_jacobians(cell_name, linear_in):
    """h' = (1 − α) h + α tanh(…) is linear in α: its remainder is round-off (no slope)."""
    report = checking.check(cell_name, oracles=("taylor",), points=2, sizes=SIZES)
    assert report.passed
    assert {r.jacobian for r in report.results if r.slope is None} == linear_in
    assert all(abs(r.slope - 2.0) < 0.1 for r in report.results if r.slope is not None)
