"""Elementwise functions that accept cell vectors as well as SymPy scalars.

``tanh(v)`` on a :class:`~gatejac.symbolic.Vec` returns a ``Vec``; on a SymPy expression it
returns the SymPy expression ``tanh(x)`` (so these names can also be used inside ``apply``).
``sigmoid`` and ``softplus`` are gatejac's own SymPy functions, which do the same by themselves
(see ``_functions``).  Equations: σ(x) = 1/(1+e^{-x}), tanh, exp, log, softplus(x) = log(1+e^x).
"""

from __future__ import annotations

import sympy

from ._functions import sigmoid, softplus
from ._vec import apply

__all__ = ["exp", "log", "sigmoid", "softplus", "tanh"]


def tanh(v):
    """tanh(v), elementwise."""
    return apply(sympy.tanh, v)


def exp(v):
    """exp(v), elementwise."""
    return apply(sympy.exp, v)


def log(v):
    """log(v), elementwise (natural logarithm)."""
    return apply(sympy.log, v)
