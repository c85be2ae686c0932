"""Sigmoid gates shared by the GRU and LSTM cells, written in the public cell language.

* :func:`plain_gate`  — ``k = σ(W_k h + U_k x + b_k)``;
* :func:`gained_gate` — ``k = σ(α_k (W_k h + U_k x) + β_k)``: the gain/bias form of the
  gating-theory papers (fixed scalar gain ``alpha_k``, by default 1 so that the gate starts as
  the plain one; trainable vector bias ``beta_k``).

Both mark the result with ``cell.gate`` so the gate split sees it.
"""

from __future__ import annotations

from .._cell import Cell
from .._vec import Vec
from .._elementwise import sigmoid
from ._affine import affine

UNIT_GAIN = "unit gate gain: sigma(1*a + beta) is the plain gate"


def plain_gate(cell: Cell, h: Vec, x: Vec, name: str) -> Vec:
    """The gate ``name = σ(W_name h + U_name x + b_name)``."""
    return cell.gate(name, sigmoid(affine(cell, h, x, f"W_{name}", f"U_{name}", f"b_{name}")))


def gained_gate(cell: Cell, h: Vec, x: Vec, name: str) -> Vec:
    """The gate ``name = σ(alpha_name (W_name h + U_name x) + beta_name)``."""
    pre = affine(cell, h, x, f"W_{name}", f"U_{name}")
    gain = cell.parameter(f"alpha_{name}", trainable=False, default=1.0, note=UNIT_GAIN)
    offset = cell.parameter(f"beta_{name}", h.size)
    return cell.gate(name, sigmoid(gain * pre + offset))
