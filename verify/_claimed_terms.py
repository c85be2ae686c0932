"""The language of a claimed Jacobian: :class:`Linear` sums of structured products.

A claimed term is a product, read left to right in numerator layout (``J[i, j] =
∂out_i/∂in_j``), built from the cell's own ``Vec`` and matrix objects with ``@``, ``+``,
``-`` and scalar multiples (numbers, scalar parameters; put a scalar cell expression on the
right, ``identity(h) * (1 - s)``):

==================  =============  =========================================================
helper              shape          meaning
==================  =============  =========================================================
``diag(v)``         k × k          ``diag(v)`` for a vector expression ``v`` of size k
``identity(v)``     k × k          the identity of ``v``'s size
``W``, ``W.T``...   r × c          a matrix expression of the cell's matrix parameters
``outer(u, w)``     k × l          the rank-one ``u wᵀ`` (a scalar gate's term)
``column(u)``       k × 1          ``u`` as a column (∂s'/∂γ for a scalar parameter γ)
``row(w)``          1 × l          ``wᵀ``
``eye_kron(v, r)``  r × (r·l)      ``I_r ⊗ vᵀ`` = ∂(P v)/∂P with P (r × l) flattened row-major
``kron_eye(v, r)``  r × (l·r)      ``vᵀ ⊗ I_r`` = ∂(Pᵀ v)/∂P with P (l × r) flattened row-major
==================  =============  =========================================================

These are the factors of the structured terms :func:`symbolic.derive` produces
(:class:`symbolic.Diag`, :class:`symbolic.Mat`, :class:`symbolic.Column`,
:class:`symbolic.Row`, :class:`symbolic.Kron`, :class:`symbolic.Scale`), so a claim is a
structured Jacobian like the derived ones (docs/theory.md: “Conventions”).
"""

from __future__ import annotations

import sympy
from sympy.matrices.expressions import MatrixExpr

from gatejac.symbolic import SCALAR, Cell, Column, Diag, Kron, Mat, Row, Scale, Term, Vec, term_text, unknown_name

from ._errors import ClaimsError

class Linear:
    """A claimed (part of a) Jacobian: a sum of structured products with a shape.

    Build it with the helpers :func:`diag`, :func:`identity`, :func:`outer`,
    :func:`column`, :func:`row`, :func:`eye_kron`, :func:`kron_eye` and matrix
    expressions, combined by ``@``, ``+``, ``-`` and scalar multiples.
    """

    _op_priority = 30.0  # SymPy's operators defer to Linear's (W @ diag(v), alpha * diag(v))
    __array_ufunc__ = None
    __slots__ = ("terms", "rows", "cols", "cell")

    def __init__(self, terms: tuple[Term, ...], rows, cols, cell: Cell | None):
        self.terms, self.rows, self.cols, self.cell = terms, rows, cols, cell

    # ------------------------------------------------------------------ algebra
    def __matmul__(self, other) -> Linear:
        other = as_linear(other, "right operand of @", self.cell)
        if not same_size(self.cols, other.rows):
            raise ClaimsError(f"({self}) @ ({other}): the left factor has {self.cols} columns but the right one "
                              f"has {other.rows} rows")
        terms = tuple(_product(a, b) for a in self.terms for b in other.terms)
        return Linear(terms, self.rows, other.cols, self.cell or other.cell)

    def __rmatmul__(self, other) -> Linear:
        return as_linear(other, "left operand of @", self.cell) @ self

    def __add__(self, other) -> Linear:
        other = as_linear(other, "operand of +", self.cell)
        if not (same_size(self.rows, other.rows) and same_size(self.cols, other.cols)):
            raise ClaimsError(f"({self}) + ({other}): shapes {self.rows}×{self.cols} and {other.rows}×{other.cols} "
                              "differ")
        return Linear(self.terms + other.terms, self.rows, self.cols, self.cell or other.cell)

    def __radd__(self, other) -> Linear:
        return as_linear(other, "operand of +", self.cell) + self

    def __sub__(self, other) -> Linear:
        return self + (-as_linear(other, "operand of -", self.cell))

    def __rsub__(self, other) -> Linear:
        return as_linear(other, "operand of -", self.cell) + (-self)

    def __neg__(self) -> Linear:
        return self * -1

    def __mul__(self, scalar) -> Linear:
        value = _scalar(scalar, self.cell)
        return Linear(tuple(t.prepend(Scale(value)) for t in self.terms), self.rows, self.cols, self.cell)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return " + ".join(_text(self.cell, t) for t in self.terms) or "0"


def diag(v: Vec) -> Linear:
    """``diag(v)`` for a vector expression ``v`` of the cell (k × k)."""
    _vector(v, "diag")
    return Linear((Term((Diag(v.expr, v.size),)),), v.size, v.size, v.cell)


