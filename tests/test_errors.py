"""Every kind of bad cell specification raises a clear gatejac error.

One table row per mistake: a function that makes it, the ``GatejacError`` subclass it must
raise, and a regex the message must match.  Each regex checks that the message names the
offending piece (the vector, matrix, name, size ...) and, where there is one, what to do.
The mistakes are raised where they are made (the offending call), or at ``validate()`` /
``derive()`` for whole-cell properties such as an unused parameter.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

from gatejac import symbolic
from gatejac.symbolic import (
    Cell,
    DuplicateNameError,
    FrozenCellError,
    GatejacError,
    MissingUpdateError,
    NotElementwiseError,
    ShapeError,
    SpecError,
    UndeclaredSymbolError,
    UnknownNameError,
    UnusedSymbolError,
    apply,
    derive,
    tanh,
)


def _cell(name: str = "c"):
    """A fresh cell with a state ``h`` of size n and an input ``x`` of size m."""
    cell = Cell(name)
    return cell, cell.state("h", "n"), cell.input("x", "m")


def _complete_cell():
    """A valid cell with a matrix ``W_h``, a vector ``w``, a scalar ``a`` and the input ``x``."""
    cell, h, x = _cell()
    W = cell.parameter("W_h", ("n", "n"))
    w = cell.parameter("w", "n")
    a = cell.parameter("a")
    cell.update(h, tanh(W @ h + a * (w @ h) + x.dot(x)))
    return cell, h, x


# ------------------------------------------------------------------ shapes
def elementwise_sizes():
    _, h, x = _cell()
    return h + x


def elementwise_sizes_after_matvec():
    cell, h, _ = _cell()
    W, b = cell.parameter("W", ("n", "n")), cell.parameter("b", "m")
    return W @ h + b


def matvec_columns():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "m"))
    return W @ h


def update_size():
    cell, h, x = _cell()
    U = cell.parameter("U", ("m", "m"))
    cell.update(h, tanh(U @ x))


def dot_sizes():
    _, h, x = _cell()
    return h.dot(x)


def dot_sizes_with_at():
    _, h, x = _cell()
    return h @ x


def dot_with_scalar():
    cell, h, _ = _cell()
    a = cell.parameter("a")
    return h.dot(a)


def scalar_operand_of_matrix():
    cell, h, _ = _cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    return W @ (w @ h)


def scalar_parameter_operand_of_matrix():
    # SymPy itself turns W @ a (a a scalar Symbol) into the matrix a*W; it is rejected where it is used
    cell, h, _ = _cell()
    W, a = cell.parameter("W", ("n", "n")), cell.parameter("a")
    cell.update(h, W @ a)


def size_zero():
    Cell("c").state("h", 0)


def size_negative():
    Cell("c").state("h", -3)


def size_fractional():
    Cell("c").input("x", 2.5)


def size_bool():
    Cell("c").parameter("b", True)


def size_not_a_name():
    Cell("c").state("h", "n m")


def matrix_size_zero():
    Cell("c").parameter("W", ("n", 0))


def parameter_three_dims():
    Cell("c").parameter("T", ("n", "n", "n"))


# ------------------------------------------------------------------ undeclared / unused / updates
def undeclared_symbol():
    cell, h, _ = _cell()
    cell.update(h, tanh(h + sympy.Symbol("z")))


def undeclared_matrix():
    cell, h, _ = _cell()
    M = sympy.MatrixSymbol("M", h.size, h.size)
    cell.update(h, tanh(M @ h))


def undeclared_matrix_in_combination():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    M = sympy.MatrixSymbol("M", h.size, h.size)
    return (W + M) @ h


def size_used_as_value():
    _, h, _ = _cell()
    return h * sympy.Symbol("n")


def unused_parameter():
    cell, h, x = _cell()
    cell.parameter("b", "n")
    cell.update(h, tanh(h + x.dot(x)))
    cell.validate()


def unused_input():
    cell, h, _ = _cell()
    cell.update(h, tanh(h))
    cell.validate()


def unused_gate():
    cell, h, x = _cell()
    cell.gate("g", symbolic.sigmoid(h))
    cell.update(h, tanh(h + x.dot(x)))
    derive(cell)


def state_without_update():
    cell, h, x = _cell()
    c = cell.state("c", "n")
    cell.update(h, tanh(c + x.dot(x)))
    cell.validate()


def cell_without_state():
    Cell("empty").validate()


def two_updates_for_one_state():
    cell, h, _ = _cell()
    cell.update(h, h)
    cell.update("h", tanh(h))


def update_of_unknown_state():
    cell, h, _ = _cell()
    cell.update("k", h)


def update_of_an_input():
    cell, _, x = _cell()
    cell.update(x, x)


# ------------------------------------------------------------------ names
def duplicate_name():
    cell, _, _ = _cell()
    cell.parameter("h", "n")


def name_of_a_size():
    cell, _, _ = _cell()
    cell.parameter("n")


def name_with_leading_underscore():
    Cell("c").parameter("_W", ("n", "n"))


def name_not_an_identifier():
    Cell("c").state("2h", "n")


def name_with_space():
    cell, h, _ = _cell()
    cell.let("pre activation", h)


def name_not_a_string():
    Cell("c").input(3, "m")


def empty_cell_name():
    Cell("")


def trainable_not_bool():
    Cell("c").parameter("a", trainable="yes")


def default_not_a_number():
    Cell("c").parameter("a", trainable=False, default="0.8")


def default_complex():
    Cell("c").parameter("a", trainable=False, default=1j)


def default_bool():
    Cell("c").parameter("a", trainable=False, default=True)


def default_not_finite():
    Cell("c").parameter("a", trainable=False, default=float("nan"))


def default_symbolic():
    Cell("c").parameter("a", trainable=False, default=sympy.Symbol("x"))


def note_not_a_string():
    Cell("c").parameter("a", trainable=False, default=0.5, note=0.5)


# ------------------------------------------------------------------ elementwise
def matrix_to_tanh():
    cell, _, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return tanh(W)


def matrix_as_update():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, W)


def matrix_as_gate():
    cell, _, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    cell.gate("g", W.T)


def matrix_plus_vector():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return W + h


def vector_times_matrix():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return h * W


def vector_at_matrix():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return h @ W


def matrix_entry():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return h * W[0, 1]


def matrix_inside_scalar_expression():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, h * sympy.Trace(W))


def undefined_function_applied():
    _, h, _ = _cell()
    return apply(sympy.Function("f"), h)


def undefined_function_called_on_vector():
    _, h, _ = _cell()
    return sympy.Function("f")(h)


def sympy_function_called_on_vector():
    _, h, _ = _cell()
    return sympy.tanh(h)


def unevaluated_derivative():
    _, h, _ = _cell()
    return apply(lambda u: sympy.Derivative(u**3, u), h)


def function_failing_on_sympy():
    _, h, _ = _cell()
    return apply(lambda u: u.no_such_attribute, h)


def non_expression_operand():
    _, h, _ = _cell()
    return h + "x"


def numpy_array_operand():
    _, h, _ = _cell()
    return np.ones(3) + h


def truth_value_of_vector():
    _, h, _ = _cell()
    return bool(h)


def non_matrix_left_of_at():
    cell, h, _ = _cell()
    a = cell.parameter("a")
    return a @ h


# ------------------------------------------------------------------ matrix expressions
def product_of_matrices():
    cell, h, _ = _cell()
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "n"))
    return (W * U) @ h


def product_of_matrices_with_at():
    cell, h, _ = _cell()
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "n"))
    return (W - 2 * (W @ U.T)) @ h


def coefficient_from_a_scalar_gate():
    cell, h, _ = _cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    s = w @ h
    return (s.expr * W) @ h


def coefficient_from_a_state():
    cell, h, _ = _cell()
    W = cell.parameter("W", ("n", "n"))
    return (2 * h.expr * W) @ h


def vector_scaling_a_matrix():
    cell, h, _ = _cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    return ((w @ h) * W) @ h


# ------------------------------------------------------------------ frozen cells, cells mixed
def frozen_new_parameter():
    cell, _, _ = _complete_cell()
    cell.validate()
    cell.parameter("b", "n")


def frozen_second_update():
    cell, h, _ = _complete_cell()
    derive(cell)
    cell.update(h, h)


def frozen_new_matvec():
    cell, h, _ = _complete_cell()
    cell.validate()
    return cell.piece("W_h").symbol @ h


def vectors_of_two_cells():
    _, h, _ = _cell("first")
    other = Cell("second")
    k = other.state("k", "n")
    return h + k


def update_from_another_cell():
    cell, h, _ = _cell("first")
    other = Cell("second")
    cell.update(h, other.state("k", "n"))


def matvec_on_another_cells_vector():
    cell, _, _ = _cell("first")
    W = cell.parameter("W", ("n", "n"))
    return W @ Cell("second").state("k", "n")


def apply_to_two_cells():
    _, h, _ = _cell("first")
    k = Cell("second").state("k", "n")
    return apply(lambda u, v: u * v, h, k)


# ------------------------------------------------------------------ derive and the derivation
def unknown_parameter_name():
    cell, _, _ = _complete_cell()
    derive(cell).parameter("W_g")


def unknown_parameter_name_far():
    cell, _, _ = _complete_cell()
    derive(cell).parameter("zzz")


def derive_a_string():
    derive("leaky")


def derive_none():
    derive(None)


def unknown_piece():
    cell, _, _ = _complete_cell()
    cell.piece("W_x")


# class names of gatejac's internals and its generated node names (``_mv3``, ``_dot0``)
INTERNAL = re.compile(r"\bVec\(|\bLeaf\b|\bMatVec\b|\bMatrixParameter\b|\bNamed\b|\bNodeSymbol\b|\b_(mv|dot)\d")

CASES = [
    # shapes
    (elementwise_sizes, ShapeError, r"h \+ x mixes vectors of different sizes \(h of size n; x of size m\)"),
    (elementwise_sizes_after_matvec, ShapeError, r"W@h \+ b mixes vectors .* \(W@h of size n; b of size m\)"),
    (matvec_columns, ShapeError, r"W @ h: the matrix has m columns but the vector has size n"),
    (update_size, ShapeError, r"update of state 'h' has size m but the state has size n"),
    (dot_sizes, ShapeError, r"dot\(h, x\): needs two vectors of one size, got size n and size m"),
    (dot_sizes_with_at, ShapeError, r"dot\(h, x\): needs two vectors of one size"),
    (dot_with_scalar, ShapeError, r"dot\(h, a\): .* got size n and a scalar"),
    (scalar_operand_of_matrix, ShapeError, r"W @ w@h: the operand is a scalar; a matrix needs a vector"),
    (scalar_parameter_operand_of_matrix, NotElementwiseError, r"update of state 'h': got the matrix a\*W"),
    (size_zero, ShapeError, r"state 'h': size 0 is not a positive integer or a size name"),
    (size_negative, ShapeError, r"state 'h': size -3 is not a positive integer"),
    (size_fractional, ShapeError, r"input 'x': size 2\.5 is not a positive integer"),
    (size_bool, ShapeError, r"parameter 'b': size None is not a positive integer"),
    (size_not_a_name, ShapeError, r"state 'h': size 'n m' is not a positive integer or a size name"),
    (matrix_size_zero, ShapeError, r"parameter 'W' \(columns\): size 0"),
    (parameter_three_dims, ShapeError, r"parameter 'T': shape \('n', 'n', 'n'\) must be \(\), \(size,\) or \(rows"),
    # undeclared, unused, updates
    (undeclared_symbol, UndeclaredSymbolError, r"symbol z is not declared in cell 'c'; declare it"),
    (undeclared_matrix, UndeclaredSymbolError, r"matrix M is not declared .* cell\.parameter\('M', \(rows"),
    (undeclared_matrix_in_combination, UndeclaredSymbolError, r"matrix M in M \+ W is not declared in cell 'c'"),
    (size_used_as_value, UndeclaredSymbolError, r"n is a size of cell 'c', not a value"),
    (unused_parameter, UnusedSymbolError, r"parameter 'b' of cell 'c' is declared but no update uses it"),
    (unused_input, UnusedSymbolError, r"input 'x' of cell 'c' is declared but no update uses it"),
    (unused_gate, UnusedSymbolError, r"gate 'g' of cell 'c' is declared but no update uses it"),
    (state_without_update, MissingUpdateError, r"state 'c' of cell 'c' has no update; add cell\.update\('c'"),
    (cell_without_state, MissingUpdateError, r"cell 'empty' declares no state; declare one"),
    (two_updates_for_one_state, DuplicateNameError, r"state 'h' already has an update"),
    (update_of_unknown_state, UnknownNameError, r"unknown state 'k'\. Known states: h\."),
    (update_of_an_input, UnknownNameError, r"'x' is not a state but a declared input"),
    # names
    (duplicate_name, DuplicateNameError, r"name 'h' is already declared in cell 'c'"),
    (name_of_a_size, DuplicateNameError, r"name 'n' is already a size of cell 'c'"),
    (name_with_leading_underscore, SpecError, r"name '_W' is not allowed: use a Python identifier that does not"),
    (name_not_an_identifier, SpecError, r"name '2h' is not allowed"),
    (name_with_space, SpecError, r"name 'pre activation' is not allowed"),
    (name_not_a_string, SpecError, r"name 3 is not allowed"),
    (empty_cell_name, SpecError, r"cell name '' is not allowed: give the cell a non-empty string name"),
    (trainable_not_bool, SpecError, r"parameter 'a': trainable='yes' must be True or False"),
    (default_not_a_number, SpecError, r"parameter 'a': default='0\.8' must be a finite real number .* default=0\.8"),
    (default_complex, SpecError, r"parameter 'a': default=1j must be a finite real number"),
    (default_bool, SpecError, r"parameter 'a': default=True must be a finite real number"),
    (default_not_finite, SpecError, r"parameter 'a': default=nan must be a finite real number"),
    (default_symbolic, SpecError, r"parameter 'a': default=x must be a finite real number"),
    (note_not_a_string, SpecError, r"parameter 'a': note=0\.5 must be a string"),
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


@pytest.mark.parametrize(("build", "error", "message"), [pytest.param(*c, id=c[0].__name__) for c in CASES])
def test_bad_spec_raises_clear_gatejac_error(build, error, message):
    with pytest.raises(error, match=message) as raised:
        build()
    assert isinstance(raised.value, GatejacError)
    assert type(raised.value).__module__ == "gatejac.symbolic._errors"
    assert not INTERNAL.search(str(raised.value)), "messages speak the cell's language, not gatejac's class names"


def test_table_covers_many_distinct_mistakes():
    # the issue asks for at least 12 kinds; every row must be its own mistake
    assert len({build for build, _, _ in CASES}) == len(CASES) >= 12
    assert len({error for _, error, _ in CASES}) >= 9


def _matrix_and_vector():
    cell, h, _ = _cell()
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
    cell, h, _ = _cell()
    a = cell.parameter("a")
    half = sympy.Rational(1, 2)
    combined = a * h + h * a - half + sympy.exp(a) * h + a**h + h**a
    assert isinstance(combined, symbolic.Vec)
    hs = h.expr
    assert sympy.expand(combined.expr - (2 * a * hs - half + sympy.exp(a) * hs + a**hs + hs**a)) == 0
