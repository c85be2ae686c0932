"""The cell specification language.

A cell is written once, as a user would write it on paper::

    from gatejac.symbolic import Cell, sigmoid, tanh

    cell = Cell("multigate")
    h = cell.state("h", "n")
    x = cell.input("x", "m")
    W, U, b = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("b", "n")
    Wg, Ug = cell.parameter("W_g", ("n", "n")), cell.parameter("U_g", ("n", "m"))
    g = cell.gate("g", sigmoid(Wg @ h + Ug @ x))
    cell.update(h, (1 - g) * h + g * tanh(W @ h + U @ x + b))

Vectors are :class:`Vec` objects wrapping a SymPy scalar expression read elementwise;
matrix parameters are SymPy ``MatrixSymbol`` objects (so ``W - W.T - gamma*Identity(n)``
is an ordinary SymPy matrix expression); scalar parameters are SymPy ``Symbol`` objects.
Sizes are SymPy symbols (``"n"`` becomes a positive integer symbol) or integers, and are
checked as the cell is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sympy
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.matrices.expressions import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix

from ._errors import (
    DuplicateNameError,
    FrozenCellError,
    GatejacError,
    MissingUpdateError,
    NotElementwiseError,
    ShapeError,
    SpecError,
    UndeclaredSymbolError,
    UnusedSymbolError,
    VecInSymPyError,
    unknown_name,
)
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatrixTerm, MatVec, Named, Node

_FORBIDDEN_ATOMS = (sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product, sympy.Subs)


def _default_latex(name: str) -> str:
    return sympy.latex(sympy.Symbol(name))


def _size_text(size) -> str:
    return "a scalar" if size is SCALAR else f"size {size}"


class Vec:
    """A vector (or scalar) expression of a cell, read elementwise.

    Supports ``+ - * / **`` with other expressions of the same cell, numbers and scalar
    parameters (scalars broadcast), ``M @ v`` for a matrix expression ``M`` and
    ``u @ v`` / ``u.dot(v)`` for the scalar ``uᵀ v``.  ``expr`` is the SymPy expression;
    its free symbols stand for the cell's nodes.
    """

    _op_priority = 20.0  # above SymPy's, so SymPy objects defer to Vec's operators
    __array_ufunc__ = None  # NumPy arrays defer to Vec's operators too (which reject them)
    __slots__ = ("cell", "expr", "size")

    def __init__(self, cell: Cell, expr: sympy.Expr):
        self.cell = cell
        self.expr = expr
        self.size = cell.size_of(expr)

    def _combine(self, other, op) -> Vec:
        return Vec(self.cell, op(self.expr, self.cell.as_expr(other, f"elementwise operation with {self!r}")))

    def _sympy_(self):
        raise VecInSymPyError(
            f"{self!r} was passed to a SymPy function directly; SymPy functions act on scalars — apply "
            "one elementwise with symbolic.apply(f, v), or use symbolic.sigmoid/tanh/exp/log/softplus"
        )

    def __add__(self, o):
        return self._combine(o, lambda a, b: a + b)

    def __radd__(self, o):
        return self._combine(o, lambda a, b: b + a)

    def __sub__(self, o):
        return self._combine(o, lambda a, b: a - b)

    def __rsub__(self, o):
        return self._combine(o, lambda a, b: b - a)

    def __mul__(self, o):
        return self._combine(o, lambda a, b: a * b)

    def __rmul__(self, o):
        return self._combine(o, lambda a, b: b * a)

    def __truediv__(self, o):
        return self._combine(o, lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._combine(o, lambda a, b: b / a)

    def __pow__(self, o):
        return self._combine(o, lambda a, b: a**b)

    def __rpow__(self, o):
        return self._combine(o, lambda a, b: b**a)

    def __neg__(self):
        return Vec(self.cell, -self.expr)

    def __pos__(self):
        return self

    def __matmul__(self, other) -> Vec:
        if isinstance(other, (MatrixExpr, sympy.MatrixBase)):
            raise NotElementwiseError(
                f"{self!r} @ {other}: a vector cannot multiply a matrix from the left; "
                "write M @ v for a matrix-vector product, or u @ v for the scalar uᵀv"
            )
        return self.dot(other)

    def __rmatmul__(self, matrix) -> Vec:
        return self.cell.matvec(matrix, self)

    def dot(self, other) -> Vec:
        """The scalar ``selfᵀ other`` (a reduction over units)."""
        return self.cell.dot(self, other)

    def __bool__(self):
        raise SpecError(f"the truth value of the cell expression {self!r} is not defined")

    def __repr__(self) -> str:
        return f"Vec({self.cell.text(self.expr)}, {_size_text(self.size)})"


class Cell:
    """A recurrent cell: states, inputs, parameters and one update per state.

    Build it with :meth:`state`, :meth:`input`, :meth:`parameter`, :meth:`let`,
    :meth:`gate` and :meth:`update`; :meth:`validate` checks that every state has an
    update and every declared piece is used, then freezes the cell.  ``symbolic.derive``
    validates on its own.
    """

    def __init__(self, name: str, *, description: str = "", reference: str = "", convention: str = ""):
        if not isinstance(name, str) or not name:
            raise SpecError(f"cell name {name!r} is not allowed: give the cell a non-empty string name")
        self.name = name
        self.description = description
        self.reference = reference
        self.convention = convention
        self._nodes: dict[sympy.Symbol, Node] = {}
        self._matrices: dict[sympy.MatrixSymbol, MatrixParameter] = {}
        self._declared: dict[str, object] = {}
        self._states: list[Leaf] = []
        self._inputs: list[Leaf] = []
        self._parameters: list[Leaf | MatrixParameter] = []
        self._named: list[Named] = []
        self._updates: dict[str, sympy.Expr] = {}
        self._interned: dict[tuple, Node] = {}
        self._frozen = False

    # ------------------------------------------------------------------ declarations
    def state(self, name: str, size, *, latex: str | None = None) -> Vec:
        """Declare a state vector of ``size`` (an int, a size name such as ``"n"`` or a SymPy symbol)."""
        leaf = self._leaf(name, self._dim(size, f"state {name!r}"), "state", True, latex)
        self._states.append(leaf)
        return Vec(self, leaf.symbol)

    def input(self, name: str, size, *, latex: str | None = None) -> Vec:
        """Declare an input vector of ``size``."""
        leaf = self._leaf(name, self._dim(size, f"input {name!r}"), "input", False, latex)
        self._inputs.append(leaf)
        return Vec(self, leaf.symbol)

    def parameter(self, name: str, shape=(), *, trainable: bool = True, latex: str | None = None):
        """Declare a parameter: ``shape=()`` a scalar (returns a SymPy ``Symbol``),
        ``(k,)`` or a single size a vector (returns a :class:`Vec`), ``(r, c)`` a matrix
        (returns a SymPy ``MatrixSymbol``).  ``trainable=False`` marks it fixed."""
        if not isinstance(trainable, bool):
            raise SpecError(f"parameter {name!r}: trainable={trainable!r} must be True or False")
        shape = self._shape(name, shape)
        if len(shape) == 2:
            self._check_name(name)
            rows = self._dim(shape[0], f"parameter {name!r} (rows)")
            cols = self._dim(shape[1], f"parameter {name!r} (columns)")
            param = MatrixParameter(name, MatrixSymbol(name, rows, cols), trainable, latex or _default_latex(name))
            self._matrices[param.symbol] = param
            self._declared[name] = param
            self._parameters.append(param)
            return param.symbol
        size = self._dim(shape[0], f"parameter {name!r}") if shape else SCALAR
        leaf = self._leaf(name, size, "parameter", trainable, latex)
        self._parameters.append(leaf)
        return leaf.symbol if size is SCALAR else Vec(self, leaf.symbol)

    def let(self, name: str, value, *, latex: str | None = None) -> Vec:
        """Name an intermediate expression (e.g. a pre-activation, or the LSTM's new ``c``
        reused inside its new ``h``).  Derivations and LaTeX refer to it by name."""
        return self._named_node(name, value, latex, is_gate=False)

    def gate(self, name: str, value, *, latex: str | None = None) -> Vec:
        """Like :meth:`let`, and marks the value as a gate: the gate split J = A + B puts in
        B exactly the terms that exist because this gate reads the state."""
        return self._named_node(name, value, latex, is_gate=True)

    def update(self, state, value) -> None:
        """Give the update ``state' = value`` of a declared state (a :class:`Vec` or its name)."""
        self._check_mutable()
        leaf = self._state_leaf(state)
        if leaf.name in self._updates:
            raise DuplicateNameError(f"state {leaf.name!r} already has an update; give each state exactly one")
        expr = self.as_expr(value, f"update of state {leaf.name!r}")
        size = self.size_of(expr)
        if size != leaf.size:
            raise ShapeError(
                f"the update of state {leaf.name!r} has {_size_text(size)} but the state has "
                f"{_size_text(leaf.size)}; the new state must have the same size as the old one"
            )
        self._updates[leaf.name] = expr

    # ------------------------------------------------------------------ validation
    def validate(self) -> Cell:
        """Check the cell is complete and consistent, freeze it, and return it."""
        if self._frozen:
            return self
        if not self._states:
            raise MissingUpdateError(f"cell {self.name!r} declares no state; declare one with cell.state(name, size)")
        for leaf in self._states:
            if leaf.name not in self._updates:
                raise MissingUpdateError(
                    f"state {leaf.name!r} of cell {self.name!r} has no update; add cell.update({leaf.name!r}, ...)"
                )
        used = self._used_names()
        for piece in [*self._states, *self._inputs, *self._parameters, *self._named]:
            if piece.name not in used:
                kind = "gate" if getattr(piece, "is_gate", False) else getattr(piece, "role", "named expression")
                raise UnusedSymbolError(
                    f"{kind} {piece.name!r} of cell {self.name!r} is declared but no update uses it; "
                    "remove it or use it in an update"
                )
        self._frozen = True
        return self

    def _used_names(self) -> set[str]:
        used: set[str] = set()
        pending = list(self._updates.values())
        seen: set[sympy.Symbol] = set()
        while pending:
            expr = pending.pop()
            for sym in expr.free_symbols - seen:
                seen.add(sym)
                node = self._nodes[sym]
                if isinstance(node, (Leaf, Named)):
                    used.add(node.name)
                pending.extend(self.children(node))
                if isinstance(node, MatVec):
                    used.update(t.parameter for t in node.terms if t.parameter)
                    pending.extend(t.coeff for t in node.terms)
        return used

    # ------------------------------------------------------------------ queries
    @property
    def states(self) -> tuple[Leaf, ...]:
        return tuple(self._states)

    @property
    def inputs(self) -> tuple[Leaf, ...]:
        return tuple(self._inputs)

    @property
    def parameters(self) -> tuple[Leaf | MatrixParameter, ...]:
        return tuple(self._parameters)

    @property
    def named(self) -> tuple[Named, ...]:
        return tuple(self._named)

    @property
    def gates(self) -> tuple[Named, ...]:
        return tuple(n for n in self._named if n.is_gate)

    @property
    def updates(self) -> dict[str, sympy.Expr]:
        return dict(self._updates)

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def dims(self) -> tuple[sympy.Symbol, ...]:
        """The size symbols the cell uses (``n``, ``m`` ...), sorted by name."""
        syms: set[sympy.Symbol] = set()
        for piece in [*self._states, *self._inputs, *self._parameters]:
            shape = piece.shape if isinstance(piece, MatrixParameter) else (piece.size,)
            for dim in shape:
                if dim is not SCALAR:
                    syms |= sympy.sympify(dim).free_symbols
        return tuple(sorted(syms, key=lambda s: s.name))

    def piece(self, name: str):
        """The declared leaf, matrix parameter or named node called ``name``."""
        if name not in self._declared:
            raise unknown_name("name", name, list(self._declared), f"(cell {self.name!r})")
        return self._declared[name]

    def node(self, symbol: sympy.Symbol) -> Node:
        return self._nodes[symbol]

    def has_node(self, symbol: sympy.Symbol) -> bool:
        """Whether ``symbol`` stands for one of this cell's nodes."""
        return symbol in self._nodes

    def matrix_parameter(self, symbol: sympy.MatrixSymbol) -> MatrixParameter:
        return self._matrices[symbol]

    def children(self, node: Node) -> list[sympy.Expr]:
        """The vector expressions a node reads directly."""
        if isinstance(node, Named):
            return [node.expr]
        if isinstance(node, MatVec):
            return [node.operand]
        if isinstance(node, Dot):
            return [node.left, node.right]
        return []

    def size_of(self, expr: sympy.Expr):
        """The size of an elementwise expression: that of its vector nodes (which must
        agree), or ``None`` if it only involves scalars."""
        sizes: dict[Any, list[str]] = {}
        for sym in sorted(expr.free_symbols, key=str):
            node = self._nodes.get(sym)
            if node is None:
                raise self._undeclared(sym, expr)
            if node.size is not SCALAR:
                sizes.setdefault(node.size, []).append(self.text(sym))
        if len(sizes) > 1:
            detail = "; ".join(f"{', '.join(names)} of size {size}" for size, names in sizes.items())
            raise ShapeError(
                f"elementwise expression {self.text(expr)} mixes vectors of different sizes ({detail}); "
                "only scalars broadcast — use a matrix product to change size"
            )
        return next(iter(sizes)) if sizes else SCALAR

    def text(self, expr) -> str:
        """A readable plain-text form of a cell expression (internal node names replaced)."""
        expr = sympy.sympify(expr)
        return str(expr.xreplace({s: sympy.Symbol(self.label(s)) for s in expr.free_symbols if s in self._nodes}))

    def label(self, symbol: sympy.Symbol) -> str:
        node = self._nodes[symbol]
        if isinstance(node, MatVec):
            return f"({node.matrix})@({self.text(node.operand)})"
        if isinstance(node, Dot):
            return f"({self.text(node.left)}).({self.text(node.right)})"
        return node.name

    # ------------------------------------------------------------------ expression building
    def as_expr(self, value, what: str) -> sympy.Expr:
        """Turn ``value`` into an elementwise SymPy expression of this cell, or raise."""
        if isinstance(value, Vec):
            if value.cell is not self:
                raise SpecError(
                    f"{what}: {value!r} belongs to cell {value.cell.name!r}, not {self.name!r}; "
                    "build each cell from its own declarations"
                )
            return value.expr
        if isinstance(value, (MatrixExpr, sympy.MatrixBase)):
            raise NotElementwiseError(
                f"{what}: got the matrix {value}, but an elementwise (vector) expression is needed; "
                "multiply it by a vector (M @ v) first"
            )
        try:
            expr = sympy.sympify(value, strict=True)
        except (sympy.SympifyError, TypeError) as exc:
            raise SpecError(
                f"{what}: {value!r} of type {type(value).__name__} is not a cell expression; "
                "use the cell's declarations, numbers and SymPy scalar expressions"
            ) from exc
        if not isinstance(expr, sympy.Expr) or isinstance(expr, MatrixExpr):
            raise NotElementwiseError(f"{what}: {value!r} is not a scalar SymPy expression applied elementwise")
        self._check_elementwise(expr, what)
        try:
            self.size_of(expr)
        except UndeclaredSymbolError as exc:
            raise UndeclaredSymbolError(f"{what}: {exc}") from None
        return expr

    def _check_elementwise(self, expr: sympy.Expr, what: str) -> None:
        if expr.has(*_FORBIDDEN_ATOMS):
            raise NotElementwiseError(
                f"{what}: {expr} contains an unevaluated derivative, integral, sum or product; "
                "an elementwise function must be a closed-form scalar expression"
            )
        undefined = expr.atoms(AppliedUndef)
        if undefined:
            raise NotElementwiseError(
                f"{what}: {sorted(map(str, undefined))} are undefined SymPy functions with no known derivative; "
                "write the function as an expression (e.g. 1/(1+exp(-a))) or use symbolic.sigmoid/softplus"
            )
        if any(isinstance(a, MatrixElement) for a in sympy.preorder_traversal(expr)):
            raise NotElementwiseError(
                f"{what}: {expr} indexes a matrix entry; cells act on whole vectors — use M @ v"
            )
        matrices = sorted(str(s) for s in expr.free_symbols if isinstance(s, MatrixSymbol))
        if matrices:
            raise NotElementwiseError(
                f"{what}: {expr} uses the matrix {', '.join(matrices)} inside an elementwise expression; "
                "apply a matrix to a vector first (M @ v)"
            )

    def matvec(self, matrix, operand) -> Vec:
        """``matrix @ operand`` as a node; ``matrix`` must be a linear combination of the
        cell's matrix parameters, their transposes and the identity."""
        self._check_mutable()
        if not isinstance(matrix, MatrixExpr):
            raise NotElementwiseError(
                f"{matrix!r} @ (vector): the left operand of @ must be a SymPy matrix expression built from "
                "the cell's matrix parameters; for elementwise products use *"
            )
        operand_expr = self.as_expr(operand, f"operand of {matrix} @ ...")
        matrix = matrix.doit()
        terms = self.matrix_terms(matrix)
        size = self.size_of(operand_expr)
        if size is SCALAR:
            raise ShapeError(
                f"{self.text(matrix)} @ {self.text(operand_expr)}: the operand is a scalar; a matrix needs a vector"
            )
        if sympy.simplify(matrix.shape[1] - size) != 0:
            raise ShapeError(
                f"{self.text(matrix)} @ {self.text(operand_expr)}: the matrix has {matrix.shape[1]} columns but "
                f"the vector has size {size}{self._same_name_hint(matrix.shape[1], size)}"
            )
        key = ("matvec", matrix, operand_expr)
        node = self._interned.get(key)
        if node is None:
            node = MatVec(self._fresh("mv"), matrix, terms, operand_expr, matrix.shape[0])
            self._register(key, node)
        return Vec(self, node.symbol)

    def dot(self, left, right) -> Vec:
        """The scalar ``leftᵀ right`` of two vectors of the same size."""
        self._check_mutable()
        lexpr, rexpr = self.as_expr(left, "left of dot"), self.as_expr(right, "right of dot")
        lsize, rsize = self.size_of(lexpr), self.size_of(rexpr)
        if lsize is SCALAR or rsize is SCALAR or lsize != rsize:
            raise ShapeError(
                f"dot({self.text(lexpr)}, {self.text(rexpr)}): needs two vectors of one size, "
                f"got {_size_text(lsize)} and {_size_text(rsize)}"
            )
        key = ("dot", lexpr, rexpr)
        node = self._interned.get(key)
        if node is None:
            node = Dot(self._fresh("dot"), lexpr, rexpr)
            self._register(key, node)
        return Vec(self, node.symbol)

    def derived_matvec(self, terms: tuple[MatrixTerm, ...], operand: sympy.Expr) -> sympy.Symbol:
        """A ``MatVec`` node created during differentiation (e.g. ``(∂M/∂γ) v``); allowed on
        a frozen cell because it adds no declaration."""
        matrix = sympy.MatAdd(*(t.coeff * self._base_matrix(t, operand) for t in terms)).doit()
        key = ("matvec", matrix, operand)
        node = self._interned.get(key)
        if node is None:
            node = MatVec(self._fresh("mv"), matrix, terms, operand, matrix.shape[0])
            self._register(key, node)
        return node.symbol

    def _base_matrix(self, term: MatrixTerm, operand: sympy.Expr):
        if term.parameter is None:
            return Identity(self.size_of(operand))
        symbol = self._declared[term.parameter].symbol
        return symbol.T if term.transposed else symbol

    def matrix_terms(self, matrix: MatrixExpr) -> tuple[MatrixTerm, ...]:
        """``matrix`` as terms ``coeff · base`` (base: a matrix parameter, its transpose, or I)."""
        parts = matrix.args if isinstance(matrix, MatAdd) else (matrix,)
        terms = []
        for part in parts:
            factors = part.args if isinstance(part, MatMul) else (part,)
            mats = [f for f in factors if getattr(f, "is_Matrix", False)]
            coeff = sympy.Mul(*[f for f in factors if not getattr(f, "is_Matrix", False)])
            if len(mats) != 1:
                raise SpecError(
                    f"matrix expression {matrix}: the term {part} is a product of matrices; gatejac's affine maps "
                    "take linear combinations of parameters, their transposes and the identity — declare the "
                    "product as its own matrix parameter, or apply the matrices one after the other (A @ (B @ v))"
                )
            terms.append(self._matrix_term(matrix, coeff, mats[0]))
        return tuple(t for t in terms if t is not None)

    def _matrix_term(self, matrix, coeff, base) -> MatrixTerm | None:
        for sym in coeff.free_symbols:
            node = self._nodes.get(sym)
            if not (isinstance(node, Leaf) and node.role == "parameter" and node.size is SCALAR):
                used = self.text(sym) if node is not None else str(sym)
                uses = "" if sym == coeff else f" uses {used}, which"
                raise SpecError(
                    f"matrix expression {self.text(matrix)}: the coefficient {self.text(coeff)}{uses} is not a "
                    "scalar parameter of the cell; matrix coefficients may only involve numbers and scalar parameters"
                )
        if isinstance(base, ZeroMatrix):
            return None
        if isinstance(base, Identity):
            return MatrixTerm(coeff, None)
        transposed = isinstance(base, Transpose)
        symbol = base.arg if transposed else base
        if not isinstance(symbol, MatrixSymbol):
            raise SpecError(
                f"matrix expression {matrix}: {base} is not a matrix parameter, its transpose or the identity"
            )
        if symbol not in self._matrices:
            raise self._undeclared(symbol, matrix)
        return MatrixTerm(coeff, symbol.name, transposed)

    # ------------------------------------------------------------------ helpers
    def _named_node(self, name, value, latex, is_gate) -> Vec:
        self._check_mutable()
        self._check_name(name)
        expr = self.as_expr(value, f"{'gate' if is_gate else 'let'} {name!r}")
        node = Named(name, sympy.Symbol(name, real=True), expr, self.size_of(expr), is_gate, latex or _default_latex(name))
        self._nodes[node.symbol] = node
        self._declared[name] = node
        self._named.append(node)
        return Vec(self, node.symbol)

    def _leaf(self, name, size, role, trainable, latex) -> Leaf:
        self._check_mutable()
        self._check_name(name)
        leaf = Leaf(name, sympy.Symbol(name, real=True), size, role, trainable, latex or _default_latex(name))
        self._nodes[leaf.symbol] = leaf
        self._declared[name] = leaf
        return leaf

    def _register(self, key, node) -> None:
        self._interned[key] = node
        self._nodes[node.symbol] = node

    def _fresh(self, prefix: str) -> sympy.Symbol:
        return sympy.Symbol(f"_{prefix}{len(self._interned)}", real=True)

    def _check_name(self, name) -> None:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise SpecError(
                f"name {name!r} is not allowed: use a Python identifier that does not start with '_' "
                "(e.g. 'h', 'W_rg', 'alpha')"
            )
        if name in self._declared:
            raise DuplicateNameError(
                f"name {name!r} is already declared in cell {self.name!r} "
                f"(as a {type(self._declared[name]).__name__}); choose another name"
            )
        if any(str(d) == name for d in self.dims):
            raise DuplicateNameError(f"name {name!r} is already a size of cell {self.name!r}; choose another name")

    def _check_mutable(self) -> None:
        if self._frozen:
            raise FrozenCellError(f"cell {self.name!r} is validated and frozen; build a new cell to change it")

    def _shape(self, name, shape) -> tuple:
        if isinstance(shape, (int, str, sympy.Expr)):
            return (shape,)
        if isinstance(shape, Iterable):
            shape = tuple(shape)
            if len(shape) <= 2:
                return shape
        raise ShapeError(f"parameter {name!r}: shape {shape!r} must be (), (size,) or (rows, columns)")

    def _dim(self, size, what: str) -> sympy.Expr:
        if isinstance(size, bool):
            size = None
        if isinstance(size, int) and size > 0:
            return sympy.Integer(size)
        if isinstance(size, str) and size.isidentifier():
            size = sympy.Symbol(size)
        if isinstance(size, sympy.Expr) and size.free_symbols and not isinstance(size, MatrixExpr):
            renamed = {s: sympy.Symbol(s.name, integer=True, positive=True) for s in size.free_symbols}
            for sym in renamed:
                if sym.name in self._declared:
                    raise DuplicateNameError(f"{what}: size name {sym.name!r} is already a declared name")
            return size.xreplace(renamed)
        if isinstance(size, sympy.Integer) and size > 0:
            return size
        raise ShapeError(
            f"{what}: size {size!r} is not a positive integer or a size name; use e.g. 8, 'n' or sympy.Symbol('n')"
        )

    def _state_leaf(self, state) -> Leaf:
        name = state if isinstance(state, str) else None
        if isinstance(state, Vec) and state.cell is self and isinstance(self._nodes.get(state.expr), Leaf):
            name = self._nodes[state.expr].name
        for leaf in self._states:
            if leaf.name == name:
                return leaf
        hint = "Pass the Vec returned by cell.state(...) or its name."
        if name in self._declared:
            role = getattr(self._declared[name], "role", "named expression")
            hint = f"{name!r} is not a state but a declared {role}; only states have updates. " + hint
        raise unknown_name("state", name if name is not None else state, [s.name for s in self._states], hint)

    def _undeclared(self, symbol, expr) -> UndeclaredSymbolError:
        where = "" if expr == symbol else f" in {self.text(expr)}"
        if any(symbol == d or getattr(symbol, "name", None) == str(d) for d in self.dims):
            return UndeclaredSymbolError(
                f"{symbol}{where} is a size of cell {self.name!r}, not a value; sizes cannot appear in expressions"
            )
        if isinstance(symbol, MatrixSymbol):
            kind, how = "matrix", f"cell.parameter({symbol.name!r}, (rows, columns))"
        else:
            kind, how = "symbol", "cell.state/input/parameter"
        return UndeclaredSymbolError(
            f"{kind} {symbol}{where} is not declared in cell {self.name!r}; declare it with "
            f"{how} (or use the object those return)"
        )

    @staticmethod
    def _same_name_hint(matrix_size, vector_size) -> str:
        """Explain a size mismatch between two SymPy symbols that only differ in assumptions."""
        if str(matrix_size) != str(vector_size):
            return ""
        return (
            f"; the matrix's {matrix_size} is a different SymPy symbol from the cell's size {vector_size} (sizes "
            "are positive-integer symbols) — build it from the vector's size, e.g. sympy.Identity(h.size)"
        )

    def __repr__(self) -> str:
        return f"Cell({self.name!r}, states={[s.name for s in self._states]}, parameters={[p.name for p in self._parameters]})"


