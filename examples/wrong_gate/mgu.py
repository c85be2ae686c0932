"""The Minimal Gated Unit (MGU) of Zhou, Wu, Zhang & Zhou 2016 (arXiv:1603.09420), written as a
gatejac spec: one forget gate that both mixes the state and resets the candidate's recurrence,

    f  = σ(W_f h + U_f x + b_f)                      (the forget gate)
    h̃  = tanh(W_h (f ⊙ h) + U_h x + b_h)             (the candidate reads f ⊙ h)
    h' = (1 − f) ⊙ h + f ⊙ h̃

The cell is not in gatejac's catalogue.  ``gatejac compare`` checks a PyTorch module against it
(``mgu_torch.py``: a correct module and a deliberately wrong one; README.md shows the output).
"""

from gatejac.symbolic import Cell, sigmoid, tanh


def mgu(n="n", m="m") -> Cell:
    """The MGU cell at sizes ``n`` (state) and ``m`` (input)."""
    cell = Cell("mgu", description="Minimal Gated Unit (Zhou et al. 2016): one forget gate")
    h, x = cell.state("h", n), cell.input("x", m)
    W_f, U_f, b_f = cell.parameter("W_f", (n, n)), cell.parameter("U_f", (n, m)), cell.parameter("b_f", n)
    W_h, U_h, b_h = cell.parameter("W_h", (n, n)), cell.parameter("U_h", (n, m)), cell.parameter("b_h", n)
    f = cell.gate("f", sigmoid(W_f @ h + U_f @ x + b_f))
    h_tilde = cell.let("h_tilde", tanh(W_h @ (f * h) + U_h @ x + b_h))
    cell.update(h, (1 - f) * h + f * h_tilde)
    return cell


def cell() -> Cell:
    """``gatejac compare examples/wrong_gate/mgu.py:cell ...`` calls this."""
    return mgu()
