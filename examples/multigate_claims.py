"""A multi-gated leaky RNN and its hand-derived Jacobians, written as claims gatejac checks.

    gatejac check examples/multigate_claims.py:cell        # exits 0: every claim holds

The cell (Livi 2025, arXiv:2508.12121, docs/theory.md: “The catalogue”), one sigmoid gate per unit:

    a_g = W_rg h + W_ig x + b_g,   g = σ(a_g)            (the gate)
    a   = W_r  h + W_i  x + b
    h'  = (1 − g) ⊙ h + g ⊙ tanh(a)

Differentiating by hand, with σ'(a_g) = g ⊙ (1 − g) and tanh'(a) = 1 − tanh(a)²:

    ∂h'/∂h = diag(1 − g)                                 retention
           + diag(g ⊙ (1 − tanh(a)²)) W_r                candidate
           + diag((tanh(a) − h) ⊙ g ⊙ (1 − g)) W_rg       gate (through g, which reads h)

and the same two paths for the input x and for the matrices W_r and W_rg (flattened
row-major: ∂(P v)/∂P = I ⊗ vᵀ).  Each term carries a label, so a wrong one is named.
"""

from gatejac.symbolic import Cell, sigmoid, tanh
from gatejac.verify import Claims, diag, eye_kron, identity


def multigate_cell() -> tuple[Cell, dict]:
    """The cell, and the vectors and matrices the hand derivation is written with."""
    cell = Cell("my_multigate", description="leaky RNN with one sigmoid gate per unit (hand-checked)")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W_rg, W_ig, b_g = cell.parameter("W_rg", ("n", "n")), cell.parameter("W_ig", ("n", "m")), cell.parameter("b_g", "n")
    W_r, W_i, b = cell.parameter("W_r", ("n", "n")), cell.parameter("W_i", ("n", "m")), cell.parameter("b", "n")
    g = cell.gate("g", sigmoid(W_rg @ h + W_ig @ x + b_g))
    a = cell.let("a", W_r @ h + W_i @ x + b)
    cell.update(h, (1 - g) * h + g * tanh(a))
    return cell, dict(h=h, x=x, g=g, a=a, W_rg=W_rg, W_ig=W_ig, W_r=W_r, W_i=W_i)


def hand_derived_claims(h, x, g, a, W_rg, W_ig, W_r, W_i, gate_coefficient=None) -> Claims:
    """The hand derivation; ``gate_coefficient`` replaces (tanh(a) − h) ⊙ σ'(a_g)."""
    candidate = g * (1 - tanh(a) ** 2)                      # g ⊙ tanh'(a)
    gate = (tanh(a) - h) * g * (1 - g) if gate_coefficient is None else gate_coefficient
    return Claims(jacobians={
        "state": [
            ("retention", diag(1 - g)),
            ("candidate", diag(candidate) @ W_r),
            ("gate", diag(gate) @ W_rg),
        ],
        "input": [
            ("candidate", diag(candidate) @ W_i),
            ("gate", diag(gate) @ W_ig),
        ],
        "parameter:W_r": [("candidate", diag(candidate) @ eye_kron(h, h))],
        "parameter:W_rg": [("gate", diag(gate) @ eye_kron(h, h))],
        "parameter:b_g": [("gate", diag(gate) @ identity(h))],
        "gate_split:B": [("gate", diag(gate) @ W_rg)],
    })


def cell():
    """``gatejac check`` calls this: the cell and the claims about it."""
    spec, pieces = multigate_cell()
    return spec, hand_derived_claims(**pieces)
