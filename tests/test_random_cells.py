"""The structured engine against the dense SymPy oracle on random cells (issue 2, item 4).

``verify.strategies.random_cells`` composes the cell language into random valid cells; for
each one, at small explicit sizes, every structured Jacobian block — state, input, every
parameter, and the frozen-gate part A of the gate split — must equal the dense
``Matrix.jacobian`` of the explicit instance exactly, at a random rational point.
"""

from collections import Counter

import pytest
import sympy
from hypothesis import given, note, settings
from hypothesis import strategies as st

from gatejac.symbolic import (
    SCALAR,
    Dot,
    Instance,
    MatrixParameter,
    MatVec,
    SpecError,
    dense_block,
    dense_jacobian,
    derive,
    exactly_equal,
    random_point,
)
from gatejac.verify.strategies import random_cells

SIZES = st.fixed_dictionaries({name: st.sampled_from((1, 2)) for name in ("n", "k", "m")})


def describe(cell) -> str:
    """The cell's declarations, named nodes and updates as text (for failure reports)."""
    lines = [repr(cell), f"inputs: {[leaf.name for leaf in cell.inputs]}"]
    lines += [f"  {node.name}{' (gate)' if node.is_gate else ''} = {cell.text(node.expr)}" for node in cell.named]
    lines += [f"  {name}' = {cell.text(expr)}" for name, expr in cell.updates.items()]
    return "\n".join(lines)


def thawed(frozen: Instance, instance: Instance, gates) -> dict:
    """Map each frozen gate symbol of ``frozen`` to the gate's actual value in ``instance``."""
    mapping = {}
    for gate in gates:
        symbols, values = frozen.node_value(gate.symbol), instance.node_value(gate.symbol)
        if gate.size is SCALAR:
            mapping[symbols] = values
        else:
            mapping.update(zip(symbols, values))
    return mapping


@settings(max_examples=200, deadline=None)
@given(cell=random_cells(), sizes=SIZES, seed=st.integers(0, 2**32 - 1))
def test_random_cell_jacobians_agree_exactly_with_the_dense_oracle(cell, sizes, seed):
    note(describe(cell))
    derivation = derive(cell)
    instance = Instance(cell, sizes)
    point = random_point(instance.all_variables(), seed)
    for jacobian in (derivation.state, derivation.input, *derivation.parameters.values()):
        for (state, wrt), block in jacobian.blocks.items():
            expected = dense_jacobian(instance, state, wrt)
            assert exactly_equal(dense_block(instance, block), expected, point), f"d{state}'/d{wrt}"

    split = derivation.gate_split()
    frozen = Instance(cell, sizes, frozen=tuple(g.name for g in cell.gates))
    thaw = thawed(frozen, instance, cell.gates)
    for (state, wrt), block in split.A.blocks.items():
        expected = dense_jacobian(frozen, state, wrt).xreplace(thaw)
        assert exactly_equal(dense_block(instance, block), expected, point), f"A of d{state}'/d{wrt}"
        together = split.A[state, wrt].terms + split.B[state, wrt].terms
        assert Counter(together) == Counter(derivation.state[state, wrt].terms), f"A + B != J for d{state}'/d{wrt}"


# ---------------------------------------------------------------------- the strategy does not degenerate
def reachable_nodes(cell):
    """Every node the updates read, directly or through other nodes."""
    nodes, pending = {}, list(cell.updates.values())
    while pending:
        for symbol in pending.pop().free_symbols - nodes.keys():
            nodes[symbol] = cell.node(symbol)
            pending.extend(cell.children(nodes[symbol]))
    return list(nodes.values())


def expressions(cell):
    """Every elementwise expression of the cell: updates and what each node reads."""
    return [*cell.updates.values(), *(e for node in reachable_nodes(cell) for e in cell.children(node))]


def matrix_terms(cell):
    return [t for node in reachable_nodes(cell) if isinstance(node, MatVec) for t in node.terms]


def matrix_parameters(cell):
    return [p for p in cell.parameters if isinstance(p, MatrixParameter)]


def vector_and_scalar_parameters(cell):
    return [p for p in cell.parameters if not isinstance(p, MatrixParameter)]


