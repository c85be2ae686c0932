"""The mutation suite (issue 4, item 3): every wrong Jacobian it builds is caught.

The suite breaks one structured term at a time (drop, flip sign, transpose, updated state
in a gate term — docs/theory.md: “Where public code departs from the mathematics”) and runs ``verify.check`` on each broken derivation
with the AD oracle.  The exact tests below check, with the dense SymPy oracle, that the
mutations are what their names say, independently of ``verify.check``.
"""

import json

import pytest
import sympy

from gatejac.symbolic import Cell, GatejacError, Instance, cells, dense_term, derive, exactly_equal, random_point, tanh
from gatejac.verify._check import check
from gatejac.verify._mutations import KINDS, Mutation, mutation_suite, mutations

SMALL = {"n": 3, "m": 2}
GATED = {"scalar_gate", "multi_gate", "gru_cho", "gru_chung", "gru_gain", "gru_torch", "lstm_gain", "lstm_torch"}
"""The catalogue cells with marked gates (docs/theory.md: “The catalogue”, PyTorch's GRUCell/LSTMCell)."""


def small_sizes(cell: Cell) -> dict:
    return {d.name: SMALL[d.name] for d in cell.dims}


def mutation_at(made, jacobian: str, kind: str, index: int = 0) -> Mutation:
    """The ``kind`` mutation of term ``index`` of the one block of ``jacobian`` (single-state cells)."""
    return next(m for m in made if m.jacobian == jacobian and m.kind == kind and m.index == index)


def dense_pair(mutation: Mutation, instance: Instance):
    rows = instance.size(mutation.derivation.cell.states[0].size)
    return dense_term(instance, mutation.original, rows), dense_term(instance, mutation.mutated, rows)


# --------------------------------------------------------------------------- the suite
@pytest.mark.parametrize("name", cells.names())
def test_every_mutation_of_every_catalogue_cell_is_caught(name):
    cell = cells.get(name)
    report = mutation_suite(cell, sizes=small_sizes(cell), points=1, oracles=("ad",))
    assert report.outcomes, f"{name}: no mutation was made"
    missed = "\n".join(o.mutation.name for o in report.missed)
    assert report.catch_rate == 1.0, f"{name}: catch rate {report.catch_rate:.1%}; missed:\n{missed}"


@pytest.mark.parametrize("name", cells.names())
def test_the_unmutated_derivation_passes_the_same_checks(name):
    cell = cells.get(name)
    derivation = derive(cell)
    jacobians = sorted({m.jacobian for m in mutations(derivation)})
    report = check(cell, derivation=derivation, jacobians=jacobians, sizes=small_sizes(cell), points=1,
                   oracles=("ad",))
    assert report.passed, report.to_text()


@pytest.mark.parametrize("name", cells.names())
def test_each_applicable_kind_is_made(name):
    made = mutations(derive(cells.get(name)))
    kinds = {m.kind for m in made}
    # every catalogue cell has a square recurrent matrix, so a transposable term
    assert {"drop", "flip_sign", "transpose"} <= kinds
    assert ("updated_state_in_gate" in kinds) == (name in GATED)
    jacobians = {m.jacobian for m in made}
    assert {"state", "input"} <= jacobians
    assert {f"parameter:{p.name}" for p in cells.get(name).parameters} <= jacobians


# --------------------------------------------------------------------------- what the mutations are
@pytest.mark.parametrize("name", ["scalar_gate", "multi_gate"])
def test_updated_state_mutation_is_the_papers_off_by_one(name):
    """docs/theory.md: “Where public code departs from the mathematics”: with h' = (1 − g)⊙h + g⊙φ(a), φ(a) − h' = (1 − g)⊙(φ(a) − h), so the
    code's gate term is the exact one with its rows scaled by 1 − g."""
    cell = cells.get(name)
    mutation = mutation_at(mutations(derive(cell)), "state", "updated_state_in_gate", index=1)
    instance = Instance(cell, SMALL)
    exact, code = dense_pair(mutation, instance)
    one_minus_g = instance.value(1 - cell.piece("g").symbol)
    scaled = sympy.diag(*(one_minus_g if isinstance(one_minus_g, sympy.MatrixBase) else [one_minus_g] * SMALL["n"])) * exact
    point = random_point(instance.all_variables(), seed=1)
    assert exactly_equal(code, scaled, point)
    assert not exactly_equal(code, exact, point)


