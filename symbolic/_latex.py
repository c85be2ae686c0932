r"""LaTeX in the notation of the papers: a cell's equations and every Jacobian of its derivation.

* :class:`CellLatexPrinter` — SymPy's ``LatexPrinter`` taught to read one cell's node symbols:
  states, inputs, parameters and named intermediates print as their names; ``M v`` prints as
  ``W h`` or ``\left(W - W^\top - \gamma I\right) h``; ``uᵀv`` as ``w^\top h``; a product of
  two or more vectors is a Hadamard product ``g \odot h`` (scalar factors are juxtaposed, as
  in ``\alpha \tanh(a)``); σ and σ' print as ``\sigma``, ``\sigma'``.
* :func:`cell_latex` — the cell's equations as an ``aligned`` block.
* :func:`derivation_latex` — a derivation as one display (what ``Derivation._repr_latex_``
  shows in Jupyter): for each state block the definition, the chain rule over the direct
  arguments ``u`` of the update ``f`` and the closed form,

      ∂s'/∂r = ∂f/∂r = Σ_u diag(∂f/∂u) ∂u/∂r = Σ_terms (diag(·), W, u wᵀ, I ⊗ vᵀ …),

  then the block matrix of a multi-state cell, the gate split J = A + B, the input Jacobian,
  every parameter Jacobian (matrix parameters flattened row-major, as ``torch.flatten``) and
  the first-order gate expansion (``gatejac.symbolic.expand``; one line for a cell without a gate).
* :func:`document_latex` — a standalone, compilable document for one or more cells, and
  :func:`compile_latex` to run ``pdflatex`` on it until its table of contents is stable.

Names print as a paper would set them (``c_new`` → :math:`c_{\mathrm{new}}`, ``eps`` →
:math:`\varepsilon`, ``alpha_z`` → :math:`\alpha_z`; see ``_names``) unless a declaration
gives its own ``latex=``.

Conventions are those of the structured terms (``gatejac.symbolic.Term``): numerator layout
``J[i, j] = ∂out_i/∂in_j``.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import sympy
from sympy.matrices.expressions import Identity, MatMul, Transpose
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence_traditional

from ._cell import Cell
from ._derive import Derivation, derive
from ._errors import GatejacError
from ._linear import BlockJacobian, Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term
from ._nodes import SCALAR, Dot, Leaf, MatVec, Named

_MUL = PRECEDENCE["Mul"]


class CellLatexPrinter(LatexPrinter):
    """Prints one cell's elementwise expressions and structured factors in paper notation."""

    def __init__(self, cell: Cell, settings=None):
        super().__init__(settings)
        self.cell = cell

    # ------------------------------------------------------------------ node symbols
    def _node(self, symbol):
        try:
            return self.cell.node(symbol)
        except (KeyError, TypeError):
            return None

    def is_compound(self, expr) -> bool:
        r"""A node that prints as more than one symbol (``W h``, ``w^\top h``)."""
        return isinstance(self._node(expr), (MatVec, Dot))

    def is_vector(self, expr) -> bool:
        """Whether an elementwise expression of the cell is a vector (reads a vector node)."""
        return any(
            (node := self._node(s)) is not None and node.size is not SCALAR for s in sympy.sympify(expr).free_symbols
        )

    def _print_Symbol(self, expr, style="plain"):
        node = self._node(expr)
        if isinstance(node, (Leaf, Named)):
            return node.latex
        if isinstance(node, MatVec):
            return self._matvec(node)
        if isinstance(node, Dot):
            return f"{self.transposed(node.left)} {self.parenthesize(node.right, _MUL)}"
        return super()._print_Symbol(expr, style)

    def _matvec(self, node: MatVec) -> str:
        if all(t.parameter is None for t in node.terms):  # c·I v is the scalar multiple c v
            return self._print(self._identity_multiples(node.symbol)[node.symbol])
        matrix = self._print(node.matrix)
        if len(node.terms) > 1:
            matrix = self._add_parens(matrix)
        return f"{matrix} {self.parenthesize(node.operand, _MUL)}"

    def transposed(self, expr) -> str:
        """``uᵀ`` for an elementwise vector expression ``u``."""
        node = self._node(expr)
        tex = self._print(expr)
        if not isinstance(node, (Leaf, Named)):
            return self._add_parens(tex) + r"^\top"
        return ("{%s}" % tex if "^" in tex else tex) + r"^\top"

    # ------------------------------------------------------------------ precedence of compound nodes
    def parenthesize(self, item, level, is_neg=False, strict=False) -> str:
        if self.is_compound(item) and level >= _MUL:
            return self._add_parens(self._print(item))
        return super().parenthesize(item, level, is_neg, strict)

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        return self.is_compound(expr) or super()._needs_mul_brackets(expr, first, last)

    def _needs_add_brackets(self, expr) -> bool:
        """A compound node that prints with a leading sign (``- h`` for ``-I h``) needs brackets."""
        negative = self.is_compound(expr) and self._print(expr).startswith("-")
        return negative or super()._needs_add_brackets(expr)

    def _print_Add(self, expr, order=None):
        r"""SymPy's order, with the terms that carry a minus sign last: ``\tanh(a) - h``."""
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        return super()._print_Add(sympy.Add(*terms, evaluate=False), order="none")

    # ------------------------------------------------------------------ Hadamard products
    def _print_Mul(self, expr):
        vectors = [f for f in expr.args if self.is_vector(f)] if isinstance(expr, sympy.Mul) else []
        if not vectors:
            return super()._print_Mul(expr)
        scalar = sympy.Mul(*[f for f in expr.args if not self.is_vector(f)])
        if _negative(scalar):
            return "- " + self._print(-expr)
        numerator = sorted((f for f in vectors if not _is_reciprocal(f)), key=self._hadamard_order)
        denominator = [1 / f for f in vectors if _is_reciprocal(f)]
        hadamard = len(numerator) > 1
        body = r" \odot ".join(self._vector_factor(f, hadamard) for f in numerator) or "1"
        if not denominator:
            return self.scaled(scalar, body)
        scalar_numerator, scalar_denominator = sympy.fraction(scalar)
        below = self._print(sympy.Mul(scalar_denominator, *denominator))
        return r"\frac{%s}{%s}" % (self.scaled(scalar_numerator, body), below)

    def _hadamard_order(self, factor) -> int:
        r"""Gates (and expressions of gates) first, states and inputs last: ``(1 - g) \odot h``."""
        nodes = [self._node(s) for s in factor.free_symbols]
        if any(isinstance(n, Named) and n.is_gate for n in nodes):
            return 0
        return 2 if isinstance(self._node(factor), Leaf) else 1

    def _vector_factor(self, factor, hadamard: bool) -> str:
        if hadamard and (precedence_traditional(factor) <= _MUL or self.is_compound(factor)):
            return self._add_parens(self._print(factor))
        return super().parenthesize(factor, _MUL, strict=True)

    def scaled(self, coefficient, body: str) -> str:
        """``coefficient`` juxtaposed in front of the LaTeX ``body`` (signs pulled out)."""
        coefficient = sympy.sympify(coefficient)
        if coefficient == 1:
            return body
        if _negative(coefficient):
            return "- " + self.scaled(-coefficient, body)
        tex = self._print(coefficient)
        if precedence_traditional(coefficient) < _MUL or self.is_compound(coefficient):
            tex = self._add_parens(tex)
        return f"{tex} {body}"

    # ------------------------------------------------------------------ matrix expressions
    def _print_MatrixSymbol(self, expr):
        try:
            return self.cell.matrix_parameter(expr).latex
        except KeyError:
            return super()._print_MatrixSymbol(expr)

    def _print_Transpose(self, expr):
        tex = self._print(expr.arg)
        return ("{%s}" % tex if "^" in tex else tex) + r"^\top"

    def _print_Identity(self, expr):
        return "I"

    def _print_MatAdd(self, expr):
        r"""Parameters first, then their transposes, then multiples of the identity:
        ``W - W^\top - \gamma I``."""
        tex = ""
        for i, part in enumerate(sorted(expr.args, key=_matrix_order)):
            coefficient, matrix = part.as_coeff_mmul() if isinstance(part, MatMul) else (sympy.S.One, part)
            negative = i and _negative(sympy.sympify(coefficient))
            body = self._print(-part if negative else part)
            tex += (" - " if negative else " + " if i else "") + body
        return tex

    # ------------------------------------------------------------------ structured factors
    def factor(self, factor, *, alone: bool, scaled: bool = False) -> str:
        """One factor of a :class:`~symbolic.Term`; ``alone``: the term's only factor,
        ``scaled``: a coefficient is printed in front of it."""
        if isinstance(factor, Diag):
            return r"\operatorname{diag}\left(%s\right)" % self._print(factor.value)
        if isinstance(factor, Column):
            if not self.is_vector(factor.value):
                return self.scaled(factor.value, r"\mathbf{1}")
            level = precedence_traditional(factor.value)
            wrap = level < _MUL or (not alone and (level <= _MUL or self.is_compound(factor.value)))
            return self._add_parens(self._print(factor.value)) if wrap else self._print(factor.value)
        if isinstance(factor, Row):
            return self.transposed(factor.value)
        if isinstance(factor, Mat):
            tex = self._print(factor.matrix)
            return self._add_parens(tex) if isinstance(factor.matrix, sympy.MatAdd) and (scaled or not alone) else tex
        if isinstance(factor, Kron):
            eye, row = rf"I_{{{self._print(factor.dim)}}}", self.transposed(factor.value)
            pair = (row, eye) if factor.transposed else (eye, row)
            return self._add_parens(r" \otimes ".join(pair))
        if isinstance(factor, Scale):
            return self.parenthesize(factor.value, _MUL)
        raise TypeError(f"{factor!r} is not a factor of a structured term (Scale, Diag, Column, Row, Mat or Kron)")

    def term(self, term: Term) -> str:
        """A term ``c · F_1 F_2 …``; the empty product is the identity ``I``.  Signs of
        diagonals and columns move into the coefficient, and a column ``(c I) v`` (from a
        scalar inside a matrix, ``∂(γ I v)/∂γ``) prints as ``c v``."""
        coefficient, structure = term.coefficient, list(term.structure)
        for i, factor in enumerate(structure):
            if isinstance(factor, (Column, Diag)):
                sign, value = _pull_sign(factor.value.xreplace(self._identity_multiples(factor.value)))
                coefficient, structure[i] = sign * coefficient, replace(factor, value=value)
        alone, scaled = len(structure) == 1, coefficient != 1
        body = " ".join(self.factor(f, alone=alone, scaled=scaled) for f in structure) or "I"
        return self.scaled(coefficient, body)

    def _identity_multiples(self, expr) -> dict:
        """``{symbol: c·v}`` for the nodes of ``expr`` that are ``(c I) v``."""
        nodes = {s: self._node(s) for s in expr.free_symbols}
        return {
            s: sympy.Add(*(t.coeff for t in n.terms)) * n.operand
            for s, n in nodes.items()
            if isinstance(n, MatVec) and all(t.parameter is None for t in n.terms)
        }


