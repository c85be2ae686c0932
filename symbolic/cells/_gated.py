"""Livi's gated leaky RNNs: one scalar gate shared by all units, or one gate per unit."""

from __future__ import annotations

from .._cell import Cell
from .._elementwise import sigmoid, tanh
from ._affine import affine
from ._leaky import LIVI
from ._options import flag

_CONVENTION = "g is the write fraction (multiplies the candidate tanh(a)); 1 - g is retention"


def scalar_gate(n="n", m="m", *, bias: bool = True) -> Cell:
    """Scalar-gated leaky RNN (Livi's ``ScalarGateRNN``, docs/theory.md: “The catalogue”).

    Equations as implemented::

        a_g = w_rgᵀ h + w_igᵀ x + b_g      (a scalar; b_g only if bias=True)
        g   = σ(a_g)                       (gate, shared by all units)
        a   = W_r h + W_i x + b            (b only if bias=True)
        h'  = (1 − g) h + g tanh(a)

    ``w_rg`` (n) and ``w_ig`` (m) are vectors, ``b_g`` a scalar.  The gate is a
    data-dependent time warp Δt/τ → g.  Gate split: A = (1 − g) I + g diag(tanh'(a)) W_r and
    the rank-one B = σ'(a_g) (tanh(a) − h) w_rgᵀ.

    Convention: g multiplies the candidate (write fraction), 1 − g is retention, as in Livi's
    code and in his follow-up paper.  Livi's code has no biases (bias=False).

    Reference: Livi 2025, arXiv:2508.12121 (ScalarGateRNN in the author's code,
    lorenzolivi/effective-learning-rates).
    """
    bias = flag("scalar_gate", "bias", bias)
    cell = Cell(
        "scalar_gate",
        description="leaky RNN with one sigmoid gate shared by all units" + ("" if bias else ", no biases"),
        reference=LIVI,
        convention=_CONVENTION,
    )
    h, x = cell.state("h", n), cell.input("x", m)
    w_rg, w_ig = cell.parameter("w_rg", n), cell.parameter("w_ig", m)
    gate_input = w_rg @ h + w_ig @ x
    a_g = cell.let("a_g", gate_input + cell.parameter("b_g") if bias else gate_input)
    g = cell.gate("g", sigmoid(a_g))
    a = cell.let("a", affine(cell, h, x, "W_r", "W_i", "b" if bias else None))
    cell.update(h, (1 - g) * h + g * tanh(a))
    return cell.validate()


def multi_gate(n="n", m="m", *, bias: bool = True) -> Cell:
    """Multi-gated leaky RNN, one gate per unit (Livi's ``MultiGateRNN``, docs/theory.md: “The catalogue”).

    Equations as implemented::

        a_g = W_rg h + W_ig x + b_g        (b_g only if bias=True)
        g   = σ(a_g)                       (gate, a vector)
        a   = W_r h + W_i x + b            (b only if bias=True)
        h'  = (1 − g) ⊙ h + g ⊙ tanh(a)

    A per-unit time warp τ_i → Δt/g_i.  Gate split: A = diag(1 − g) + diag(g ⊙ tanh'(a)) W_r
    and B = diag((tanh(a) − h) ⊙ σ'(a_g)) W_rg.

    Convention: g multiplies the candidate (write fraction), 1 − g is retention, as in Livi's
    code.  Livi's code has no biases (bias=False).

    Reference: Livi 2025, arXiv:2508.12121 (MultiGateRNN in the author's code,
    lorenzolivi/effective-learning-rates).
    """
    bias = flag("multi_gate", "bias", bias)
    cell = Cell(
        "multi_gate",
        description="leaky RNN with one sigmoid gate per unit" + ("" if bias else ", no biases"),
        reference=LIVI,
        convention=_CONVENTION,
    )
    h, x = cell.state("h", n), cell.input("x", m)
    a_g = cell.let("a_g", affine(cell, h, x, "W_rg", "W_ig", "b_g" if bias else None))
    g = cell.gate("g", sigmoid(a_g))
    a = cell.let("a", affine(cell, h, x, "W_r", "W_i", "b" if bias else None))
    cell.update(h, (1 - g) * h + g * tanh(a))
    return cell.validate()
