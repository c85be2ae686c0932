"""The cell catalogue: every cell agrees exactly with the dense SymPy oracle, the gate split
matches a frozen-gate instance, the structural facts of docs/theory.md: “The catalogue” hold, and the registry,
options, errors, docstrings and residual-matrix builders behave as documented.

Registry-driven: every ``(name, options)`` pair of ``symbolic.cells.variants()`` is
checked, so a newly registered cell (or option value) is tested automatically.
"""

from __future__ import annotations

import cmath
import itertools

import numpy as np
import pytest
import sympy

from gatejac import symbolic
from gatejac.symbolic import (
    Column,
    Diag,
    Instance,
    Mat,
    Row,
    ShapeError,
    SpecError,
    UnknownNameError,
    dense_block,
    dense_jacobian,
    derive,
    exactly_equal,
    random_point,
)
from gatejac.symbolic import cells
from gatejac.symbolic._functions import sigmoid, sigmoid_prime

VARIANTS = cells.variants()
# (n, m): every n in {1, 2, 3} and every m in {1, 2}; n = 1 < m catches transposed input maps.
SIZES = [(1, 2), (2, 1), (3, 2)]
UNGATED = ("leaky", "leaky_dt", "elman", "wcrnn")
RECONSTRUCTED = ("gru_gain", "lstm_gain", "wcrnn")


def _variant_id(variant) -> str:
    name, opts = variant
    return name + "".join(f"[{k}={v}]" for k, v in opts.items())


_DERIVATIONS: dict[str, symbolic.Derivation] = {}


def _derivation(variant) -> symbolic.Derivation:
    """One derivation per variant, shared by the tests (cells are frozen, derivations pure)."""
    key = _variant_id(variant)
    if key not in _DERIVATIONS:
        name, opts = variant
        _DERIVATIONS[key] = derive(cells.get(name, **opts))
    return _DERIVATIONS[key]


def _instance(cell, n, m, frozen=()):
    return Instance(cell, {"n": n, "m": m}, frozen=frozen)


def _mismatches(instance, block_jacobian, expected, point) -> list[str]:
    """Blocks of ``block_jacobian`` whose dense rendering differs from ``expected(out, wrt)``."""
    return [
        f"∂{out}'/∂{wrt}"
        for (out, wrt), block in block_jacobian.blocks.items()
        if not exactly_equal(dense_block(instance, block), expected(out, wrt), point)
    ]


def _oracle_split(cell, n, m):
    """The true instance and, per state block (out, wrt), (J, A) by the oracle: J from the true
    instance, A from the frozen-gate instance with the true gate values put back."""
    true, frozen = _instance(cell, n, m), _instance(cell, n, m, frozen=tuple(g.name for g in cell.gates))
    back = {}
    for gate in cell.gates:
        placeholder, value = frozen.node_value(gate.symbol), true.node_value(gate.symbol)
        if isinstance(placeholder, sympy.MatrixBase):
            back.update(zip(placeholder, value))
        else:
            back[placeholder] = value
    blocks = {
        (out.name, wrt.name): (
            dense_jacobian(true, out.name, wrt.name),
            dense_jacobian(frozen, out.name, wrt.name).xreplace(back),
        )
        for out in cell.states
        for wrt in cell.states
    }
    return true, blocks


# --------------------------------------------------------------------------- oracle agreement
@pytest.mark.parametrize("n, m", SIZES)
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_jacobian_matches_the_dense_oracle(variant, n, m):
    derivation = _derivation(variant)
    instance = _instance(derivation.cell, n, m)
    point = random_point(instance.all_variables(), seed=10 * n + m)
    bad = []
    for jacobian in (derivation.state, derivation.input, *derivation.parameters.values()):
        bad += _mismatches(instance, jacobian, lambda out, wrt: dense_jacobian(instance, out, wrt), point)
    assert not bad, f"{_variant_id(variant)} at n={n}, m={m}: structured ≠ oracle for {bad}"


