"""Every kind of bad expression raises a clear gatejac error: matrices where the cell is
elementwise, products of matrices, coefficients that are not scalar parameters, frozen cells,
pieces of two cells mixed, bad arguments of ``derive`` and the derivation, and operator
mistakes between SymPy matrices and cell vectors (gatejac's error, not SymPy's).

The table's rows are as in ``tests/test_errors_declarations.py`` (which checks bad
declarations): a function that makes the mistake, the error and a regex of its message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

from gatejac import symbolic
from gatejac.symbolic import (
    Cell,
    FrozenCellError,
    GatejacError,
    NotElementwiseError,
    SpecError,
    UndeclaredSymbolError,
    UnknownNameError,
    apply,
    derive,
    tanh,
)
from spec_mistakes import assert_clear_error, each_mistake, complete_cell, new_cell
from test_errors_declarations import CASES as DECLARATION_CASES


# ------------------------------------------------------------------ elementwise
def matrix_to_tanh():
    cell, _, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return tanh(W)


def matrix_as_update():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, W)


def matrix_as_gate():
    cell, _, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    cell.gate("g", W.T)


def matrix_plus_vector():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return W + h


def vector_times_matrix():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return h * W


def vector_at_matrix():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return h @ W


def matrix_entry():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return h * W[0, 1]


def matrix_inside_scalar_expression():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, h * sympy.Trace(W))


def undefined_function_applied():
    _, h, _ = new_cell()
    return apply(sympy.Function("f"), h)


def undefined_function_called_on_vector():
    _, h, _ = new_cell()
    return sympy.Function("f")(h)


def sympy_function_called_on_vector():
    _, h, _ = new_cell()
    return sympy.tanh(h)


def unevaluated_derivative():
    _, h, _ = new_cell()
    return apply(lambda u: sympy.Derivative(u**3, u), h)


def function_failing_on_sympy():
    _, h, _ = new_cell()
    return apply(lambda u: u.no_such_attribute, h)


def non_expression_operand():
    _, h, _ = new_cell()
    return h + "x"


def numpy_array_operand():
    _, h, _ = new_cell()
    return np.ones(3) + h


def truth_value_of_vector():
    _, h, _ = new_cell()
    return bool(h)


def non_matrix_left_of_at():
    cell, h, _ = new_cell()
    a = cell.parameter("a")
    return a @ h


# ------------------------------------------------------------------ matrix expressions
def product_of_matrices():
    cell, h, _ = new_cell()
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "n"))
    return (W * U) @ h


def product_of_matrices_with_at():
    cell, h, _ = new_cell()
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "n"))
    return (W - 2 * (W @ U.T)) @ h


def coefficient_from_a_scalar_gate():
    cell, h, _ = new_cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    s = w @ h
    return (s.expr * W) @ h


def coefficient_from_a_state():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    return (2 * h.expr * W) @ h


def vector_scaling_a_matrix():
    cell, h, _ = new_cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    return ((w @ h) * W) @ h


# ------------------------------------------------------------------ frozen cells, cells mixed
def frozen_new_parameter():
    cell, _, _ = complete_cell()
    cell.validate()
    cell.parameter("b", "n")


def frozen_second_update():
    cell, h, _ = complete_cell()
    derive(cell)
    cell.update(h, h)


def frozen_new_matvec():
    cell, h, _ = complete_cell()
    cell.validate()
    return cell.piece("W_h").symbol @ h


def vectors_of_two_cells():
    _, h, _ = new_cell("first")
    other = Cell("second")
    k = other.state("k", "n")
    return h + k


def update_from_another_cell():
    cell, h, _ = new_cell("first")
    other = Cell("second")
    cell.update(h, other.state("k", "n"))


def matvec_on_another_cells_vector():
    cell, _, _ = new_cell("first")
    W = cell.parameter("W", ("n", "n"))
    return W @ Cell("second").state("k", "n")


def apply_to_two_cells():
    _, h, _ = new_cell("first")
    k = Cell("second").state("k", "n")
    return apply(lambda u, v: u * v, h, k)


# ------------------------------------------------------------------ derive and the derivation
def unknown_parameter_name():
    cell, _, _ = complete_cell()
    derive(cell).parameter("W_g")


def unknown_parameter_name_far():
    cell, _, _ = complete_cell()
    derive(cell).parameter("zzz")


def derive_a_string():
    derive("leaky")


def derive_none():
    derive(None)


def unknown_piece():
    cell, _, _ = complete_cell()
    cell.piece("W_x")


CASES = [
    # elementwise
    (matrix_to_tanh, NotElementwiseError, r"tanh\(\): argument 0 is the matrix W; .* tanh\(W @ h\)"),
    (matrix_as_update, NotElementwiseError, r"update of state 'h': got the matrix W, .* \(M @ v\)"),
    (matrix_as_gate, NotElementwiseError, r"gate 'g': got the matrix W\.T"),
    (matrix_plus_vector, NotElementwiseError, r"operation with h: got the matrix W\b"),
    (vector_times_matrix, NotElementwiseError, r"operation with h: got the matrix W\b"),
    (vector_at_matrix, NotElementwiseError, r"h @ W: a vector cannot multiply a matrix from the left"),
    (matrix_entry, NotElementwiseError, r"W\[0, 1\] indexes a matrix entry; .* use M @ v"),
    (matrix_inside_scalar_expression, NotElementwiseError, r"uses the matrix W inside an elementwise expression"),
    (undefined_function_applied, NotElementwiseError, r"\['f\(h\)'\] are undefined SymPy functions"),
    (undefined_function_called_on_vector, NotElementwiseError,
     r"the cell expression h was passed to a SymPy function directly; .* gatejac\.symbolic\.apply\(f, v\)"),
    (sympy_function_called_on_vector, NotElementwiseError,
     r"the cell expression h was passed to a SymPy function directly; .* gatejac\.symbolic\.sigmoid/tanh"),
    (unevaluated_derivative, NotElementwiseError, r"Derivative\(h\*\*3, h\) contains an unevaluated derivative"),
    (function_failing_on_sympy, NotElementwiseError, r"'<lambda>' could not be applied .*'no_such_attribute'"),
    (non_expression_operand, SpecError, r"'x' of type str is not a cell expression"),
    (numpy_array_operand, SpecError, r"numpy\.add of a NumPy array of shape \(3,\) and h: .*trainable=False"),
    (truth_value_of_vector, SpecError, r"truth value of the cell expression h is not defined"),
    (non_matrix_left_of_at, NotElementwiseError, r"the SymPy expression a @ h: the left operand of @ must be a SymPy matrix"),
    # matrix expressions
    (product_of_matrices, SpecError, r"W @ U is a product of matrices, .* W @ \(U @ v\) \(the same map\), or declare the product"),
    (product_of_matrices_with_at, SpecError, r"W @ U\.T is a product of matrices, .* W @ \(U\.T @ v\)"),
    (coefficient_from_a_scalar_gate, SpecError, r"coefficient w@h is not a scalar parameter of the cell"),
    (coefficient_from_a_state, SpecError, r"coefficient 2\*h uses h, which is not a scalar parameter"),
    (vector_scaling_a_matrix, NotElementwiseError, r"operation with w@h: got the matrix W"),
    # frozen cells, cells mixed
    (frozen_new_parameter, FrozenCellError, r"cell 'c' is validated and frozen; build a new cell"),
    (frozen_second_update, FrozenCellError, r"cell 'c' is validated and frozen"),
    (frozen_new_matvec, FrozenCellError, r"cell 'c' is validated and frozen"),
    (vectors_of_two_cells, SpecError, r"k belongs to cell 'second', not 'first'"),
    (update_from_another_cell, SpecError, r"update of state 'h': k belongs to cell 'second'"),
    # W @ k is handled by k's cell, which has no W
    (matvec_on_another_cells_vector, UndeclaredSymbolError, r"matrix W is not declared in cell 'second'"),
    (apply_to_two_cells, SpecError, r"the arguments come from different cells \('first' and 'second'\)"),
    # derive and the derivation
    (unknown_parameter_name, UnknownNameError, r"unknown parameter 'W_g'; did you mean 'W_h'\? Known parameters:"),
    (unknown_parameter_name_far, UnknownNameError, r"unknown parameter 'zzz'\. Known parameters: W_h, a, w\."),
    (derive_a_string, SpecError, r"derive\(\) needs a gatejac\.symbolic\.Cell, got str 'leaky'.*symbolic\.cells\.get\('leaky'\)"),
    (derive_none, SpecError, r"derive\(\) needs a gatejac\.symbolic\.Cell, got NoneType None"),
    (unknown_piece, UnknownNameError, r"unknown name 'W_x'; did you mean 'W_h'"),
]


@each_mistake(CASES)
def test_bad_expression_raises_clear_gatejac_error(build, error, message):
    assert_clear_error(build, error, message)


def test_tables_cover_many_distinct_mistakes():
    # the issue asks for at least 12 kinds; every row must be its own mistake
    rows = [*DECLARATION_CASES, *CASES]
    assert len({build for build, _, _ in rows}) == len(rows) >= 12
    assert len({error for _, error, _ in rows}) >= 9


def _matrix_and_vector():
    cell, h, _ = new_cell()
    return cell.parameter("W", ("n", "n")), h


# Operator mistakes mixing a SymPy matrix with a cell vector, in both orders: SymPy must not
# get to raise its own TypeError/SympifyError first (Vec's operator priority wins).
OPERATOR_MISTAKES = {
    "W + h": lambda W, h: W + h,
    "h + W": lambda W, h: h + W,
    "W - h": lambda W, h: W - h,
    "h - W": lambda W, h: h - W,
    "W * h": lambda W, h: W * h,
    "h / W": lambda W, h: h / W,
    "W / h": lambda W, h: W / h,
    "W ** h": lambda W, h: W**h,
    "h ** W": lambda W, h: h**W,
    "h @ W": lambda W, h: h @ W,
    "h @ W.T": lambda W, h: h @ W.T,
    "Identity + h": lambda W, h: sympy.Identity(h.size) + h,
    "Matrix + h": lambda W, h: sympy.Matrix([1, 2]) + h,
    "Matrix @ h": lambda W, h: sympy.Matrix([[1, 2], [3, 4]]) @ h,
    "exp(W)": lambda W, h: symbolic.exp(W),
    "sympy.exp(h)": lambda W, h: sympy.exp(h),
    "sympy.Add(h, 1)": lambda W, h: sympy.Add(h, 1),
}


@pytest.mark.parametrize("mistake", list(OPERATOR_MISTAKES.values()), ids=list(OPERATOR_MISTAKES))
def test_operator_mistakes_raise_gatejac_errors_not_sympy_errors(mistake):
    W, h = _matrix_and_vector()
    with pytest.raises(GatejacError) as raised:
        mistake(W, h)
    assert re.search(r"\bW\b|\bh\b|Matrix|I\b", str(raised.value)), str(raised.value)


def test_sympy_scalars_still_combine_with_vectors():
    # Vec refuses to be converted by SymPy (so sympy.tanh(h) fails clearly); arithmetic with
    # SymPy scalars on either side must still reach Vec's own operators.
    cell, h, _ = new_cell()
    a = cell.parameter("a")
    half = sympy.Rational(1, 2)
    combined = a * h + h * a - half + sympy.exp(a) * h + a**h + h**a
    assert isinstance(combined, symbolic.Vec)
    hs = h.expr
    assert sympy.expand(combined.expr - (2 * a * hs - half + sympy.exp(a) * hs + a**hs + hs**a)) == 0
