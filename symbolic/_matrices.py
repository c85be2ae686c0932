"""Matrix expressions of a cell: linear combinations of matrix parameters.

The left operand of ``M @ v`` may be any linear combination

    M = Σ_k c_k B_k,   B_k ∈ {P, Pᵀ, I}  (P a matrix parameter of the cell),

with coefficients c_k that are numbers or expressions of the cell's scalar parameters:
``beta * (W + W.T)``, ``(alpha*W + beta*W.T - g*Identity(n))``, ``(W - W.T).T`` … are
expanded here into terms ``c_k B_k`` (like terms added up), whatever the order SymPy keeps
its arguments in.  A product of two matrices (``W @ W``, ``W @ U``) is not a linear
combination: it is refused with the rewriting that keeps the map (``W @ (W @ h)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy
from sympy.matrices.expressions import Identity, MatAdd, MatMul, MatPow, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix

from ._errors import ShapeError, SpecError
from ._nodes import SCALAR, Leaf, MatrixTerm

if TYPE_CHECKING:
    from ._cell import Cell

_ALLOWED = "a linear combination of the cell's matrix parameters, their transposes (W.T) and sympy.Identity(n)"


def matrix_terms(cell: Cell, matrix: MatrixExpr) -> tuple[MatrixTerm, ...]:
    """``matrix`` as terms ``coeff · base`` (base: a matrix parameter, its transpose or I),
    one term per base, in order of first appearance; zero terms are dropped."""
    return _terms_and_shape(cell, matrix)[0]


def matrix_shape(cell: Cell, matrix: MatrixExpr) -> tuple[sympy.Expr, sympy.Expr]:
    """``(rows, columns)`` of a linear combination, checked to agree across its terms."""
    return _terms_and_shape(cell, matrix)[1]


def matrix_of(cell: Cell, terms: tuple[MatrixTerm, ...], size: sympy.Expr) -> MatrixExpr:
    """The SymPy matrix ``Σ coeff · base`` of ``terms``; ``size`` is the identity's size."""
    parts = []
    for term in terms:
        if term.parameter is None:
            base = Identity(size)
        else:
            symbol = cell.piece(term.parameter).symbol
            base = symbol.T if term.transposed else symbol
        parts.append(term.coeff * base)
    return MatAdd(*parts).doit() if len(parts) > 1 else parts[0]


def with_cell_sizes(cell: Cell, matrix: MatrixExpr) -> MatrixExpr:
    """``matrix`` with every plain SymPy symbol named like a size of ``cell`` (``Symbol("n")``)
    replaced by that size (a positive-integer symbol), so ``Identity(Symbol("n"))`` is I_n."""
    sizes = {d.name: d for d in cell.dims}
    renamed = {s: sizes[s.name] for s in matrix.atoms(sympy.Symbol) if s.name in sizes and s != sizes[s.name]}
    return matrix.xreplace(renamed) if renamed else matrix


def _terms_and_shape(cell: Cell, matrix: MatrixExpr):
    combination: dict[tuple[str | None, bool], sympy.Expr] = {}
    shapes = []
    for coeff, base in _combination(cell, matrix, matrix.doit()):
        _check_coefficient(cell, matrix, coeff)
        key = (None, False) if isinstance(base, Identity) else (_parameter(cell, matrix, base), isinstance(base, Transpose))
        combination[key] = combination.get(key, sympy.S.Zero) + coeff
        shapes.append((base, base.shape))
    if len({shape for _, shape in shapes}) > 1:
        listed = ", ".join(f"{cell.text(base)} is {rows}×{cols}" for base, (rows, cols) in shapes)
        raise ShapeError(f"matrix expression {cell.text(matrix)}: its terms have different shapes ({listed})")
    terms = tuple(MatrixTerm(coeff, name, transposed) for (name, transposed), coeff in combination.items() if coeff != 0)
    if not terms:  # no term at all, or terms whose coefficients cancel
        raise SpecError(f"matrix expression {cell.text(matrix)} is zero; drop the product, it adds nothing")
    return terms, shapes[0][1]


def _combination(cell: Cell, whole: MatrixExpr, part) -> list[tuple[sympy.Expr, MatrixExpr]]:
    """``part`` as a list of ``(coefficient, base)`` pairs, bases not yet merged."""
    if isinstance(part, MatAdd):
        return [pair for arg in part.args for pair in _combination(cell, whole, arg)]
    if isinstance(part, MatMul):
        matrices = [f for f in part.args if getattr(f, "is_Matrix", False)]
        if len(matrices) != 1:
            raise _product_error(cell, whole, part, matrices)
        scale = sympy.Mul(*[f for f in part.args if not getattr(f, "is_Matrix", False)])
        return [(scale * coeff, base) for coeff, base in _combination(cell, whole, matrices[0])]
    if isinstance(part, Transpose):
        return [(coeff, _transposed(base)) for coeff, base in _combination(cell, whole, part.arg)]
    if isinstance(part, (MatrixSymbol, Identity)):
        return [(sympy.S.One, part)]
    if isinstance(part, ZeroMatrix):
        return []
    if isinstance(part, MatPow):
        raise _product_error(cell, whole, part, [part.base] * int(part.exp) if part.exp.is_Integer else [part])
    if isinstance(part, sympy.MatrixBase):
        raise SpecError(
            f"matrix expression {cell.text(whole)}: it holds an explicit {part.rows}×{part.cols} SymPy matrix; "
            "declare it as a fixed parameter, cell.parameter('R', (rows, columns), trainable=False), and give its "
            "values when the cell is evaluated"
        )
    raise SpecError(f"matrix expression {cell.text(whole)}: {cell.text(part)} is not {_ALLOWED}")


def _transposed(base: MatrixExpr) -> MatrixExpr:
    if isinstance(base, Identity):
        return base
    return base.arg if isinstance(base, Transpose) else Transpose(base)


def _product_error(cell: Cell, whole, part, matrices) -> SpecError:
    names = [cell.text(m) if isinstance(m, (MatrixSymbol, Transpose)) else f"({cell.text(m)})" for m in matrices]
    nested = f"{names[-1]} @ v"
    for name in reversed(names[:-1]):
        nested = f"{name} @ ({nested})"
    return SpecError(
        f"matrix expression {cell.text(whole)}: {' @ '.join(names)} is a product of matrices, and the matrix of "
        f"M @ v must be {_ALLOWED}; apply the matrices one after the other, {nested} (the same map), or declare "
        "the product as a parameter of its own"
    )


def _parameter(cell: Cell, whole, base) -> str:
    symbol = base.arg if isinstance(base, Transpose) else base
    if symbol.name not in {p.name for p in cell.parameters} or cell.piece(symbol.name).symbol != symbol:
        raise cell.undeclared(symbol, whole)
    return symbol.name


def _check_coefficient(cell: Cell, whole, coeff) -> None:
    for sym in coeff.free_symbols:
        node = cell.node(sym) if cell.has_node(sym) else None
        if not (isinstance(node, Leaf) and node.role == "parameter" and node.size is SCALAR):
            used = cell.text(sym) if node is not None else str(sym)
            uses = "" if sym == coeff else f" uses {used}, which"
            raise SpecError(
                f"matrix expression {cell.text(whole)}: the coefficient {cell.text(coeff)}{uses} is not a scalar "
                "parameter of the cell; matrix coefficients may only involve numbers and scalar parameters "
                "(for a vector, scale after the product: v * (W @ h))"
            )