def _negative(expr) -> bool:
    """A number or product with a negative numeric factor (``-2 a``), not a sum like ``1 - a``."""
    return (expr.is_Number or expr.is_Mul) and expr.as_coeff_Mul()[0].is_negative


def _pull_sign(expr) -> tuple[int, sympy.Expr]:
    """``(sign, e)`` with ``expr = sign · e``, taking the minus out of a negative product
    and out of sums whose terms are all negative: ``a (-h - x)`` → ``(-1, a (h + x))``."""
    factors = expr.args if expr.is_Mul else (expr,)
    flips = [f for f in factors if f.is_Add and all(_negative(t) for t in f.args)]
    sign = (-1) ** len(flips)
    expr = expr.xreplace({f: -f for f in flips})
    return (-sign, -expr) if _negative(expr) else (sign, expr)


def _is_reciprocal(factor) -> bool:
    return factor.is_Pow and factor.exp.is_number and factor.exp.is_negative


def _matrix_order(part) -> int:
    base = next((a for a in part.args if a.is_Matrix), part) if isinstance(part, MatMul) else part
    return 2 if isinstance(base, Identity) else 1 if isinstance(base, Transpose) else 0


# ---------------------------------------------------------------------- names and sums
def _prime(tex: str) -> str:
    """``s'`` for the new value of a state printed as ``tex``."""
    return ("{%s}" % tex if "^" in tex else tex) + "'"


