"""The weakly coupled residual RNN (WCRNN) of Dubinin & Effenberger."""

from __future__ import annotations

import sympy

from .._cell import Cell
from .._vec import Vec
from .._elementwise import tanh
from ._affine import affine
from ._options import choice, flag

DUBININ = "Dubinin & Effenberger 2024, Neural Networks 173:106179 (arXiv:2307.14823)"

RESIDUALS = ("linear", "nonlinear")
_NO_R = ("no default (the residual eigenvalues are the experimental variable of the paper): pass the residual "
         "matrix, e.g. gatejac.symbolic.cells.residual_rotational(0.99, angles)")
_NO_LAMBDA = ("no default (the residual eigenvalue is the experimental variable of the paper): pass lambda, "
              "e.g. 0.99 (sub-critical)")
_NO_GAMMA = "no default (the paper's value was not available to us): pass the weak coupling 0 < gamma << 1, e.g. 0.05"
RESIDUAL_MATRICES = ("dense", "homogeneous", "diagonal")


def _residual_term(cell: Cell, h: Vec, residual_matrix: str) -> Vec:
    """``R h`` for the chosen residual matrix, declared as a fixed parameter."""
    if residual_matrix == "dense":
        return cell.parameter("R", (h.size, h.size), trainable=False, note=_NO_R) @ h
    if residual_matrix == "homogeneous":
        lam = cell.parameter("lam", trainable=False, note=_NO_LAMBDA)
        return (lam * sympy.Identity(h.size)) @ h
    return cell.parameter("lam", h.size, trainable=False, note=_NO_LAMBDA) * h


def wcrnn(n="n", m="m", *, residual: str = "linear", residual_matrix: str = "dense", bias: bool = True) -> Cell:
    """Weakly coupled residual RNN (Dubinin & Effenberger 2024).

    Equations as implemented::

        a  = W h + V x + b                  (b only if bias=True)
        h' = R h + γ tanh(a)                residual="linear"  (default)
        h' = tanh(R h) + γ tanh(a)          residual="nonlinear"

    ``γ`` (``gamma``) is a fixed scalar coupling, 0 < γ ≪ 1.  The residual matrix R is fixed
    (not trained) and chosen by ``residual_matrix``:

    * ``"dense"`` (default): a fixed matrix parameter ``R`` (fill it with
      :func:`residual_homogeneous`, :func:`residual_rotational` or
      :func:`residual_heterogeneous`);
    * ``"homogeneous"``: R = λI with a fixed scalar ``lam``, written ``(lam·I) h``;
    * ``"diagonal"`` (heterogeneous): R = diag(λ) with a fixed vector ``lam``, written
      ``lam ⊙ h``.

    State Jacobian R + γ diag(tanh'(a)) W (linear) or diag(tanh'(R h)) R + γ diag(tanh'(a)) W
    (nonlinear); no gate, so B = 0.

    Convention: γ multiplies the whole non-linear term, φ = tanh, and R and γ are fixed
    (trainable=False) while W, V, b are trained.  R (or λ) and γ have no default: the residual
    eigenvalue is the variable of the paper's experiments and its γ was not available to us, so
    they must be given (each parameter's ``note`` says what to pass).

    The parametrisation is a reconstruction from the paper's description: that γ multiplies
    the whole non-linear term, that R is fixed, and the non-linear residual form ρ(R h) with
    ρ = tanh are our reading; the paper's code was not available to us (docs/theory.md:
    “The catalogue”).

    Reference: Dubinin & Effenberger 2024, Neural Networks 173:106179 (arXiv:2307.14823)
    (Fading memory as inductive bias in residual recurrent networks).
    """
    residual = choice("wcrnn", "residual", residual, RESIDUALS)
    residual_matrix = choice("wcrnn", "residual_matrix", residual_matrix, RESIDUAL_MATRICES)
    bias = flag("wcrnn", "bias", bias)
    cell = Cell(
        "wcrnn",
        description=f"weakly coupled residual RNN, {residual} residual, {residual_matrix} residual matrix"
        + ("" if bias else ", no bias"),
        reference=DUBININ,
        convention=("h' = R h" if residual == "linear" else "h' = tanh(R h)")
        + " + gamma tanh(W h + V x + b); R and gamma fixed",
    )
    h, x = cell.state("h", n), cell.input("x", m)
    carried = _residual_term(cell, h, residual_matrix)
    gamma = cell.parameter("gamma", trainable=False, note=_NO_GAMMA)
    a = cell.let("a", affine(cell, h, x, "W", "V", "b" if bias else None))
    skip = tanh(carried) if residual == "nonlinear" else carried
    cell.update(h, skip + gamma * tanh(a))
    return cell.validate()