def apply(function: Callable[..., sympy.Expr], *args) -> Vec | sympy.Expr:
    """Apply a SymPy scalar function elementwise: ``apply(lambda u, v: u / (1 + v**2), a, b)``.

    The function receives SymPy expressions and must return a scalar SymPy expression.
    """
    name = getattr(function, "__name__", repr(function))
    for i, arg in enumerate(args):
        if isinstance(arg, (MatrixExpr, sympy.MatrixBase)):
            raise NotElementwiseError(
                f"{name}(): argument {i} is the matrix {arg}; elementwise functions act on vectors — apply the "
                f"matrix to a vector first, e.g. {name}(W @ h)"
            )
    cells = {id(a.cell): a.cell for a in args if isinstance(a, Vec)}
    if len(cells) > 1:
        names = " and ".join(repr(c.name) for c in cells.values())
        raise SpecError(
            f"{name}(): the arguments come from different cells ({names}); build each cell from its own declarations"
        )
    cell = next(iter(cells.values()), None)
    try:
        exprs = [cell.as_expr(a, f"argument {i} of {name}") if cell else sympy.sympify(a) for i, a in enumerate(args)]
        result = function(*exprs)
    except GatejacError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise NotElementwiseError(
            f"{name!r} could not be applied to the arguments {args!r} ({type(exc).__name__}: {exc}); elementwise "
            "functions must map SymPy scalars to a SymPy scalar expression"
        ) from exc
    return Vec(cell, cell.as_expr(result, f"result of {name}")) if cell else result
