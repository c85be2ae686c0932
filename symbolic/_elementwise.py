"""Elementwise functions that accept cell vectors as well as SymPy scalars.

``sigmoid(v)`` on a :class:`~symbolic.Vec` returns a ``Vec``; on a SymPy expression it
returns the SymPy expression ``sigmoid(x)`` (so these names can also be used inside
``apply``).  Equations: σ(x) = 1/(1+e^{-x}), tanh, exp, log, softplus(x) = log(1+e^x).
"""

from __future__ import annotations

import sympy

from . import _functions
from ._cell import apply


def sigmoid(v):
    """σ(v) = 1 / (1 + exp(−v)), elementwise."""
    return apply(_functions.sigmoid, v)


def tanh(v):
    """tanh(v), elementwise."""
    return apply(sympy.tanh, v)


def exp(v):
    """exp(v), elementwise."""
    return apply(sympy.exp, v)


def log(v):
    """log(v), elementwise (natural logarithm)."""
    return apply(sympy.log, v)


def softplus(v):
    """softplus(v) = log(1 + exp(v)), elementwise."""
    return apply(_functions.softplus, v)
