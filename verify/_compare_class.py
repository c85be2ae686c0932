"""A user's implementation given as a class (``verify.compare(cell, JANET)``, ``gatejac compare
spec.py:cell impl.py:JANET``, ``gatejac report spec.py:cell --impl impl.py:JANET``).

:func:`instantiate` makes the one instance the comparison calls
(docs/verification.md: “Checking your own implementation”):

* with no arguments, when every parameter of the constructor has a default;
* otherwise with the cell's sizes, when every parameter without a default is named after one:
  a size name of the cell (``n``, ``m``, …), ``hidden_size`` for the size of the cell's states
  and ``input_size`` for the size of its inputs (torch's names, as in
  ``torch.nn.GRUCell(input_size, hidden_size)``; each only when all the states, or all the
  inputs, have one size);
* otherwise :class:`~verify.CompareError` names the parameters gatejac cannot fill and how to
  give an instance, or a function of no arguments returning one, instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from gatejac.symbolic import Cell

from ._compare_call import call
from ._compare_errors import CompareError

TORCH_NAMES = {"hidden_size": "states", "input_size": "inputs"}
"""Constructor parameters named as torch names them, and the cell's pieces whose size they are."""


def instantiate(cls: type, cell: Cell, sizes: Mapping[str, int]):
    """An instance of ``cls`` for ``cell`` at ``sizes`` (see the module docstring)."""
    fills = _fills(cell, sizes)
    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a class built in C): try no arguments
        parameters = []
    required = [p for p in parameters
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [p.name for p in required if p.name not in fills or p.kind is p.POSITIONAL_ONLY]
    if missing:
        offered = ", ".join(f"{name} (= {value})" for name, value in fills.items())
        raise CompareError(
            f"{cls.__name__}{_signature(cls)} needs {', '.join(missing)}, which gatejac cannot supply: it fills a "
            f"constructor's parameters only when they are named after the cell's sizes ({offered}). "
            + _instead(cls))
    arguments = {p.name: fills[p.name] for p in required}
    text = f"{cls.__name__}({', '.join(f'{k}={v}' for k, v in arguments.items())})"
    instance, error = call(lambda: cls(**arguments), text)
    if error is not None:
        raise CompareError(f"{error}. " + _instead(cls))
    return instance


def _fills(cell: Cell, sizes: Mapping[str, int]) -> dict[str, int]:
    """``{constructor parameter: value}`` gatejac can supply: the size names, then torch's."""
    fills = dict(sizes)
    for name, kind in TORCH_NAMES.items():
        dims = {str(piece.size) for piece in getattr(cell, kind)}
        if len(dims) == 1 and (dim := dims.pop()) in sizes:
            fills[name] = sizes[dim]
    return fills


def _signature(cls: type) -> str:
    try:
        return str(inspect.signature(cls))
    except (TypeError, ValueError):
        return "(...)"


def _instead(cls: type) -> str:
    name = cls.__name__
    return (f"Give an instance instead: verify.compare(cell, {name}(...)), or, on the command line, a function of "
            f"no arguments returning one (def implementation(): return {name}(...); then "
            "path/to/file.py:implementation)")
