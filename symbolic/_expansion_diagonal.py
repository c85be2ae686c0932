r"""Retention, the diagonal of the rest, and the first-order diagonal effective learning rate.

For any cell, the frozen-gate part ``A`` of the state Jacobian (``derive(cell).gate_split().A``)
is split per state ``s`` into

* the **retention** ``λ`` — the terms of the diagonal block ``∂s'/∂s`` that are diagonal
  without a matrix factor (products of ``Scale`` and ``Diag`` factors only): ``1 − g`` for the
  gated leaky cells, ``1 − α`` for the leaky cell, ``z`` or ``1 − z`` for the GRUs, the
  forget gate ``f`` for the LSTM's memory ``c``; ``0`` when there is none (Elman, the LSTM's
  ``h``);
* the **rest** — every other term of ``∂s'/∂s`` — of which only its diagonal ``ρ`` enters
  the form below: a sum of :class:`DiagonalPart` ``u ⊙ dg(C)``, where ``dg(C)`` is the vector
  of the diagonal entries of the matrix ``C``.  A term ``diag(u) C diag(v)`` has the diagonal
  ``u ⊙ v ⊙ dg(C)``, a rank-one term ``u wᵀ`` the diagonal ``u ⊙ w``: for the multi-gate cell
  ``ρ = g ⊙ (1 − tanh²(a)) ⊙ dg(W_r)``.

Multi-state cells (the LSTM's ``(h, c)``): the diagonal of the stacked state Jacobian is made
of the diagonals of the blocks ``∂s'/∂s`` alone; the cross blocks ``∂h'/∂c`` and ``∂c'/∂h``
have no entry on it, so ``λ`` and ``ρ`` are defined per state from its own block, and a cross
block reaches the diagonal of a product only at second order in ``ρ`` (through a path
``s → r → s``), which the first-order form leaves out.

With ``λ_j``, ``ρ_j`` the values at step ``j``, the diagonal of a product of diagonal factors
``Π_j (λ_j + ρ_j)`` to first order in ``ρ`` is the per-unit effective learning rate of a lag
``ℓ`` ending at step ``t`` (Livi 2025, arXiv:2508.12121, and its follow-up's diagonal form),

    μ_{t,ℓ} = Π_{j=t−ℓ+1}^{t} λ_j ⊙ (1 + Σ_{j=t−ℓ+1}^{t} ρ_j ⊘ λ_j)     (entrywise),

defined for a state whose retention is not zero (:class:`EffectiveLRForm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import sympy

from ._cell import Cell
from ._expansion_print import Printable, StepLatexPrinter, step_text
from ._linear import BlockJacobian, Column, Diag, Mat, Row, Scale, Term
from ._text import term_text

_RETENTION_FACTORS = (Scale, Diag)


@dataclass(frozen=True)
class DiagonalPart:
    """``coefficient ⊙ dg(core)``: entry ``q`` is ``coefficient_q · core_qq`` (``core`` is
    ``None`` when the part is the elementwise ``coefficient`` alone)."""

    coefficient: sympy.Expr
    core: Term | None


def is_retention(term: Term) -> bool:
    """A term that is diagonal without a matrix factor (only ``Scale`` and ``Diag`` factors)."""
    return all(isinstance(f, _RETENTION_FACTORS) for f in term.factors)


def diagonal_part(term: Term) -> DiagonalPart:
    """The diagonal of a square term: leading ``Scale``/``Diag`` and trailing ``Diag``
    factors become the coefficient, a rank-one ``Column·Row`` pair its product."""
    factors, coefficient = list(term.factors), sympy.S.One
    while factors and isinstance(factors[0], _RETENTION_FACTORS):
        coefficient *= factors.pop(0).value
    while factors and isinstance(factors[-1], Diag):
        coefficient *= factors.pop().value
    if len(factors) == 2 and isinstance(factors[0], Column) and isinstance(factors[1], Row):
        coefficient *= factors[0].value * factors[1].value
        factors = []
    return DiagonalPart(coefficient, Term(tuple(factors)) if factors else None)


def _product(values):
    return reduce(lambda a, b: a * b, values)


class RetentionSplit(Printable):
    """Per state ``s``: the retention ``λ`` (:attr:`retention`) and the diagonal of the rest
    ``ρ`` (:attr:`rest_diagonal`) of the frozen-gate part ``A``, printed at step ``j``."""

    def __init__(self, cell: Cell, A: BlockJacobian):
        self.cell = cell
        self.retention: dict[str, sympy.Expr] = {}
        self.rest_diagonal: dict[str, tuple[DiagonalPart, ...]] = {}
        for state in cell.states:
            terms = A[(state.name, state.name)].terms
            self.retention[state.name] = sympy.Add(*(_product([sympy.S.One, *(f.value for f in t.factors)])
                                                     for t in terms if is_retention(t)))
            self.rest_diagonal[state.name] = tuple(diagonal_part(t) for t in terms if not is_retention(t))

    # ------------------------------------------------------------------ printing
    def _name(self, letter: str, state: str, latex: bool) -> str:
        if len(self.cell.states) == 1:
            return letter
        return f"{letter}^{{({self.cell.piece(state).latex})}}" if latex else f"{letter}[{state}]"

    def text_lines(self) -> list[str]:
        text = step_text(self.cell)
        lines = []
        for state in self.cell.states:
            parts = [self._part_text(p, text) for p in self.rest_diagonal[state.name]] or ["0"]
            lines += [f"{self._name('lambda', state.name, False)}_j = {text(self.retention[state.name])}",
                      f"{self._name('rho', state.name, False)}_j = {' + '.join(parts)}"]
        return lines + ["dg(C): the diagonal of the matrix C as a vector"]

    def _part_text(self, part: DiagonalPart, text) -> str:
        if part.core is None:
            return text(part.coefficient)
        core = f"dg({self._core_text(part.core, text)})"
        if part.coefficient == 1:
            return core
        coefficient = text(part.coefficient)
        return f"({coefficient})*{core}" if isinstance(part.coefficient, sympy.Add) else f"{coefficient}*{core}"

    def _core_text(self, core: Term, text) -> str:
        (single,) = core.factors if len(core.factors) == 1 else (None,)
        return text(single.matrix) if isinstance(single, Mat) else term_text(self.cell, core, text=text)

    def latex_lines(self) -> list[str]:
        printer = StepLatexPrinter(self.cell)
        lines = []
        for state in self.cell.states:
            parts = [self._part_latex(p, printer) for p in self.rest_diagonal[state.name]] or ["0"]
            lam, rho = self._name(r"\lambda", state.name, True), self._name(r"\rho", state.name, True)
            lines += [f"{lam}_j &= {printer.doprint(self.retention[state.name])}", f"{rho}_j &= {' + '.join(parts)}"]
        return lines + [r"&\operatorname{dg}(C) \text{: the diagonal of the matrix } C \text{ as a vector}"]

    def _part_latex(self, part: DiagonalPart, printer: StepLatexPrinter) -> str:
        if part.core is None:
            return printer.doprint(part.coefficient)
        core = r"\operatorname{dg}\left(%s\right)" % printer.term(part.core)
        if part.coefficient == 1:
            return core
        if not printer.is_vector(part.coefficient):
            return printer.scaled(part.coefficient, core)
        coefficient = printer.doprint(part.coefficient)
        if isinstance(part.coefficient, sympy.Add):
            coefficient = rf"\left({coefficient}\right)"
        return rf"{coefficient} \odot {core}"


class EffectiveLRForm(Printable):
    """The first-order diagonal effective learning rate ``Π_j λ_j ⊙ (1 + Σ_j ρ_j ⊘ λ_j)`` over
    the lag ``ℓ`` ending at step ``t`` (see the module docstring), for the states in
    :attr:`states` (those whose retention is not zero); :attr:`without_retention` lists the
    others, for which the form is not defined."""

    def __init__(self, split: RetentionSplit):
        self.split = split
        self.states = tuple(s for s, value in split.retention.items() if value != 0)
        self.without_retention = tuple(s for s, value in split.retention.items() if value == 0)

    @staticmethod
    def value(retentions, rests):
        """``Π_j λ_j (1 + Σ_j ρ_j / λ_j)`` for the per-step values ``retentions`` (λ_j) and
        ``rests`` (ρ_j), entrywise; numbers, NumPy arrays or SymPy expressions."""
        retentions, rests = list(retentions), list(rests)
        if not retentions or len(retentions) != len(rests):
            raise ValueError(f"EffectiveLRForm.value needs one retention and one rest value per step of the lag "
                             f"(at least one step), got {len(retentions)} and {len(rests)}")
        return math.prod(retentions[1:], start=retentions[0]) * (1 + sum(r / lam for r, lam in zip(rests, retentions)))

    def text_lines(self) -> list[str]:
        if not self.states:
            return ["no state has a retention (lambda = 0): the diagonal effective-LR form is not defined"]
        names = ", ".join(self.states)
        lines = [f"mu_(t,l) = prod_(j=t-l+1..t) lambda_j * (1 + sum_(j=t-l+1..t) rho_j / lambda_j)"
                 f"    (entrywise; state{'s' if len(self.states) > 1 else ''} {names})",
                 "the first-order term in rho of prod_j (lambda_j + rho_j), over the lag l ending at step t"]
        if self.without_retention:
            lines.append(f"not defined for {', '.join(self.without_retention)} (no retention, lambda = 0)")
        return lines

    def latex_lines(self) -> list[str]:
        if not self.states:
            return [r"&\text{no state has a retention } (\lambda = 0)\text{: the diagonal form is not defined}"]
        window = r"_{j=t-\ell+1}^{t}"
        lines = [rf"\mu_{{t,\ell}} &= \prod{window} \lambda_j \odot \Big(\mathbf{{1}} + \sum{window} "
                 r"\rho_j \oslash \lambda_j\Big)",
                 r"&\text{entrywise: the first-order term in } \rho \text{ of } \textstyle\prod_j (\lambda_j + \rho_j)"
                 r"\text{, over the lag } \ell \text{ ending at step } t"]
        if self.without_retention:
            names = ", ".join(self.split.cell.piece(s).latex for s in self.without_retention)
            lines.append(rf"&\text{{not defined for }} {names} \text{{ (no retention, }} \lambda = 0\text{{)}}")
        return lines