@pytest.mark.parametrize("n, m", SIZES[1:])
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_gate_split_matches_a_frozen_gate_instance(variant, n, m):
    derivation = _derivation(variant)
    split = derivation.gate_split()
    true, dense = _oracle_split(derivation.cell, n, m)
    point = random_point(true.all_variables(), seed=7 * n + m)
    bad_a = _mismatches(true, split.A, lambda out, wrt: dense[out, wrt][1], point)
    bad_b = _mismatches(true, split.B, lambda out, wrt: dense[out, wrt][0] - dense[out, wrt][1], point)
    assert not bad_a and not bad_b, f"{_variant_id(variant)}: A wrong for {bad_a}, B = J - A wrong for {bad_b}"


def test_cells_built_with_integer_sizes_match_the_oracle():
    for name in cells.names():
        cell = cells.get(name, n=2, m=1)
        assert cell.dims == (), f"{name}: integer sizes should leave no size symbol, got {cell.dims}"
        instance = Instance(cell, {})
        point = random_point(instance.all_variables(), seed=3)
        bad = _mismatches(instance, derive(cell).state, lambda out, wrt: dense_jacobian(instance, out, wrt), point)
        assert not bad, f"{name} with n=2, m=1: structured ≠ oracle for {bad}"


# --------------------------------------------------------------------------- structure (docs/theory.md: “The catalogue”)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] in UNGATED], ids=_variant_id)
def test_ungated_cells_have_no_gate_term(variant):
    derivation = _derivation(variant)
    split = derivation.gate_split()
    assert derivation.cell.gates == ()
    assert len(split.B) == 0 and len(split.A) == len(derivation.state)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] not in UNGATED], ids=_variant_id)
def test_gated_cells_have_a_gate_term_through_each_state_reading_gate(variant):
    derivation = _derivation(variant)
    gates_in_b = set().union(*(term.gates for _, _, term in derivation.gate_split().B.terms()))
    assert gates_in_b == {g.name for g in derivation.cell.gates}


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_sigmoid_is_a_marked_gate(variant):
    """Wherever a sigmoid gate multiplies something it is marked with cell.gate (so the gate
    split sees it), and nothing else is marked (the LSTM's tanh candidate g is not a gate)."""
    cell = _derivation(variant).cell
    pending, seen = list(cell.updates.values()), set()
    while pending:
        expr = pending.pop()
        assert not expr.has(sigmoid), f"{_variant_id(variant)}: unmarked sigmoid in {cell.text(expr)}"
        for symbol in expr.free_symbols - seen:
            seen.add(symbol)
            node = cell.node(symbol)
            if getattr(node, "is_gate", False):
                assert isinstance(node.expr, sigmoid), f"gate {node.name} = {cell.text(node.expr)} is not a sigmoid"
                pending.append(node.expr.args[0])
            else:
                pending.extend(cell.children(node))
    assert {s for s in seen if getattr(cell.node(s), "is_gate", False)} == {g.symbol for g in cell.gates}


def test_scalar_gate_term_is_rank_one():
    """B = σ'(a_g) (tanh(a) − h) w_rgᵀ: a single column·row term, and rank one in the oracle."""
    derivation = _derivation(("scalar_gate", {}))
    (term,) = derivation.gate_split().B[("h", "h")].terms
    column, row = term.structure
    assert isinstance(column, Column) and isinstance(row, Row)
    assert row.value == derivation.cell.piece("w_rg").symbol
    true, dense = _oracle_split(derivation.cell, 3, 2)
    J, A = dense["h", "h"]
    B = (J - A).xreplace(random_point(true.all_variables(), seed=5))
    assert any(sympy.cancel(entry) != 0 for entry in B)
    minors = (B[i, j] * B[k, l] - B[i, l] * B[k, j] for i, k in itertools.combinations(range(3), 2)
              for j, l in itertools.combinations(range(3), 2))
    assert all(sympy.cancel(sympy.expand(minor)) == 0 for minor in minors)


