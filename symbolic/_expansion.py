r"""The first-order gate expansion of a window of step Jacobians (Livi 2025, arXiv:2508.12121,
appendix; docs/theory.md: “The first-order gate expansion”).

From a cell's gate split ``J_j = A_j + B_j`` (``A_j``: gates frozen; ``B_j``: the terms that
exist because a gate reads the state), the bookkeeping parameter ``ε`` scales the gate term:

    M_j(ε) = A_j + ε B_j,          F(ε) = M_T(ε) ⋯ M_1(ε)   (later steps on the left),

so ``F(1)`` is the transport ``∂h_T/∂h_0`` and ``F(ε) = Σ_k ε^k c_k`` is a polynomial of
degree ``T`` with

    c_0 = F(0)      = A_T ⋯ A_1,
    c_1 = L_F(0)[B] = Σ_i (Π_{j>i} A_j) B_i (Π_{j<i} A_j)           (the Fréchet derivative),
    c_2             = Σ_{i<j} (Π_{m>j} A_m) B_j (Π_{i<m<j} A_m) B_i (Π_{m<i} A_m),

the truncation ``T_1(ε) = F(0) + ε L_F(0)[B]`` and the remainder ``R_2(ε) = F(ε) − T_1(ε)
= ε² c_2 + O(ε³)``, bounded with ``a = max_j ‖A_j‖``, ``b = max_j ‖B_j‖`` (any
submultiplicative norm) and ``ℓ = T`` factors by

    ‖R_2(ε)‖ ≤ (a + εb)^ℓ − a^ℓ − ℓ ε b a^{ℓ−1} ≤ ℓ(ℓ−1)/2 · ε² b² (a + εb)^{ℓ−2}.

:func:`expand` returns an :class:`Expansion` holding these as objects that print in this
notation (``str()``, ``to_latex()``, Jupyter), with ``A_j`` and ``B_j`` shown as the cell's
own structured terms at step ``j``, plus the closed forms of the zeroth-order transport
(``_transport``) and the retention split and diagonal effective-LR form (``_expansion_diagonal``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import reduce

import sympy

from ._cell import Cell
from ._derive import Derivation, derive
from ._errors import SpecError
from ._expansion_convention import replace_in_coefficients, with_convention
from ._expansion_diagonal import EffectiveLRForm, RetentionSplit, is_retention
from ._expansion_print import Printable, SizedByState, StepLatexPrinter, step_text, updated_states
from ._latex import _sum_lines
from ._linear import BlockJacobian, Jacobian
from ._text import term_text
from ._transport import ZerothTransport

class StepJacobian(Printable):
    """``M_j(ε) = A_j + ε B_j``: :attr:`A` and :attr:`B` are the cell's structured block
    Jacobians (``B`` in the expansion's :attr:`convention`); printed at step ``j``."""

    def __init__(self, exact: Derivation, convention: str):
        self.cell, self.convention = exact.cell, convention
        split = exact.gate_split()
        self.A: BlockJacobian = split.A
        self.B: BlockJacobian = with_convention(exact, convention).gate_split().B
        # for printing: the exact B with the states its coefficients read shown as updated (h_j)
        self._shown_B = split.B
        if convention == "author":
            placeholders = updated_states(self.cell)
            self._shown_B = BlockJacobian(split.B.rows, split.B.cols, {
                key: _with_terms(block, tuple(replace_in_coefficients(t, placeholders) for t in block.terms))
                for key, block in split.B.blocks.items()})

    @property
    def has_gate_term(self) -> bool:
        return len(self.B) > 0

    def _blocks(self, letter: str, latex: bool):
        """``(name, block)`` per block of ``A`` or ``B``, retention terms first (``A_j = diag(1 − g_j) + …``)."""
        blocks = self.A if letter == "A" else self._shown_B
        for key, block in blocks.blocks.items():
            block = _with_terms(block, tuple(sorted(block.terms, key=lambda t: not is_retention(t))))
            if len(self.cell.states) == 1:
                yield f"{letter}_j", block
            elif latex:
                yield r"\left[%s_j\right]_{%s}" % (letter, " ".join(self.cell.piece(k).latex for k in key)), block
            else:
                yield f"{letter}_j[{key[0]},{key[1]}]", block

    def text_lines(self) -> list[str]:
        text = step_text(self.cell)
        lines = [f"M_j(eps) = A_j + eps*B_j    (step j maps the state at j-1 to the state at j; "
                 f"convention: {self.convention})"]
        for letter in "AB":
            for name, block in self._blocks(letter, latex=False):
                terms = [term_text(SizedByState(self.cell), t, text=text) for t in block.terms]
                lines.append(f"{name} = {' + '.join(terms) if terms else '0'}")
        return lines

    def latex_lines(self) -> list[str]:
        printer = StepLatexPrinter(self.cell)
        note = r"\text{author's convention: the gate term reads the updated state}" if self.convention == "author" \
            else r"\text{step } j \text{ maps the state at } j-1 \text{ to the state at } j"
        lines = [rf"M_j(\varepsilon) &= A_j + \varepsilon B_j \qquad {note}"]
        for letter in "AB":
            for name, block in self._blocks(letter, latex=True):
                lines += _sum_lines(name, [printer.term(t) for t in block.terms])
        return lines


def _with_terms(block: Jacobian, terms) -> Jacobian:
    return Jacobian(block.out, block.wrt, block.rows, block.cols, terms)


class WindowProduct(Printable):
    """``F(ε) = M_T(ε) ⋯ M_1(ε) = Σ_{k=0}^{T} ε^k c_k``, a polynomial of degree ``T`` in ``ε``;
    ``F(1)`` is the transport ``∂s_T/∂s_0`` in the exact convention (not in the author's) and
    ``F(0)`` the frozen-gate one."""

    def __init__(self, convention: str = "exact"):
        self.convention = convention

    @staticmethod
    def value(A, B, eps):
        """``F(ε)`` for the step matrices ``A = [A_1, …, A_T]``, ``B = [B_1, …, B_T]``."""
        A, B = _steps(A, B)
        return reduce(lambda right, left: left @ right, [a + eps * b for a, b in zip(A, B)])

    def text_lines(self) -> list[str]:
        one = "F(1) = ds_T/ds_0" if self.convention == "exact" else "F(1) is not ds_T/ds_0 in the author's convention"
        return [f"F(eps) = M_T(eps) @ ... @ M_1(eps) = sum_(k=0..T) eps^k c_k    (a polynomial of degree T; {one})"]

    def latex_lines(self) -> list[str]:
        one = r"F(1) = \partial s_T / \partial s_0" if self.convention == "exact" else \
            r"F(1) \neq \partial s_T / \partial s_0 \text{ in the author's convention}"
        return [r"F(\varepsilon) &= M_T(\varepsilon) \cdots M_1(\varepsilon) = \sum_{k=0}^T \varepsilon^k c_k"
                rf" \qquad \text{{(a polynomial of degree }} T\text{{; }} {one}\text{{)}}"]


def _steps(A, B) -> tuple[list, list]:
    A, B = list(A), list(B)
    if not A or len(A) != len(B):
        raise SpecError(f"the window needs one A_j and one B_j per step (at least one step), got {len(A)} A_j and "
                        f"{len(B)} B_j")
    return A, B


@dataclass(frozen=True)
class WindowCoefficient(Printable):
    """The coefficient ``c_k`` of ``ε^k`` in ``F(ε) = M_T(ε) ⋯ M_1(ε)``: the sum, over the
    ``k``-element sets ``S`` of steps, of the product with ``B_j`` at the steps in ``S`` and
    ``A_j`` elsewhere, later steps on the left (``c_0 = F(0)``, ``c_1 = L_F(0)[B]``)."""

    order: int

    def value(self, A, B):
        """``c_k`` for the step matrices ``A = [A_1, …, A_T]`` and ``B = [B_1, …, B_T]``
        (SymPy matrices, NumPy or torch arrays: anything with ``@`` and ``+``), by its
        definition: a sum of ``binomial(T, k)`` products (the numeric layer has the O(T)
        recurrence).  The zero matrix when ``k > T``."""
        A, B = _steps(A, B)
        total = None
        for chosen in itertools.combinations(range(len(A)), self.order):
            factors = [B[j] if j in chosen else A[j] for j in range(len(A))]
            product = reduce(lambda right, left: left @ right, factors)  # M_T ⋯ M_1
            total = product if total is None else total + product
        return 0 * A[0] if total is None else total

    def text_lines(self) -> list[str]:
        return [{0: "F(0) = A_T @ ... @ A_1",
                 1: "L_F(0)[B] = sum_i (prod_(j>i) A_j) @ B_i @ (prod_(j<i) A_j)    (the Frechet derivative)",
                 2: "c_2 = sum_(i<j) (prod_(m>j) A_m) @ B_j @ (prod_(i<m<j) A_m) @ B_i @ (prod_(m<i) A_m)",
                 }.get(self.order, f"c_{self.order} = sum over {self.order} steps j_1 > ... > j_{self.order} of the "
                                   f"product with B at those steps, A elsewhere")]

    def latex_lines(self) -> list[str]:
        prod = r"\Big(\prod_{%s} A_{%s}\Big)"
        return [{0: r"F(0) &= A_T \cdots A_1 = \prod_{j=T}^{1} A_j",
                 1: r"L_{F}(0)[B] &= \sum_{i=1}^T " + prod % ("j>i", "j") + " B_i " + prod % ("j<i", "j"),
                 2: r"c_2 &= \sum_{1 \le i<j \le T} " + prod % ("m>j", "m") + " B_j " + prod % ("i<m<j", "m")
                    + " B_i " + prod % ("m<i", "m"),
                 }.get(self.order, rf"c_{{{self.order}}} &= \sum_{{|S| = {self.order}}} \prod_{{j=T}}^{{1}} "
                                   r"\left(j \in S: B_j;\ j \notin S: A_j\right)")]


class Truncation(Printable):
    """``T_1(ε) = F(0) + ε L_F(0)[B]`` and ``R_2(ε) = F(ε) − T_1(ε) = ε² c_2 + O(ε³)``."""

    @staticmethod
    def value(A, B, eps):
        """``T_1(ε)`` for the step matrices ``A`` and ``B`` (see :meth:`WindowCoefficient.value`)."""
        return WindowCoefficient(0).value(A, B) + eps * WindowCoefficient(1).value(A, B)

    def text_lines(self) -> list[str]:
        return ["T_1(eps) = F(0) + eps*L_F(0)[B]",
                "R_2(eps) = F(eps) - T_1(eps) = eps^2*c_2 + O(eps^3)"]

    def latex_lines(self) -> list[str]:
        return [r"T_1(\varepsilon) &= F(0) + \varepsilon L_{F}(0)[B]",
                r"R_2(\varepsilon) &= F(\varepsilon) - T_1(\varepsilon) = \varepsilon^2 c_2 + O(\varepsilon^3)"]


class RemainderBound(Printable):
    """``‖R_2(ε)‖ ≤ (a + εb)^ℓ − a^ℓ − ℓεb a^{ℓ−1} ≤ ℓ(ℓ−1)/2 ε² b² (a + εb)^{ℓ−2}`` with
    ``a = max_j ‖A_j‖``, ``b = max_j ‖B_j‖`` (one submultiplicative norm) and ``ℓ`` factors:
    the sum over ``m ≥ 2`` of ``binomial(ℓ, m) a^{ℓ−m} (εb)^m``."""

    a, b, eps, length = sympy.symbols("a b varepsilon ell", nonnegative=True)

    @property
    def expression(self) -> sympy.Expr:
        """The bound ``(a + εb)^ℓ − a^ℓ − ℓ ε b a^{ℓ−1}`` in the symbols ``a, b, ε, ℓ``."""
        return self.value(self.a, self.b, self.eps, self.length)

    @property
    def loose_expression(self) -> sympy.Expr:
        """The looser ``ℓ(ℓ−1)/2 ε² b² (a + εb)^{ℓ−2}``."""
        return self.loose_value(self.a, self.b, self.eps, self.length)

    @staticmethod
    def value(a, b, eps, length):
        """``(a + εb)^ℓ − a^ℓ − ℓ ε b a^{ℓ−1}`` for SymPy values (or exact numbers) ``a, b, ε``
        and ``ℓ`` factors.  In floating point the three terms cancel at small ε (a = b = 1,
        ℓ = 10, ε = 1e-9 gives 8e-16 for 4.5e-17): use ``gatejac.numeric.remainder_bound``,
        which sums the binomial tail instead."""
        return (a + eps * b) ** length - a ** length - length * eps * b * a ** (length - 1)

    @staticmethod
    def loose_value(a, b, eps, length):
        """``ℓ(ℓ−1)/2 ε² b² (a + εb)^{ℓ−2}``."""
        return length * (length - 1) * eps ** 2 * b ** 2 * (a + eps * b) ** (length - 2) / 2

    def text_lines(self) -> list[str]:
        return ["||R_2(eps)|| <= (a + eps*b)^l - a^l - l*eps*b*a^(l-1) <= l*(l-1)/2 * eps^2*b^2*(a + eps*b)^(l-2)",
                "a = max_j ||A_j||, b = max_j ||B_j|| (one submultiplicative norm), l = T factors"]

    def latex_lines(self) -> list[str]:
        return [r"\lVert R_2(\varepsilon) \rVert &\le (a + \varepsilon b)^{\ell} - a^{\ell} "
                r"- \ell \varepsilon b\, a^{\ell-1} \le \tfrac{\ell(\ell-1)}{2}\, \varepsilon^2 b^2 "
                r"(a + \varepsilon b)^{\ell-2}",
                r"&a = \max_j \lVert A_j \rVert,\quad b = \max_j \lVert B_j \rVert "
                r"\quad\text{(one submultiplicative norm)},\quad \ell = T"]


class Expansion(Printable):
    """The first-order gate expansion of one cell (see the module docstring).

    * :attr:`step` — ``M_j(ε) = A_j + ε B_j`` (:class:`StepJacobian`);
    * :attr:`window` — ``F(ε) = M_T(ε) ⋯ M_1(ε)`` (:class:`WindowProduct`);
    * :attr:`zeroth`, :attr:`first`, :attr:`second` — ``F(0)``, ``L_F(0)[B]``, ``c_2``
      (:class:`WindowCoefficient`; :meth:`coefficient` gives any order);
    * :attr:`truncation` — ``T_1(ε)`` and ``R_2(ε)``; :attr:`remainder_bound` — its bound;
    * :attr:`transport` — the closed form of ``F(0)`` (:class:`ZerothTransport`);
    * :attr:`retention` (``λ`` per state), :attr:`retention_rest_diagonal` (``ρ`` per state,
      a tuple of :class:`DiagonalPart`), both printed by :attr:`split` (:class:`RetentionSplit`),
      and :attr:`effective_lr_form`
      (``Π_j λ_j (1 + Σ_j ρ_j/λ_j)``, :class:`EffectiveLRForm`);
    * :attr:`convention` — ``"exact"``, or ``"author"`` (``B`` from the public code's
      ``φ(a_j) − h_j``, :func:`~gatejac.symbolic.author_convention`; its ``A + B`` is not the
      Jacobian).
    """

    def __init__(self, derivation: Derivation, convention: str):
        self.derivation, self.cell, self.convention = derivation, derivation.cell, convention
        self.step = StepJacobian(derivation, convention)
        self.window = WindowProduct(convention)
        self.zeroth, self.first, self.second = (WindowCoefficient(k) for k in range(3))
        self.truncation = Truncation()
        self.remainder_bound = RemainderBound()
        self.split = RetentionSplit(self.cell, self.step.A)
        self.transport = ZerothTransport(self.cell, self.step.A, self.split)
        self.effective_lr_form = EffectiveLRForm(self.split)

    @property
    def retention(self) -> dict:
        """``{state: λ}``: the terms of ``∂s'/∂s`` in ``A`` without a matrix factor (0 if none)."""
        return dict(self.split.retention)

    @property
    def retention_rest_diagonal(self) -> dict:
        """``{state: (DiagonalPart, …)}``: the diagonal ``ρ`` of the other terms of ``∂s'/∂s`` in ``A``."""
        return dict(self.split.rest_diagonal)

    @staticmethod
    def coefficient(order: int) -> WindowCoefficient:
        """``c_k``, the coefficient of ``ε^k`` in ``F(ε)``."""
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise SpecError(f"coefficient(order={order!r}): the order is a non-negative integer (0: F(0), "
                            "1: L_F(0)[B], 2: c_2)")
        return WindowCoefficient(order)

    def sections(self) -> list[tuple[str, Printable]]:
        """``(title, object)`` in reading order (the derivation document prints them)."""
        sections = [("the step Jacobian with its gate term scaled by ε", self.step)]
        if self.step.has_gate_term:
            sections += [("coefficients of the window product in ε (later steps on the left)",
                          _Joined([self.window, self.zeroth, self.first, self.second])),
                         ("truncation and remainder", _Joined([self.truncation, self.remainder_bound]))]
        sections += [("zeroth-order transport", self.transport),
                     ("retention and the diagonal of the rest", self.split),
                     ("first-order diagonal effective learning rate", self.effective_lr_form)]
        return sections

    def text_lines(self) -> list[str]:
        lines = [f"first-order gate expansion of {self.cell.name} (convention: {self.convention})"]
        if not self.step.has_gate_term:
            lines.append(NO_GATE_TEXT)
        for title, part in self.sections():
            lines += ["", title[0].upper() + title[1:], *(f"  {line}" for line in part.text_lines())]
        return lines

    def latex_lines(self) -> list[str]:
        lines = [] if self.step.has_gate_term else [rf"&{NO_GATE_LATEX}"]
        return lines + [line for _, part in self.sections() for line in part.latex_lines()]

    def __repr__(self) -> str:
        return f"Expansion({self.cell.name!r}, convention={self.convention!r}, transport={self.transport.kind!r})"


class _Joined(Printable):
    def __init__(self, parts):
        self.parts = parts

    def text_lines(self) -> list[str]:
        return [line for p in self.parts for line in p.text_lines()]

    def latex_lines(self) -> list[str]:
        return [line for p in self.parts for line in p.latex_lines()]


NO_GATE_TEXT = "no gate: B = 0, F(eps) = F(0)"
NO_GATE_LATEX = r"\text{no gate: } B = 0,\quad F(\varepsilon) = F(0)"


def expand(cell_or_derivation: Cell | Derivation, convention: str = "exact") -> Expansion:
    """The first-order gate expansion of a cell (or of its derivation ``derive(cell)``).

    ``convention="exact"`` (default) expands the Jacobian; ``"author"`` uses the gate term of
    the public code of Livi 2025 (lorenzolivi/effective-learning-rates), ``φ(a_j) − h_j``
    where the Jacobian has ``φ(a_j) − h_{j−1}`` (:func:`~gatejac.symbolic.author_convention`).
    """
    if isinstance(cell_or_derivation, Cell):
        derivation = derive(cell_or_derivation)
    elif isinstance(cell_or_derivation, Derivation):
        derivation = cell_or_derivation
    else:
        hint = f"; for a catalogue cell write expand(gatejac.symbolic.cells.get({cell_or_derivation!r}))" \
            if isinstance(cell_or_derivation, str) else ""
        raise SpecError(f"expand() takes a gatejac.symbolic.Cell or Derivation, got "
                        f"{type(cell_or_derivation).__name__} {cell_or_derivation!r}{hint}")
    if derivation.convention != "exact":
        raise SpecError(f"expand() needs the exact derivation (derive(cell)), got one in the "
                        f"{derivation.convention!r} convention; pass derive(cell) and "
                        f"convention={derivation.convention!r}")
    return Expansion(derivation, convention)
