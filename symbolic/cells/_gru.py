"""Gated recurrent units in the conventions of Chung et al., Cho et al., PyTorch and the
gating-theory papers.  They are different maps, not reparametrisations of each other:
the update gate multiplies the candidate (Chung) or the old state (Cho, torch), and the
reset acts before the recurrent product (Chung, Cho) or after it (torch)."""

from __future__ import annotations

from collections.abc import Callable

from .._cell import Cell
from .._vec import Vec
from .._elementwise import sigmoid, tanh
from ._affine import torch_affine
from ._gates import gained_gate, plain_gate
from ._options import flag

CHUNG = "Chung et al. 2014, arXiv:1412.3555"
CHO = "Cho et al. 2014, arXiv:1406.1078"
TORCH_GRU = "PyTorch documentation of torch.nn.GRUCell"
GATING_THEORY = "Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025"

_RESET_INSIDE = "reset inside the recurrent product, W_h (r * h)"


def _reset_inside(cell: Cell, h: Vec, x: Vec, make_gate: Callable[[Cell, Vec, Vec, str], Vec]) -> tuple[Vec, Vec]:
    """The update gate ``z``, the reset gate ``r`` and the candidate
    ``h_tilde = tanh(W_h (r ⊙ h) + U_h x + b_h)`` of the Chung/Cho GRU."""
    z = make_gate(cell, h, x, "z")
    r = make_gate(cell, h, x, "r")
    W_h = cell.parameter("W_h", (h.size, h.size))
    U_h = cell.parameter("U_h", (h.size, x.size))
    b_h = cell.parameter("b_h", h.size)
    h_tilde = cell.let("h_tilde", tanh(W_h @ (r * h) + U_h @ x + b_h))
    return z, h_tilde


def gru_chung(n="n", m="m") -> Cell:
    """GRU in the form of Chung et al. 2014: reset inside, z multiplies the candidate.

    Equations as implemented::

        z  = σ(W_z h + U_z x + b_z)                 (gate)
        r  = σ(W_r h + U_r x + b_r)                 (gate)
        h̃  = tanh(W_h (r ⊙ h) + U_h x + b_h)        (named h_tilde)
        h' = (1 − z) ⊙ h + z ⊙ h̃

    Convention: z is the write fraction (as in Livi's gates and the form assumed for Can et
    al.).  Warning: Cho et al. and ``torch.nn.GRUCell`` let z multiply the old state
    (z → 1 − z, see :func:`gru_cho`), and torch also moves the reset after the matrix product
    (:func:`gru_torch`), which is a different map with a different Jacobian.

    Reference: Chung et al. 2014, arXiv:1412.3555 (Empirical evaluation of gated recurrent
    neural networks on sequence modeling).
    """
    cell = Cell(
        "gru_chung",
        description="GRU, Chung et al. form",
        reference=CHUNG,
        convention="h' = (1 - z) h + z h_tilde (z writes the candidate); " + _RESET_INSIDE,
    )
    h, x = cell.state("h", n), cell.input("x", m)
    z, h_tilde = _reset_inside(cell, h, x, plain_gate)
    cell.update(h, (1 - z) * h + z * h_tilde)
    return cell.validate()


def gru_cho(n="n", m="m") -> Cell:
    """GRU in the form of Cho et al. 2014: reset inside, z multiplies the old state.

    Equations as implemented::

        z  = σ(W_z h + U_z x + b_z)                 (gate)
        r  = σ(W_r h + U_r x + b_r)                 (gate)
        h̃  = tanh(W_h (r ⊙ h) + U_h x + b_h)        (named h_tilde)
        h' = z ⊙ h + (1 − z) ⊙ h̃

    Convention: z is retention (as in torch and Keras), the reset is inside the product (as in
    Keras ``reset_after=False`` / TensorFlow ``GRUBlockCell``).  Warning: it is
    :func:`gru_chung` with z → 1 − z, but not :func:`gru_torch`, whose reset acts after the
    matrix product.

    Reference: Cho et al. 2014, arXiv:1406.1078 (Learning phrase representations using RNN
    encoder-decoder for statistical machine translation).
    """
    cell = Cell(
        "gru_cho",
        description="GRU, Cho et al. form",
        reference=CHO,
        convention="h' = z h + (1 - z) h_tilde (z retains the old state); " + _RESET_INSIDE,
    )
    h, x = cell.state("h", n), cell.input("x", m)
    z, h_tilde = _reset_inside(cell, h, x, plain_gate)
    cell.update(h, z * h + (1 - z) * h_tilde)
    return cell.validate()


