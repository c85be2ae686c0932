"""Structured linear maps: the closed forms that derivations produce.

A Jacobian block ∂out/∂leaf is a sum of :class:`Term` objects; a term is a product of
factors read left to right (numerator layout, ``J[i, j] = ∂out_i/∂leaf_j``):

==============  ================  ==========================================================
factor          shape             meaning
==============  ================  ==========================================================
``Scale(s)``    scalar            multiplication by a scalar expression ``s``
``Diag(u)``     k × k             ``diag(u)``
``Column(u)``   k × 1             the column vector ``u`` (a scalar ``u`` broadcasts: ``u·𝟙``)
``Row(u)``      1 × k             the row vector ``uᵀ``
``Mat(M)``      r × c             a matrix expression of parameters (``W``, ``W - Wᵀ - γI``)
``Kron(v)``     k × (k·l)         ``I_k ⊗ vᵀ``: ∂(P v)/∂P with P flattened row-major
``Kron(v, T)``  k × (l·k)         ``vᵀ ⊗ I_k``: ∂(Pᵀ v)/∂P with P flattened row-major
==============  ================  ==========================================================

An empty product is the identity.  Every ``u``, ``s`` and ``v`` is an elementwise SymPy
expression of the cell's nodes, so a term never holds n² scalar entries and its cost does
not depend on the declared sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy


@dataclass(frozen=True)
class Scale:
    """Multiplication by the scalar expression ``value``."""

    value: sympy.Expr


@dataclass(frozen=True)
class Diag:
    """``diag(value)``, a ``size`` × ``size`` diagonal matrix."""

    value: sympy.Expr
    size: sympy.Expr


@dataclass(frozen=True)
class Column:
    """The column vector ``value`` (``size`` × 1; a scalar ``value`` broadcasts to ``value·𝟙``)."""

    value: sympy.Expr
    size: sympy.Expr


@dataclass(frozen=True)
class Row:
    """The row vector ``valueᵀ`` (1 × ``size``)."""

    value: sympy.Expr
    size: sympy.Expr


@dataclass(frozen=True)
class Mat:
    """A matrix expression of parameters, e.g. ``W`` or ``W - Wᵀ - γI``."""

    matrix: sympy.MatrixExpr


@dataclass(frozen=True)
class Kron:
    """``I_dim ⊗ valueᵀ`` (``transposed=False``) or ``valueᵀ ⊗ I_dim`` (``transposed=True``)."""

    value: sympy.Expr
    size: sympy.Expr
    dim: sympy.Expr
    transposed: bool = False


Factor = Scale | Diag | Column | Row | Mat | Kron
"""Any factor of a :class:`Term`'s product (the table of the module docstring)."""


@dataclass(frozen=True)
class Term:
    """One product of factors; ``path`` lists the named intermediates and gates the chain
    rule went through (outermost first), ``gates`` the marked gates among them."""

    factors: tuple[Factor, ...] = ()
    path: tuple[str, ...] = ()
    gates: frozenset[str] = field(default_factory=frozenset)

    def prepend(self, factor: Factor) -> Term:
        """``factor · self``, merged with the leading factors where the product stays
        structured (scalars to the front, ``diag·diag``, ``uᵀ·diag``, ``diag·u``)."""
        scale, rest = self._split_scale()
        if isinstance(factor, Scale):
            return self._with(factor.value * scale, rest)
        head = rest[0] if rest else None
        if isinstance(factor, Diag) and isinstance(head, Diag):
            return self._with(scale, (Diag(factor.value * head.value, head.size), *rest[1:]))
        if isinstance(factor, Diag) and isinstance(head, Column):
            return self._with(scale, (Column(factor.value * head.value, factor.size), *rest[1:]))
        if isinstance(factor, Row) and isinstance(head, Diag):
            return self._with(scale, (Row(factor.value * head.value, head.size), *rest[1:]))
        return self._with(scale, (factor, *rest))

    def via(self, name: str, is_gate: bool) -> Term:
        """This term, recorded as passing through the named node ``name``."""
        return replace(self, path=(name, *self.path), gates=self.gates | {name} if is_gate else self.gates)

    @property
    def coefficient(self) -> sympy.Expr:
        """The leading scalar (1 if there is none)."""
        return self._split_scale()[0]

    @property
    def structure(self) -> tuple[Factor, ...]:
        """The factors after the leading scalar."""
        return self._split_scale()[1]

    def _split_scale(self) -> tuple[sympy.Expr, tuple[Factor, ...]]:
        if self.factors and isinstance(self.factors[0], Scale):
            return self.factors[0].value, self.factors[1:]
        return sympy.S.One, self.factors

    def _with(self, scale: sympy.Expr, rest: tuple[Factor, ...]) -> Term:
        factors = rest if scale == 1 else (Scale(scale), *rest)
        return replace(self, factors=factors)

    def __str__(self) -> str:
        """The term as it reads, e.g. ``diag(g*(1 - tanh(a)**2)) @ (W)``."""
        from ._text import term_text

        return term_text(None, self)


def scaled(term: Term, value: sympy.Expr) -> Term:
    """``value · term`` (used for the coefficient of a matrix-parameter term)."""
    return term.prepend(Scale(value))


@dataclass(frozen=True)
class Jacobian:
    """One block ∂out/∂leaf as a sum of terms.

    ``rows`` is the size of ``out`` (``None`` for a scalar); ``cols`` the number of entries
    of the leaf (``1`` for a scalar parameter, ``r·c`` for a matrix parameter flattened
    row-major as ``torch.flatten`` does).
    """

    out: str
    wrt: str
    rows: sympy.Expr | None
    cols: sympy.Expr
    terms: tuple[Term, ...] = ()

    @property
    def is_zero(self) -> bool:
        return not self.terms

    def select(self, keep) -> Jacobian:
        """The block restricted to the terms for which ``keep(term)`` is true."""
        return replace(self, terms=tuple(t for t in self.terms if keep(t)))

    def __str__(self) -> str:
        """The block as it reads: ``dh'/dh =`` and one term per line."""
        from ._text import jacobian_text

        return jacobian_text(self)


@dataclass(frozen=True)
class BlockJacobian:
    """A block matrix of :class:`Jacobian` blocks: rows are new states, columns are
    the leaves differentiated against (states, inputs, or one parameter)."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    blocks: dict[tuple[str, str], Jacobian]

    def __getitem__(self, key: tuple[str, str]) -> Jacobian:
        return self.blocks[key]

    def terms(self):
        """Iterate ``(row, col, term)`` over every term of every block."""
        for (row, col), block in self.blocks.items():
            for term in block.terms:
                yield row, col, term

    def select(self, keep) -> BlockJacobian:
        return BlockJacobian(self.rows, self.cols, {k: b.select(keep) for k, b in self.blocks.items()})

    def __len__(self) -> int:
        return sum(len(b.terms) for b in self.blocks.values())

    def __str__(self) -> str:
        """Every block as it reads (see :class:`Jacobian`), in row-major order."""
        from ._text import block_jacobian_text

        return block_jacobian_text(self)

