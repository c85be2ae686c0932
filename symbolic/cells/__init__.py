"""The cell catalogue: the cells of the three papers and PyTorch, written in the public cell
language (no hand-written Jacobians).

``names()`` lists them, ``get(name, **options)`` builds one, and each has its own function
whose docstring gives the equations as implemented, the convention and the reference:

| name | update | source |
|---|---|---|
| ``leaky`` | h' = (1−α) h + α tanh(W h + U x + b), α fixed | Livi 2025 |
| ``leaky_dt`` | the same with α = Δt/τ (Euler step of a CT-RNN) | Livi 2025 |
| ``elman`` | h' = tanh(W h + U x + b) | Elman 1990 |
| ``scalar_gate`` | h' = (1−g) h + g tanh(a), g = σ(w_rgᵀh + w_igᵀx + b_g) scalar | Livi 2025 |
| ``multi_gate`` | h' = (1−g)⊙h + g⊙tanh(a), g = σ(W_rg h + W_ig x + b_g) | Livi 2025 |
| ``gru_chung`` | reset inside, z writes the candidate | Chung 2014 |
| ``gru_cho`` | reset inside, z retains the old state | Cho 2014 |
| ``gru_torch`` | exactly ``torch.nn.GRUCell`` (reset after the product) | PyTorch |
| ``gru_gain`` | Chung GRU with gates σ(α a + β) (reconstructed) | Can 2020 |
| ``lstm_torch`` | exactly ``torch.nn.LSTMCell``, state (h, c) | PyTorch |
| ``lstm_gain`` | LSTM with gates σ(α a + β) (reconstructed) | Can 2020 |
| ``wcrnn`` | h' = R h + γ tanh(W h + V x + b), linear/nonlinear residual | Dubinin 2024 |

``option_names(name)`` lists the keyword options of one cell and ``variants()`` every
(name, options) pair that exercises the option values.  The residual-matrix builders
``residual_homogeneous``, ``residual_rotational`` and ``residual_heterogeneous`` give exact
values for the WCRNN's fixed ``R``.
"""

from ._gated import multi_gate, scalar_gate
from ._gru import gru_cho, gru_chung, gru_gain, gru_torch
from ._leaky import elman, leaky, leaky_dt
from ._lstm import lstm_gain, lstm_torch
from ._registry import get, names, option_names, variants
from ._residual import residual_heterogeneous, residual_homogeneous, residual_rotational
from ._wcrnn import wcrnn

__all__ = [
    "elman", "get", "gru_cho", "gru_chung", "gru_gain", "gru_torch", "leaky", "leaky_dt", "lstm_gain",
    "lstm_torch", "multi_gate", "names", "option_names", "residual_heterogeneous", "residual_homogeneous",
    "residual_rotational", "scalar_gate", "variants", "wcrnn",
]
