"""Ungated cells: the leaky integrator (Euler-discretised CT-RNN) and the Elman RNN."""

from __future__ import annotations

from .._cell import Cell
from .._elementwise import tanh
from ._affine import affine
from ._options import flag

LIVI = "Livi 2025, arXiv:2508.12121"
ELMAN = "Elman 1990, Cognitive Science 14(2):179-211"


def leaky(n="n", m="m", *, bias: bool = True) -> Cell:
    """Leaky-integrator RNN with a constant leak α (Livi 2025, docs/theory.md: “The catalogue”).

    Equations as implemented::

        a  = W h + U x + b                 (b only if bias=True)
        h' = (1 − α) h + α tanh(a)

    ``α`` is a fixed (non-trainable) scalar parameter ``alpha``, by default 0.8 (the leak of
    Livi's code); ``1 − α`` is the per-step retention.  State Jacobian ``(1 − α) I + α diag(tanh'(a)) W``; no gate, so the gate split
    has B = 0.

    Convention: α multiplies the candidate (write fraction), as in Livi's code
    (``x_next = alpha*tanh(a) + (1-alpha)*x``, there without bias).  This is the explicit Euler
    step of τ dh/ds = −h + tanh(W h + U x + b) with α = Δt/τ; see :func:`leaky_dt` for that form.

    Reference: Livi 2025, arXiv:2508.12121 (Time-scale coupling between states and
    parameters in recurrent neural networks).
    """
    bias = flag("leaky", "bias", bias)
    cell = Cell(
        "leaky",
        description="leaky-integrator RNN with constant leak alpha" + ("" if bias else ", no bias"),
        reference=LIVI,
        convention="h' = (1 - alpha) h + alpha tanh(W h + U x + b); alpha (fixed) multiplies the candidate",
    )
    h, x = cell.state("h", n), cell.input("x", m)
    alpha = cell.parameter("alpha", trainable=False, default=0.8, note="the leak of Livi's code")
    a = cell.let("a", affine(cell, h, x, "W", "U", "b" if bias else None))
    cell.update(h, (1 - alpha) * h + alpha * tanh(a))
    return cell.validate()


def leaky_dt(n="n", m="m", *, bias: bool = True) -> Cell:
    """Euler-discretised continuous-time RNN, leak α = Δt/τ (Livi 2025, docs/theory.md: “The catalogue”).

    Equations as implemented::

        α  = Δt / τ
        a  = W h + U x + b                 (b only if bias=True)
        h' = (1 − α) h + α tanh(a)

    ``dt`` (Δt, default 1: time in steps) is a fixed scalar parameter and ``tau`` (τ, initial
    value 1.25, so that α = 0.8 as in :func:`leaky`) a trainable one, so the
    parameter Jacobian with respect to τ is −(Δt/τ²)(tanh(a) − h).  This is one explicit
    Euler step of the rate equation τ dh/ds = −h + tanh(W h + U x + b); the state Jacobian is
    I + Δt ∂f/∂h with f = (−h + tanh(a))/τ.

    Convention: rate form tanh(W h + …) (not the current form W tanh(h)); the input of the
    step is x_t with the old state h_{t−1}, as in Livi's code.  α is not constrained to (0, 1].

    Reference: Livi 2025, arXiv:2508.12121 (continuous-time leaky integrator, Euler step).
    """
    bias = flag("leaky_dt", "bias", bias)
    cell = Cell(
        "leaky_dt",
        description="continuous-time RNN, one explicit Euler step, alpha = dt/tau" + ("" if bias else ", no bias"),
        reference=LIVI,
        convention="h' = (1 - dt/tau) h + (dt/tau) tanh(W h + U x + b); dt fixed, tau trainable",
    )
    h, x = cell.state("h", n), cell.input("x", m)
    dt = cell.parameter("dt", trainable=False, default=1.0, note="time measured in steps", latex=r"\Delta t")
    tau = cell.parameter("tau", default=1.25, note="initial value: alpha = dt/tau = 0.8, the leak of Livi's code")
    alpha = cell.let("alpha", dt / tau)
    a = cell.let("a", affine(cell, h, x, "W", "U", "b" if bias else None))
    cell.update(h, (1 - alpha) * h + alpha * tanh(a))
    return cell.validate()


def elman(n="n", m="m", *, bias: bool = True) -> Cell:
    """Elman (vanilla tanh) RNN.

    Equations as implemented::

        a  = W h + U x + b                 (b only if bias=True)
        h' = tanh(a)

    State Jacobian ``diag(tanh'(a)) W``; no gate, so B = 0.

    Convention: one bias (``torch.nn.RNNCell`` has two, b_ih + b_hh, which only add up);
    Livi's plain RNN for the Adam comparison is this cell with bias=False.

    Reference: Elman 1990, Cognitive Science 14(2):179-211 (Finding structure in time).
    """
    bias = flag("elman", "bias", bias)
    cell = Cell(
        "elman",
        description="Elman tanh RNN" + ("" if bias else ", no bias"),
        reference=ELMAN,
        convention="h' = tanh(W h + U x + b)",
    )
    h, x = cell.state("h", n), cell.input("x", m)
    a = cell.let("a", affine(cell, h, x, "W", "U", "b" if bias else None))
    cell.update(h, tanh(a))
    return cell.validate()