def identity(v: Vec) -> Linear:
    """The identity matrix of the size of the vector ``v`` (k × k)."""
    _vector(v, "identity")
    return Linear((Term(),), v.size, v.size, v.cell)


def outer(u: Vec, w: Vec) -> Linear:
    """The rank-one matrix ``u wᵀ`` of two vector expressions (k × l)."""
    _vector(u, "outer (left)")
    _vector(w, "outer (right)")
    return Linear((Term((Column(u.expr, u.size), Row(w.expr, w.size))),), u.size, w.size, u.cell)


def column(u: Vec) -> Linear:
    """The vector ``u`` as a column (k × 1), e.g. ∂s'/∂γ for a scalar parameter γ."""
    _vector(u, "column")
    return Linear((Term((Column(u.expr, u.size),)),), u.size, sympy.S.One, u.cell)


def row(w: Vec) -> Linear:
    """The row ``wᵀ`` (1 × l)."""
    _vector(w, "row")
    return Linear((Term((Row(w.expr, w.size),)),), sympy.S.One, w.size, w.cell)


def eye_kron(v: Vec, rows) -> Linear:
    """``I_rows ⊗ vᵀ``: ∂(P v)/∂P for a matrix parameter P (rows × size of v), flattened
    row-major.  ``rows`` is a vector of that size, a size name (``"n"``) or an integer."""
    _vector(v, "eye_kron")
    dim = _dim(v.cell, rows, "eye_kron")
    return Linear((Term((Kron(v.expr, v.size, dim, False),)),), dim, dim * v.size, v.cell)


def kron_eye(v: Vec, rows) -> Linear:
    """``vᵀ ⊗ I_rows``: ∂(Pᵀ v)/∂P for a matrix parameter P (size of v × rows), flattened
    row-major.  ``rows`` is a vector of that size, a size name (``"n"``) or an integer."""
    _vector(v, "kron_eye")
    dim = _dim(v.cell, rows, "kron_eye")
    return Linear((Term((Kron(v.expr, v.size, dim, True),)),), dim, v.size * dim, v.cell)


def _vector(v, helper: str) -> None:
    if not isinstance(v, Vec):
        raise ClaimsError(f"{helper}({v!r}): give a vector expression of the cell (a Vec such as h, g * (1 - g)), "
                          f"not {type(v).__name__}")
    if v.size is SCALAR:
        raise ClaimsError(f"{helper}({v!r}): {v!r} is a scalar; multiply a term by it instead, "
                          "e.g. identity(h) * s")


def _dim(cell: Cell, rows, helper: str):
    if isinstance(rows, Vec):
        _vector(rows, f"{helper} rows")
        return rows.size
    if isinstance(rows, int) and not isinstance(rows, bool) and rows > 0:
        return sympy.Integer(rows)
    names = {d.name: d for d in cell.dims}
    if isinstance(rows, str) and rows in names:
        return names[rows]
    raise unknown_name("size", rows, list(names), f"({helper}: give a size name of cell {cell.name!r}, a vector of "
                                                   "that size, or a positive integer)")


def same_size(a, b) -> bool:
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def _product(left: Term, right: Term) -> Term:
    """``left · right`` with :meth:`Term.prepend`'s merging (scalars to the front)."""
    result = right
    for factor in reversed(left.factors):
        result = result.prepend(factor)
    return result


def _scalar(value, cell: Cell | None) -> sympy.Expr:
    if isinstance(value, Vec):
        if value.size is not SCALAR:
            raise ClaimsError(f"a term times the vector {value!r}: multiply by diag({value!r}) with @ instead")
        return value.expr
    if isinstance(value, (Linear, MatrixExpr)):
        raise ClaimsError(f"a term times {value!r}: use @ for a matrix product")
    try:
        expr = sympy.sympify(value, strict=True)
    except (sympy.SympifyError, TypeError):
        raise ClaimsError(f"a term times {value!r} of type {type(value).__name__}: only numbers, scalar parameters "
                          "and scalar cell expressions scale a term") from None
    if cell is not None:
        cell.as_expr(expr, "scalar multiple of a claimed term")
    return expr


def as_linear(value, what: str, cell: Cell | None) -> Linear:
    if isinstance(value, Linear):
        return value
    if isinstance(value, MatrixExpr):
        rows, cols = value.shape
        return Linear((Term((Mat(value),)),), rows, cols, cell)
    if isinstance(value, Vec):
        raise ClaimsError(f"{what}: {value!r} is a vector; a term is a matrix — write diag({value!r}), "
                          f"column({value!r}) or outer(u, w)")
    raise ClaimsError(f"{what}: {value!r} of type {type(value).__name__} is not a claimed term; build terms with "
                      "diag, identity, outer, column, row, eye_kron, kron_eye and the cell's matrices")


def _text(cell: Cell | None, term: Term) -> str:
    if cell is None:
        return repr(term.factors)
    return term_text(cell, term)
