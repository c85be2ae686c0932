r"""Printing a cell's values at step ``j`` of a trajectory, for the gate expansion.

Inside one step a cell reads its old state ``h`` and writes ``h'``; along a trajectory step
``j`` maps ``h_{j-1}`` to ``h_j`` and reads the input ``x_j`` (docs/theory.md: “Conventions”).
The printers here show a cell's structured terms at step ``j``: a state read by the step
prints as ``h_{j-1}``, an input and every named intermediate or gate as ``x_j``, ``g_j``,
``a_{g,j}``; parameters carry no index.  A state that the author convention replaced by its
update (:func:`~gatejac.symbolic.author_convention`) prints as ``h_j``.

* :class:`StepLatexPrinter` — :class:`~gatejac.symbolic.CellLatexPrinter` with step indices;
* :func:`step_text` — the plain-text printer with step indices (``g_j``, ``h_{j-1}``);
* :class:`Printable` — ``str()``, ``to_latex()`` and Jupyter's ``_repr_latex_`` from an
  object's ``text_lines()`` and ``latex_lines()``.
"""

from __future__ import annotations

import re

import sympy

from ._cell import Cell, _grouped
from ._latex import CellLatexPrinter
from ._names import default_latex
from ._nodes import Dot, Leaf, MatVec, Named
from ._text import _TextPrinter

OLD, NEW = "j-1", "j"
"""The step index of a state read by step ``j``, and of everything step ``j`` computes."""

_ACCENT_WORDS = ("tilde", "hat", "bar", "check", "breve", "dot", "vec")


class UpdatedState(sympy.Symbol):
    """Stands for the new value ``s'`` of a state inside a printed term (the author convention)."""

    def __new__(cls, state: Leaf):
        symbol = sympy.Symbol.__xnew__(cls, f"{state.name}__updated", real=True)
        symbol.state = state
        return symbol


def updated_states(cell: Cell) -> dict[sympy.Symbol, UpdatedState]:
    """``{s: s'}`` placeholders for every state of ``cell``."""
    return {s.symbol: UpdatedState(s) for s in cell.states}


class SizedByState:
    """``cell`` as :func:`~gatejac.symbolic.term_text` reads it (``size_of``), with an
    :class:`UpdatedState` sized as its state."""

    def __init__(self, cell: Cell):
        self.cell = cell

    def size_of(self, expr):
        expr = sympy.sympify(expr)
        return self.cell.size_of(expr.xreplace({s: s.state.symbol for s in expr.free_symbols
                                                if isinstance(s, UpdatedState)}))


def _index(node, symbol) -> str | None:
    if isinstance(symbol, UpdatedState):
        return NEW
    if isinstance(node, Leaf) and node.role != "parameter":
        return OLD if node.role == "state" else NEW
    if isinstance(node, Named):
        return NEW
    return None


def _trailing_subscript(tex: str) -> int | None:
    """Where the ``_`` of ``tex``'s final braced subscript sits (``c_{\\mathrm{new}}`` → 1), or None."""
    if not tex.endswith("}"):
        return None
    depth = 0
    for i in range(len(tex) - 1, -1, -1):
        depth += {"}": 1, "{": -1}.get(tex[i], 0)
        if depth == 0:
            return i - 1 if i > 0 and tex[i - 1] == "_" else None
    return None


def indexed_latex(tex: str, index: str) -> str:
    """``tex`` with the subscript ``index`` added: ``h`` → ``h_{j-1}``, ``a_{g}`` → ``a_{g,j}``,
    ``c_{\\mathrm{new}}`` → ``c_{\\mathrm{new},j}`` (one subscript, never ``c_{…}_j``, which
    pdflatex rejects as a double subscript)."""
    underscore = _trailing_subscript(tex)
    if underscore is not None:
        return f"{tex[:underscore]}_{{{tex[underscore + 2:-1]},{index}}}"
    single = re.fullmatch(r"(.*)_(\w)", tex)
    if single:
        return f"{single.group(1)}_{{{single.group(2)},{index}}}"
    if "^" in tex or "'" in tex or "_" in tex:
        tex = "{%s}" % tex
    return f"{tex}_{{{index}}}" if len(index) > 1 else f"{tex}_{index}"


def indexed_text(name: str, index: str) -> str:
    """``name`` with the subscript ``index``: ``g`` → ``g_j``, ``h`` → ``h_{j-1}``, ``a_g`` → ``a_{g,j}``."""
    base, *rest = name.split("_")
    if not rest or rest[-1] in _ACCENT_WORDS:
        return f"{name}_{index}" if len(index) == 1 else f"{name}_{{{index}}}"
    return f"{base}_{{{'_'.join(rest)},{index}}}"


class StepLatexPrinter(CellLatexPrinter):
    """A cell's LaTeX printer at step ``j`` (see the module docstring)."""

    def _node(self, symbol):
        if isinstance(symbol, UpdatedState):
            return symbol.state
        return super()._node(symbol)

    def _print_Symbol(self, expr, style="plain"):
        node = self._node(expr)
        index = _index(node, expr)
        if index is None:
            return super()._print_Symbol(expr, style)
        return indexed_latex(node.latex or default_latex(node.name), index)


class _StepTextPrinter(_TextPrinter):
    def __init__(self, cell: Cell):
        super().__init__()
        self.cell = cell

    def _print_Symbol(self, expr) -> str:
        node = expr.state if isinstance(expr, UpdatedState) else (
            self.cell.node(expr) if self.cell.has_node(expr) else None)
        index = _index(node, expr)
        return super()._print_Symbol(expr) if index is None else indexed_text(node.name, index)

    def _print_NodeSymbol(self, expr) -> str:
        node = self.cell.node(expr)
        if isinstance(node, MatVec):
            matrix = self.doprint(node.matrix)
            return f"{_grouped(matrix, isinstance(node.matrix, sympy.MatrixSymbol))}@{self._operand(node.operand)}"
        assert isinstance(node, Dot)
        return f"{self._operand(node.left)}@{self._operand(node.right)}"

    def _operand(self, expr) -> str:
        return _grouped(self.doprint(expr), expr.is_Symbol)


def step_text(cell: Cell):
    """A function printing ``cell``'s expressions as plain text at step ``j``."""
    printer = _StepTextPrinter(cell)
    return lambda expr: printer.doprint(sympy.sympify(expr))


class Printable:
    """``str()``, ``to_latex()`` (an ``aligned`` block, math mode) and ``_repr_latex_`` from
    ``text_lines()`` and ``latex_lines()``."""

    def text_lines(self) -> list[str]:
        raise NotImplementedError

    def latex_lines(self) -> list[str]:
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self.text_lines())

    def to_latex(self) -> str:
        return "\\begin{aligned}\n" + " \\\\\n".join(self.latex_lines()) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.to_latex() + "$$"
