r"""Closed forms of the zeroth-order transport ``F(0) = A_T ⋯ A_1`` (later steps on the left).

:class:`ZerothTransport` reads the frozen-gate part ``A_j`` of a cell with one state as
``A_j = R_j + N_j``: the retention ``R_j`` (its terms without a matrix factor, see
``_expansion_diagonal``) and the rest ``N_j``, and names the closed form that applies
(Livi 2025, arXiv:2508.12121; docs/theory.md: “The first-order gate expansion”):

``"schedule"``  ``R = λ I`` and ``N_j = s K_j`` with ``λ`` and ``s`` step-independent scalars
                (the leaky cell: ``λ = 1 − α``, ``s = α``, ``K_j = diag(1 − tanh²(a_j)) W``).
                With a fixed linearisation ``K_j ≡ K = V diag(κ) V⁻¹``,
                ``F(0) = (λ I + s K)^ℓ = V diag((λ + s κ_i)^ℓ) V⁻¹`` over the lag ``ℓ = T``: the
                same factor at every step, a schedule over lags fixed by the parameters.
``"modes"``     ``R_j = λ_j I`` and ``N_j = s_j K_j`` with step-dependent scalars (the scalar
                gate: ``λ_j = 1 − g_j``, ``s_j = g_j``).  With ``K_j ≡ K = V diag(κ) V⁻¹``,
                ``F(0) = V diag(Π_j (λ_j + s_j κ_i)) V⁻¹``: one product per mode, printed as
                ``Π_j [1 − g_j (1 − κ_i)]`` when ``λ_j + s_j = 1``.
``"mixing"``    ``R_j = diag(λ_j)`` with a vector ``λ_j`` (the multi-gate cell, the GRUs):
                ``F(0) = Π_j [diag(λ_j) + N_j]`` does not decouple into modes, because
                ``diag(λ_j)`` does not commute with ``N_j``; its pure-retention path
                ``Π_j diag(λ_j)`` acts unit by unit.
``"product"``   no retention, or more than one state: ``F(0) = A_T ⋯ A_1``.
"""

from __future__ import annotations

import sympy

from ._cell import Cell
from ._expansion_diagonal import RetentionSplit, is_retention
from ._expansion_print import Printable, StepLatexPrinter, step_text
from ._latex import _reads, _sum_lines
from ._linear import BlockJacobian, Diag, Scale, Term
from ._text import term_text

KINDS = ("schedule", "modes", "mixing", "product")


