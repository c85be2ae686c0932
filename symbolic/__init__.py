"""gatejac.symbolic — write an RNN cell once, get its exact Jacobians in closed form.

Public API:

* :class:`Cell`, :class:`Vec`, :func:`apply` — the cell specification language;
* :func:`sigmoid`, :func:`tanh`, :func:`exp`, :func:`log`, :func:`softplus` — elementwise
  functions on cell vectors (``sigmoid``/``softplus`` are SymPy functions of gatejac's);
* :func:`derive` → :class:`Derivation` — structured state, input and parameter Jacobians
  and the gate split J = A + B;
* :mod:`symbolic.cells` — the catalogue of cells from the papers and PyTorch;
* :class:`Instance`, :func:`dense_jacobian`, :func:`dense_block` — the dense SymPy oracle;
* :class:`GatejacError` and its subclasses — every error gatejac raises on purpose.

``import symbolic`` imports neither NumPy nor torch.
"""

from ._cell import Cell, Vec, apply
from ._dense import Instance, dense_block, dense_jacobian, dense_term, exactly_equal, random_point
from ._derive import Derivation, GateSplit, derive, numel
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
)
from ._functions import sigmoid_prime
from ._latex import CellLatexPrinter, cell_latex, compile_latex, derivation_latex, document_latex
from ._linear import BlockJacobian, Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term
from ._text import derivation_text, term_text
from ._nodes import SCALAR, Dot, Leaf, MatrixParameter, MatrixTerm, MatVec, Named
from ._elementwise import exp, log, sigmoid, softplus, tanh
from . import cells  # noqa: E402  (the catalogue is built from the names above)

__all__ = [
    "BlockJacobian", "Cell", "CellLatexPrinter", "cell_latex", "compile_latex", "derivation_latex", "document_latex", "Column", "Derivation", "Diag", "Dot", "DuplicateNameError", "FrozenCellError",
    "GateSplit", "GatejacError", "Instance", "Jacobian", "Kron", "Leaf", "Mat", "MatVec", "MatrixParameter",
    "MatrixTerm", "MissingUpdateError", "Named", "NotElementwiseError", "Row", "SCALAR", "Scale", "ShapeError",
    "SpecError", "Term", "UndeclaredSymbolError", "UnknownNameError", "UnusedSymbolError", "Vec", "apply",
    "dense_block", "dense_jacobian", "dense_term", "derive", "exactly_equal", "exp", "log", "numel",
    "cells", "derivation_text", "random_point", "sigmoid", "term_text", "sigmoid_prime", "softplus", "tanh",
]
