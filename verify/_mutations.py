"""The mutation suite: proof that ``verify.check`` can fail.

:func:`mutations` breaks a correct :class:`~symbolic.Derivation` in every way a hand
derivation is typically wrong, one term at a time, for every term of every block of the
state, input and parameter Jacobians (issue 4, item 3):

=========================  =================================================================
kind                       the broken term
=========================  =================================================================
``drop``                   the term is left out of its block
``flip_sign``              ``−term`` (``Scale(−1)`` prepended)
``transpose``              every square, non-symmetric matrix factor ``Mat(M)`` becomes
                           ``Mat(Mᵀ)``, and a square matrix parameter's own factor
                           ``I ⊗ vᵀ`` becomes ``vᵀ ⊗ I`` (∂(Pᵀv)/∂P instead of ∂(Pv)/∂P);
                           a term without such a factor but with a rank-one part
                           ``u vᵀ`` of matching sizes becomes ``v uᵀ``
``updated_state_in_gate``  in a term that passes through a marked gate, every state ``s``
                           read by the chain-rule coefficients (the ``Scale``, ``Diag`` and
                           ``Column`` factors) is replaced by its update ``s'``
                           (``symbolic.author_term``, what ``symbolic.author_convention``
                           does to every gate term) — the
                           off-by-one error of the main paper's public code (docs/theory.md: “Where public code departs from the mathematics”
                           item 1: ``φ(a_j) − h_j`` where the Jacobian needs
                           ``φ(a_j) − h_{j−1}``)
=========================  =================================================================

A mutation that would not change the Jacobian (transposing a diagonal, a symmetric matrix
or the identity; anything done to a zero term; a gate term whose coefficients do not read a
state) or cannot be formed (the transpose of a non-square factor has another shape) is not
made: it is recorded in :attr:`Mutations.skipped` with the reason.

:func:`mutation_suite` runs ``verify.check(cell, derivation=m.derivation,
jacobians=[m.jacobian])`` for every mutation; a mutation is *caught* when that check fails
for the mutated Jacobian.  The report also counts how often the failure's ``term`` (the
first structured term the report blames) is the mutated term.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import sympy
from sympy.matrices.expressions import ZeroMatrix

from gatejac.symbolic import (
    Cell, Column, Derivation, Kron, Mat, Row, Scale, Term, author_term, derive, states_read, term_text,
)

from ._cells import resolve_cell
from ._check import check
from ._errors import CheckError
from ._jacobians import jacobian_names, parse_jacobian

KINDS = ("drop", "flip_sign", "transpose", "updated_state_in_gate")
"""The kinds of mutation :func:`mutations` makes (the table of the module docstring)."""


@dataclass(frozen=True)
class Mutation:
    """One deliberately wrong Jacobian.

    ``jacobian`` is the name ``verify.check`` knows it by (``"state"``, ``"input"``,
    ``"parameter:W"``), ``block`` the ``(new state, leaf)`` block and ``index`` the position
    of the ``original`` term in it; ``mutated`` is the broken term (``None`` when dropped)
    and ``derivation`` the whole derivation with that one term broken.
    """

    name: str
    kind: str
    jacobian: str
    block: tuple[str, str]
    index: int
    original: Term = field(repr=False)
    mutated: Term | None = field(repr=False)
    derivation: Derivation = field(repr=False, compare=False)


@dataclass(frozen=True)
class Skipped:
    """A mutation that was not made because it would not change the Jacobian."""

    kind: str
    jacobian: str
    block: tuple[str, str]
    index: int
    term: str
    reason: str


class Mutations(list):
    """The list of :class:`Mutation` objects, with ``skipped``: the :class:`Skipped` ones."""

    def __init__(self, made=(), skipped=()):
        super().__init__(made)
        self.skipped: list[Skipped] = list(skipped)


# --------------------------------------------------------------------------- generation
def mutations(derivation: Derivation) -> Mutations:
    """Every single-term mutation of ``derivation``'s state, input and parameter Jacobians."""
    if not isinstance(derivation, Derivation):
        raise CheckError(f"mutations() takes a symbolic.Derivation (symbolic.derive(cell)), "
                         f"got {type(derivation).__name__}")
    made, skipped = [], []
    for site in _sites(derivation):
        text = term_text(derivation.cell, site.term)
        for kind in KINDS:
            outcome = _MUTATORS[kind](derivation, site.term)
            if isinstance(outcome, str):
                skipped.append(Skipped(kind, site.jacobian.name, site.key, site.index, text, outcome))
            elif outcome is not None:
                mutated, verb = outcome
                name = f"{site.jacobian.name}[{site.key[0]},{site.key[1]}] term {site.index + 1} {text!r}: {verb}"
                made.append(Mutation(name, kind, site.jacobian.name, site.key, site.index, site.term, mutated,
                                     _broken(derivation, site, mutated)))
    return Mutations(made, skipped)