def test_transpose_mutations_transpose_the_matrix_the_parameter_and_the_outer_product():
    multi = cells.get("multi_gate")
    made = mutations(derive(multi))
    instance = Instance(multi, SMALL)
    point = random_point(instance.all_variables(), seed=2)
    W_r, h = instance.matrix(multi.piece("W_r").symbol), instance.leaf("h")
    # diag(u)·W_r  →  diag(u)·W_rᵀ  (u read from the term, anchored by the first assertion)
    mutation = mutation_at(made, "state", "transpose")
    original, mutated = dense_pair(mutation, instance)
    diag_u = sympy.diag(*instance.value(mutation.original.factors[0].value))
    assert exactly_equal(original, diag_u * W_r, point)
    assert exactly_equal(mutated, diag_u * W_r.T, point)
    # diag(u)·∂(W_r h)/∂W_r  →  diag(u)·∂(W_rᵀ h)/∂W_r
    mutation = mutation_at(made, "parameter:W_r", "transpose")
    original, mutated = dense_pair(mutation, instance)
    variables = instance.variables("W_r")
    assert exactly_equal(original, diag_u * (W_r * h).jacobian(variables), point)
    assert exactly_equal(mutated, diag_u * (W_r.T * h).jacobian(variables), point)
    # scalar gate: s·u wᵀ  →  s·w uᵀ, the transpose of that square state-block term
    scalar = cells.get("scalar_gate")
    mutation = mutation_at(mutations(derive(scalar)), "state", "transpose", index=1)
    instance = Instance(scalar, SMALL)
    original, mutated = dense_pair(mutation, instance)
    assert exactly_equal(mutated, original.T, random_point(instance.all_variables(), seed=3))
    assert not exactly_equal(mutated, original, random_point(instance.all_variables(), seed=3))


def _symmetric_cell(matrix) -> Cell:
    cell = Cell("symmetric_recurrence")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U, gamma = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("gamma")
    cell.update(h, gamma * tanh(matrix(W, gamma, sympy.Identity(W.shape[0])) @ h + U @ x))
    return cell


@pytest.mark.parametrize("matrix, made", [
    (lambda W, gamma, I: W + W.T, False),
    (lambda W, gamma, I: gamma * W + gamma * W.T - I, False),
    (lambda W, gamma, I: W - W.T - gamma * I, True),
    (lambda W, gamma, I: 2 * W, True),
], ids=["W+W.T", "gamma*(W+W.T)-I", "W-W.T-gamma*I", "2W"])
def test_a_symmetric_matrix_is_not_transposed_and_says_why(matrix, made):
    derivation = derive(_symmetric_cell(matrix))
    result = mutations(derivation)
    transposed = [m for m in result if m.kind == "transpose" and m.jacobian == "state"]
    skipped = [s for s in result.skipped if s.kind == "transpose" and s.jacobian == "state"]
    assert bool(transposed) == made
    if not made:
        assert len(skipped) == 1 and "symmetric" in skipped[0].reason


def test_every_term_is_either_transposed_or_skipped_with_a_reason():
    made = mutations(derive(cells.get("lstm_torch")))
    terms = {(m.jacobian, m.block, m.index) for m in made if m.kind == "drop"}
    transposed = {(m.jacobian, m.block, m.index) for m in made if m.kind == "transpose"}
    skipped = {(s.jacobian, s.block, s.index): s.reason for s in made.skipped if s.kind == "transpose"}
    assert transposed | set(skipped) == terms and not transposed & set(skipped)
    assert all(reason for reason in skipped.values())


def test_a_mutation_changes_only_its_own_jacobian():
    derivation = derive(cells.get("gru_torch"))
    for mutation in mutations(derivation):
        broken = mutation.derivation
        assert (broken.state is derivation.state) == (mutation.jacobian != "state")
        assert (broken.input is derivation.input) == (mutation.jacobian != "input")
        for name, blocks in derivation.parameters.items():
            assert (broken.parameter(name) is blocks) == (mutation.jacobian != f"parameter:{name}")
        block = _blocks_of(broken, mutation.jacobian)[mutation.block]
        original = _blocks_of(derivation, mutation.jacobian)[mutation.block]
        expected = list(original.terms)
        expected[mutation.index:mutation.index + 1] = [] if mutation.mutated is None else [mutation.mutated]
        assert list(block.terms) == expected


def _blocks_of(derivation, jacobian: str):
    if jacobian in ("state", "input"):
        return getattr(derivation, jacobian)
    return derivation.parameter(jacobian.split(":", 1)[1])


# --------------------------------------------------------------------------- report and errors
def test_the_report_counts_tables_and_serialises():
    report = mutation_suite("multi_gate", sizes=SMALL, kinds=("updated_state_in_gate", "transpose"))
    assert {o.mutation.kind for o in report.outcomes} == {"updated_state_in_gate", "transpose"}
    data = json.loads(report.to_json())
    assert data["made"] == len(report.outcomes) == sum(data["by_kind"][k]["made"] for k in KINDS)
    assert data["caught"] == data["by_kind"]["all"]["caught"] == len(report.caught)
    assert data["by_kind"]["drop"]["made"] == 0
    text = report.to_text()
    assert "multi_gate" in text and "updated_state_in_gate" in text
    assert all(s.reason in text for s in report.skipped)


@pytest.mark.parametrize("call, match", [
    (lambda: mutations(cells.get("leaky")), r"mutations\(\) takes a symbolic\.Derivation.*got Cell"),
    (lambda: mutation_suite("leaky", kinds=("dorp",)), r"unknown mutation kind.*'dorp'.*choose from"),
    (lambda: mutation_suite(42), r"mutation_suite\(\) takes a symbolic\.Cell or a catalogue name, got int"),
    (lambda: mutation_suite("lekay"), r"lekay.*leaky"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(GatejacError, match=match):
        call()
