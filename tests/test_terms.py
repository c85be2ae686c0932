"""``verify._terms``: structured terms evaluated exactly on a ``symbolic.Instance`` (the one
evaluation ``verify.check`` and the claims share), and the attribution of a failed entry."""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.symbolic import cells, derive
from gatejac.verify import parse_jacobian
from gatejac.verify._oracles import make_point
from gatejac.verify._terms import EntryExplainer, TermValues

SIZES = {"n": 3, "m": 2}


@pytest.mark.parametrize("cell_name", ["multi_gate", "gru_torch", "scalar_gate"])
def test_the_sum_of_a_blocks_terms_is_the_kernels_block(cell_name):
    """The exact evaluation of every term of every block, summed, is the compiled kernel's block
    at the same point and sample (two independent routes from the same derivation)."""
    cell = cells.get(cell_name)
    derivation = derive(cell)
    values = TermValues(cell, SIZES)
    point = make_point(cell, SIZES, seed=2, index=0)
    compiled = numeric.compile(cell, "numpy")
    for name in ("state", "input", f"parameter:{cell.parameters[0].name}"):
        jacobian = parse_jacobian(cell, name)
        blocks = jacobian.blocks(derivation)
        kernel = jacobian.kernel(compiled, *point.values())
        rows = np.cumsum([0] + [int(np.prod(values.shapes[r])) for r in blocks.rows])
        cols = np.cumsum([0] + [int(np.prod(values.shapes[c])) for c in blocks.cols])
        for (row, col), block in blocks.blocks.items():
            i, j = blocks.rows.index(row), blocks.cols.index(col)
            for sample in (0, 1):
                exact = values.block(block.terms, block, values.substitution(point, sample))[0]
                np.testing.assert_allclose(exact, kernel[sample, rows[i]:rows[i + 1], cols[j]:cols[j + 1]],
                                           rtol=1e-12, atol=1e-14, err_msg=f"{name} {row},{col}")


def test_locate_finds_the_leaf_of_a_flat_index():
    values = TermValues(cells.get("lstm_torch"), SIZES)
    assert [values.locate(["h", "c"], k) for k in (0, 2, 3, 5)] == [("h", 0), ("h", 2), ("c", 0), ("c", 2)]


def test_an_entry_of_a_dropped_term_is_attributed_to_it_as_missing():
    cell = cells.get("multi_gate")
    derivation = derive(cell)
    dropped = next(term for _, _, term in derivation.state.terms() if term.gates)
    broken = derivation.replace(state=derivation.state.select(lambda term: term is not dropped))
    point = make_point(cell, SIZES, seed=0, index=0)
    explained = EntryExplainer(cell, SIZES, broken).explain(parse_jacobian(cell, "state"), point, (0, 1, 2))
    roles = [role for role, _, _ in explained]
    assert roles == ["missing"], explained
    correct = EntryExplainer(cell, SIZES, None).explain(parse_jacobian(cell, "state"), point, (0, 1, 2))
    assert {role for role, _, _ in correct} == {"present"} and len(correct) >= 2
    assert EntryExplainer(cell, SIZES, None).explain(parse_jacobian(cell, "vjp"), point, (0, 0, 1)) == ()
