"""Structured differentiation of a cell: ``derive(cell) -> Derivation``.

For an elementwise expression ``e`` with node symbols ``s_1 … s_k`` the chain rule is
applied once per node,

    ∂e/∂leaf = Σ_j  C_j · ∂s_j/∂leaf,   C_j = diag(∂e/∂s_j)   (vector node),
                                        C_j = ∂e/∂s_j · 𝟙     (scalar node, vector e),

and per node kind

    ∂(M v)/∂leaf  = M · ∂v/∂leaf  (+ I ⊗ vᵀ or vᵀ ⊗ I when leaf is a matrix in M,
                                      + (∂M/∂γ) · v when leaf is a scalar in M's coefficients,
                                        the factors Mat(∂M/∂γ) and Column(v)),
    ∂(uᵀv)/∂leaf  = vᵀ · ∂u/∂leaf + uᵀ · ∂v/∂leaf.

Products are expanded into a sum of terms, one per chain-rule path, so each term knows
which named intermediates and gates it passes through; that is what ``gate_split`` uses.
The work is done once per (expression, leaf) pair on symbolic sizes, so the cost does not
depend on ``n``.  Differentiating creates no node: every factor is an expression of the cell's
existing nodes and parameters, so ``derive(cell)`` leaves the cell (and its fingerprint) as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ._cell import Cell
from ._errors import SpecError, unknown_name
from ._linear import BlockJacobian, Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term, scaled
from ._matrices import matrix_of
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatrixTerm, MatVec, Named


def numel(piece: Leaf | MatrixParameter) -> sympy.Expr:
    """Number of scalar entries of a leaf (1 for a scalar, rows·cols for a matrix)."""
    if isinstance(piece, MatrixParameter):
        return piece.shape[0] * piece.shape[1]
    return sympy.S.One if piece.size is SCALAR else piece.size


class _ChainRule:
    """Memoised structured differentiation of one cell's expressions."""

    def __init__(self, cell: Cell):
        self.cell = cell
        self._memo: dict[tuple[sympy.Expr, str], tuple[Term, ...]] = {}
        self._names = {n.expr: n.symbol for n in cell.named}

    def of_expr(self, expr: sympy.Expr, leaf) -> tuple[Term, ...]:
        key = (expr, leaf.name)
        if key not in self._memo:
            self._memo[key] = self._expr_terms(expr, leaf)
        return self._memo[key]

    def _expr_terms(self, expr: sympy.Expr, leaf) -> tuple[Term, ...]:
        out_size = self.cell.size_of(expr)
        terms: list[Term] = []
        for sym in sorted(expr.free_symbols, key=str):
            node = self.cell.node(sym)
            inner = self.of_node(node, leaf)
            if not inner:
                continue
            coefficient = sympy.diff(expr, sym).xreplace(self._names)  # tanh(<def of h_tilde>) -> h_tilde
            if coefficient == 0:
                continue
            lead = self._coefficient_factor(coefficient, out_size, node.size)
            terms.extend(t.prepend(lead) for t in inner)
        return tuple(terms)

    def _coefficient_factor(self, coefficient, out_size, node_size):
        if node_size is SCALAR and out_size is not SCALAR:
            return Column(coefficient, out_size)
        coefficient_size = self.cell.size_of(coefficient)
        if coefficient_size is SCALAR:
            return Scale(coefficient)
        return Diag(coefficient, coefficient_size)

    def of_node(self, node, leaf) -> tuple[Term, ...]:
        if isinstance(node, Leaf):
            return (Term(),) if node.name == leaf.name else ()
        if isinstance(node, Named):
            return tuple(t.via(node.name, node.is_gate) for t in self.of_expr(node.expr, leaf))
        if isinstance(node, MatVec):
            through = tuple(t.prepend(Mat(node.matrix)) for t in self.of_expr(node.operand, leaf))
            return through + self._matrix_leaf_terms(node, leaf)
        assert isinstance(node, Dot)
        size = self.cell.size_of(node.left)
        return tuple(t.prepend(Row(node.right, size)) for t in self.of_expr(node.left, leaf)) + tuple(
            t.prepend(Row(node.left, size)) for t in self.of_expr(node.right, leaf)
        )

    def _matrix_leaf_terms(self, node: MatVec, leaf) -> tuple[Term, ...]:
        """Terms of ∂(M v)/∂leaf that come from ``leaf`` appearing in ``M`` itself."""
        if isinstance(leaf, MatrixParameter):
            operand_size = self.cell.size_of(node.operand)
            return tuple(
                scaled(Term((Kron(node.operand, operand_size, node.size, t.transposed),)), t.coeff)
                for t in node.terms
                if t.parameter == leaf.name
            )
        if leaf.size is SCALAR and leaf.role == "parameter":
            derived = tuple(
                MatrixTerm(sympy.diff(t.coeff, leaf.symbol), t.parameter, t.transposed) for t in node.terms
            )
            derived = tuple(t for t in derived if t.coeff != 0)
            operand_size = self.cell.size_of(node.operand)
            if derived and all(t.parameter is None for t in derived):  # (∂c/∂γ) I v = (∂c/∂γ) v
                return (Term((Column(sympy.Add(*(t.coeff for t in derived)) * node.operand, node.size),)),)
            if derived:
                matrix = matrix_of(self.cell, derived, operand_size)
                return (Term((Mat(matrix), Column(node.operand, operand_size))),)
        return ()


