"""The nodes of a cell's expression graph.

A cell is a small graph whose vector values are SymPy *scalar* expressions read
elementwise.  Every free symbol of such an expression stands for one node:

* :class:`Leaf`    — a state, an input, or a vector / scalar parameter;
* :class:`MatVec`  — ``M v``: a matrix expression (linear combination of matrix
  parameters, their transposes and the identity) times a vector expression;
* :class:`Dot`     — ``uᵀ v``: a scalar reduction (a gate shared by all units);
* :class:`Named`   — a named intermediate (``let``) or a marked gate (``gate``).

Matrix parameters are SymPy ``MatrixSymbol`` objects and appear only inside
``MatVec.matrix``.  A node's ``size`` is a SymPy expression (``n``, ``m``, an
integer) or ``None`` for a scalar.

The symbol of a computed node (``M v``, ``uᵀv``) is a :class:`NodeSymbol`: its name is a
Python identifier (``_mv0``, what generated code calls the value) and it carries the node's
readable text (``W@h``, ``dot(w, h)``), so that any expression of the cell prints in the
cell's own names without looking the node up.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

SCALAR = None
"""The ``size`` of a scalar node (it broadcasts against vectors)."""


class NodeSymbol(sympy.Symbol):
    """The real symbol standing for a computed node; ``text`` is the node's readable form.

    ``text`` is part of the symbol's identity (two cells may both number a node ``_mv0``;
    their symbols are equal only if the nodes read the same)."""

    def __new__(cls, name: str, text: str):
        symbol = sympy.Symbol.__xnew__(cls, name, real=True)
        symbol.text = text
        return symbol

    def __getnewargs_ex__(self):
        return (self.name, self.text), {}

    def _hashable_content(self):
        return (*super()._hashable_content(), self.text)


@dataclass(frozen=True, eq=False)
class Leaf:
    """A state, input or vector/scalar parameter.

    ``default`` (parameters only) is the value every entry takes unless the user gives one
    (the value of a fixed parameter, or the initial value of a trainable one that is neither a
    weight nor a bias, such as a time constant); ``note`` says why, or what to pass when there
    is no default."""

    name: str
    symbol: sympy.Symbol
    size: sympy.Expr | None
    role: str  # "state" | "input" | "parameter"
    trainable: bool = True
    latex: str = ""
    default: float | None = None
    note: str = ""


@dataclass(frozen=True, eq=False)
class MatrixParameter:
    """A matrix parameter; ``symbol`` is the SymPy ``MatrixSymbol`` users write with."""

    name: str
    symbol: sympy.MatrixSymbol
    trainable: bool = True
    latex: str = ""
    default: float | None = None
    note: str = ""
    role: str = "parameter"

    @property
    def shape(self) -> tuple[sympy.Expr, sympy.Expr]:
        return self.symbol.shape


@dataclass(frozen=True)
class MatrixTerm:
    """One term ``coeff · base`` of a matrix expression; ``base`` is a matrix parameter
    (``transposed`` or not) or, when ``parameter`` is ``None``, the identity."""

    coeff: sympy.Expr
    parameter: str | None
    transposed: bool = False


@dataclass(frozen=True, eq=False)
class MatVec:
    """``matrix @ operand`` with ``matrix = Σ coeff_k · base_k`` (see :class:`MatrixTerm`)."""

    symbol: NodeSymbol
    matrix: sympy.MatrixExpr
    terms: tuple[MatrixTerm, ...]
    operand: sympy.Expr
    size: sympy.Expr


@dataclass(frozen=True, eq=False)
class Dot:
    """The scalar ``leftᵀ right`` of two vector expressions of the same size."""

    symbol: NodeSymbol
    left: sympy.Expr
    right: sympy.Expr
    size: None = SCALAR


@dataclass(frozen=True, eq=False)
class Named:
    """A named intermediate expression; ``is_gate`` marks it as a gate (see ``gate_split``)."""

    name: str
    symbol: sympy.Symbol
    expr: sympy.Expr
    size: sympy.Expr | None
    is_gate: bool = False
    latex: str = ""


Node = Leaf | MatVec | Dot | Named
"""Any node of a cell's graph: a leaf (state, input, parameter), a matrix-vector product, a
reduction ``wᵀv`` or a named intermediate."""
