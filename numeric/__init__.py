"""gatejac.numeric — compiled NumPy and torch kernels for cells.

* :func:`compile` → :class:`CompiledCell` with ``step``, ``state_jacobian``,
  ``input_jacobian``, ``parameter_jacobian``, ``jvp`` and ``vjp``; ``.source`` shows the
  generated code.
* :func:`initialise` — seeded parameters (schemes torch / gaussian / normal);
  :func:`from_torch` / :func:`to_torch` — ``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` interop;
* :func:`rollout` → :class:`Trajectory` — states along an input sequence, step Jacobians,
  transports Φ(t, k) = J_t ⋯ J_{k+1} (prefix/suffix sweeps, lag products), Jacobian actions,
  QR-stabilised Lyapunov exponents and log singular values;
* :func:`shapes`, :func:`random_values` — concrete shapes and seeded values for a cell.
* :class:`ArgumentError`, :class:`CompileError` — errors of this layer (subclasses of
  ``symbolic.GatejacError``).

``import numeric`` does not import torch; the torch back-end is loaded on first use.
"""

from ._compiled import BACKENDS, ArgumentError, CompiledCell, compile
from ._init import SCHEMES, initialise
from ._interop import from_torch, to_torch
from ._printer import CompileError
from ._trajectory import (
    Trajectory,
    graded_log_singular_values,
    lag_products,
    prefix_products,
    qr_log_growth,
    rollout,
    suffix_products,
)
from ._values import random_values, shapes

__all__ = [
    "BACKENDS", "SCHEMES", "ArgumentError", "CompileError", "CompiledCell", "compile", "from_torch", "initialise",
    "random_values", "shapes", "to_torch", "Trajectory", "graded_log_singular_values", "lag_products",
    "prefix_products", "qr_log_growth", "rollout", "suffix_products",
]