@dataclass(frozen=True)
class GateSplit:
    """``J = A + B``: ``A`` is the state Jacobian with every marked gate frozen, ``B``
    the terms that exist because a gate reads the state (Livi 2025, docs/theory.md: “The gate split”, “The first-order gate expansion”)."""

    A: BlockJacobian
    B: BlockJacobian


class Derivation:
    """Every Jacobian of one step of a cell, as structured SymPy closed forms.

    * ``state``: ∂s'/∂s, a block matrix over all states (numerator layout);
    * ``input``: ∂s'/∂x over all inputs;
    * ``parameter(name)``: ∂s'/∂θ for one parameter (matrices flattened row-major, as
      ``torch.flatten`` does: column ``i·c + j`` is entry ``(i, j)``);
    * ``gate_split()``: the split J = A + B of the state Jacobian;
    * ``convention``: ``"exact"`` (the Jacobian), or ``"author"`` for the result of
      :func:`~gatejac.symbolic.author_convention` (the public code's gate term).
    """

    convention = "exact"

    def __init__(self, cell: Cell):
        if not isinstance(cell, Cell):
            hint = f"; for a catalogue cell write derive(gatejac.symbolic.cells.get({cell!r}))" if isinstance(cell, str) else ""
            raise SpecError(
                f"derive() needs a gatejac.symbolic.Cell, got {type(cell).__name__} {cell!r}; build one with "
                f"gatejac.symbolic.Cell(...){hint}"
            )
        self.cell = cell.validate()
        self._rule = _ChainRule(cell)
        states = cell.states
        self.state = self._block(states)
        self.input = self._block(cell.inputs)
        self._parameters = {p.name: self._block((p,)) for p in cell.parameters}

    def _block(self, leaves) -> BlockJacobian:
        blocks = {}
        for state in self.cell.states:
            expr = self.cell.updates[state.name]
            for leaf in leaves:
                terms = self._rule.of_expr(expr, leaf)
                blocks[(state.name, leaf.name)] = Jacobian(state.name, leaf.name, state.size, numel(leaf), terms)
        return BlockJacobian(tuple(s.name for s in self.cell.states), tuple(leaf.name for leaf in leaves), blocks)

    @property
    def parameters(self) -> dict[str, BlockJacobian]:
        """Parameter Jacobians keyed by parameter name, in declaration order."""
        return dict(self._parameters)

    def parameter(self, name: str) -> BlockJacobian:
        if name not in self._parameters:
            raise unknown_name("parameter", name, list(self._parameters), f"(cell {self.cell.name!r})")
        return self._parameters[name]

    def replace(self, *, state: BlockJacobian | None = None, input: BlockJacobian | None = None,
                parameters: dict[str, BlockJacobian] | None = None) -> Derivation:
        """A copy with some blocks replaced (e.g. a deliberately broken Jacobian for the
        verify layer's mutation suite); ``parameters`` replaces only the names it holds."""
        copy = object.__new__(Derivation)
        copy.__dict__.update(self.__dict__)
        copy.state = self.state if state is None else state
        copy.input = self.input if input is None else input
        copy._parameters = {**self._parameters, **(parameters or {})}
        return copy

    def blocks(self) -> dict[tuple[str, str], Jacobian]:
        """Every block ∂state'/∂leaf of the state, input and parameter Jacobians."""
        merged = {**self.state.blocks, **self.input.blocks}
        for block_jacobian in self._parameters.values():
            merged.update(block_jacobian.blocks)
        return merged

    def gate_split(self) -> GateSplit:
        return GateSplit(self.state.select(lambda t: not t.gates), self.state.select(lambda t: bool(t.gates)))

    def to_latex(self) -> str:
        from ._latex import derivation_latex

        return derivation_latex(self)

    def _repr_latex_(self) -> str:
        return "$$" + self.to_latex() + "$$"

    def __str__(self) -> str:
        """The derivation as it reads (see :func:`~gatejac.symbolic.derivation_text`)."""
        from ._text import derivation_text

        return derivation_text(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {len(b)} terms" for name, b in self._parameters.items())
        convention = "" if self.convention == "exact" else f", convention={self.convention!r}"
        return (f"Derivation({self.cell.name!r}{convention}, state: {len(self.state)} terms, "
                f"input: {len(self.input)} terms, {counts})")


def derive(cell: Cell) -> Derivation:
    """Validate ``cell`` and derive all its Jacobians in structured closed form."""
    return Derivation(cell)
