"""Dense instantiation: the independent oracle for the structured engine.

``Instance(cell, {"n": 3, "m": 2})`` gives every entry of every state, input and
parameter its own SymPy symbol (``h_0``, ``W_1_2`` …) and evaluates the cell's update to
explicit column matrices.  :func:`dense_jacobian` then lets SymPy's ``Matrix.jacobian``
differentiate that — no structured rule is involved — and :func:`dense_block` renders a
structured :class:`~gatejac.symbolic.Jacobian` at the same sizes, so the two can be
compared exactly (:func:`exactly_equal`).  Only practical for small sizes (n ≤ 3 or so).
"""

from __future__ import annotations

import random

import sympy
from sympy.matrices.expressions import MatrixSymbol

from ._cell import Cell
from ._errors import ShapeError
from ._linear import Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatVec, Named


class Instance:
    """A cell at concrete sizes with one SymPy symbol per scalar entry.

    ``frozen`` names gates whose values are replaced by fresh constant symbols
    (``g__frozen_0`` …): differentiating such an instance gives the frozen-gate
    Jacobian ``A`` of the gate split without using the structured engine.
    """

    def __init__(self, cell: Cell, sizes: dict[str, int], frozen: tuple[str, ...] = ()):
        self.cell = cell.validate()
        missing = [d.name for d in cell.dims if d.name not in sizes]
        if missing:
            raise ShapeError(f"Instance of cell {cell.name!r}: give an integer for the sizes {missing}")
        self.dims = {d: sympy.Integer(sizes[d.name]) for d in cell.dims}
        self.frozen = frozen
        self._leaves = {p.name: self._leaf_value(p) for p in (*cell.states, *cell.inputs, *cell.parameters)}
        self._memo: dict[sympy.Symbol, object] = {}

    # --------------------------------------------------------------- sizes and leaves
    def size(self, size) -> int | None:
        return None if size is SCALAR else int(sympy.sympify(size).xreplace(self.dims))

    def _leaf_value(self, piece):
        if isinstance(piece, MatrixParameter):
            rows, cols = (self.size(d) for d in piece.shape)
            return sympy.ImmutableMatrix(rows, cols, lambda i, j: sympy.Symbol(f"{piece.name}_{i}_{j}", real=True))
        if piece.size is SCALAR:
            return piece.symbol
        return sympy.ImmutableMatrix(self.size(piece.size), 1, lambda i, j: sympy.Symbol(f"{piece.name}_{i}", real=True))

    def leaf(self, name: str):
        """The explicit value of a leaf (column matrix, matrix, or symbol)."""
        return self._leaves[name]

    def variables(self, name: str) -> list[sympy.Symbol]:
        """The scalar symbols of a leaf, flattened row-major (the dense Jacobian's columns)."""
        value = self._leaves[name]
        return list(value) if isinstance(value, sympy.MatrixBase) else [value]

    def all_variables(self) -> list[sympy.Symbol]:
        return [v for name in self._leaves for v in self.variables(name)]

    # --------------------------------------------------------------- evaluation
    def value(self, expr: sympy.Expr):
        """An elementwise expression at these sizes: a column matrix, or a scalar."""
        size = self.size(self.cell.size_of(expr))
        symbols = sorted(expr.free_symbols, key=str)
        values = {s: self.node_value(s) for s in symbols}
        if size is None:
            return expr.xreplace(values)
        return sympy.ImmutableMatrix(
            size, 1, lambda i, j: expr.xreplace({s: v[i] if isinstance(v, sympy.MatrixBase) else v for s, v in values.items()})
        )

    def node_value(self, symbol: sympy.Symbol):
        if symbol not in self._memo:
            self._memo[symbol] = self._evaluate(self.cell.node(symbol))
        return self._memo[symbol]

    def _evaluate(self, node):
        if isinstance(node, Leaf):
            return self._leaves[node.name]
        if isinstance(node, Named):
            if node.name in self.frozen:
                size = self.size(node.size)
                if size is None:
                    return sympy.Symbol(f"{node.name}__frozen", real=True)
                return sympy.ImmutableMatrix(size, 1, lambda i, j: sympy.Symbol(f"{node.name}__frozen_{i}", real=True))
            return self.value(node.expr)
        if isinstance(node, MatVec):
            return sympy.ImmutableMatrix(self.matrix(node.matrix) * self.value(node.operand))
        assert isinstance(node, Dot)
        return (self.value(node.left).T * self.value(node.right))[0, 0]

    def matrix(self, matrix) -> sympy.ImmutableMatrix:
        """A SymPy matrix expression of the cell's parameters, made explicit."""
        concrete = matrix.xreplace(self.dims)
        params = {
            MatrixSymbol(p.name, *(self.size(d) for d in p.shape)): self._leaves[p.name]
            for p in self.cell.parameters
            if isinstance(p, MatrixParameter)
        }
        scalars = {p.symbol: self._leaves[p.name] for p in self.cell.parameters if isinstance(p, Leaf) and p.size is SCALAR}
        return sympy.ImmutableMatrix(concrete.xreplace(params).as_explicit().xreplace(scalars))

    def update(self, state: str):
        """The new value of ``state`` as an explicit column matrix."""
        return self.value(self.cell.updates[state])


