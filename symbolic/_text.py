"""Plain-text rendering of cell expressions, terms, Jacobians and derivations, in the cell's own names.

* :func:`expression_text` prints an elementwise expression; a computed node prints as it
  was written (``W@h``, ``(alpha*W + beta*W.T)@(r*h)``, ``w@h`` for the scalar ``wᵀh``).
* :func:`term_text` prints one structured term with its factors joined by ``@``
  (``diag(u) @ W @ diag(v)``, ``(u)^T`` for a row, ``kron(I_n, (h)^T)`` for ``I ⊗ hᵀ``);
  reports, the mutation suite and the command line all name terms with it.
* :func:`jacobian_text`, :func:`block_jacobian_text` and :func:`derivation_text` print a
  block, a block matrix and a whole derivation, one term per line — what ``str()`` of a
  :class:`~gatejac.symbolic.Jacobian`, :class:`~gatejac.symbolic.BlockJacobian`,
  :class:`~gatejac.symbolic.Term` and :class:`~gatejac.symbolic.Derivation` returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ._linear import BlockJacobian, Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term

if TYPE_CHECKING:
    from ._cell import Cell
    from ._derive import Derivation


class _TextPrinter(StrPrinter):
    """SymPy's plain-text printer; a computed node prints as its own text, a matrix product
    as it is written (``W@U``), a scaled matrix without brackets around a sign (``-g*I``)."""

    def _print_NodeSymbol(self, expr) -> str:
        return expr.text

    def _print_MatMul(self, expr) -> str:
        scalar, matrices = expr.as_coeff_matrices()
        sign = "-" if (scalar.is_Mul or scalar.is_Number) and scalar.as_coeff_Mul()[0].is_negative else ""
        scalar = -scalar if sign else scalar
        body = "@".join(self.parenthesize(m, PRECEDENCE["Mul"], strict=True) for m in matrices)
        return sign + (body if scalar == 1 else f"{self.parenthesize(scalar, PRECEDENCE['Mul'])}*{body}")

    def _print_MatPow(self, expr) -> str:
        if expr.exp.is_Integer and expr.exp > 1:
            return "@".join([self.parenthesize(expr.base, PRECEDENCE["Mul"], strict=True)] * int(expr.exp))
        return super()._print_MatPow(expr)


_PRINTER = _TextPrinter()


def expression_text(expr) -> str:
    """A cell expression (elementwise or matrix) as plain text in the cell's names."""
    return _PRINTER.doprint(sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr)


def term_text(cell: Cell | None, term: Term, *, text=expression_text) -> str:
    """One structured term as plain text, factors joined by ``@``.  With ``cell``, a column
    that is a scalar read by every unit prints as ``(u)*ones(n)``.  ``text`` prints the
    expressions inside the factors (the step expansion passes one that indexes by step)."""
    body = " @ ".join(_factor_text(cell, f, text) for f in term.structure) or "I"
    coefficient = term.coefficient
    if coefficient == 1:
        return body
    scale = text(coefficient)
    return f"({scale}) * {body}" if isinstance(coefficient, sympy.Add) else f"{scale} * {body}"


def jacobian_text(block: Jacobian, cell: Cell | None = None, indent: str = "") -> str:
    """``d<out>'/d<wrt> = t_1 + t_2 …`` with one term per line (``0`` for a zero block)."""
    head = f"{indent}d{block.out}'/d{block.wrt} ="
    if block.is_zero:
        return f"{head} 0"
    lines = [f"{indent}    {'+' if i else ' '} {term_text(cell, t)}" for i, t in enumerate(block.terms)]
    return "\n".join([head, *lines])


def block_jacobian_text(blocks: BlockJacobian, cell: Cell | None = None, indent: str = "") -> str:
    """Every block of a block Jacobian, in row-major order."""
    return "\n".join(jacobian_text(block, cell, indent) for block in blocks.blocks.values())


def derivation_text(derivation: Derivation) -> str:
    """A readable plain-text derivation: the cell's equations, then every block of every
    Jacobian as its structured terms, one per line, in the cell's names."""
    cell = derivation.cell
    lines = [f"{cell.name}: {_first_line(cell.description)}" if cell.description else cell.name]
    lines += [f"  {label}: {value}" for label, value in (("convention", cell.convention),
                                                       ("reference", cell.reference)) if value]
    lines += ["", "equations"]
    lines += [f"  {n.name} = {expression_text(n.expr)}" + ("    (gate)" if n.is_gate else "") for n in cell.named]
    lines += [f"  {s.name}' = {expression_text(cell.updates[s.name])}" for s in cell.states]
    sections = [("state Jacobian", derivation.state)]
    if cell.gates:
        split = derivation.gate_split()
        sections += [("gate split J = A + B, A: gates frozen", split.A),
                     ("gate split J = A + B, B: terms through a gate", split.B)]
    if cell.inputs:
        sections.append(("input Jacobian", derivation.input))
    for title, blocks in sections:
        lines += ["", title, block_jacobian_text(blocks, cell, "  ")]
    lines += ["", "parameter Jacobians (matrix parameters flattened row-major)"]
    lines += [block_jacobian_text(blocks, cell, "  ") for blocks in derivation.parameters.values()]
    return "\n".join(lines)


def _factor_text(cell: Cell | None, factor, text=expression_text) -> str:
    if isinstance(factor, Diag):
        return f"diag({text(factor.value)})"
    if isinstance(factor, Column):
        scalar = cell is not None and cell.size_of(factor.value) is None
        return f"({text(factor.value)})" + (f"*ones({factor.size})" if scalar else "")
    if isinstance(factor, Row):
        return f"({text(factor.value)})^T"
    if isinstance(factor, Mat):
        return f"({text(factor.matrix)})"
    if isinstance(factor, Kron):
        pair = [f"I_{factor.dim}", f"({text(factor.value)})^T"]
        return f"kron({', '.join(reversed(pair) if factor.transposed else pair)})"
    if isinstance(factor, Scale):
        return f"({text(factor.value)})"
    raise TypeError(f"{factor!r} is not a factor of a structured term (Scale, Diag, Column, Row, Mat or Kron)")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
