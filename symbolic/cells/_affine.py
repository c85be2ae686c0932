"""Affine pre-activations shared by the catalogue cells, written in the public cell language.

* :func:`affine` — ``W h + U x (+ b)`` with ``W`` n×n, ``U`` n×m and an optional bias ``b``;
* :func:`torch_affine` — PyTorch's split form ``W_i· x + b_i·`` and ``W_h· h + b_h·`` per row
  block, declared in the order of ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.
"""

from __future__ import annotations

from .._cell import Cell
from .._vec import Vec


def affine(cell: Cell, h: Vec, x: Vec, recurrent: str, input_: str, bias: str | None = None) -> Vec:
    """``W h + U x (+ b)``: declares the recurrent matrix ``recurrent`` (n×n), the input
    matrix ``input_`` (n×m) and, if ``bias`` names it, the bias vector (n)."""
    W = cell.parameter(recurrent, (h.size, h.size))
    U = cell.parameter(input_, (h.size, x.size))
    pre = W @ h + U @ x
    return pre + cell.parameter(bias, h.size) if bias else pre


def torch_affine(cell: Cell, h: Vec, x: Vec, blocks: str, bias: bool) -> tuple[dict[str, Vec], dict[str, Vec]]:
    """The input side ``W_ik x + b_ik`` and hidden side ``W_hk h + b_hk`` of every row block
    ``k`` in ``blocks`` (e.g. ``"rzn"`` for ``torch.nn.GRUCell``), as two dicts keyed by ``k``.

    Parameters are declared block by block in torch's memory order, so that ``weight_ih``
    is ``[W_i{k} for k in blocks]`` stacked by rows, and likewise ``weight_hh``,
    ``bias_ih`` and ``bias_hh``.
    """
    n, m = h.size, x.size
    input_weights = {k: cell.parameter(f"W_i{k}", (n, m)) for k in blocks}
    hidden_weights = {k: cell.parameter(f"W_h{k}", (n, n)) for k in blocks}
    input_side = {k: input_weights[k] @ x for k in blocks}
    hidden_side = {k: hidden_weights[k] @ h for k in blocks}
    if bias:
        input_side = {k: input_side[k] + cell.parameter(f"b_i{k}", n) for k in blocks}
        hidden_side = {k: hidden_side[k] + cell.parameter(f"b_h{k}", n) for k in blocks}
    return input_side, hidden_side
