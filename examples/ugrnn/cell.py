"""The Update Gate RNN (UGRNN) of Collins, Sohl-Dickstein & Sussillo 2017, "Capacity and
trainability in recurrent neural networks" (ICLR 2017, arXiv:1611.09913), Eq. (7), as a gatejac
spec: one update gate that mixes the old state with a candidate computed from the *ungated*
state,

    c  = tanh(W_ch h + W_cx x + b_c)                  (the candidate)
    g  = σ(W_gh h + W_gx x + b_g)                     (the update gate)
    h' = g ⊙ h + (1 − g) ⊙ c

Convention: g retains the old state (as in the paper).  The cell is not in gatejac's catalogue;
``module.py`` is a plain PyTorch implementation of it and ``report/`` its design report::

    gatejac report examples/ugrnn/cell.py:cell --impl examples/ugrnn/module.py:UGRNN --out examples/ugrnn/report
"""

from gatejac.symbolic import Cell, sigmoid, tanh


def ugrnn(n="n", m="m") -> Cell:
    """The UGRNN cell with state size ``n`` and input size ``m``."""
    cell = Cell("ugrnn", description="Update Gate RNN (Collins, Sohl-Dickstein & Sussillo 2017)",
                reference="Collins, Sohl-Dickstein & Sussillo 2017, arXiv:1611.09913",
                convention="h' = g h + (1 - g) c (g retains the old state); c reads the ungated h")
    h, x = cell.state("h", n), cell.input("x", m)
    W_ch, W_cx, b_c = cell.parameter("W_ch", (n, n)), cell.parameter("W_cx", (n, m)), cell.parameter("b_c", n)
    W_gh, W_gx, b_g = cell.parameter("W_gh", (n, n)), cell.parameter("W_gx", (n, m)), cell.parameter("b_g", n)
    c = cell.let("c", tanh(W_ch @ h + W_cx @ x + b_c))
    g = cell.gate("g", sigmoid(W_gh @ h + W_gx @ x + b_g))
    cell.update(h, g * h + (1 - g) * c)
    return cell.validate()


def cell() -> Cell:
    """What ``gatejac report examples/ugrnn/cell.py:cell`` loads."""
    return ugrnn()
