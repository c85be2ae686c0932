"""Plain-text rendering of cells, terms and derivations, in the cell's own names.

``term_text(cell, term)`` prints one structured term with its factors joined by ``@``
(``diag(u) @ (W) @ diag(v)``, ``(u)^T`` for a row, ``kron(I_n, (h)^T)`` for ``I ⊗ hᵀ``);
reports, the mutation suite and the command line all name terms with it.
``derivation_text`` prints a whole derivation, block by block.
"""

from __future__ import annotations

import sympy

from ._cell import Cell
from ._derive import Derivation
from ._linear import Column, Diag, Kron, Mat, Row, Scale, Term


def derivation_text(derivation: Derivation) -> str:
    """A readable plain-text derivation: the cell's equations, then every block of every
    Jacobian as its structured terms, one per line, in the cell's names."""
    cell = derivation.cell
    lines = [f"{cell.name}: {_first_line(cell.description)}" if cell.description else cell.name]
    lines += [f"  {label}: {value}" for label, value in (("convention", cell.convention),
                                                       ("reference", cell.reference)) if value]
    lines += ["", "equations"]
    lines += [f"  {n.name} = {cell.text(n.expr)}" + ("    (gate)" if n.is_gate else "") for n in cell.named]
    lines += [f"  {s.name}' = {cell.text(cell.updates[s.name])}" for s in cell.states]
    lines += ["", "state Jacobian"] + _blocks_text(derivation, derivation.state.blocks)
    if cell.gates:
        split = derivation.gate_split()
        lines += ["", "gate split J = A + B, A: gates frozen"] + _blocks_text(derivation, split.A.blocks)
        lines += ["", "gate split J = A + B, B: terms through a gate"] + _blocks_text(derivation, split.B.blocks)
    if cell.inputs:
        lines += ["", "input Jacobian"] + _blocks_text(derivation, derivation.input.blocks)
    lines += ["", "parameter Jacobians (matrix parameters flattened row-major)"]
    for blocks in derivation.parameters.values():
        lines += _blocks_text(derivation, blocks.blocks)
    return "\n".join(lines)


def _blocks_text(derivation: Derivation, blocks: dict) -> list[str]:
    lines = []
    for (out, wrt), block in blocks.items():
        count = f"{len(block.terms)} term{'s' if len(block.terms) != 1 else ''}"
        lines.append(f"  d{out}'/d{wrt}: " + ("0" if block.is_zero else count))
        lines += [f"    {'+' if i else ' '} {term_text(derivation.cell, t)}" for i, t in enumerate(block.terms)]
    return lines


def term_text(cell: Cell, term: Term) -> str:
    """One structured term as plain text in ``cell``'s names, factors joined by ``@``."""
    text = " @ ".join(_factor_text(cell, f) for f in term.structure) or "I"
    coefficient = term.coefficient
    if coefficient == 1:
        return text
    scale = cell.text(coefficient)
    return f"({scale}) * {text}" if isinstance(coefficient, sympy.Add) else f"{scale} * {text}"


def _factor_text(cell: Cell, factor) -> str:
    text = cell.text
    if isinstance(factor, Diag):
        return f"diag({text(factor.value)})"
    if isinstance(factor, Column):
        return f"({text(factor.value)})" + ("" if cell.size_of(factor.value) else f"*ones({factor.size})")
    if isinstance(factor, Row):
        return f"({text(factor.value)})^T"
    if isinstance(factor, Mat):
        return f"({factor.matrix})"
    if isinstance(factor, Kron):
        pair = [f"I_{factor.dim}", f"({text(factor.value)})^T"]
        return f"kron({', '.join(reversed(pair) if factor.transposed else pair)})"
    if isinstance(factor, Scale):
        return f"({text(factor.value)})"
    raise TypeError(f"{factor!r} is not a factor of a structured term (see symbolic._linear)")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
