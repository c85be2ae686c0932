"""The coupled input-forget gate LSTM (CIFG) of Greff, Srivastava, Koutník, Steunebrink &
Schmidhuber 2017, "LSTM: a search space odyssey" (IEEE TNNLS, arXiv:1503.04069), variant CIFG,
without peepholes, as a gatejac spec: the input gate is tied to the forget gate, i = 1 − f,

    f  = σ(W_f h + U_f x + b_f)                       (the forget gate)
    o  = σ(W_o h + U_o x + b_o)                       (the output gate)
    g  = tanh(W_g h + U_g x + b_g)                    (the candidate)
    c' = f ⊙ c + (1 − f) ⊙ g
    h' = o ⊙ tanh(c')

A two-state cell (h, c): its state Jacobian has four blocks.  Not in gatejac's catalogue;
``module.py`` is a PyTorch implementation with ``forward(x, (h, c)) -> (h', c')`` as
``torch.nn.LSTMCell``, and ``report/`` its design report::

    gatejac report examples/cifg_lstm/cell.py:cell --impl examples/cifg_lstm/module.py:CIFGLSTM \\
        --out examples/cifg_lstm/report
"""

from gatejac.symbolic import Cell, sigmoid, tanh


def cifg_lstm(n="n", m="m") -> Cell:
    """The CIFG LSTM with state sizes ``n`` (h and c) and input size ``m``."""
    cell = Cell("cifg_lstm", description="Coupled input-forget gate LSTM (Greff et al. 2017)",
                reference="Greff et al. 2017, arXiv:1503.04069 (variant CIFG, no peepholes)",
                convention="c' = f c + (1 - f) g (the input gate is 1 - f); h' = o tanh(c')")
    h, c, x = cell.state("h", n), cell.state("c", n), cell.input("x", m)
    weights = {}
    for k in "fog":
        weights[k] = (cell.parameter(f"W_{k}", (n, n)), cell.parameter(f"U_{k}", (n, m)), cell.parameter(f"b_{k}", n))
    pre = {k: W @ h + U @ x + b for k, (W, U, b) in weights.items()}
    f = cell.gate("f", sigmoid(pre["f"]))
    o = cell.gate("o", sigmoid(pre["o"]))
    g = cell.let("g", tanh(pre["g"]))
    c_new = cell.let("c_new", f * c + (1 - f) * g, latex="c'")
    cell.update(c, c_new)
    cell.update(h, o * tanh(c_new))
    return cell.validate()


def cell() -> Cell:
    """What ``gatejac report examples/cifg_lstm/cell.py:cell`` loads."""
    return cifg_lstm()
