"""gatejac.symbolic — write an RNN cell once, get its exact Jacobians in closed form.

Public API:

* :class:`Cell`, :class:`Vec`, :func:`apply` — the cell specification language (a cell's
  :attr:`Cell.fingerprint` names its structure; parameters carry ``default`` and ``note``);
* :func:`sigmoid`, :func:`tanh`, :func:`exp`, :func:`log`, :func:`softplus` — elementwise
  functions on cell vectors (``sigmoid``, ``sigmoid_prime`` and ``softplus`` are gatejac's own
  SymPy functions);
* :func:`derive` → :class:`Derivation` — structured state, input and parameter Jacobians
  and the gate split J = A + B; their terms are products of the factors :class:`Scale`,
  :class:`Diag`, :class:`Column`, :class:`Row`, :class:`Mat`, :class:`Kron`;
* the nodes of a cell's graph (:class:`Leaf`, :class:`MatrixParameter`, :class:`MatVec`,
  :class:`Dot`, :class:`Named`, :data:`SCALAR`) for code that walks a cell;
* :func:`author_convention` — a derivation in the public code of Livi 2025 (the gate term
  reads the updated state, φ(a_j) − h_j), with :func:`author_term`, :func:`states_read` and
  :data:`CONVENTIONS` (``"exact"``, ``"author"``);
* :func:`expand` → :class:`Expansion` — the first-order gate expansion of a window of step
  Jacobians, M_j(ε) = A_j + εB_j and F(ε) = M_T(ε) ⋯ M_1(ε): :class:`StepJacobian`,
  :class:`WindowProduct`, :class:`WindowCoefficient` (F(0), L_F(0)[B], c₂), :class:`Truncation`,
  :class:`RemainderBound`, the zeroth-order transport's closed form :class:`ZerothTransport`,
  the retention split :class:`RetentionSplit` (:class:`DiagonalPart`) and the diagonal
  effective learning rate :class:`EffectiveLRForm`; each prints as text, LaTeX and in Jupyter;
* :func:`derivation_text`, :func:`term_text`, :func:`expression_text` — plain text;
  :func:`cell_latex`, :func:`derivation_latex`, :func:`document_latex`, :func:`compile_latex`
  — LaTeX in the notation of the papers;
* :mod:`gatejac.symbolic.cells` — the catalogue of cells from the papers and PyTorch;
* :class:`Instance`, :func:`dense_jacobian`, :func:`dense_block` — the dense SymPy oracle;
* :class:`GatejacError` and its subclasses — every error gatejac raises on purpose, and
  :func:`unknown_name` to build the "unknown X; did you mean …" error.

``import gatejac.symbolic`` imports neither NumPy nor torch.
"""

from ._cell import Cell
from ._dense import Instance, dense_block, dense_jacobian, dense_term, exactly_equal, random_point
from ._derive import Derivation, GateSplit, derive, numel
from ._elementwise import exp, log, sigmoid, softplus, tanh
from ._expansion import (
    Expansion, RemainderBound, StepJacobian, Truncation, WindowCoefficient, WindowProduct, expand,
)
from ._expansion_diagonal import DiagonalPart, EffectiveLRForm, RetentionSplit
from ._transport import ZerothTransport
from ._expansion_convention import CONVENTIONS, author_convention, author_term, states_read
from ._errors import (
    DuplicateNameError,
    FrozenCellError,
    GatejacError,
    MissingUpdateError,
    NotElementwiseError,
    ShapeError,
    SpecError,
    UndeclaredSymbolError,
    UnknownNameError,
    UnusedSymbolError,
    VecInSymPyError,
    unknown_name,
)
from ._functions import sigmoid_prime
from ._latex import CellLatexPrinter, cell_latex, compile_latex, derivation_latex, document_latex, latex_text
from ._linear import BlockJacobian, Column, Diag, Factor, Jacobian, Kron, Mat, Row, Scale, Term
from ._names import default_latex
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatrixTerm, MatVec, Named, Node, NodeSymbol
from ._text import block_jacobian_text, derivation_text, expression_text, jacobian_text, term_text
from ._vec import Vec, apply
from . import cells  # noqa: E402  (the catalogue is built from the names above)

__all__ = [
    "BlockJacobian", "CONVENTIONS", "Cell", "CellLatexPrinter", "Column", "Derivation", "Diag", "DiagonalPart",
    "Dot", "DuplicateNameError", "EffectiveLRForm", "Expansion", "Factor", "FrozenCellError", "GateSplit",
    "GatejacError", "Instance", "Jacobian", "Kron", "Leaf", "Mat", "MatVec", "MatrixParameter", "MatrixTerm",
    "MissingUpdateError", "Named", "Node", "NodeSymbol", "NotElementwiseError", "RemainderBound", "RetentionSplit",
    "Row", "SCALAR", "Scale", "ShapeError", "SpecError", "StepJacobian", "Term", "Truncation",
    "UndeclaredSymbolError", "UnknownNameError", "UnusedSymbolError", "Vec", "VecInSymPyError", "WindowCoefficient",
    "WindowProduct", "ZerothTransport", "apply", "author_convention", "author_term", "block_jacobian_text",
    "cell_latex", "cells", "compile_latex", "default_latex", "dense_block", "dense_jacobian", "dense_term",
    "derivation_latex", "derivation_text", "derive", "document_latex", "exactly_equal", "exp", "expand",
    "expression_text", "jacobian_text", "latex_text", "log", "numel", "random_point", "sigmoid", "sigmoid_prime",
    "softplus", "states_read", "tanh", "term_text", "unknown_name",
]