class ZerothTransport(Printable):
    """The closed form of ``F(0) = A_T ⋯ A_1`` for one cell: :attr:`kind` (one of
    :data:`KINDS`), the retention :attr:`retention` (``λ``), for ``"schedule"`` and ``"modes"``
    the scalar :attr:`rate` ``s`` and the terms :attr:`mixing` of ``K_j`` (``N_j = s K_j``),
    for ``"mixing"`` the terms :attr:`mixing` of ``N_j``."""

    def __init__(self, cell: Cell, A: BlockJacobian, split: RetentionSplit):
        self.cell = cell
        self.rate: sympy.Expr | None = None
        self.mixing: tuple[Term, ...] = ()
        self.retention = next(iter(split.retention.values())) if len(cell.states) == 1 else None
        if self.retention is None or self.retention == 0:
            self.kind = "product"
            return
        state = cell.states[0].name
        rest = tuple(t for t in A[(state, state)].terms if not is_retention(t))
        self.mixing = rest
        if cell.size_of(self.retention) is not None:
            self.kind = "mixing"
            return
        rates = {_scalar_part(cell, t)[0] for t in rest}
        if len(rates) != 1 or 0 in rates:
            self.kind = "mixing"
            return
        (self.rate,) = rates
        self.mixing = tuple(_scalar_part(cell, t)[1] for t in rest)
        read = _reads(cell, self.retention) | _reads(cell, self.rate)
        self.kind = "schedule" if all(cell.piece(name).role == "parameter" for name in read) else "modes"

    @property
    def complementary(self) -> bool:
        """``λ + s = 1`` (retention and rate sum to one): the factor per mode is ``1 − s (1 − κ_i)``."""
        return self.rate is not None and sympy.simplify(self.retention + self.rate - 1) == 0

    # ------------------------------------------------------------------ printing
    def text_lines(self) -> list[str]:
        text = step_text(self.cell)
        if self.kind == "product":
            return ["F(0) = A_T @ ... @ A_1   (no retention term, or more than one state: no closed form beyond the "
                    "product)"]
        mixing = " + ".join(term_text(self.cell, t, text=text) for t in self.mixing)
        if self.kind == "mixing":
            retention = f"diag({text(self.retention)})"
            return [f"F(0) = prod_(j=T..1) [{retention} + N_j]    (later steps on the left),  N_j = {mixing}",
                    f"{retention} does not commute with N_j: no decoupling into modes; the pure-retention path "
                    f"prod_j {retention} acts unit by unit"]
        factor = self._mode_factor(text, "kappa_i")
        step = f"{term_text(self.cell, Term((Scale(self.retention),)), text=text)} + {self._rate_text(text)} * K_j"
        lines = [f"F(0) = prod_(j=T..1) [{step}],  K_j = {mixing}",
                 "with a fixed linearisation K_j = K = V diag(kappa) V^-1 (kappa_i the eigenvalues of K):"]
        if self.kind == "schedule":
            return lines + [f"F(0) = V diag(({factor})^l) V^-1   (l = T, the lag: the same factor at every step, "
                            "a schedule over lags fixed by the parameters)"]
        return lines + [f"F(0) = V diag(prod_(j=1..T) [{factor}]) V^-1   (one product per mode)"]

    def _rate_text(self, text) -> str:
        return text(self.rate) if self.rate.is_Atom else f"({text(self.rate)})"

    def _mode_factor(self, text, kappa: str) -> str:
        rate = self._rate_text(text)
        if self.complementary:
            return f"1 - {rate}*(1 - {kappa})"
        return f"{text(self.retention)} + {rate}*{kappa}"

    def latex_lines(self) -> list[str]:
        printer = StepLatexPrinter(self.cell)
        if self.kind == "product":
            return [r"F(0) &= A_T \cdots A_1 \qquad \text{(no retention term, or more than one state)}"]
        mixing = [printer.term(t) for t in self.mixing]
        if self.kind == "mixing":
            retention = printer.term(Term((Diag(self.retention, self.cell.states[0].size),)))
            return [rf"F(0) &= \prod_{{j=T}}^{{1}} \left[{retention} + N_j\right]"
                    r" \qquad \text{(later steps on the left)}",
                    *_sum_lines("N_j", mixing),
                    rf"&{retention} \text{{ does not commute with }} N_j \text{{: no decoupling into modes; the}}",
                    rf"&\text{{pure-retention path }} \prod_j {retention} \text{{ acts unit by unit}}"]
        factor = self._mode_factor_latex(printer)
        step = printer.term(Term((Scale(self.retention),)))
        rate = printer.scaled(self.rate, "K_j")
        lines = [rf"F(0) &= \prod_{{j=T}}^{{1}} \left[{step} + {rate}\right]", *_sum_lines("K_j", mixing),
                 r"&\text{with a fixed linearisation } K_j \equiv K = V \operatorname{diag}(\kappa) V^{-1}"
                 r" \text{ (} \kappa_i \text{ the eigenvalues of } K\text{):}"]
        if self.kind == "schedule":
            return lines + [rf"F(0) &= V \operatorname{{diag}}\left(\left[{factor}\right]^{{\ell}}\right) V^{{-1}}"
                            r" \qquad \text{(}\ell = T \text{, the lag: the same factor at every step,"
                            r" a schedule over lags fixed by the parameters)}"]
        return lines + [rf"F(0) &= V \operatorname{{diag}}\Big(\prod_{{j=1}}^T \left[{factor}\right]\Big) V^{{-1}}"
                        r" \qquad \text{(one product per mode)}"]

    def _mode_factor_latex(self, printer: StepLatexPrinter) -> str:
        rate = printer.parenthesize(self.rate, 50)
        if self.complementary:
            return rf"1 - {rate} \left(1 - \kappa_i\right)"
        return rf"{printer.doprint(self.retention)} + {rate} \kappa_i"


def _scalar_part(cell: Cell, term: Term) -> tuple[sympy.Expr, Term]:
    """``(s, K)`` with ``term = s K``: ``s`` the product of the term's scalar-valued factors
    (its leading scale, and the factors of a leading diagonal that do not read a vector)."""
    coefficient, structure = term.coefficient, list(term.structure)
    if structure and isinstance(structure[0], Diag):
        factors = sympy.Mul.make_args(structure[0].value)
        scalar = sympy.Mul(*(f for f in factors if cell.size_of(f) is None))
        coefficient *= scalar
        structure[0] = Diag(sympy.Mul(*(f for f in factors if cell.size_of(f) is not None)), structure[0].size)
    return coefficient, Term(tuple(structure))
