"""A plain PyTorch UGRNN (Collins, Sohl-Dickstein & Sussillo 2017, arXiv:1611.09913, Eq. (7)),
written as one would in a training script; ``cell.py`` is its spec.  Parameters carry the
spec's names, so the comparison maps them by name and shape."""

import torch
from torch import nn


class UGRNN(nn.Module):
    """``forward(x, h) -> h'`` on ``(batch, m)`` / ``(batch, n)`` tensors."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        n, m = hidden_size, input_size
        scale = n ** -0.5
        self.W_ch = nn.Parameter(torch.randn(n, n) * scale)
        self.W_cx = nn.Parameter(torch.randn(n, m) * scale)
        self.b_c = nn.Parameter(torch.zeros(n))
        self.W_gh = nn.Parameter(torch.randn(n, n) * scale)
        self.W_gx = nn.Parameter(torch.randn(n, m) * scale)
        self.b_g = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        c = torch.tanh(h @ self.W_ch.T + x @ self.W_cx.T + self.b_c)
        g = torch.sigmoid(h @ self.W_gh.T + x @ self.W_gx.T + self.b_g)
        return g * h + (1 - g) * c


def implementation() -> UGRNN:
    """What ``gatejac report ... --impl examples/ugrnn/module.py:implementation`` compares with the
    spec (the comparison reads the sizes n = 4, m = 3 from its parameters)."""
    return UGRNN(input_size=3, hidden_size=4)
