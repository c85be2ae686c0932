"""A plain PyTorch MinimalRNN (Chen 2017, arXiv:1711.06788, Eq. (1)); ``cell.py`` is its spec.
Parameters carry the spec's names, so the comparison maps them by name and shape."""

import torch
from torch import nn


class MinimalRNN(nn.Module):
    """``forward(x, h) -> h'`` on ``(batch, m)`` / ``(batch, n)`` tensors."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        n, m = hidden_size, input_size
        self.W_x = nn.Parameter(torch.randn(n, m) * m ** -0.5)
        self.b_z = nn.Parameter(torch.zeros(n))
        self.U_h = nn.Parameter(torch.randn(n, n) * n ** -0.5)
        self.U_z = nn.Parameter(torch.randn(n, n) * n ** -0.5)
        self.b_u = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z = torch.tanh(x @ self.W_x.T + self.b_z)
        u = torch.sigmoid(h @ self.U_h.T + z @ self.U_z.T + self.b_u)
        return u * h + (1 - u) * z


def implementation() -> MinimalRNN:
    """What ``gatejac report ... --impl examples/minimal_rnn/module.py:implementation`` compares with the
    spec (the comparison reads the sizes n = 4, m = 3 from its parameters)."""
    return MinimalRNN(input_size=3, hidden_size=4)
