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

Vectors are :class:`~gatejac.symbolic.Vec` objects wrapping a SymPy scalar expression read
elementwise; matrix parameters are SymPy ``MatrixSymbol`` objects, so ``beta * (W + W.T)`` or
``W - W.T - gamma*Identity(n)`` are ordinary SymPy matrix expressions (any linear combination
with numbers and scalar parameters as coefficients, see ``_matrices``); scalar parameters are
SymPy ``Symbol`` objects.  Sizes are SymPy symbols (``"n"`` or ``sympy.Symbol("n")`` becomes
the cell's positive-integer size ``n``, wherever it is written) or integers, and are checked
as the cell is built.  A validated cell is frozen: deriving it adds nothing to it, and
:attr:`Cell.fingerprint` names its structure.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable
from typing import Any

import sympy
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions import MatrixExpr, MatrixSymbol
from sympy.matrices.expressions.matexpr import MatrixElement

from . import _matrices
from ._errors import (
    DuplicateNameError,
    FrozenCellError,
    MissingUpdateError,
    NotElementwiseError,
    ShapeError,
    SpecError,
    UndeclaredSymbolError,
    UnusedSymbolError,
    unknown_name,
)
from ._names import default_latex
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatrixTerm, MatVec, Named, Node, NodeSymbol
from ._text import expression_text
from ._vec import FIXED_PARAMETER_HINT, Vec, describe_value, is_array, size_text

_FORBIDDEN_ATOMS = (sympy.Derivative, sympy.Integral, sympy.Sum, sympy.Product, sympy.Subs)
_SIZE_NAMES = ("n", "m", "k", "d", "N", "M", "K")


def _kind(piece) -> str:
    """What a declared piece is, in the words of the specification language."""
    if isinstance(piece, Named):
        return "gate" if piece.is_gate else "named expression (cell.let)"
    if isinstance(piece, MatrixParameter):
        return "matrix parameter"
    return piece.role


class Cell:
    """A recurrent cell: states, inputs, parameters and one update per state.

    Build it with :meth:`state`, :meth:`input`, :meth:`parameter`, :meth:`let`,
    :meth:`gate` and :meth:`update`; :meth:`validate` checks that every state has an
    update and every declared piece is used, then freezes the cell.  ``derive`` validates
    on its own and never changes the cell.
    """

    def __init__(self, name: str, *, description: str = "", reference: str = "", convention: str = ""):
        if not isinstance(name, str) or not name:
            raise SpecError(f"cell name {name!r} is not allowed: give the cell a non-empty string name")
        self.name = name
        self.description = description
        self.reference = reference
        self.convention = convention
        self._nodes: dict[sympy.Symbol, Node] = {}
        self._declared: dict[str, object] = {}
        self._states: list[Leaf] = []
        self._inputs: list[Leaf] = []
        self._parameters: list[Leaf | MatrixParameter] = []
        self._named: list[Named] = []
        self._updates: dict[str, sympy.Expr] = {}
        self._interned: dict[tuple, Node] = {}
        self._frozen = False
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ declarations
    def state(self, name: str, size, *, latex: str | None = None) -> Vec:
        """Declare a state vector of ``size`` (an int, a size name such as ``"n"`` or a SymPy symbol)."""
        leaf = self._leaf(name, self._dim(size, f"state {name!r}", name), "state", True, latex)
        self._states.append(leaf)
        return Vec(self, leaf.symbol)

    def input(self, name: str, size, *, latex: str | None = None) -> Vec:
        """Declare an input vector of ``size``."""
        leaf = self._leaf(name, self._dim(size, f"input {name!r}", name), "input", False, latex)
        self._inputs.append(leaf)
        return Vec(self, leaf.symbol)

    def parameter(self, name: str, shape=(), *, trainable: bool = True, default=None, note: str = "",
                  latex: str | None = None):
        """Declare a parameter: ``shape=()`` a scalar (returns a SymPy ``Symbol``),
        ``(k,)`` or a single size a vector (returns a :class:`Vec`), ``(r, c)`` a matrix
        (returns a SymPy ``MatrixSymbol``).

        ``trainable=False`` marks it fixed.  ``default`` (a finite real number, given to every
        entry) is the value it takes unless the user passes one: the value of a fixed parameter,
        or the initial value of a trainable one that is neither a weight nor a bias (a time
        constant); ``note`` says why the default is what it is, or what to pass when there is
        none.  Both are read back as ``.default`` and ``.note`` of the declared piece."""
        if not isinstance(trainable, bool):
            raise SpecError(f"parameter {name!r}: trainable={trainable!r} must be True or False")
        default = self._default(name, default)
        if not isinstance(note, str):
            raise SpecError(f"parameter {name!r}: note={note!r} must be a string (why the default is what it is)")
        shape = self._shape(name, shape)
        if len(shape) == 2:
            self._check_mutable()
            self._check_name(name)
            rows = self._dim(shape[0], f"parameter {name!r} (rows)", name)
            cols = self._dim(shape[1], f"parameter {name!r} (columns)", name)
            param = MatrixParameter(name, MatrixSymbol(name, rows, cols), trainable, latex or default_latex(name),
                                    default, note)
            self._declared[name] = param
            self._parameters.append(param)
            return param.symbol
        size = self._dim(shape[0], f"parameter {name!r}", name) if shape else SCALAR
        leaf = self._leaf(name, size, "parameter", trainable, latex, default, note)
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
                f"the update of state {leaf.name!r} has {size_text(size)} but the state has "
                f"{size_text(leaf.size)}; the new state must have the same size as the old one"
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
                raise UnusedSymbolError(
                    f"{_kind(piece)} {piece.name!r} of cell {self.name!r} is declared but no update uses it; "
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

    # ------------------------------------------------------------------ identity
    @property
    def fingerprint(self) -> str:
        """A SHA-256 hex digest of everything that defines the cell's map and interface: its
        name; its states and inputs with their sizes; its parameters with shape, ``trainable``
        and ``default``; its named intermediates and which are gates; its updates.

        Two cells built independently the same way have the same fingerprint; any change to
        one of those pieces changes it; deriving a cell does not.  Presentation (description,
        reference, convention, LaTeX names, notes) is not part of it.  A frozen cell computes
        it once."""
        if self._fingerprint is not None:
            return self._fingerprint
        lines = [f"cell {self.name!r}"]
        lines += [f"{leaf.role} {leaf.name} size={leaf.size}" for leaf in (*self._states, *self._inputs)]
        for p in self._parameters:
            shape = p.shape if isinstance(p, MatrixParameter) else () if p.size is SCALAR else (p.size,)
            lines.append(f"parameter {p.name} shape={tuple(map(str, shape))} trainable={p.trainable} "
                         f"default={p.default!r}")
        lines += [f"{'gate' if n.is_gate else 'let'} {n.name} = {self.text(n.expr)}" for n in self._named]
        lines += [f"update {name} = {self.text(expr)}" for name, expr in self._updates.items()]
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        if self._frozen:
            self._fingerprint = digest
        return digest

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
        piece = self._declared.get(getattr(symbol, "name", None))
        if not isinstance(piece, MatrixParameter) or piece.symbol != symbol:
            raise KeyError(symbol)
        return piece

    def children(self, node: Node) -> list[sympy.Expr]:
        """The vector expressions a node reads directly."""
        if isinstance(node, Named):
            return [node.expr]
        if isinstance(node, MatVec):
            return [node.operand]
        if isinstance(node, Dot):
            return [node.left, node.right]
        return []

    def matrix_terms(self, matrix: MatrixExpr) -> tuple[MatrixTerm, ...]:
        """``matrix`` (a linear combination of this cell's matrix parameters, their
        transposes and the identity) as terms ``coeff · base``; see ``_matrices``."""
        return _matrices.matrix_terms(self, _matrices.with_cell_sizes(self, matrix))

    def size_of(self, expr: sympy.Expr):
        """The size of an elementwise expression: that of its vector nodes (which must
        agree), or ``None`` if it only involves scalars."""
        sizes: dict[Any, list[str]] = {}
        for sym in sorted(expr.free_symbols, key=str):
            node = self._nodes.get(sym)
            if node is None:
                raise self.undeclared(sym, expr)
            if node.size is not SCALAR:
                sizes.setdefault(node.size, []).append(self.text(sym))
        if len(sizes) > 1:
            detail = "; ".join(f"{', '.join(names)} of size {size}" for size, names in sizes.items())
            raise ShapeError(
                f"elementwise expression {self.text(expr)} mixes vectors of different sizes ({detail}); "
                "only scalars broadcast — use a matrix product to change size"
            )
        return next(iter(sizes)) if sizes else SCALAR

    @staticmethod
    def text(expr) -> str:
        """A readable plain-text form of a cell expression, in the cell's names (``W@h``)."""
        return expression_text(expr)

    # ------------------------------------------------------------------ expression building
    def as_expr(self, value, what: str) -> sympy.Expr:
        """Turn ``value`` into an elementwise SymPy expression of this cell, or raise."""
        if isinstance(value, Vec):
            if value.cell is not self:
                raise SpecError(
                    f"{what}: {value} belongs to cell {value.cell.name!r}, not {self.name!r}; "
                    "build each cell from its own declarations"
                )
            return value.expr
        if isinstance(value, (MatrixExpr, sympy.MatrixBase)):
            raise NotElementwiseError(
                f"{what}: got the matrix {self.text(value)}, but an elementwise (vector) expression is needed; "
                "multiply it by a vector (M @ v) first"
            )
        if is_array(value) and getattr(value, "ndim", 0) != 0:
            raise NotElementwiseError(
                f"{what}: got {describe_value(value)}; arrays of numbers cannot enter a cell expression (the cell is "
                f"symbolic); {FIXED_PARAMETER_HINT}"
            )
        try:
            expr = sympy.sympify(value.item() if is_array(value) else value, strict=True)
        except (sympy.SympifyError, TypeError) as exc:
            raise SpecError(
                f"{what}: {describe_value(value)} is not a cell expression; "
                "use the cell's declarations, numbers and SymPy scalar expressions"
            ) from exc
        if not isinstance(expr, sympy.Expr) or isinstance(expr, MatrixExpr):
            raise NotElementwiseError(f"{what}: {describe_value(value)} is not a scalar SymPy expression applied elementwise")
        self._check_elementwise(expr, what)
        try:
            self.size_of(expr)
        except UndeclaredSymbolError as exc:
            raise UndeclaredSymbolError(f"{what}: {exc}") from None
        return expr

    def _check_elementwise(self, expr: sympy.Expr, what: str) -> None:
        if expr.has(*_FORBIDDEN_ATOMS):
            raise NotElementwiseError(
                f"{what}: {self.text(expr)} contains an unevaluated derivative, integral, sum or product; "
                "an elementwise function must be a closed-form scalar expression"
            )
        undefined = expr.atoms(AppliedUndef)
        if undefined:
            raise NotElementwiseError(
                f"{what}: {sorted(map(str, undefined))} are undefined SymPy functions with no known derivative; "
                "write the function as an expression (e.g. 1/(1+exp(-a))) or use gatejac.symbolic.sigmoid/softplus"
            )
        if any(isinstance(a, MatrixElement) for a in sympy.preorder_traversal(expr)):
            raise NotElementwiseError(
                f"{what}: {self.text(expr)} indexes a matrix entry; cells act on whole vectors — use M @ v"
            )
        matrices = sorted(str(s) for s in expr.free_symbols if isinstance(s, MatrixSymbol))
        if matrices:
            raise NotElementwiseError(
                f"{what}: {self.text(expr)} uses the matrix {', '.join(matrices)} inside an elementwise expression; "
                "apply a matrix to a vector first (M @ v)"
            )

    def matvec(self, matrix, operand) -> Vec:
        """``matrix @ operand`` as a node; ``matrix`` must be a linear combination of the
        cell's matrix parameters, their transposes and the identity, with numbers and scalar
        parameters as coefficients."""
        self._check_mutable()
        if not isinstance(matrix, MatrixExpr):
            shown = describe_value(matrix)
            hint = FIXED_PARAMETER_HINT if is_array(matrix) or isinstance(matrix, sympy.MatrixBase) else (
                "the left operand of @ must be a SymPy matrix expression built from the cell's matrix parameters; "
                "for elementwise products use *")
            raise NotElementwiseError(f"{shown} @ {self.text(self.as_expr(operand, 'operand of @'))}: {hint}")
        operand_expr = self.as_expr(operand, f"operand of {self.text(matrix)} @ ...")
        matrix = _matrices.with_cell_sizes(self, matrix)
        terms = _matrices.matrix_terms(self, matrix)
        rows, cols = _matrices.matrix_shape(self, matrix)
        size = self.size_of(operand_expr)
        if size is SCALAR:
            raise ShapeError(
                f"{self.text(matrix)} @ {self.text(operand_expr)}: the operand is a scalar; a matrix needs a vector"
            )
        if sympy.simplify(cols - size) != 0:
            raise ShapeError(
                f"{self.text(matrix)} @ {self.text(operand_expr)}: the matrix has {cols} columns but "
                f"the vector has size {size}"
            )
        matrix = _matrices.matrix_of(self, terms, size)
        key = ("matvec", matrix, operand_expr)
        node = self._interned.get(key)
        if node is None:
            text = f"{_grouped(self.text(matrix), isinstance(matrix, MatrixSymbol))}@{self._operand_text(operand_expr)}"
            node = MatVec(self._fresh("mv", text), matrix, terms, operand_expr, rows)
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
                f"got {size_text(lsize)} and {size_text(rsize)}"
            )
        key = ("dot", lexpr, rexpr)
        node = self._interned.get(key)
        if node is None:
            node = Dot(self._fresh("dot", f"{self._operand_text(lexpr)}@{self._operand_text(rexpr)}"), lexpr, rexpr)
            self._register(key, node)
        return Vec(self, node.symbol)

    def _operand_text(self, expr) -> str:
        return _grouped(self.text(expr), expr.is_Symbol)

    # ------------------------------------------------------------------ helpers
    def _named_node(self, name, value, latex, is_gate) -> Vec:
        self._check_mutable()
        self._check_name(name)
        expr = self.as_expr(value, f"{'gate' if is_gate else 'let'} {name!r}")
        node = Named(name, sympy.Symbol(name, real=True), expr, self.size_of(expr), is_gate, latex or default_latex(name))
        self._nodes[node.symbol] = node
        self._declared[name] = node
        self._named.append(node)
        return Vec(self, node.symbol)

    def _leaf(self, name, size, role, trainable, latex, default=None, note="") -> Leaf:
        self._check_mutable()
        self._check_name(name)
        leaf = Leaf(name, sympy.Symbol(name, real=True), size, role, trainable, latex or default_latex(name), default, note)
        self._nodes[leaf.symbol] = leaf
        self._declared[name] = leaf
        return leaf

    def _register(self, key, node) -> None:
        self._interned[key] = node
        self._nodes[node.symbol] = node

    def _fresh(self, prefix: str, text: str) -> NodeSymbol:
        return NodeSymbol(f"_{prefix}{len(self._interned)}", text)

    def _check_name(self, name) -> None:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise SpecError(
                f"name {name!r} is not allowed: use a Python identifier that does not start with '_' "
                "(e.g. 'h', 'W_rg', 'alpha')"
            )
        if name in self._declared:
            raise DuplicateNameError(
                f"name {name!r} is already declared in cell {self.name!r} "
                f"(as a {_kind(self._declared[name])}); choose another name"
            )
        if any(str(d) == name for d in self.dims):
            raise DuplicateNameError(
                f"name {name!r} is already a size of cell {self.name!r}: sizes are symbols in the shapes, so one "
                "name cannot be both; choose another name"
            )

    def _free_size_name(self, taken: str) -> str:
        used = {str(d) for d in self.dims} | set(self._declared) | {taken}
        return next(s for s in (*_SIZE_NAMES, *(f"n{k}" for k in range(1, 100))) if s not in used)

    def _check_mutable(self) -> None:
        if self._frozen:
            raise FrozenCellError(f"cell {self.name!r} is validated and frozen; build a new cell to change it")

    def _default(self, name, default) -> float | None:
        if default is None:
            return None
        real = isinstance(default, numbers.Real) and not isinstance(default, bool)
        if isinstance(default, sympy.Expr) and default.is_number and default.is_extended_real:
            real, default = True, float(default)
        if not real or not math.isfinite(float(default)):
            raise SpecError(
                f"parameter {name!r}: default={default!r} must be a finite real number (it is given to every entry "
                "of the parameter), e.g. default=0.8; leave it out if the parameter has no default"
            )
        return float(default)

    def _shape(self, name, shape) -> tuple:
        if isinstance(shape, (int, str, sympy.Expr)):
            return (shape,)
        if isinstance(shape, Iterable):
            shape = tuple(shape)
            if len(shape) <= 2:
                return shape
        raise ShapeError(f"parameter {name!r}: shape {shape!r} must be (), (size,) or (rows, columns)")

    def _dim(self, size, what: str, name: str) -> sympy.Expr:
        if isinstance(size, bool):
            size = None
        if isinstance(size, int) and size > 0:
            return sympy.Integer(size)
        if isinstance(size, str) and size.isidentifier():
            size = sympy.Symbol(size)
        if isinstance(size, sympy.Expr) and size.free_symbols and not isinstance(size, MatrixExpr):
            renamed = {s: sympy.Symbol(s.name, integer=True, positive=True) for s in size.free_symbols}
            for sym in renamed:
                if sym.name in self._declared or sym.name == name:
                    raise DuplicateNameError(
                        f"{what}: size name {sym.name!r} is also the name of "
                        f"{'this ' + what.split()[0] if sym.name == name else 'a ' + _kind(self._declared[sym.name])}"
                        f"; sizes are symbols in the shapes, so one name cannot be both — name the size differently, "
                        f"e.g. {self._free_size_name(sym.name)!r}"
                    )
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
        hint = "Pass the vector returned by cell.state(...) or its name."
        if name in self._declared:
            hint = f"{name!r} is not a state but a declared {_kind(self._declared[name])}; only states have updates. " + hint
        shown = name if name is not None else str(state) if isinstance(state, Vec) else describe_value(state)
        raise unknown_name("state", shown, [s.name for s in self._states], hint)

    def undeclared(self, symbol, expr) -> UndeclaredSymbolError:
        """The error for a symbol of ``expr`` that is not one of the cell's declarations."""
        where = "" if expr == symbol else f" in {self.text(expr)}"
        name = getattr(symbol, "name", str(symbol))
        if any(name == str(d) for d in self.dims):
            return UndeclaredSymbolError(
                f"{symbol}{where} is a size of cell {self.name!r}, not a value; sizes cannot appear in expressions"
            )
        if name in self._declared:
            return UndeclaredSymbolError(
                f"{symbol}{where} is a new SymPy symbol that only shares its name with the {_kind(self._declared[name])} "
                f"{name!r} of cell {self.name!r}; use the object cell.{_declaration(self._declared[name])}(...) returned"
            )
        if isinstance(symbol, MatrixSymbol):
            kind, how = "matrix", f"cell.parameter({symbol.name!r}, (rows, columns))"
        else:
            kind, how = "symbol", "cell.state/input/parameter"
        return UndeclaredSymbolError(
            f"{kind} {symbol}{where} is not declared in cell {self.name!r}; declare it with "
            f"{how} (or use the object those return)"
        )

    def __repr__(self) -> str:
        return f"Cell({self.name!r}, states={[s.name for s in self._states]}, parameters={[p.name for p in self._parameters]})"


def _declaration(piece) -> str:
    if isinstance(piece, Named):
        return "gate" if piece.is_gate else "let"
    return "parameter" if isinstance(piece, MatrixParameter) else piece.role


def _grouped(text: str, atomic: bool) -> str:
    return text if atomic else f"({text})"
