"""gatejac.numeric — compiled NumPy and torch kernels for cells.

* :func:`compile` → :class:`CompiledCell` with ``step``, ``state_jacobian``,
  ``input_jacobian``, ``parameter_jacobian``, ``jvp`` and ``vjp``; ``.source`` shows the
  generated code.
* :func:`initialise` — seeded parameters (schemes torch / gaussian / normal);
  :func:`from_torch` / :func:`to_torch` — ``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` interop;
* :func:`shapes`, :func:`random_values` — concrete shapes and seeded values for a cell.
* :class:`ArgumentError`, :class:`CompileError` — errors of this layer (subclasses of
  ``symbolic.GatejacError``).

``import numeric`` does not import torch; the torch back-end is loaded on first use.
"""

from ._compiled import BACKENDS, ArgumentError, CompiledCell, compile
from ._init import SCHEMES, initialise
from ._interop import from_torch, to_torch
from ._printer import CompileError
from ._values import random_values, shapes

__all__ = [
    "BACKENDS", "SCHEMES", "ArgumentError", "CompileError", "CompiledCell", "compile", "from_torch", "initialise",
    "random_values", "shapes", "to_torch",
]