def test_multi_gate_term_is_diagonal_times_gate_matrix():
    """B = diag((tanh(a) − h) ⊙ σ'(a_g)) W_rg (docs/theory.md: “The gate split”)."""
    derivation = _derivation(("multi_gate", {}))
    (term,) = derivation.gate_split().B[("h", "h")].terms
    diag, matrix = term.structure
    assert isinstance(diag, Diag) and isinstance(matrix, Mat)
    assert matrix.matrix == derivation.cell.piece("W_rg").symbol


def _in_exponentials(matrix):
    """σ written with exp, so that σ(−a) = 1 − σ(a) (which relates z-retention to z-writing
    gates) cancels exactly; ``exactly_equal`` keeps σ(·) as an opaque atom otherwise."""
    return sympy.Matrix(matrix).applyfunc(lambda entry: entry.rewrite(sigmoid, sigmoid_prime, sympy.exp))


def _chung_parameters_in_torch_layout(torch_instance, chung_instance):
    """The torch-GRU weights that make it the Chung GRU up to the reset placement:
    z_torch = 1 − z_chung, hidden-side biases zero (docs/theory.md: “The catalogue”)."""
    leaf = chung_instance.leaf
    negated_z = {"W_hz": -leaf("W_z"), "W_iz": -leaf("U_z"), "b_iz": -leaf("b_z")}
    same = {"W_hr": leaf("W_r"), "W_ir": leaf("U_r"), "b_ir": leaf("b_r"), "W_hn": leaf("W_h"),
            "W_in": leaf("U_h"), "b_in": leaf("b_h")}
    values = {**negated_z, **same}
    substitution = {}
    for name in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"):
        value = values.get(name, sympy.zeros(*torch_instance.leaf(name).shape))
        substitution.update(zip(torch_instance.leaf(name), value))
    return substitution


def _torch_and_chung_state_jacobians(n):
    """The torch GRU's state Jacobian with Chung-equivalent weights, and the Chung GRU's."""
    torch_instance, chung_instance = _instance(cells.gru_torch(), n, 1), _instance(cells.gru_chung(), n, 1)
    chung_weights = _chung_parameters_in_torch_layout(torch_instance, chung_instance)
    mapped = dense_jacobian(torch_instance, "h", "h").xreplace(chung_weights)
    point = random_point(chung_instance.all_variables(), seed=29)
    return _in_exponentials(mapped), _in_exponentials(dense_jacobian(chung_instance, "h", "h")), point


def test_torch_and_chung_grus_are_different_maps():
    """With z ↔ 1 − z and b_h· = 0 the two GRUs differ only by r ⊙ (W h) vs W (r ⊙ h): exactly the
    same map at n = 1, different Jacobians at a generic point for n = 2 (docs/theory.md: “Checkable properties”)."""
    assert exactly_equal(*_torch_and_chung_state_jacobians(1))
    torch_jacobian, chung_jacobian, point = _torch_and_chung_state_jacobians(2)
    difference = (torch_jacobian - chung_jacobian).xreplace(point).evalf(30)
    assert max(abs(entry) for entry in difference) > 1e-3


def test_cho_gru_is_chung_gru_with_update_gate_flipped():
    cho, chung = _instance(cells.gru_cho(), 2, 1), _instance(cells.gru_chung(), 2, 1)
    flip = {**dict(zip(cho.leaf("W_z"), -chung.leaf("W_z"))), **dict(zip(cho.leaf("U_z"), -chung.leaf("U_z"))),
            **dict(zip(cho.leaf("b_z"), -chung.leaf("b_z")))}
    point = random_point(chung.all_variables(), seed=4)
    cho_update, chung_update = _in_exponentials(cho.update("h")), _in_exponentials(chung.update("h"))
    assert exactly_equal(cho_update.xreplace(flip), chung_update, point)
    assert not exactly_equal(cho_update, chung_update, point)


