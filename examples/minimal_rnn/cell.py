"""The MinimalRNN of Chen 2017, "MinimalRNN: toward more interpretable and trainable recurrent
neural networks" (arXiv:1711.06788), Eq. (1), as a gatejac spec: the input is mapped to a latent
vector once, and the only recurrence is through the update gate,

    z  = tanh(W_x x + b_z)                            (Φ(x): the latent input, no recurrence)
    u  = σ(U_h h + U_z z + b_u)                       (the update gate)
    h' = u ⊙ h + (1 − u) ⊙ z

Φ is taken as one tanh layer (the paper allows any input network).  Convention: u retains the
old state.  The state Jacobian is diag(u) + diag((h − z) ⊙ σ'(·)) U_h: every recurrent term passes
through the gate, so the frozen-gate part A = diag(u) is diagonal.  Not in gatejac's catalogue;
``module.py`` is a PyTorch implementation and ``report/`` its design report::

    gatejac report examples/minimal_rnn/cell.py:cell --impl examples/minimal_rnn/module.py:MinimalRNN \\
        --out examples/minimal_rnn/report
"""

from gatejac.symbolic import Cell, sigmoid, tanh


def minimal_rnn(n="n", m="m") -> Cell:
    """The MinimalRNN cell with state size ``n`` and input size ``m``."""
    cell = Cell("minimal_rnn", description="MinimalRNN (Chen 2017)",
                reference="Chen 2017, arXiv:1711.06788",
                convention="h' = u h + (1 - u) z (u retains the old state); z = tanh(W_x x + b_z) reads no state")
    h, x = cell.state("h", n), cell.input("x", m)
    W_x, b_z = cell.parameter("W_x", (n, m)), cell.parameter("b_z", n)
    U_h, U_z, b_u = cell.parameter("U_h", (n, n)), cell.parameter("U_z", (n, n)), cell.parameter("b_u", n)
    z = cell.let("z", tanh(W_x @ x + b_z))
    u = cell.gate("u", sigmoid(U_h @ h + U_z @ z + b_u))
    cell.update(h, u * h + (1 - u) * z)
    return cell.validate()


def cell() -> Cell:
    """What ``gatejac report examples/minimal_rnn/cell.py:cell`` loads."""
    return minimal_rnn()
