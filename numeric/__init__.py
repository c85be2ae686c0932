"""gatejac.numeric — compiled NumPy and torch kernels for cells.

* :func:`compile` → :class:`CompiledCell` with ``step``, ``state_jacobian``,
  ``input_jacobian``, ``parameter_jacobian``, ``jvp`` and ``vjp``; ``.source`` shows the
  generated code.
* :func:`shapes`, :func:`random_values` — concrete shapes and seeded values for a cell.
* :class:`ArgumentError`, :class:`CompileError` — errors of this layer (subclasses of
  ``symbolic.GatejacError``).

``import numeric`` does not import torch; the torch back-end is loaded on first use.
"""

from ._compiled import BACKENDS, ArgumentError, CompiledCell, compile
from ._printer import CompileError
from ._values import random_values, shapes

__all__ = ["BACKENDS", "ArgumentError", "CompileError", "CompiledCell", "compile", "random_values", "shapes"]
