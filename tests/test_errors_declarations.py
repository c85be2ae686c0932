"""Every kind of bad declaration raises a clear gatejac error: sizes and shapes, undeclared,
unused and missing pieces, updates, names and parameter options.

One table row per mistake: a function that makes it, the ``GatejacError`` subclass it must
raise, and a regex the message must match.  Each regex checks that the message names the
offending piece (the vector, matrix, name, size ...) and, where there is one, what to do.
The mistakes are raised where they are made (the offending call), or at ``validate()`` /
``derive()`` for whole-cell properties such as an unused parameter.  Mistakes in expressions
are ``tests/test_errors_expressions.py``'s.
"""

from __future__ import annotations

import sympy

from gatejac import symbolic
from gatejac.symbolic import (
    Cell,
    DuplicateNameError,
    MissingUpdateError,
    NotElementwiseError,
    ShapeError,
    SpecError,
    UndeclaredSymbolError,
    UnknownNameError,
    UnusedSymbolError,
    derive,
    tanh,
)
from spec_mistakes import assert_clear_error, each_mistake, new_cell


# ------------------------------------------------------------------ shapes
def elementwise_sizes():
    _, h, x = new_cell()
    return h + x


def elementwise_sizes_after_matvec():
    cell, h, _ = new_cell()
    W, b = cell.parameter("W", ("n", "n")), cell.parameter("b", "m")
    return W @ h + b


def matvec_columns():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "m"))
    return W @ h


def update_size():
    cell, h, x = new_cell()
    U = cell.parameter("U", ("m", "m"))
    cell.update(h, tanh(U @ x))


def dot_sizes():
    _, h, x = new_cell()
    return h.dot(x)


def dot_sizes_with_at():
    _, h, x = new_cell()
    return h @ x


def dot_with_scalar():
    cell, h, _ = new_cell()
    a = cell.parameter("a")
    return h.dot(a)


def scalar_operand_of_matrix():
    cell, h, _ = new_cell()
    W, w = cell.parameter("W", ("n", "n")), cell.parameter("w", "n")
    return W @ (w @ h)


def scalar_parameter_operand_of_matrix():
    # SymPy itself turns W @ a (a a scalar Symbol) into the matrix a*W; it is rejected where it is used
    cell, h, _ = new_cell()
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
    cell, h, _ = new_cell()
    cell.update(h, tanh(h + sympy.Symbol("z")))


def undeclared_matrix():
    cell, h, _ = new_cell()
    M = sympy.MatrixSymbol("M", h.size, h.size)
    cell.update(h, tanh(M @ h))


def undeclared_matrix_in_combination():
    cell, h, _ = new_cell()
    W = cell.parameter("W", ("n", "n"))
    M = sympy.MatrixSymbol("M", h.size, h.size)
    return (W + M) @ h


def size_used_as_value():
    _, h, _ = new_cell()
    return h * sympy.Symbol("n")


def unused_parameter():
    cell, h, x = new_cell()
    cell.parameter("b", "n")
    cell.update(h, tanh(h + x.dot(x)))
    cell.validate()


def unused_input():
    cell, h, _ = new_cell()
    cell.update(h, tanh(h))
    cell.validate()


def unused_gate():
    cell, h, x = new_cell()
    cell.gate("g", symbolic.sigmoid(h))
    cell.update(h, tanh(h + x.dot(x)))
    derive(cell)


def state_without_update():
    cell, h, x = new_cell()
    c = cell.state("c", "n")
    cell.update(h, tanh(c + x.dot(x)))
    cell.validate()


def cell_without_state():
    Cell("empty").validate()


def two_updates_for_one_state():
    cell, h, _ = new_cell()
    cell.update(h, h)
    cell.update("h", tanh(h))


def update_of_unknown_state():
    cell, h, _ = new_cell()
    cell.update("k", h)


def update_of_an_input():
    cell, _, x = new_cell()
    cell.update(x, x)


# ------------------------------------------------------------------ names
def duplicate_name():
    cell, _, _ = new_cell()
    cell.parameter("h", "n")


def name_of_a_size():
    cell, _, _ = new_cell()
    cell.parameter("n")


def name_with_leading_underscore():
    Cell("c").parameter("_W", ("n", "n"))


def name_not_an_identifier():
    Cell("c").state("2h", "n")


def name_with_space():
    cell, h, _ = new_cell()
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
]


@each_mistake(CASES)
def test_bad_declaration_raises_clear_gatejac_error(build, error, message):
    assert_clear_error(build, error, message)