# float64 round-off, scaled by the number of operations in one cell step (sizes are O(1) here)
FLOAT64_TOLERANCE = 256 * np.finfo(np.float64).eps


@pytest.mark.parametrize(
    "name, module_name, blocks", [("gru_torch", "GRUCell", "rzn"), ("lstm_torch", "LSTMCell", "ifgo")]
)
def test_torch_cells_compute_what_the_torch_modules_compute(name, module_name, blocks):
    """The catalogue's torch cells, evaluated with the module's weights split into row blocks,
    give the module's output (the oracle tests only check the cell against itself)."""
    torch = pytest.importorskip("torch")
    n, m = 3, 2
    generator = torch.Generator().manual_seed(0)
    module = getattr(torch.nn, module_name)(m, n, dtype=torch.float64)
    cell = cells.get(name)
    instance = _instance(cell, n, m)
    values = {}
    for side in "ih":
        weight, bias = getattr(module, f"weight_{side}h"), getattr(module, f"bias_{side}h")
        for k, block in enumerate(blocks):
            values.update(zip(instance.leaf(f"W_{side}{block}"), weight[k * n:(k + 1) * n].flatten().tolist()))
            values.update(zip(instance.leaf(f"b_{side}{block}"), bias[k * n:(k + 1) * n].tolist()))
    x = torch.randn(1, m, dtype=torch.float64, generator=generator)
    states = [torch.randn(1, n, dtype=torch.float64, generator=generator) for _ in cell.states]
    for leaf, value in zip(("x", *(s.name for s in cell.states)), (x, *states)):
        values.update(zip(instance.leaf(leaf), value[0].tolist()))
    with torch.no_grad():
        outputs = module(x, states[0]) if len(states) == 1 else module(x, tuple(states))
    for state, output in zip(cell.states, outputs if isinstance(outputs, tuple) else (outputs,)):
        ours = np.array(instance.update(state.name).xreplace(values).evalf(), dtype=float).ravel()
        np.testing.assert_allclose(ours, output.numpy().ravel(), rtol=FLOAT64_TOLERANCE, atol=FLOAT64_TOLERANCE)


# --------------------------------------------------------------------------- registry and options
REQUIRED = {"leaky", "leaky_dt", "elman", "scalar_gate", "multi_gate", "gru_chung", "gru_cho", "gru_torch",
            "lstm_torch", "gru_gain", "lstm_gain", "wcrnn"}  # issue 2, item 5


def test_names_are_sorted_unique_and_cover_the_issue():
    names = cells.names()
    assert names == sorted(set(names))
    assert REQUIRED <= set(names)


@pytest.mark.parametrize("name", cells.names())
def test_get_builds_what_the_named_function_builds(name):
    by_name, by_function = cells.get(name), getattr(cells, name)()
    assert by_name.updates == by_function.updates
    assert [p.name for p in by_name.parameters] == [p.name for p in by_function.parameters]


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_variant_is_a_documented_frozen_cell(variant):
    name, opts = variant
    cell = cells.get(name, **opts)
    assert cell.frozen and cell.name == name
    assert cell.description and cell.reference and cell.convention


def test_variants_exercise_every_option_value():
    exercised = {(name, key, value) for name, opts in VARIANTS for key, value in opts.items()}
    assert ("wcrnn", "residual", "nonlinear") in exercised
    for matrix in ("homogeneous", "diagonal"):
        assert ("wcrnn", "residual_matrix", matrix) in exercised
    for name in cells.names():
        if "bias" in cells.option_names(name):
            assert (name, "bias", False) in exercised, f"{name}: bias=False is never tested"