def _partial(numerator: str, denominator: str, frac: str = r"\frac") -> str:
    return frac + r"{\partial %s}{\partial %s}" % (numerator, denominator)


def _sum_lines(lhs: str, terms: list[str], notes: list[str] | None = None) -> list[str]:
    """``lhs &= t_1 \\\\ &\\quad + t_2 …``: one term per line so long sums stay on the page;
    ``notes[i]`` (LaTeX) is set after term ``i``."""
    if not terms:
        return [f"{lhs} &= 0" + (notes[0] if notes else "")]
    lines = []
    for i, tex in enumerate(terms):
        sign, body = ("-", tex[2:]) if tex.startswith("- ") else ("+", tex)
        lead = f"{lhs} &= {'- ' if sign == '-' else ''}" if i == 0 else rf"&\quad {sign} "
        lines.append(lead + body + (notes[i] if notes else ""))
    return lines


# ---------------------------------------------------------------------- the cell's equations
def _equation_lines(cell: Cell, printer: CellLatexPrinter) -> list[str]:
    lines = [
        f"{node.latex} &= {printer.doprint(node.expr)}" + (r" \qquad \text{(gate)}" if node.is_gate else "")
        for node in cell.named
    ]
    for state in cell.states:
        lhs, rhs = _prime(state.latex), printer.doprint(cell.updates[state.name])
        if rhs != lhs:  # skip s' = s' when the update is a named node printed as s'
            lines.append(f"{lhs} &= {rhs}")
    return lines


