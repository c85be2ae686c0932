"""Long short-term memory cells: PyTorch's ``LSTMCell`` and the gain/bias form of the
gating-theory papers.  The state is the pair (h, c), declared in that order."""

from __future__ import annotations

from .._cell import Cell
from .._vec import Vec
from .._elementwise import sigmoid, tanh
from ._affine import affine, torch_affine
from ._gates import gained_gate
from ._gru import GATING_THEORY
from ._options import flag

TORCH_LSTM = "PyTorch documentation of torch.nn.LSTMCell"


def _memory_update(cell: Cell, h: Vec, c: Vec, i: Vec, f: Vec, g: Vec, o: Vec) -> None:
    """``c' = f ⊙ c + i ⊙ g`` (named ``c_new``, reused inside h') and ``h' = o ⊙ tanh(c')``."""
    c_new = cell.let("c_new", f * c + i * g, latex="c'")
    cell.update(h, o * tanh(c_new))
    cell.update(c, c_new)


def lstm_torch(n="n", m="m", *, bias: bool = True) -> Cell:
    """LSTM exactly as ``torch.nn.LSTMCell`` computes it; state (h, c).

    Equations as implemented::

        i  = σ(W_ii x + b_ii + W_hi h + b_hi)       (gate)
        f  = σ(W_if x + b_if + W_hf h + b_hf)       (gate)
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)    (candidate, not a gate)
        o  = σ(W_io x + b_io + W_ho h + b_ho)       (gate)
        c' = f ⊙ c + i ⊙ g                          (named c_new)
        h' = o ⊙ tanh(c')

    With bias=False (``LSTMCell(bias=False)``) every b_·· is absent.  Parameters are torch's
    row blocks in the order i, f, g, o: ``weight_ih = [W_ii; W_if; W_ig; W_io]`` (4n×m),
    ``weight_hh = [W_hi; W_hf; W_hg; W_ho]`` (4n×n), and likewise ``bias_ih``, ``bias_hh``.
    The state Jacobian is the 2×2 block matrix over (h, c).

    Convention: the standard LSTM with a forget gate and no peepholes; torch adds two biases
    per gate (they only add up).  Warning: torch returns (h', c') while some texts order the
    state (c, h); here h comes first.

    Reference: PyTorch documentation of torch.nn.LSTMCell (Hochreiter & Schmidhuber 1997,
    with the forget gate of Gers, Schmidhuber & Cummins 2000).
    """
    bias = flag("lstm_torch", "bias", bias)
    cell = Cell(
        "lstm_torch",
        description="LSTM, torch.nn.LSTMCell form" + ("" if bias else ", no biases"),
        reference=TORCH_LSTM,
        convention="c' = f c + i g, h' = o tanh(c'); state (h, c); row blocks i, f, g, o",
    )
    h, c, x = cell.state("h", n), cell.state("c", n), cell.input("x", m)
    input_side, hidden_side = torch_affine(cell, h, x, "ifgo", bias)
    i = cell.gate("i", sigmoid(input_side["i"] + hidden_side["i"]))
    f = cell.gate("f", sigmoid(input_side["f"] + hidden_side["f"]))
    g = cell.let("g", tanh(input_side["g"] + hidden_side["g"]))
    o = cell.gate("o", sigmoid(input_side["o"] + hidden_side["o"]))
    _memory_update(cell, h, c, i, f, g, o)
    return cell.validate()


def lstm_gain(n="n", m="m") -> Cell:
    """LSTM with gate gains and biases, σ(α·a + β), as in the gating-theory papers (reconstructed).

    Equations as implemented (standard LSTM, no peepholes; state (h, c))::

        i  = σ(α_i (W_i h + U_i x) + β_i)           (gate)
        f  = σ(α_f (W_f h + U_f x) + β_f)           (gate)
        o  = σ(α_o (W_o h + U_o x) + β_o)           (gate)
        g  = tanh(W_g h + U_g x + b_g)              (candidate, not a gate)
        c' = f ⊙ c + i ⊙ g                          (named c_new)
        h' = o ⊙ tanh(c')

    The gains ``alpha_i``, ``alpha_f``, ``alpha_o`` are fixed scalar parameters, the offsets
    ``beta_·`` trainable vectors.  The forget gate sets where the Jacobian's modes sit (slow
    modes as f → 1); the input and output gates scale the random part.

    Convention: the standard LSTM without peepholes, the gain multiplying the whole gate
    pre-activation and β replacing the bias; the candidate g has no gain.  State (h, c).

    The parametrisation is a reconstruction: the gain/bias form follows the companion paper
    (Krishnamurthy, Can & Schwab 2022, PRX 12, 011011); the 2020 paper's own equations were not
    available to us, so whether its LSTM has peepholes is not confirmed (docs/theory.md:
    “The catalogue”).

    Reference: Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025 (Gating creates slow modes
    and controls phase-space complexity in GRUs and LSTMs), MSML 2020.
    """
    cell = Cell(
        "lstm_gain",
        description="LSTM with gate gain and bias, sigma(alpha a + beta)",
        reference=GATING_THEORY,
        convention="gates sigma(alpha (W h + U x) + beta), fixed scalar gains; c' = f c + i g, h' = o tanh(c'); "
        "state (h, c)",
    )
    h, c, x = cell.state("h", n), cell.state("c", n), cell.input("x", m)
    i, f, o = (gained_gate(cell, h, x, name) for name in "ifo")
    g = cell.let("g", tanh(affine(cell, h, x, "W_g", "U_g", "b_g")))
    _memory_update(cell, h, c, i, f, g, o)
    return cell.validate()
