"""Cells that once broke the generated kernels (found by the thorough random-cell run).

Each is checked on both back-ends against the AD oracle for every Jacobian, including the
gate split and the JVP/VJP actions.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatejac import verify
from gatejac.symbolic import Cell, sigmoid, tanh
from gatejac.verify.strategies import random_cells


def _two_lets_with_one_expression():
    cell = Cell("two_lets_one_expression")
    h = cell.state("h", "n")
    a1, a2 = cell.let("a1", tanh(h)), cell.let("a2", tanh(h))
    cell.update(h, a1 * a2 + h)
    return cell


def _update_without_state_or_input():
    cell = Cell("constant_second_state")
    h, c = cell.state("h", "n"), cell.state("c", "n")
    b, gamma = cell.parameter("b", "n"), cell.parameter("gamma")
    cell.update(h, tanh(h) + c)
    cell.update(c, b**2 * gamma**2)
    return cell


def _scalar_parameter_inside_a_reduction():
    cell = Cell("scalar_in_dot")
    h = cell.state("h", "n")
    b, gamma = cell.parameter("b", "n"), cell.parameter("gamma")
    g = cell.gate("g", sigmoid(sigmoid(b) @ (b + gamma)))
    cell.update(h, g * h + (1 - g) * tanh(h))
    return cell


def _matrix_times_a_broadcast_scalar():
    cell = Cell("matrix_of_broadcast_scalar")
    h = cell.state("h", "n")
    W, b, gamma = cell.parameter("W", ("n", "n")), cell.parameter("b", "n"), cell.parameter("gamma")
    cell.update(h, tanh(W @ (b + gamma)) * h)
    return cell


def _update_spelling_out_a_gate():
    cell = Cell("gate_spelled_out")
    h = cell.state("h", "n")
    g = cell.gate("g", sigmoid(h))
    cell.update(h, (1 - g) * h + tanh(sigmoid(h)) * g)  # sigmoid(h) here is not the gate node
    return cell


REGRESSIONS = [_two_lets_with_one_expression, _update_without_state_or_input, _scalar_parameter_inside_a_reduction,
               _matrix_times_a_broadcast_scalar, _update_spelling_out_a_gate]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("build", REGRESSIONS, ids=lambda f: f.__name__.strip("_"))
def test_once_broken_cells_agree_with_ad(build, backend):
    report = verify.check(build(), backend=backend, oracles=("ad",), points=2)
    assert report.passed, report.to_text()


@settings(max_examples=60, deadline=None)
@given(random_cells(), st.sampled_from(["numpy", "torch"]))
def test_random_cell_kernels_agree_with_ad(cell, backend):
    report = verify.check(cell, backend=backend, oracles=("ad",), points=1, sizes={d.name: 2 for d in cell.dims})
    assert report.passed, report.to_text()
