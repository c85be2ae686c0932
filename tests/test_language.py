"""Gaps of the cell language a newcomer hits: linear combinations with scalar-parameter
coefficients, size symbols written by hand, products of matrices, names shared by a state and
a size, NumPy/torch objects handed to a cell, and the printed form of a derivation.

Every derivation here is compared with the dense SymPy oracle (``Instance`` + SymPy's
``Matrix.jacobian``), exactly, as the catalogue tests do.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import sympy

from gatejac.symbolic import (
    Cell,
    DuplicateNameError,
    GatejacError,
    Instance,
    NotElementwiseError,
    SpecError,
    dense_block,
    dense_jacobian,
    derivation_text,
    derive,
    exactly_equal,
    random_point,
    sigmoid,
    tanh,
)

INTERNAL = re.compile(r"\bVec\(|\bLeaf\b|\bMatVec\b|\bMatrixParameter\b|\bNamed\b|\b_(mv|dot)\d|\bfactors=")


def assert_exact(cell: Cell, sizes=None) -> None:
    """Every state and parameter Jacobian of ``cell`` equals the dense oracle's, exactly."""
    derivation = derive(cell)
    for n in (1, 2, 3):
        instance = Instance(cell, sizes or {"n": n})
        point = random_point(instance.all_variables(), seed=n)
        for (out, wrt), block in derivation.blocks().items():
            expected = dense_jacobian(instance, out, wrt)
            assert exactly_equal(dense_block(instance, block), expected, point), (cell.name, out, wrt, n)


# ---------------------------------------------------------------------- linear combinations
COMBINATIONS = {
    "beta*(W + W.T)": lambda W, s, h: s["beta"] * (W + W.T),
    "alpha*W + beta*W.T - g*I": lambda W, s, h: s["alpha"] * W + s["beta"] * W.T - s["g"] * sympy.Identity(h.size),
    "(alpha*beta)*(W - g*I).T": lambda W, s, h: (s["alpha"] * s["beta"]) * (W - s["g"] * sympy.Identity(h.size)).T,
    "alpha**2*W + (1 - beta)*(W + g*W.T)": lambda W, s, h: s["alpha"] ** 2 * W + (1 - s["beta"]) * (W + s["g"] * W.T),
    "g*(alpha*I + beta*(W - W.T))": lambda W, s, h: s["g"] * (s["alpha"] * sympy.Identity(h.size) + s["beta"] * (W - W.T)),
}


@pytest.mark.parametrize("name", COMBINATIONS)
def test_linear_combinations_with_scalar_parameter_coefficients_derive_exactly(name):
    """``beta * (M + M.T) @ h`` was refused ("M + M.T is not a matrix parameter"): only numeric
    coefficients worked, because SymPy distributes numbers by itself."""
    cell = Cell("combination")
    h = cell.state("h", "n")
    W = cell.parameter("W", ("n", "n"))
    scalars = {p: cell.parameter(p) for p in ("alpha", "beta", "g")}
    matrix = COMBINATIONS[name](W, scalars, h)
    free = {s.name for s in matrix.free_symbols if isinstance(s, sympy.Symbol)} & set(scalars)
    cell.update(h, tanh(matrix @ h) + sum((scalars[p] for p in set(scalars) - free), sympy.S.Zero) * h)
    assert_exact(cell.validate())


def test_scalar_parameters_in_a_matrix_are_differentiated_without_new_nodes():
    cell = Cell("skew")
    h = cell.state("h", "n")
    alpha, beta, g = (cell.parameter(p) for p in ("alpha", "beta", "g"))
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, tanh((alpha * W + beta * W.T - g * sympy.Identity(h.size)) @ h))
    derivation = derive(cell)
    assert str(derivation.parameter("alpha")["h", "alpha"]) == "dh'/dalpha =\n      diag(1 - tanh(" \
        "(alpha*W + beta*W.T - g*I)@h)**2) @ (W) @ (h)"
    assert_exact(cell)


# ---------------------------------------------------------------------- a user's Symbol("n")
N = sympy.Symbol("n")  # a plain symbol, not the cell's positive-integer size


@pytest.mark.parametrize("order", ["W - g*I", "g*I - W", "-g*I + W.T", "W - W.T - g*I"])
def test_a_plain_symbol_n_is_the_cells_size_whatever_the_argument_order(order):
    """``W - g*Identity(Symbol("n"))`` raised "n columns but the vector has size n" while
    ``W - W.T - g*Identity(Symbol("n"))`` passed: it depended on SymPy's argument order."""
    cell = Cell("identity")
    h = cell.state("h", N)
    W = cell.parameter("W", (N, N))
    g = cell.parameter("g")
    matrix = {"W - g*I": W - g * sympy.Identity(N), "g*I - W": g * sympy.Identity(N) - W,
              "-g*I + W.T": -g * sympy.Identity(N) + W.T, "W - W.T - g*I": W - W.T - g * sympy.Identity(N)}[order]
    cell.update(h, tanh(matrix @ h))
    assert_exact(cell.validate())


def test_a_plain_symbol_n_alone_is_the_identity_of_the_cells_size():
    cell = Cell("scaled")
    h = cell.state("h", "n")
    lam = cell.parameter("lam", trainable=False)
    cell.update(h, (lam * sympy.Identity(sympy.Symbol("n"))) @ h + sympy.Identity(sympy.Symbol("n")) @ tanh(h))
    assert_exact(cell.validate())