_Site = namedtuple("_Site", "jacobian blocks key index term")
"""Term ``index`` (``term``) of block ``key`` of the Jacobian ``jacobian``, whose blocks are ``blocks``."""


MUTATED_KINDS = ("state", "input", "parameter")
"""The Jacobians whose terms are mutated (the gate split and the actions follow from them)."""


def _sites(derivation: Derivation):
    """Every term of the state, input and parameter Jacobians, in report order."""
    cell = derivation.cell
    for name in jacobian_names(cell, kinds=MUTATED_KINDS):
        jacobian = parse_jacobian(cell, name)
        blocks = jacobian.blocks(derivation)
        for key, block in blocks.blocks.items():
            for index, term in enumerate(block.terms):
                yield _Site(jacobian, blocks, key, index, term)


def _broken(derivation: Derivation, site: _Site, mutated: Term | None) -> Derivation:
    """``derivation`` with the term at ``site`` replaced by ``mutated`` (or dropped)."""
    block = site.blocks.blocks[site.key]
    terms = list(block.terms)
    if mutated is None:
        del terms[site.index]
    else:
        terms[site.index] = mutated
    new = replace(site.blocks, blocks={**site.blocks.blocks, site.key: replace(block, terms=tuple(terms))})
    return site.jacobian.replaced(derivation, new)


# Each mutator returns (mutated term or None for a drop, verb); a reason string when the
# mutation is not made (a no-op, or a transpose of the wrong shape); or None when the kind
# does not concern the term at all (``updated_state_in_gate`` on a term without a gate).
def _drop(derivation, term):
    return "the term is zero" if _is_zero(term) else (None, "dropped")


def _flip_sign(derivation, term):
    return "the term is zero" if _is_zero(term) else (term.prepend(Scale(-1)), "sign flipped")


def _transpose(derivation, term):
    if _is_zero(term):
        return "the term is zero"
    factors, changed = [], []
    for factor in term.factors:
        if isinstance(factor, Mat) and _transposable(factor.matrix):
            factors.append(Mat(factor.matrix.T))
            changed.append(f"{factor.matrix} → ({factor.matrix}).T")
        elif isinstance(factor, Kron) and _square_kron(factor):
            factors.append(replace(factor, transposed=not factor.transposed))
            changed.append("parameter read as its transpose (I⊗vᵀ ↔ vᵀ⊗I)")
        else:
            factors.append(factor)
    if changed:
        return replace(term, factors=tuple(factors)), "transposed: " + "; ".join(changed)
    return _transpose_rank_one(term) or _why_not_transposable(term)


def _transpose_rank_one(term: Term):
    """``u vᵀ → v uᵀ`` for the term's Column/Row pair, when both have the same size."""
    columns = [i for i, f in enumerate(term.factors) if isinstance(f, Column)]
    rows = [i for i, f in enumerate(term.factors) if isinstance(f, Row)]
    if len(columns) != 1 or len(rows) != 1:
        return None
    (i,), (j,) = columns, rows
    column, row = term.factors[i], term.factors[j]
    if sympy.simplify(column.size - row.size) != 0:
        return f"rank-one term u vᵀ with u of size {column.size} and v of size {row.size}: v uᵀ has the wrong shape"
    if sympy.simplify(column.value - row.value) == 0:
        return "rank-one term u uᵀ is symmetric"
    factors = list(term.factors)
    factors[i], factors[j] = Column(row.value, column.size), Row(column.value, row.size)
    return replace(term, factors=tuple(factors)), "transposed: rank-one u vᵀ → v uᵀ"