def cell_latex(cell: Cell) -> str:
    r"""The cell's equations as an ``aligned`` block (math mode): named intermediates and
    gates in declaration order, then the update ``s' = …`` of every state."""
    return _aligned(_equation_lines(cell, CellLatexPrinter(cell)))


def _aligned(lines: list[str]) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


# ---------------------------------------------------------------------- derivations
@dataclass(frozen=True)
class _Section:
    """A titled group of ``aligned`` rows; the title is plain text without special characters."""

    title: str
    lines: list[str]


def _reads(cell: Cell, expr) -> set[str]:
    """Names of the leaves and matrix parameters an elementwise expression depends on."""
    names: set[str] = set()
    for symbol in sympy.sympify(expr).free_symbols:
        node = cell.node(symbol)
        if isinstance(node, Leaf):
            names.add(node.name)
        if isinstance(node, MatVec):
            for term in node.terms:
                names |= {term.parameter} if term.parameter else set()
                names |= _reads(cell, term.coeff)
        for child in cell.children(node):
            names |= _reads(cell, child)
    return names


class _DerivationWriter:
    """Builds the titled sections of one derivation's LaTeX."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.cell = derivation.cell
        self.printer = CellLatexPrinter(self.cell)

    def latex(self, name: str) -> str:
        return self.cell.piece(name).latex

    def partial(self, out: str, wrt: str, frac: str = r"\frac") -> str:
        """``∂out'/∂wrt`` for a new state ``out`` and a leaf ``wrt``, given by name."""
        return _partial(_prime(self.latex(out)), self.latex(wrt), frac)

    def sections(self) -> list[_Section]:
        derivation, cell = self.derivation, self.cell
        sections = [_Section("State Jacobian: definition, chain rule over the direct arguments, closed form",
                             self.state_lines())]
        if cell.gates:
            title = "Gate split J = A + B (A: marked gates frozen; B: terms that exist because a gate reads the state)"
            sections.append(_Section(title, self.gate_split_lines()))
        if cell.inputs:
            sections.append(_Section("Input Jacobian", self.closed_forms(derivation.input)))
        if cell.parameters:
            lines = [line for p in derivation.parameters.values() for line in self.closed_forms(p)]
            title = "Parameter Jacobians (matrix parameters flattened row-major, as torch.flatten does)"
            sections.append(_Section(title, lines))
        return sections + self.expansion_sections()

    def expansion_sections(self) -> list[_Section]:
        """The first-order gate expansion (``expand``) of a cell with a gate; one line for the
        others.  A derivation in the author's convention has its expansion in ``expand``."""
        from ._expansion import NO_GATE_LATEX, expand

        if self.derivation.convention != "exact":
            return []
        if not self.cell.gates:
            return [_Section("Gate expansion", [rf"&{NO_GATE_LATEX}"])]
        return [_Section(latex_text(f"Gate expansion: {title}"), part.latex_lines())
                for title, part in expand(self.derivation).sections()]

    # ------------------------------------------------------------------ state Jacobian
    def state_lines(self) -> list[str]:
        groups = [self.state_block(block) for block in self.derivation.state.blocks.values()]
        if len(self.cell.states) > 1:
            groups.insert(0, [self.block_matrix(self.derivation.state)])
        return [line for i, group in enumerate(groups) for line in ([""] if i else []) + group]

    def state_block(self, block: Jacobian) -> list[str]:
        """Definition → chain rule over the direct arguments ``u`` of the update → closed form."""
        lhs, expr, wrt = self.partial(block.out, block.wrt), self.cell.updates[block.out], self.cell.piece(block.wrt)
        if block.is_zero:
            return [f"{lhs} &= 0"]
        definition = rf"{lhs} &= \frac{{\partial}}{{\partial {wrt.latex}}}\left[{self.printer.doprint(expr)}\right]"
        arguments = sorted(expr.free_symbols, key=lambda s: (s != wrt.symbol, self.printer.doprint(s)))
        chain = [f for u in arguments if (f := self.chain_factor(expr, u, wrt)) is not None]
        return [definition, *_sum_lines("", chain), *_sum_lines("", self.terms(block.terms))]

    def chain_factor(self, expr, argument, wrt: Leaf) -> str | None:
        """``diag(∂f/∂u) ∂u/∂r`` for one direct argument ``u`` of ``f`` (``None`` if zero)."""
        printer, node = self.printer, self.cell.node(argument)
        coefficient = sympy.diff(expr, argument)
        if wrt.name not in _reads(self.cell, argument) or coefficient == 0:
            return None
        inner = "" if isinstance(node, Leaf) else _partial(printer.parenthesize(argument, _MUL), wrt.latex)
        if not printer.is_vector(coefficient):
            return printer.scaled(coefficient, inner or "I")
        if node.size is SCALAR:  # a scalar argument read by every unit: its coefficient is a column
            return f"{printer.factor(Column(coefficient, None), alone=False)} {inner}"
        return rf"\operatorname{{diag}}\left({printer.doprint(coefficient)}\right) {inner}".rstrip()

    def block_matrix(self, blocks: BlockJacobian) -> str:
        """``∂(h', c')/∂(h, c)`` as a ``pmatrix`` of its blocks."""
        rows = [
            " & ".join("0" if blocks[(r, c)].is_zero else self.partial(r, c, r"\dfrac") for c in blocks.cols)
            for r in blocks.rows
        ]
        outs = ", ".join(_prime(self.latex(r)) for r in blocks.rows)
        wrts = ", ".join(self.latex(c) for c in blocks.cols)
        matrix = r"\begin{pmatrix} " + r" \\[1ex] ".join(rows) + r" \end{pmatrix}"
        return _partial(rf"\left({outs}\right)", rf"\left({wrts}\right)") + " &= " + matrix

    # ------------------------------------------------------------------ closed forms
    def terms(self, terms: Iterable[Term]) -> list[str]:
        return [self.printer.term(t) for t in terms]

    def closed_forms(self, blocks: BlockJacobian) -> list[str]:
        lines = []
        for (out, wrt), block in blocks.blocks.items():
            piece = self.cell.piece(wrt)
            fixed = piece.role == "parameter" and not piece.trainable
            notes = [r" \qquad \text{(fixed)}" if fixed and i == 0 else "" for i in range(max(1, len(block.terms)))]
            lines += _sum_lines(self.partial(out, wrt), self.terms(block.terms), notes)
        return lines

    def gate_split_lines(self) -> list[str]:
        split, lines = self.derivation.gate_split(), []
        for key in self.derivation.state.blocks:
            subscript = "" if len(self.cell.states) == 1 else "_{%s %s}" % tuple(self.latex(k) for k in key)
            gated = split.B[key].terms
            notes = [r" \qquad \text{via } " + ", ".join(self.latex(g) for g in sorted(t.gates)) for t in gated]
            group = _sum_lines(f"A{subscript}", self.terms(split.A[key].terms))
            group += _sum_lines(f"B{subscript}", self.terms(gated), notes)
            lines += ([""] if lines else []) + group
        return lines