@pytest.mark.parametrize("name", cells.names())
def test_docstring_gives_equations_convention_and_reference(name):
    doc = " ".join((getattr(cells, name).__doc__ or "").split())
    reference = " ".join(cells.get(name).reference.split())
    assert "Equations as implemented" in doc and "Convention" in doc
    assert f"Reference: {reference}" in doc
    assert "[R" not in doc, "review marks do not belong in user-facing text"
    assert ("not available to us" in doc) is (name in RECONSTRUCTED), "a reconstruction says so in plain words"


def test_torch_cells_name_parameters_after_torch_row_blocks():
    gru = [p.name for p in cells.gru_torch().parameters]
    assert gru == [f"{kind}_{side}{block}" for kind, side in (("W", "i"), ("W", "h"), ("b", "i"), ("b", "h"))
                   for block in "rzn"]
    lstm = cells.lstm_torch()
    assert [p.name for p in lstm.parameters] == [f"{kind}_{side}{block}" for kind, side in
                                                 (("W", "i"), ("W", "h"), ("b", "i"), ("b", "h")) for block in "ifgo"]
    assert [s.name for s in lstm.states] == ["h", "c"]


BAD_GETS = [
    ("gru_troch", {}, UnknownNameError, "unknown cell 'gru_troch'; did you mean 'gru_torch'"),
    ("LSTM", {}, UnknownNameError, "unknown cell 'LSTM'.*Known cells: elman"),
    ("leaky", {"biass": True}, SpecError, "unknown option 'biass'; did you mean 'bias'"),
    ("gru_chung", {"bias": False}, SpecError, r"unknown option 'bias'.*Known options: m, n\. Cell 'gru_chung'"),
    ("leaky", {"bias": "no"}, SpecError, r"cell 'leaky': option bias='no' must be True or False"),
    ("wcrnn", {"residual": "nonlinar"}, SpecError, "unknown residual= value 'nonlinar'; did you mean 'nonlinear'"),
    ("wcrnn", {"residual_matrix": "rotational"}, SpecError, "Known residual_matrix= values: dense, diagonal"),
    ("elman", {"n": 0}, ShapeError, "state 'h': size 0 is not a positive integer"),
    ("gru_torch", {"m": "h"}, SpecError, "input 'x': size name 'h' is also the name of a state; .* name the size differently"),
]


@pytest.mark.parametrize("name, opts, error, match", BAD_GETS, ids=[f"{b[0]}-{b[3][:24]}" for b in BAD_GETS])
def test_bad_names_and_options_raise_clear_errors(name, opts, error, match):
    with pytest.raises(error, match=match):
        cells.get(name, **opts)


# --------------------------------------------------------------------------- residual matrices
def test_homogeneous_residual_is_the_homogeneous_wcrnn():
    lam = sympy.Rational(9, 10)
    R = cells.residual_homogeneous(3, lam)
    assert isinstance(R, sympy.ImmutableMatrix) and R == lam * sympy.eye(3)
    dense, scaled = _instance(cells.wcrnn(), 3, 1), _instance(cells.wcrnn(residual_matrix="homogeneous"), 3, 1)
    filled = dense.update("h").xreplace(dict(zip(dense.leaf("R"), R)))
    assert exactly_equal(filled, scaled.update("h").xreplace({scaled.leaf("lam"): lam}), random_point(
        scaled.all_variables(), seed=1))


def test_heterogeneous_residual_is_the_diagonal_wcrnn():
    lams = [sympy.Rational(1, 2), sympy.Rational(4, 5), -1]
    R = cells.residual_heterogeneous(lams)
    dense, diagonal = _instance(cells.wcrnn(), 3, 2), _instance(cells.wcrnn(residual_matrix="diagonal"), 3, 2)
    filled = dense.update("h").xreplace(dict(zip(dense.leaf("R"), R)))
    expected = diagonal.update("h").xreplace(dict(zip(diagonal.leaf("lam"), lams)))
    assert exactly_equal(filled, expected, random_point(diagonal.all_variables(), seed=2))