def scalar_parameters(cell):
    return [p for p in vector_and_scalar_parameters(cell) if p.size is SCALAR]


def applies(cell, function: str) -> bool:
    """Some expression of the cell applies the SymPy function called ``function``."""
    return any(f.func.__name__ == function for e in expressions(cell) for f in e.atoms(sympy.Function))


def let_reused(cell) -> bool:
    """Some let occurs at two or more places of the cell's expression trees."""
    trees = set(expressions(cell))
    return any(sum(e.count(node.symbol) for e in trees) >= 2 for node in cell.named if not node.is_gate)


def has_hadamard(cell) -> bool:
    """Some product multiplies two different vector nodes elementwise."""
    vector_symbols = {n.symbol for n in reachable_nodes(cell) if not isinstance(n, Dot) and n.size is not SCALAR}
    vector_symbols |= {leaf.symbol for leaf in (*cell.states, *cell.inputs)}
    return any(
        len(vector_symbols & m.free_symbols) >= 2 and not m.has(sympy.Pow)
        for e in expressions(cell) for m in sympy.preorder_traversal(e) if isinstance(m, sympy.Mul)
    )


CONSTRUCTS = {
    "second state of another size": lambda c: len(c.states) == 2 and c.states[0].size != c.states[1].size,
    "second state of the same size": lambda c: len(c.states) == 2 and c.states[0].size == c.states[1].size,
    "two inputs": lambda c: len(c.inputs) == 2,
    "scalar gate": lambda c: any(g.size is SCALAR for g in c.gates),
    "vector gate": lambda c: any(g.size is not SCALAR for g in c.gates),
    "let reused twice": let_reused,
    "scalar reduction": lambda c: any(isinstance(n, Dot) for n in reachable_nodes(c)),
    "transpose": lambda c: any(t.transposed for t in matrix_terms(c)),
    "identity": lambda c: any(t.parameter is None for t in matrix_terms(c)),
    "non-square matrix": lambda c: any(p.shape[0] != p.shape[1] for p in matrix_parameters(c)),
    "W - W.T - gamma*I": lambda c: any(
        len(n.terms) == 3 and any(t.transposed for t in n.terms) and any(t.parameter is None for t in n.terms)
        and any(t.coeff.free_symbols for t in n.terms)
        for n in reachable_nodes(c) if isinstance(n, MatVec)
    ),
    "fixed scalar parameter": lambda c: any(not p.trainable for p in scalar_parameters(c)),
    "trainable scalar parameter": lambda c: any(p.trainable for p in scalar_parameters(c)),
    "vector parameter": lambda c: any(p.size is not SCALAR for p in vector_and_scalar_parameters(c)),
    **{function: (lambda c, f=function: applies(c, f)) for function in ("sigmoid", "tanh", "exp", "softplus", "log")},
    "division": lambda c: any(p.exp == -1 for e in expressions(c) for p in e.atoms(sympy.Pow)),
    "cube": lambda c: any(p.exp == 3 for e in expressions(c) for p in e.atoms(sympy.Pow)),
    "Hadamard product": has_hadamard,
    "gate reading the state": lambda c: any(derive(c).gate_split().B.terms()),
}


@pytest.fixture(scope="module")
def sample_of_cells():
    """300 cells drawn with a fixed seed (derandomized, no example database)."""
    cells = []

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(random_cells())
    def collect(cell):
        cells.append(cell)

    collect()
    return cells


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_random_cells_produce_each_construct(construct, sample_of_cells):
    share = sum(map(CONSTRUCTS[construct], sample_of_cells)) / len(sample_of_cells)
    assert share >= 0.01, f"only {share:.1%} of random cells have a {construct}"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_states": 3}, r"max_states=3\): max_states must be an integer from 1 to 2"),
        ({"max_inputs": -1}, r"max_inputs=-1\): max_inputs must be an integer from 0 to 2"),
        ({"max_depth": 1.5}, r"max_depth=1.5\): max_depth must be an integer >= 0"),
        ({"max_named": True}, r"max_named=True\): max_named must be an integer >= 0"),
    ],
)
def test_random_cells_rejects_bad_options(options, message):
    with pytest.raises(SpecError, match=message):
        random_cells(**options)
