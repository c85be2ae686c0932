"""Two PyTorch implementations of the MGU cell of ``mgu.py`` (Zhou et al. 2016, arXiv:1603.09420):

* :class:`MGU` — correct: the candidate reads ``f ⊙ h``;
* :class:`MGUWrongCandidate` — the slip this example is about: the candidate reads ``h``,
  ``h̃ = tanh(W_h h + U_h x + b_h)``, where the spec says ``W_h (f ⊙ h)``.  Both run, both
  train; only the comparison with the spec shows that the second is not the MGU.

Each module records its gate and candidate as attributes named after the spec's nodes
(``self.f``, ``self.h_tilde``), so ``gatejac compare`` compares those intermediates too.
``correct()`` and ``wrong()`` give the module with its parameter mapping (``unmapped()`` without it) (spec parameter →
module parameter): the four ``nn.Linear`` layers have the same shapes in pairs, so the
mapping cannot be inferred from shapes alone.

    gatejac compare examples/wrong_gate/mgu.py:cell examples/wrong_gate/mgu_torch.py:correct   # exit 0
    gatejac compare examples/wrong_gate/mgu.py:cell examples/wrong_gate/mgu_torch.py:wrong     # exit 1
"""

import torch
from torch import nn

MAPPING = {"W_f": "forget_h.weight", "U_f": "forget_x.weight", "b_f": "forget_x.bias",
           "W_h": "candidate_h.weight", "U_h": "candidate_x.weight", "b_h": "candidate_x.bias"}
"""Spec parameter → module parameter (``gatejac compare --mapping W_f=forget_h.weight ...``)."""


class MGU(nn.Module):
    """The Minimal Gated Unit, one step: ``forward(x, h)`` on ``(batch, m)`` and ``(batch, n)``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.forget_h = nn.Linear(hidden_size, hidden_size, bias=False)
        self.forget_x = nn.Linear(input_size, hidden_size)
        self.candidate_h = nn.Linear(hidden_size, hidden_size, bias=False)
        self.candidate_x = nn.Linear(input_size, hidden_size)

    def candidate_input(self, f, h):
        """What the candidate's recurrent weight multiplies: f ⊙ h."""
        return f * h

    def forward(self, x, h):
        self.f = torch.sigmoid(self.forget_h(h) + self.forget_x(x))
        self.h_tilde = torch.tanh(self.candidate_h(self.candidate_input(self.f, h)) + self.candidate_x(x))
        return (1 - self.f) * h + self.f * self.h_tilde


class MGUWrongCandidate(MGU):
    """The deliberate mistake: the candidate reads h, not f ⊙ h."""

    def candidate_input(self, f, h):
        return h


def correct():
    """``gatejac compare`` calls this: the correct module and its mapping."""
    return MGU(3, 4), MAPPING


def wrong():
    """``gatejac compare`` calls this: the wrong module and its mapping."""
    return MGUWrongCandidate(3, 4), MAPPING


def unmapped():
    """The correct module without its mapping: gatejac cannot tell the layers apart by shape."""
    return MGU(3, 4)
