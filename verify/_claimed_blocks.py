"""Claimed blocks: a ``jacobians`` claim checked against the derivation's blocks and shapes,
and the derivation with the claimed blocks in place of the derived ones.

A claim ``{jacobian: terms}`` names a structured Jacobian of :mod:`verify._jacobians`
(``"state"``, ``"input"``, ``"parameter:W"``, ``"gate_split:A"``, ``"gate_split:B"``);
``terms`` is a list of labelled terms ``[(label, term), ...]`` whose sum is the claimed
block, or for a Jacobian with several blocks (an LSTM's states ``h`` and ``c``) a dict
``{(new_state, leaf): [(label, term), ...]}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import sympy
from sympy.matrices.expressions import MatrixSymbol

from gatejac.symbolic import BlockJacobian, Cell, Derivation, Jacobian, Mat, Term, unknown_name

from ._claimed_terms import Linear, as_linear, same_size
from ._errors import ClaimsError
from ._jacobians import parse_jacobian

STRUCTURED = ("state", "input", "parameter", "gate_split")
"""The kinds of Jacobian a ``jacobians`` claim may name (the block matrices)."""


@dataclass(frozen=True)
class LabelledTerm:
    """One labelled term of a claimed block: the user's label, the structured terms of
    its expression, and their text."""

    label: str
    terms: tuple[Term, ...]
    text: str


@dataclass(frozen=True)
class ClaimedBlock:
    """The labelled terms claimed for one block ``(new_state, leaf)`` of a Jacobian."""

    jacobian: str
    block: tuple[str, str]
    labelled: tuple[LabelledTerm, ...]

    def jacobian_block(self, derived: Jacobian, gates: frozenset[str]) -> Jacobian:
        """The claimed block as a :class:`Jacobian` (terms marked as passing through
        ``gates`` for a claimed B of the gate split)."""
        terms = tuple(dataclasses.replace(t, gates=gates) for lt in self.labelled for t in lt.terms)
        return dataclasses.replace(derived, terms=terms)


def parse_jacobian_claim(cell: Cell, derivation: Derivation, jacobian: str, value) -> list[ClaimedBlock]:
    """The claimed blocks of one ``jacobians`` entry, checked against ``derivation``'s shapes."""
    parsed = parse_jacobian(cell, jacobian, kinds=STRUCTURED, hint=f"(cell {cell.name!r}; claims take these names)")
    blocks = parsed.blocks(derivation)
    if isinstance(value, Mapping):
        items = list(value.items())
    elif len(blocks.blocks) == 1:
        items = [(next(iter(blocks.blocks)), value)]
    else:
        keys = ", ".join(map(repr, blocks.blocks))
        raise ClaimsError(f"claim {jacobian!r}: cell {cell.name!r} has blocks {keys}; give a dict "
                          "{(new_state, leaf): [(label, term), ...]} for the blocks you claim")
    claimed = []
    for key, terms in items:
        if key not in blocks.blocks:
            raise unknown_name("block", key, [str(k) for k in blocks.blocks], f"(claim {jacobian!r})")
        claimed.append(ClaimedBlock(jacobian, key, _labelled_terms(cell, jacobian, blocks.blocks[key], terms)))
    return claimed


def _labelled_terms(cell: Cell, jacobian: str, block: Jacobian, items) -> tuple[LabelledTerm, ...]:
    where = f"claim {jacobian!r}, block d{block.out}'/d{block.wrt}"
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ClaimsError(f"{where}: give a list of (label, term) pairs, got {type(items).__name__}")
    labelled, labels = [], set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0]):
            raise ClaimsError(f"{where}: {item!r} is not a (label, term) pair with a non-empty string label")
        label, value = item
        if label in labels:
            raise ClaimsError(f"{where}: the label {label!r} is used twice; give each term its own label")
        labels.add(label)
        linear = as_linear(value, f"{where}, term {label!r}", cell)
        _check_belongs(cell, linear, f"{where}, term {label!r}")
        rows, cols = block.rows if block.rows is not None else sympy.S.One, block.cols
        if not (same_size(linear.rows, rows) and same_size(linear.cols, cols)):
            raise ClaimsError(f"{where}, term {label!r} = {linear}: its shape is {linear.rows}×{linear.cols} but the "
                              f"block is {rows}×{cols}")
        labelled.append(LabelledTerm(label, linear.terms, repr(Linear(linear.terms, rows, cols, cell))))
    return tuple(labelled)


def _check_belongs(cell: Cell, linear: Linear, where: str) -> None:
    if linear.cell is not None and linear.cell is not cell:
        raise ClaimsError(f"{where}: the term is built from cell {linear.cell.name!r}, not {cell.name!r}")
    matrices = {p.symbol: p for p in cell.parameters if isinstance(getattr(p, "symbol", None), MatrixSymbol)}
    for term in linear.terms:
        for factor in term.factors:
            if isinstance(factor, Mat):
                for symbol in factor.matrix.free_symbols:
                    if isinstance(symbol, MatrixSymbol) and symbol not in matrices:
                        raise unknown_name("matrix parameter", symbol.name, [s.name for s in matrices],
                                           f"({where}; cell {cell.name!r})")
            else:
                value = factor.value
                cell.as_expr(value, where)


def claimed_derivation(derivation: Derivation, blocks: list[ClaimedBlock]) -> Derivation:
    """A copy of ``derivation`` with the claimed blocks in place of the derived ones (a
    claimed B of the gate split marks its terms as passing through the cell's gates)."""
    jacobian = parse_jacobian(derivation.cell, blocks[0].jacobian)
    original = jacobian.blocks(derivation)
    gates = frozenset(g.name for g in derivation.cell.gates) if jacobian.part == "B" else frozenset()
    replaced = {**original.blocks, **{b.block: b.jacobian_block(original[b.block], gates) for b in blocks}}
    return jacobian.replaced(derivation, BlockJacobian(original.rows, original.cols, replaced))