def _why_not_transposable(term: Term) -> str:
    mats = [f.matrix for f in term.factors if isinstance(f, Mat)]
    if any(_is_square(m) for m in mats):
        return "its square matrices are symmetric: " + ", ".join(str(m) for m in mats if _is_square(m))
    if mats:
        return "no square matrix factor: the transpose of " + ", ".join(str(m) for m in mats) + " has the wrong shape"
    if any(isinstance(f, Kron) for f in term.factors):
        return "the parameter is not square: its transpose has another shape"
    if any(isinstance(f, (Column, Row)) for f in term.factors):
        return "a single column or row: its transpose has another shape"
    return "diagonal or scalar term: it is its own transpose"


def _updated_state_in_gate(derivation, term):
    if not term.gates:
        return None
    cell = derivation.cell
    mutated = author_term(cell, term)
    if mutated == term:
        return f"the coefficients of this gate term ({', '.join(sorted(term.gates))}) do not read a state"
    states = ", ".join(f"{name} → {name}'" for name in states_read(cell, term))
    return mutated, f"updated state in the gate term ({states})"


_MUTATORS = {"drop": _drop, "flip_sign": _flip_sign, "transpose": _transpose,
             "updated_state_in_gate": _updated_state_in_gate}


def _is_zero(term: Term) -> bool:
    for factor in term.factors:
        if isinstance(factor, Mat):
            if isinstance(factor.matrix.doit(), ZeroMatrix):
                return True
        elif sympy.sympify(factor.value) == 0:
            return True
    return False


def _is_square(matrix) -> bool:
    return sympy.simplify(matrix.shape[0] - matrix.shape[1]) == 0


def _transposable(matrix) -> bool:
    """Square and not symmetric (as a matrix expression: ``Mᵀ − M`` does not vanish)."""
    return _is_square(matrix) and not isinstance((matrix.T - matrix).doit(), ZeroMatrix)


def _square_kron(factor: Kron) -> bool:
    """``I_k ⊗ vᵀ`` of a k × k parameter with k > 1, where the two layouts differ."""
    return sympy.simplify(factor.size - factor.dim) == 0 and factor.size != 1


# --------------------------------------------------------------------------- the suite
@dataclass(frozen=True)
class MutationOutcome:
    """What ``verify.check`` made of one mutation: ``caught`` when it failed for the
    mutated Jacobian, ``blamed`` the term its first failure names (``CheckResult.term``),
    ``names_term`` whether that is the original or the mutated term."""

    mutation: Mutation
    caught: bool
    names_term: bool
    blamed: str | None
    oracles: tuple[str, ...]


