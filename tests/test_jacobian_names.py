"""The one table of Jacobian names (``verify.jacobian_names``, ``verify.parse_jacobian``): every
name means one Jacobian of the derivation, one kernel of the compiled cell and one view of the
step, and a wrong name is an error naming the close matches."""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.symbolic import Cell, UnknownNameError, cells, derive, tanh
from gatejac.verify import CheckError, jacobian_names, parse_jacobian


def test_names_are_listed_in_report_order_and_by_kind():
    cell = cells.get("multi_gate")
    parameters = [f"parameter:{p.name}" for p in cell.parameters]
    assert jacobian_names(cell) == ["state", "input", *parameters, "gate_split:A", "gate_split:B", "jvp", "vjp"]
    assert jacobian_names(cell, kinds=("gate_split", "state")) == ["state", "gate_split:A", "gate_split:B"]
    assert jacobian_names(cell, kinds="parameter") == parameters


def test_a_cell_without_inputs_or_gates_has_no_such_names():
    cell = Cell("autonomous")
    h = cell.state("h", "n")
    cell.update(h, tanh(cell.parameter("W", ("n", "n")) @ h))
    assert jacobian_names(cell) == ["state", "parameter:W", "jvp", "vjp"]


@pytest.mark.parametrize("name, kind, parameter, part, view, minus", [
    ("state", "state", None, None, "state", None),
    ("input", "input", None, None, "input", None),
    ("parameter:W_rg", "parameter", "W_rg", None, "parameter:W_rg", None),
    ("gate_split:A", "gate_split", None, "A", "frozen", None),
    ("gate_split:B", "gate_split", None, "B", "state", "frozen"),
    ("jvp", "jvp", None, None, "jvp", None),
])
def test_parse_gives_the_kind_parameter_part_and_view(name, kind, parameter, part, view, minus):
    parsed = parse_jacobian(cells.get("multi_gate"), name)
    assert (parsed.name, parsed.kind, parsed.parameter, parsed.part, parsed.view, parsed.minus) == (
        name, kind, parameter, part, view, minus)
    assert str(parsed) == name and parsed.structured == (kind not in ("jvp", "vjp"))


@pytest.mark.parametrize("name, kinds, message", [
    ("paramter:W_r", None, r"unknown Jacobian 'paramter:W_r'; did you mean 'parameter:W_r'"),
    ("gate_split", None, r"did you mean 'gate_split:B' or 'gate_split:A'"),
    ("vjp", ("state", "parameter"), r"unknown Jacobian 'vjp'.*Known Jacobians: parameter:W_i"),
    ("state", "states", r"unknown Jacobian kind 'states'; did you mean 'state'"),
])
def test_a_wrong_name_is_an_error_with_close_matches(name, kinds, message):
    options = {} if kinds is None else {"kinds": kinds}
    with pytest.raises(UnknownNameError, match=message):
        parse_jacobian(cells.get("multi_gate"), name, **options)


@pytest.mark.parametrize("cell_name", ["multi_gate", "lstm_torch"])
def test_every_structured_name_means_the_kernel_of_its_blocks(cell_name):
    """The blocks a name means, put back with ``replaced``, compile to the same kernel the name
    means; the two parts of the gate split add up to the state Jacobian."""
    cell = cells.get(cell_name)
    derivation = derive(cell)
    compiled = numeric.compile(cell, "numpy")
    values = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(2,), seed=1)
    for name in jacobian_names(cell, kinds=("state", "input", "parameter", "gate_split")):
        jacobian = parse_jacobian(cell, name)
        rebuilt = numeric.compile(jacobian.replaced(derivation, jacobian.blocks(derivation)), "numpy")
        np.testing.assert_array_equal(jacobian.kernel(rebuilt, *values), jacobian.kernel(compiled, *values), name)
    a, b = (parse_jacobian(cell, f"gate_split:{part}").kernel(compiled, *values) for part in "AB")
    np.testing.assert_allclose(a + b, parse_jacobian(cell, "state").kernel(compiled, *values), rtol=1e-13, atol=1e-15)


def test_replacing_a_part_of_the_gate_split_keeps_the_other_part():
    cell = cells.get("multi_gate")
    derivation = derive(cell)
    b = parse_jacobian(cell, "gate_split:B")
    without_gate = b.replaced(derivation, b.blocks(derivation).select(lambda term: False))
    assert len(without_gate.state) == len(derivation.gate_split().A) and len(b.blocks(without_gate)) == 0


def test_an_action_has_no_blocks():
    cell = cells.get("leaky")
    with pytest.raises(CheckError, match="jvp is a Jacobian action"):
        parse_jacobian(cell, "jvp").blocks(derive(cell))