def gru_torch(n="n", m="m", *, bias: bool = True) -> Cell:
    """GRU exactly as ``torch.nn.GRUCell`` computes it.

    Equations as implemented::

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)       (gate)
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)       (gate)
        h̃  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))   (named h_tilde; torch calls it n)
        h' = (1 − z) ⊙ h̃ + z ⊙ h

    With bias=False (``GRUCell(bias=False)``) every b_·· is absent.  Parameters are torch's row
    blocks in the order r, z, n: ``weight_ih = [W_ir; W_iz; W_in]`` (3n×m),
    ``weight_hh = [W_hr; W_hz; W_hn]`` (3n×n), ``bias_ih = [b_ir; b_iz; b_in]``,
    ``bias_hh = [b_hr; b_hz; b_hn]``.

    Convention: z is retention, and the reset acts *after* the recurrent matrix product and
    wraps the hidden bias b_hn.  Warning: this is not the GRU of Cho et al. or Chung et al.
    (reset inside, W_h (r ⊙ h)); no choice of weights makes the maps equal for n ≥ 2.  All
    biases except b_hn only add up in pairs.

    Reference: PyTorch documentation of torch.nn.GRUCell.
    """
    bias = flag("gru_torch", "bias", bias)
    cell = Cell(
        "gru_torch",
        description="GRU, torch.nn.GRUCell form" + ("" if bias else ", no biases"),
        reference=TORCH_GRU,
        convention="h' = (1 - z) n + z h (z retains); n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), "
        "reset after the matrix product; row blocks r, z, n",
    )
    h, x = cell.state("h", n), cell.input("x", m)
    input_side, hidden_side = torch_affine(cell, h, x, "rzn", bias)
    r = cell.gate("r", sigmoid(input_side["r"] + hidden_side["r"]))
    z = cell.gate("z", sigmoid(input_side["z"] + hidden_side["z"]))
    h_tilde = cell.let("h_tilde", tanh(input_side["n"] + r * hidden_side["n"]))
    cell.update(h, (1 - z) * h_tilde + z * h)
    return cell.validate()


def gru_gain(n="n", m="m") -> Cell:
    """GRU with gate gains and biases, σ(α·a + β), as in the gating-theory papers (reconstructed).

    Equations as implemented (Chung form: reset inside, z writes the candidate)::

        z  = σ(α_z (W_z h + U_z x) + β_z)           (gate)
        r  = σ(α_r (W_r h + U_r x) + β_r)           (gate)
        h̃  = tanh(W_h (r ⊙ h) + U_h x + b_h)        (named h_tilde)
        h' = (1 − z) ⊙ h + z ⊙ h̃

    The gains ``alpha_z``, ``alpha_r`` are fixed scalar parameters (a gate's sensitivity; a
    large gain makes the gate nearly binary), the offsets ``beta_z``, ``beta_r`` trainable
    vectors.

    Convention: the Chung form (z writes the candidate, reset inside W_h (r ⊙ h)) with the
    gain multiplying the whole pre-activation and β replacing the bias.  Warning: torch's GRU
    has neither gains nor this reset placement (see :func:`gru_torch`).

    The parametrisation is a reconstruction: the gain/bias form σ(α x + β) follows the
    companion paper (Krishnamurthy, Can & Schwab 2022, PRX 12, 011011); the 2020 paper's own
    equations were not available to us, so whether z multiplies the candidate or the old state,
    and where the reset sits there, is not confirmed.  Its results hold up to z ↔ 1 − z
    (docs/theory.md: “The catalogue”).

    Reference: Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025 (Gating creates slow modes
    and controls phase-space complexity in GRUs and LSTMs), MSML 2020.
    """
    cell = Cell(
        "gru_gain",
        description="GRU with gate gain and bias, sigma(alpha a + beta)",
        reference=GATING_THEORY,
        convention="gates sigma(alpha (W h + U x) + beta), fixed scalar gains; h' = (1 - z) h + z h_tilde; "
        + _RESET_INSIDE,
    )
    h, x = cell.state("h", n), cell.input("x", m)
    z, h_tilde = _reset_inside(cell, h, x, gained_gate)
    cell.update(h, (1 - z) * h + z * h_tilde)
    return cell.validate()