@dataclass
class MutationReport:
    """The mutation suite's results for one cell."""

    cell: str
    outcomes: list[MutationOutcome]
    skipped: list[Skipped]
    settings: dict

    @property
    def caught(self) -> list[MutationOutcome]:
        return [o for o in self.outcomes if o.caught]

    @property
    def missed(self) -> list[MutationOutcome]:
        return [o for o in self.outcomes if not o.caught]

    @property
    def catch_rate(self) -> float | None:
        """Caught / made (``None`` if no mutation could be made)."""
        return len(self.caught) / len(self.outcomes) if self.outcomes else None

    @property
    def naming_rate(self) -> float | None:
        """Among caught mutations, the fraction whose failure names the mutated term."""
        caught = self.caught
        return sum(o.names_term for o in caught) / len(caught) if caught else None

    def rows(self) -> list[tuple[str, str, int, int, int, int]]:
        """``(cell, kind, made, caught, names term, skipped)`` per kind, then ``all``."""
        rows = []
        for kind in (*KINDS, "all"):
            chosen = [o for o in self.outcomes if kind in ("all", o.mutation.kind)]
            skipped = [s for s in self.skipped if kind in ("all", s.kind)]
            rows.append((self.cell, kind, len(chosen), sum(o.caught for o in chosen),
                         sum(o.names_term for o in chosen if o.caught), len(skipped)))
        return rows

    def to_text(self) -> str:
        """The table, then every missed mutation and why each skipped one was skipped."""
        lines = [mutation_table([self])]
        if self.missed:
            lines += ["", "missed:", *(f"  {o.mutation.name}" for o in self.missed)]
        if self.skipped:
            lines += ["", "not made (a no-op, or not applicable to the term):",
                      *(f"  {s.jacobian}[{s.block[0]},{s.block[1]}] term {s.index + 1} {s.term!r}: {s.kind}: {s.reason}"
                        for s in self.skipped)]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "cell": self.cell, "settings": dict(self.settings), "made": len(self.outcomes),
            "caught": len(self.caught), "catch_rate": self.catch_rate, "naming_rate": self.naming_rate,
            "by_kind": {kind: {"made": made, "caught": caught, "names_term": named, "skipped": skipped}
                        for _, kind, made, caught, named, skipped in self.rows()},
            "mutations": [
                {"name": o.mutation.name, "kind": o.mutation.kind, "jacobian": o.mutation.jacobian,
                 "caught": o.caught, "names_term": o.names_term, "blamed": o.blamed, "oracles": list(o.oracles)}
                for o in self.outcomes
            ],
            "skipped": [{"kind": s.kind, "jacobian": s.jacobian, "block": list(s.block), "term": s.term,
                         "reason": s.reason} for s in self.skipped],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def mutation_table(reports: list[MutationReport]) -> str:
    """One text table of the per-kind rows of several reports (e.g. the whole catalogue)."""
    header = ("cell", "kind", "made", "caught", "rate", "names term", "not made")
    body = []
    for report in reports:
        for cell, kind, made, caught, named, skipped in report.rows():
            rate = f"{caught / made:.0%}" if made else "-"
            body.append((cell, kind, str(made), str(caught), rate, f"{named}/{caught}", str(skipped)))
    widths = [max(len(row[k]) for row in (header, *body)) for k in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *body))


def mutation_suite(cell: Cell | str, *, backend: str = "numpy", dtype: str = "float64",
                   sizes: Mapping[str, int] | None = None, seed: int = 0, points: int = 1,
                   oracles=("ad",), kinds=KINDS) -> MutationReport:
    """Run ``verify.check`` on every mutation of ``cell``'s derivation (see
    :func:`mutations`) and report which were caught.

    ``cell`` is a :class:`symbolic.Cell` or a catalogue name; the remaining options are
    passed to ``verify.check`` (``kinds`` restricts the mutation kinds).  The ``"ad"``
    oracle alone is the tightest and the fastest.

    Example::

        report = mutation_suite("gru_torch", sizes={"n": 3, "m": 2})
        print(report.to_text())
        assert report.catch_rate == 1.0
    """
    cell = resolve_cell(cell, "mutation_suite", CheckError)
    unknown = [k for k in ([kinds] if isinstance(kinds, str) else kinds) if k not in KINDS]
    if unknown:
        raise CheckError(f"kinds={kinds!r}: unknown mutation kind(s) {unknown}; choose from {list(KINDS)}")
    derivation = derive(cell)
    made = mutations(derivation)
    settings = {"backend": backend, "dtype": dtype, "sizes": None if sizes is None else dict(sizes), "seed": seed,
                "points": points, "oracles": list(oracles)}
    outcomes = [_run(cell, derivation, m, settings) for m in made if m.kind in kinds]
    return MutationReport(cell.name, outcomes, [s for s in made.skipped if s.kind in kinds], settings)


def _run(cell: Cell, derivation: Derivation, mutation: Mutation, settings: dict) -> MutationOutcome:
    report = check(cell, derivation=mutation.derivation, jacobians=[mutation.jacobian], **settings)
    failures = [r for r in report.failures if r.jacobian == mutation.jacobian]
    texts = {term_text(derivation.cell, mutation.original)}
    if mutation.mutated is not None:
        texts.add(term_text(mutation.derivation.cell, mutation.mutated))
    blamed = next((r.term for r in failures if r.term is not None), None)
    return MutationOutcome(mutation, bool(failures), blamed in texts, blamed, tuple(r.oracle for r in failures))