def test_rotational_residual_is_scaled_orthogonal_with_the_given_phases():
    lam, angles = sympy.Rational(19, 20), [2 * sympy.pi / 28, sympy.pi / 3]
    R = cells.residual_rotational(lam, angles)
    assert R.shape == (4, 4)
    assert sympy.simplify(R.T * R - lam**2 * sympy.eye(4)) == sympy.zeros(4, 4)
    eigenvalues = np.sort_complex(np.linalg.eigvals(np.array(R.evalf(), dtype=float)))
    expected = np.sort_complex([float(lam) * cmath.exp(s * 1j * float(t)) for t in angles for s in (1, -1)])
    np.testing.assert_allclose(eigenvalues, expected, rtol=0, atol=64 * np.finfo(float).eps)


BAD_RESIDUALS = [
    (cells.residual_homogeneous, (0, 1), ShapeError, "n=0 must be a positive integer"),
    (cells.residual_homogeneous, (True, 1), ShapeError, "n=True must be a positive integer"),
    (cells.residual_homogeneous, (2, "big"), SpecError, "lam='big' must be a real finite number"),
    (cells.residual_homogeneous, (2, sympy.I), SpecError, "lam=I must be a real"),
    (cells.residual_rotational, (0.9, []), SpecError, "angles is empty"),
    (cells.residual_rotational, (0.9, 0.3), SpecError, "angles=0.3 must be a sequence of numbers"),
    (cells.residual_rotational, (float("nan"), [0.3]), SpecError, "lam=nan must be a real finite number"),
    (cells.residual_heterogeneous, ([0.5, sympy.oo],), SpecError, r"lams\[1\]=oo must be a real finite number"),
    (cells.residual_heterogeneous, ("0.5",), SpecError, "lams='0.5' must be a sequence of numbers"),
]


@pytest.mark.parametrize("builder, args, error, match", BAD_RESIDUALS, ids=[b[3][:30] for b in BAD_RESIDUALS])
def test_bad_residual_arguments_raise_clear_errors(builder, args, error, match):
    with pytest.raises(error, match=match):
        builder(*args)


# ---------------------------------------------------------------------- defaults of fixed parameters
DEFAULTS = {
    ("leaky", "alpha"): 0.8, ("leaky_dt", "dt"): 1.0, ("leaky_dt", "tau"): 1.25,
    **{("gru_gain", f"alpha_{k}"): 1.0 for k in "zr"}, **{("lstm_gain", f"alpha_{k}"): 1.0 for k in "ifo"},
}
WITHOUT_DEFAULT = {("wcrnn", "R"), ("wcrnn", "lam"), ("wcrnn", "gamma")}


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_parameters_carry_their_defaults_and_notes(variant):
    """The catalogue, not the numeric layer, says what a fixed parameter defaults to and why;
    a fixed parameter without a default says what to pass."""
    name, options = variant
    for p in cells.get(name, **options).parameters:
        assert p.default == DEFAULTS.get((name, p.name)), (name, p.name)
        if p.default is not None:
            assert p.note, f"{name}.{p.name}: a default says why it is what it is"
        elif not p.trainable:
            assert (name, p.name) in WITHOUT_DEFAULT and "pass" in p.note and "e.g." in p.note, (name, p.name)
        else:
            assert p.note == "", (name, p.name)


def test_a_default_is_a_float_read_back_from_the_declaration():
    cell = symbolic.Cell("c")
    h = cell.state("h", "n")
    a = cell.parameter("a", trainable=False, default=sympy.Rational(1, 2), note="half")
    W = cell.parameter("W", ("n", "n"), trainable=False, default=np.float32(0.25))
    cell.update(h, a * (W @ h))
    assert (cell.piece("a").default, cell.piece("a").note) == (0.5, "half")
    assert type(cell.piece("W").default) is float and cell.piece("W").default == 0.25