# ---------------------------------------------------------------------- products of matrices
def test_a_product_of_matrix_parameters_says_how_to_write_it():
    """Decision: no products inside M of M @ v (kernels would form W·W); the message gives the
    same map written as two products, which derives and compiles."""
    cell = Cell("square")
    h = cell.state("h", "n")
    W = cell.parameter("W", ("n", "n"))
    with pytest.raises(SpecError, match=r"W @ W is a product of matrices.* W @ \(W @ v\) \(the same map\)") as raised:
        (W @ W) @ h
    assert "W**2" not in str(raised.value)
    cell.update(h, tanh(W @ (W @ h)))
    assert_exact(cell.validate())


# ---------------------------------------------------------------------- a state named like its size
def test_a_state_named_like_its_size_says_why_and_suggests_another_size_name():
    with pytest.raises(DuplicateNameError, match=r"size name 'n' is also the name of this state; sizes are symbols"
                       r" in the shapes, so one name cannot be both — name the size differently, e.g\. 'm'"):
        Cell("c").state("n", "n")
    cell = Cell("c")
    cell.state("h", "n")
    with pytest.raises(DuplicateNameError, match=r"name 'n' is already a size of cell 'c': sizes are symbols"):
        cell.input("n", "m")


# ---------------------------------------------------------------------- NumPy and torch objects
def _vector():
    cell = Cell("c")
    return cell, cell.state("h", "n")


@pytest.mark.parametrize("function", ["tanh", "exp", "log"])
def test_numpy_functions_on_a_cell_expression_suggest_gatejacs_own(function):
    _, h = _vector()
    with pytest.raises(NotElementwiseError, match=rf"numpy\.{function} was called on the cell expression h; .*"
                       rf"write gatejac\.symbolic\.{function}\(v\) instead"):
        getattr(np, function)(h)


def test_numpy_arrays_are_named_by_shape_and_a_fixed_parameter_is_suggested():
    cell, h = _vector()
    big = np.full((3, 3), 0.123456789)
    for attempt in (lambda: big @ h, lambda: big * h, lambda: np.add(h, big), lambda: cell.matvec(big, h),
                    lambda: h @ big, lambda: tanh(big)):
        with pytest.raises(NotElementwiseError) as raised:
            attempt()
        message = str(raised.value)
        assert "NumPy array of shape (3, 3)" in message and "0.123" not in message, message
        assert not INTERNAL.search(message), message
    with pytest.raises(NotElementwiseError, match=r"a NumPy array of shape \(3, 3\) @ h: .*trainable=False"):
        big @ h


def test_numpy_scalars_still_combine_like_numbers():
    _, h = _vector()
    assert str(np.float64(2.0) * h) == str(2.0 * h)
    assert str(h - np.float32(0.5)) == str(h - 0.5)


def test_torch_functions_and_tensors_on_a_cell_expression_raise_gatejac_errors():
    torch = pytest.importorskip("torch")
    _, h = _vector()
    with pytest.raises(NotElementwiseError, match=r"torch\.tanh was called on the cell expression h; .*"
                       r"gatejac\.symbolic\.tanh\(v\)"):
        torch.tanh(h)
    with pytest.raises(NotElementwiseError, match=r"a torch tensor of shape \(2, 2\) @ h: .*trainable=False"):
        torch.ones(2, 2) @ h


def test_sigmoid_is_a_sympy_function_that_also_applies_to_cell_vectors():
    cell, h = _vector()
    gate = sigmoid(h)
    assert str(gate) == "sigmoid(h)" and gate.expr.atoms(sigmoid)
    with pytest.raises(NotElementwiseError, match=r"NumPy array of shape \(2,\)"):
        sigmoid(np.ones(2))


def test_importing_symbolic_loads_neither_numpy_nor_torch():
    code = "import sys, gatejac.symbolic; print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


# ---------------------------------------------------------------------- printed forms
def _gated():
    cell = Cell("gated")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m"))
    g = cell.gate("g", sigmoid(W @ h))
    cell.update(h, (1 - g) * h + g * tanh(U @ x))
    return cell.validate()


def test_str_of_jacobians_terms_and_derivations_reads_like_the_closed_form():
    derivation = derive(_gated())
    block = derivation.state["h", "h"]
    assert str(block.terms[0]) in {"diag(1 - g)", "diag((-h + tanh(U@x))*sigmoid_prime(W@h)) @ (W)"}
    assert str(block) == "\n".join(
        ["dh'/dh =", *(f"    {'+' if i else ' '} {term}" for i, term in enumerate(block.terms))])
    assert "dh'/dh =" in str(derivation.state) and "dh'/dx =" in str(derivation.input)
    assert str(derivation) == derivation_text(derivation)
    for shown in (" ".join(map(str, block.terms)), str(block), str(derivation.state), str(derivation.parameter("W")),
                  str(derivation)):
        assert "W@h" in shown or "U@x" in shown or "kron" in shown, shown
        assert not INTERNAL.search(shown) and "Term(" not in shown and "Diag(" not in shown, shown
    assert repr(block).startswith("Jacobian(")  # repr stays structural


def test_messages_of_a_derived_cell_never_name_internal_nodes():
    cell = _gated()
    with pytest.raises(GatejacError) as raised:
        cell.update("h", cell.piece("g").symbol)
    assert not INTERNAL.search(str(raised.value))


def test_a_matrix_whose_terms_cancel_is_a_clear_error():
    cell = Cell("cancel")
    h = cell.state("h", "n")
    W, a = cell.parameter("W", ("n", "n")), cell.parameter("a")
    with pytest.raises(SpecError, match=r"is zero; drop the product"):
        (a * (W + W.T) - a * W - a * W.T) @ h


def test_a_torch_function_on_a_list_of_cell_expressions_raises_a_gatejac_error():
    torch = pytest.importorskip("torch")
    _, h = _vector()
    with pytest.raises(NotElementwiseError, match=r"torch\.cat was called on the cell expression h"):
        torch.cat([h, h])
