"""Claims made in code: a torch implementation of the multi-gated cell and a NumPy Jacobian.

    gatejac check examples/multigate_torch_step.py:cell     # exits 0: both claims hold

``torch_step`` is how one would write the cell in a training script; gatejac compares its
new states with the spec's step and its Jacobians (``torch.func.jacrev`` through it) with
the derived closed forms.  ``input_jacobian`` is a hand-written NumPy Jacobian,

    ∂h'/∂x = diag(g ⊙ (1 − tanh(a)²)) W_i + diag((tanh(a) − h) ⊙ g ⊙ (1 − g)) W_ig,

checked against automatic differentiation of the spec's step.  The cell is the one of
``multigate_claims.py``.
"""

import numpy as np
import torch
from multigate_claims import multigate_cell

from gatejac.verify import Claims


def torch_step(states, inputs, params):
    """One step of the cell on batched tensors (batch, n)."""
    h, x = states["h"], inputs["x"]
    g = torch.sigmoid(h @ params["W_rg"].T + x @ params["W_ig"].T + params["b_g"])
    a = h @ params["W_r"].T + x @ params["W_i"].T + params["b"]
    return {"h": (1 - g) * h + g * torch.tanh(a)}


def input_jacobian(states, inputs, params):
    """∂h'/∂x for a batch: (batch, n, m)."""
    h, x = states["h"], inputs["x"]
    g = 1 / (1 + np.exp(-(h @ params["W_rg"].T + x @ params["W_ig"].T + params["b_g"])))
    t = np.tanh(h @ params["W_r"].T + x @ params["W_i"].T + params["b"])
    candidate, gate = g * (1 - t**2), (t - h) * g * (1 - g)
    return candidate[..., :, None] * params["W_i"] + gate[..., :, None] * params["W_ig"]


def cell():
    spec, _ = multigate_cell()
    return spec, Claims(functions={"input": input_jacobian}, torch_step=torch_step)
