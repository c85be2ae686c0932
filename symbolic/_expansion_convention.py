"""The two conventions of the gate expansion: ``"exact"`` (the mathematics) and ``"author"``
(the public code of Livi 2025, arXiv:2508.12121: lorenzolivi/effective-learning-rates).

That code builds the gate-induced term of the step Jacobian from the UPDATED state: for the
gated leaky cells its ``d_j`` is ``φ(a_j) − h_j`` where the chain rule gives
``φ(a_j) − h_{j−1}`` (docs/theory.md: “Where public code departs from the mathematics”,
item 1).  :func:`author_convention` makes that choice for any cell: in every term of the
state Jacobian that passes through a marked gate (``term.gates``), every state ``s`` read by
the chain-rule coefficients (the values of the term's ``Scale``, ``Diag`` and ``Column``
factors) is replaced by its update expression ``s'``.  ``Row``, ``Mat`` and ``Kron`` factors
hold operands and matrices, not coefficients, and stay as they are.

For the multi-gate cell, ``h' = (1 − g) ⊙ h + g ⊙ tanh(a)`` gives
``tanh(a) − h' = (1 − g) ⊙ (tanh(a) − h)``: the author's ``B`` is the exact ``B`` with its
rows scaled by ``1 − g``, and the author's ``A + B`` is NOT the Jacobian.  The frozen-gate
part ``A`` and every cell without a gate are unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from ._cell import Cell
from ._derive import Derivation
from ._errors import SpecError
from ._linear import Column, Diag, Scale, Term

CONVENTIONS = ("exact", "author")
"""``"exact"``: the Jacobian of the cell; ``"author"``: the public code's gate term."""

_COEFFICIENTS = (Scale, Diag, Column)


def states_read(cell: Cell, term: Term) -> tuple[str, ...]:
    """The states (by name, in declaration order) that ``term``'s chain-rule coefficients
    (its ``Scale``, ``Diag`` and ``Column`` values) read."""
    symbols = set().union(*(f.value.free_symbols for f in term.factors if isinstance(f, _COEFFICIENTS)))
    return tuple(s.name for s in cell.states if s.symbol in symbols)


def author_term(cell: Cell, term: Term) -> Term:
    """``term`` with every state ``s`` read by its coefficients replaced by the update ``s'``
    (the public code's ``φ(a_j) − h_j``).  A term that reads no state is returned as is."""
    return replace_in_coefficients(term, {s.symbol: cell.updates[s.name] for s in cell.states})


def replace_in_coefficients(term: Term, replacements: dict) -> Term:
    """``term`` with ``replacements`` (symbol → expression) made in its coefficient factors only."""
    factors = tuple(replace(f, value=sympy.sympify(f.value).xreplace(replacements)) if isinstance(f, _COEFFICIENTS)
                    else f for f in term.factors)
    return term if factors == term.factors else replace(term, factors=factors)


def author_convention(derivation: Derivation) -> Derivation:
    """The derivation in the public code's convention (Livi 2025, lorenzolivi/effective-learning-rates).

    Every gate term of the state Jacobian (a term with ``term.gates``) becomes
    :func:`author_term`: ``d_j = φ(a_j) − h_j`` instead of ``φ(a_j) − h_{j−1}``.  The gate
    marks are kept, so ``gate_split()`` of the result is ``(A, B_author)`` with the exact
    ``A``, and ``numeric.compile(result)`` compiles kernels whose ``gate_split`` and
    ``state_jacobian`` are the author's.  Its ``A + B`` is NOT the state Jacobian; the input
    and parameter Jacobians are the exact ones.  The result's ``convention`` is ``"author"``.
    """
    if not isinstance(derivation, Derivation):
        raise SpecError(f"author_convention() takes a gatejac.symbolic.Derivation (derive(cell)), got "
                        f"{type(derivation).__name__} {derivation!r}")
    if derivation.convention == "author":
        return derivation
    cell = derivation.cell
    state = derivation.state
    blocks = {key: replace(block, terms=tuple(author_term(cell, t) if t.gates else t for t in block.terms))
              for key, block in state.blocks.items()}
    result = derivation.replace(state=replace(state, blocks=blocks))
    result.convention = "author"
    return result


def with_convention(derivation: Derivation, convention: str) -> Derivation:
    """``derivation`` in ``convention`` (one of :data:`CONVENTIONS`)."""
    if convention not in CONVENTIONS:
        raise SpecError(f"convention={convention!r} is not known; choose 'exact' (the Jacobian, the default) or "
                        "'author' (the public code's gate term φ(a_j) − h_j)")
    if convention == "author":
        return author_convention(derivation)
    if derivation.convention != "exact":
        raise SpecError(f"convention='exact' was asked for a derivation in the {derivation.convention!r} "
                        "convention; pass derive(cell) instead")
    return derivation