def dense_jacobian(instance: Instance, state: str, wrt: str) -> sympy.Matrix:
    """∂state'/∂wrt by SymPy's ``Matrix.jacobian`` on the explicit instance (the oracle)."""
    return instance.update(state).jacobian(instance.variables(wrt))


def dense_term(instance: Instance, term: Term, rows: int | None) -> sympy.Matrix:
    """A structured term rendered as an explicit matrix (identity if it has no factor)."""
    result = None
    for factor in term.factors:
        explicit = _factor_matrix(instance, factor)
        if isinstance(explicit, sympy.MatrixBase):
            result = explicit if result is None else result * explicit
        else:
            result = explicit if result is None else explicit * result
    if result is None or not isinstance(result, sympy.MatrixBase):
        eye = sympy.eye(rows or 1)
        return eye if result is None else result * eye
    return result


def _factor_matrix(instance: Instance, factor):
    if isinstance(factor, Scale):
        return instance.value(factor.value)
    if isinstance(factor, Mat):
        return instance.matrix(factor.matrix)
    size = instance.size(factor.size)
    value = instance.value(factor.value)
    column = value if isinstance(value, sympy.MatrixBase) else sympy.ones(size, 1) * value
    if isinstance(factor, Diag):
        return sympy.diag(*column)
    if isinstance(factor, Column):
        return sympy.Matrix(column)
    if isinstance(factor, Row):
        return sympy.Matrix(column.T)
    assert isinstance(factor, Kron)
    eye = sympy.eye(instance.size(factor.dim))
    return sympy.kronecker_product(column.T, eye) if factor.transposed else sympy.kronecker_product(eye, column.T)


def dense_block(instance: Instance, block: Jacobian) -> sympy.Matrix:
    """A structured Jacobian block rendered as an explicit matrix."""
    rows = instance.size(block.rows) or 1
    cols = int(sympy.sympify(block.cols).xreplace(instance.dims))
    total = sympy.zeros(rows, cols)
    for term in block.terms:
        total += dense_term(instance, term, rows)
    return total


def random_point(variables, seed: int) -> dict[sympy.Symbol, sympy.Rational]:
    """Random small rationals p/q (|p| ≤ 9, 2 ≤ q ≤ 9) for each variable, from ``seed``."""
    rng = random.Random(seed)
    return {v: sympy.Rational(rng.choice([-1, 1]) * rng.randint(1, 9), rng.randint(2, 9)) for v in variables}


def exactly_equal(a: sympy.Matrix, b: sympy.Matrix, point: dict) -> bool:
    """Whether ``a == b`` holds exactly at ``point`` (exact rational arithmetic; transcendental
    values such as tanh(1/3) stay symbolic atoms and must cancel algebraically)."""
    if a.shape != b.shape:
        return False
    difference = (sympy.Matrix(a) - sympy.Matrix(b)).xreplace(point)
    return all(_is_zero(entry) for entry in difference)


def _is_zero(entry: sympy.Expr) -> bool:
    """Exactly zero: over one common denominator (never zero at the point) the numerator
    expands to 0.  Cheaper than ``cancel`` when fractions are nested."""
    numerator, _ = sympy.fraction(sympy.together(entry))
    return sympy.expand(numerator) == 0
