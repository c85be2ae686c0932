"""A plain PyTorch CIFG LSTM (Greff et al. 2017, arXiv:1503.04069, variant CIFG without
peepholes); ``cell.py`` is its spec.  ``forward(x, (h, c)) -> (h', c')`` as ``torch.nn.LSTMCell``;
parameters carry the spec's names, so the comparison maps them by name and shape."""

import torch
from torch import nn


class CIFGLSTM(nn.Module):
    """The input gate is tied to the forget gate: i = 1 − f."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        n, m = hidden_size, input_size
        for k in "fog":
            setattr(self, f"W_{k}", nn.Parameter(torch.randn(n, n) * n ** -0.5))
            setattr(self, f"U_{k}", nn.Parameter(torch.randn(n, m) * m ** -0.5))
            setattr(self, f"b_{k}", nn.Parameter(torch.zeros(n)))

    def _affine(self, k: str, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h @ getattr(self, f"W_{k}").T + x @ getattr(self, f"U_{k}").T + getattr(self, f"b_{k}")

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        f = torch.sigmoid(self._affine("f", x, h))
        o = torch.sigmoid(self._affine("o", x, h))
        g = torch.tanh(self._affine("g", x, h))
        c_new = f * c + (1 - f) * g
        return o * torch.tanh(c_new), c_new


def implementation() -> CIFGLSTM:
    """What ``gatejac report ... --impl examples/cifg_lstm/module.py:implementation`` compares with the
    spec (the comparison reads the sizes n = 4, m = 3 from its parameters)."""
    return CIFGLSTM(input_size=3, hidden_size=4)