def derivation_latex(derivation: Derivation) -> str:
    r"""Every Jacobian of ``derivation`` as one math-mode block (an ``array`` of titled
    ``aligned`` groups) — what ``Derivation.to_latex()`` returns."""
    rows = []
    for section in _DerivationWriter(derivation).sections():
        rows += [r"\text{%s}" % section.title, _aligned(section.lines)]
    return "\\begin{array}{l}\n" + " \\\\[1ex]\n".join(rows) + "\n\\end{array}"


# ---------------------------------------------------------------------- standalone documents
_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[a4paper,landscape,margin=1.4cm]{geometry}
\usepackage[fleqn]{amsmath}
\usepackage{amssymb}
\setlength{\mathindent}{2em}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.4ex}
\setlength{\jot}{0.8ex}
\makeatletter\renewcommand*\l@section{\@dottedtocline{1}{0em}{2.3em}}\makeatother
"""
# a new cell starts on a new page unless at least a third of the page is left
_NEW_CELL = "\\vspace{0pt plus 0.33\\textheight}\\penalty-250\\vspace{0pt plus -0.33\\textheight}\n"

_CONVENTIONS = (
    r"Numerator layout: $J_{ij} = \partial \mathrm{out}_i / \partial \mathrm{in}_j$. "
    r"$\odot$ is the elementwise (Hadamard) product, $\operatorname{diag}(u)$ the diagonal matrix of $u$, "
    r"$\sigma$ the logistic sigmoid with $\sigma' = \sigma(1-\sigma)$, $\mathbf{1}$ the vector of ones. "
    r"A matrix parameter $P$ is flattened row-major (as \texttt{torch.flatten} does), so "
    r"$\partial (P v)/\partial P = I \otimes v^\top$ and $\partial (P^\top v)/\partial P = v^\top \otimes I$."
)

_TEXT_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_TEXT_UNICODE = {
    "—": "---", "–": "--", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\dots{}", "\u00a0": "~",
    "§": r"\S{}",
}
_MATH_UNICODE = {
    "ᵀ": r"^\top", "⊙": r"\odot", "·": r"\cdot", "−": "-", "→": r"\to", "←": r"\leftarrow", "≤": r"\le",
    "≥": r"\ge", "∂": r"\partial", "⊗": r"\otimes", "′": "'", "≈": r"\approx", "×": r"\times", "∈": r"\in",
    "𝟙": r"\mathbf{1}", "²": "^2", "³": "^3", "√": r"\surd", "∑": r"\sum", "Σ": r"\Sigma", "∞": r"\infty",
    "≠": r"\neq", "±": r"\pm", "⊤": r"\top", "ℝ": r"\mathbb{R}", "∘": r"\circ", "↦": r"\mapsto",
    "ε": r"\varepsilon",
}


def _text_char(char: str) -> str:
    if char in _TEXT_SPECIALS:
        return _TEXT_SPECIALS[char]
    if char.isascii():
        return char
    if char in _TEXT_UNICODE:
        return _TEXT_UNICODE[char]
    math = _MATH_UNICODE.get(char) or _greek(char)
    if math:
        return r"\ensuremath{%s}" % math
    ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return ascii_form or r"\texttt{[U+%04X]}" % ord(char)


def _greek(char: str) -> str | None:
    name = unicodedata.name(char, "")
    for prefix, case in (("GREEK SMALL LETTER ", str.lower), ("GREEK CAPITAL LETTER ", str.capitalize)):
        if name.startswith(prefix) and " " not in name[len(prefix):]:
            word = case(name[len(prefix):].replace("LAMDA", "LAMBDA"))
            return sympy.latex(sympy.Symbol(word))
    return None


def latex_text(text: str) -> str:
    """``text`` escaped for LaTeX text mode (pdflatex-safe: Greek letters and common math
    symbols such as ``σ ⊙ ᵀ ∂`` become math, other accents are dropped)."""
    return "".join(_text_char(c) for c in text)


def _display(lines: list[str]) -> str:
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


def _cell_section(derivation: Derivation) -> str:
    cell = derivation.cell
    parts = [r"\section{%s}" % latex_text(cell.name)]
    for label, value in (("", cell.description), ("Convention: ", cell.convention), ("Reference: ", cell.reference)):
        if value:
            parts.append(r"\textbf{%s}%s\par" % (label, latex_text(value)))
    parts += [r"\subsection*{Equations}", _display(_equation_lines(cell, CellLatexPrinter(cell)))]
    for section in _DerivationWriter(derivation).sections():
        parts += [r"\subsection*{%s}" % section.title, _display(section.lines)]
    return "\n".join(parts)


def document_latex(items: Iterable[Cell | Derivation], *, title: str = "gatejac derivations") -> str:
    """A standalone LaTeX document (for ``pdflatex``) with, for each cell or derivation in
    ``items``, its description, equations and every Jacobian."""
    derivations = [item if isinstance(item, Derivation) else derive(item) for item in items]
    body = [r"\section*{%s}" % latex_text(title), _CONVENTIONS, r"\tableofcontents"]
    body += [_NEW_CELL + _cell_section(d) for d in derivations]
    return _PREAMBLE + "\\begin{document}\n" + "\n\n".join(body) + "\n\\end{document}\n"


def compile_latex(tex_file: str | Path, *, max_runs: int = 5, timeout: float = 120) -> Path:
    """Compile ``tex_file`` with ``pdflatex -interaction=nonstopmode -halt-on-error`` in its
    own directory and return the PDF's path.

    ``pdflatex`` runs again until the ``.aux`` file (the table of contents, page numbers) is
    the same after a run as before it, at most ``max_runs`` times, so the table of contents is
    complete and its page numbers are final.  Raises :class:`GatejacError` if ``pdflatex`` is
    not installed or reports an error; the message ends with the last lines of the log, where
    LaTeX names the error and its line.
    """
    tex_file = Path(tex_file).resolve()
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
        raise GatejacError(f"compile_latex: max_runs={max_runs!r} must be a positive integer (2 to 5 is typical)")
    if shutil.which("pdflatex") is None:
        raise GatejacError(
            "pdflatex is not on PATH; install a LaTeX engine (Debian/Ubuntu: apt-get install texlive-latex-base)"
        )
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex_file.name]
    aux = tex_file.with_suffix(".aux")
    for _ in range(max_runs):
        before = aux.read_bytes() if aux.exists() else None
        result = subprocess.run(command, cwd=tex_file.parent, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            tail = "\n".join(result.stdout.splitlines()[-25:])
            raise GatejacError(
                f"pdflatex failed on {tex_file} (exit code {result.returncode}); "
                f"the end of its log ({tex_file.with_suffix('.log')}):\n{tail}"
            )
        if aux.exists() and aux.read_bytes() == before:
            break
    return tex_file.with_suffix(".pdf")
