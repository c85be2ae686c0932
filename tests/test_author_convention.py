"""The author convention (Livi 2025's public code, lorenzolivi/effective-learning-rates): the gate
term reads the updated state, φ(a_j) − h_j.  Checked exactly with the dense SymPy oracle:

* the author's B is the exact B with rows scaled by (1 − g), from the identity
  φ(a) − h' = (1 − g)(φ(a) − h) (multi gate: per row; scalar gate: one factor);
* A is unchanged, and the author's A + B is not the Jacobian;
* cells without a gate are unchanged;
* the compiled kernels of the author derivation give the author's B numerically.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from gatejac import numeric
from gatejac.symbolic import (
    CONVENTIONS, Instance, SpecError, author_convention, author_term, cells, dense_block, dense_jacobian, derive,
    exactly_equal, random_point, states_read,
)

GATED = ("scalar_gate", "multi_gate")
SIZES = [(2, 1), (3, 2)]


def _retention(instance, gate):
    """diag(1 − g) at the instance (a scalar gate broadcasts to (1 − g) I)."""
    value = instance.node_value(instance.cell.piece(gate).symbol)
    n = instance.size(instance.cell.states[0].size)
    if isinstance(value, sympy.MatrixBase):
        return sympy.diag(*(1 - v for v in value))
    return (1 - value) * sympy.eye(n)


@pytest.mark.parametrize("n, m", SIZES)
@pytest.mark.parametrize("name", GATED)
def test_author_B_is_the_exact_B_with_rows_scaled_by_retention(name, n, m):
    exact = derive(cells.get(name))
    author = author_convention(exact)
    instance = Instance(exact.cell, {"n": n, "m": m})
    point = random_point(instance.all_variables(), seed=n + 5 * m)
    B = dense_block(instance, exact.gate_split().B["h", "h"])
    B_author = dense_block(instance, author.gate_split().B["h", "h"])
    assert not exactly_equal(B_author, B, point), "the author's B should differ from the exact B"
    assert exactly_equal(B_author, _retention(instance, "g") * B, point)


@pytest.mark.parametrize("name", GATED)
def test_author_A_is_unchanged_and_A_plus_B_is_not_the_jacobian(name):
    exact = derive(cells.get(name))
    author = author_convention(exact)
    assert author.gate_split().A == exact.gate_split().A
    instance = Instance(exact.cell, {"n": 2, "m": 1})
    point = random_point(instance.all_variables(), seed=4)
    jacobian = dense_jacobian(instance, "h", "h")
    assert exactly_equal(dense_block(instance, exact.state["h", "h"]), jacobian, point)
    assert not exactly_equal(dense_block(instance, author.state["h", "h"]), jacobian, point)


@pytest.mark.parametrize("name", ["leaky", "leaky_dt", "elman", "wcrnn"])
def test_cells_without_a_gate_are_unchanged(name):
    exact = derive(cells.get(name))
    author = author_convention(exact)
    assert author.state == exact.state and author.convention == "author"


def test_only_gate_terms_of_the_state_jacobian_change():
    exact = derive(cells.get("gru_torch"))
    author = author_convention(exact)
    for key, block in exact.state.blocks.items():
        for before, after in zip(block.terms, author.state[key].terms):
            assert (before == after) == (not before.gates or not states_read(exact.cell, before)), key
    assert author.input == exact.input and author.parameters == exact.parameters


def test_author_term_replaces_the_state_by_its_update():
    derivation = derive(cells.get("multi_gate"))
    cell = derivation.cell
    (term,) = derivation.gate_split().B["h", "h"].terms
    assert states_read(cell, term) == ("h",)
    changed = author_term(cell, term)
    h = cell.piece("h").symbol
    assert h in changed.factors[0].value.free_symbols  # h' = (1 − g) h + g tanh(a) reads h
    assert changed.factors[0].value == term.factors[0].value.xreplace({h: cell.updates["h"]})
    assert changed.factors[1:] == term.factors[1:]


def test_conventions_and_bad_input():
    assert CONVENTIONS == ("exact", "author")
    author = author_convention(derive(cells.get("scalar_gate")))
    assert author_convention(author) is author
    assert "convention='author'" in repr(author)
    with pytest.raises(SpecError, match="author_convention.*Derivation"):
        author_convention(cells.get("scalar_gate"))


@pytest.mark.parametrize("name", GATED)
def test_compiled_author_kernels_give_the_author_B(name):
    exact = derive(cells.get(name, bias=False))
    author = author_convention(exact)
    states, inputs, params = numeric.random_values(exact.cell, {"n": 4, "m": 3}, seed=1)
    A, B = numeric.compile(exact).gate_split(states, inputs, params)
    A_author, B_author = numeric.compile(author).gate_split(states, inputs, params)
    g = numeric.compile(exact).intermediates(states, inputs, params)["g"]
    retention = (1 - np.broadcast_to(g, (4,)))[:, None]
    # float64 round-off of a few products of O(1) entries: 64·eps is ample, a real difference is O(0.1)
    tolerance = 64 * np.finfo(np.float64).eps
    np.testing.assert_allclose(A_author, A, rtol=0, atol=tolerance)
    np.testing.assert_allclose(B_author, retention * B, rtol=0, atol=tolerance)
    jacobian = numeric.compile(author).state_jacobian(states, inputs, params)
    assert np.max(np.abs(jacobian - (A + B))) > 1e3 * tolerance
