"""The hand derivation of ``multigate_claims.py`` with ONE wrong term.

    gatejac check examples/multigate_wrong_term.py:cell    # exits 1, naming the term 'gate'

The gate term of ∂h'/∂h below is written with the *updated* state h' where the derivative
needs the previous one — (tanh(a) − h') ⊙ σ'(a_g) instead of (tanh(a) − h) ⊙ σ'(a_g) — the
off-by-one slip of the main paper's public code (docs/theory.md: “Where public code departs from the mathematics”).  Every other claim is the
correct one of ``multigate_claims.py``.  gatejac's report marks the term labelled 'gate'
of the state Jacobian WRONG and prints the derived term it should have been.
"""

from multigate_claims import hand_derived_claims, multigate_cell

from gatejac.symbolic import tanh
from gatejac.verify import Claims, diag


def cell():
    spec, pieces = multigate_cell()
    h, g, a, W_r, W_rg = (pieces[k] for k in ("h", "g", "a", "W_r", "W_rg"))
    h_new = (1 - g) * h + g * tanh(a)
    wrong_state = [
        ("retention", diag(1 - g)),
        ("candidate", diag(g * (1 - tanh(a) ** 2)) @ W_r),
        ("gate", diag((tanh(a) - h_new) * g * (1 - g)) @ W_rg),      # h_new: should be h
    ]
    claims = hand_derived_claims(**pieces)
    return spec, Claims(jacobians={**claims.jacobians, "state": wrong_state})
