"""The buffers the dense NumPy kernels compute their forward in (``_lowering``), and the
in-place elementwise functions they call there (``_B.ufuncs``).

``workspace(like, sizes, values)`` gives the calling thread one (B, size) array of ``like``'s
dtype for each entry of ``sizes`` (B = ``like.shape[0]``), the same arrays on every call with the
same batch, sizes and dtype (the last :data:`KEPT` such sets per thread are kept, none over
:data:`KEPT_MAX_BYTES`), or None where the forward is better computed as written: arrays under
:data:`MIN_BYTES`, complex or integer dtypes (complex-step differentiation), arguments of
mixed dtypes.  A kernel uses its buffers until it returns, and kernels
on one thread never run inside each other, so kernels of equal sizes share them; other threads
have their own.
"""

from __future__ import annotations

import threading
import types

import numpy as np

MIN_BYTES = 2**14
"""The largest buffer of a kernel's forward must have at least this many bytes (16 KiB: B = 256
and n = 16 in float32) for the kernel to use the workspace.  With it, forwards at B = 256 took
0.76–0.97 the CPU time at n = 16, 64 and 128 (all but one of 24 rows: leaky float64 at n = 16,
a 2 µs difference) and 0.54–0.98 at n = 256; at B = 1 (n = 16, 64) the two were within 3 %,
the rewrite's one Python call a pass costing as much as the allocations it saves (CPU minima
on one thread, side by side in one process; ``benchmarks/kernels.py --phases`` prints the
forward both ways)."""

KEPT = 4
"""Sets of buffers each thread keeps (the least recently used one goes)."""

KEPT_MAX_BYTES = 2**26
"""A set of buffers larger than this (64 MiB together) serves its call and is not kept: a
``Trajectory`` flattens steps × batch into one batch, whose forward would otherwise stay
allocated on every thread that ever ran it."""

_LOCAL = threading.local()


def workspace(like: np.ndarray, sizes: tuple, values: tuple = ()):
    """The calling thread's buffers for ``sizes`` (module docstring), or None; None too when one
    of ``values`` (the kernel's arguments) has another dtype than ``like`` (a raw kernel called
    with mixed dtypes, e.g. a complex parameter: the expressions promote, buffers would not)."""
    if like.dtype.kind != "f" or like.ndim != 2 or like.shape[0] * max(sizes) * like.itemsize < MIN_BYTES:
        return None
    if any(getattr(value, "dtype", like.dtype) != like.dtype for value in values):
        return None
    key = (like.shape[0], sizes, like.dtype)
    kept = getattr(_LOCAL, "kept", None)
    if kept is None:
        kept = _LOCAL.kept = {}
    buffers = kept.pop(key, None)
    if buffers is None:
        buffers = tuple(np.empty((like.shape[0], size), like.dtype) for size in sizes)
        if like.shape[0] * sum(sizes) * like.itemsize > KEPT_MAX_BYTES:
            return buffers
        if len(kept) >= KEPT:
            del kept[next(iter(kept))]
    kept[key] = buffers  # now the most recently used
    return buffers


def _sigmoid(x, out):
    """σ(x) = 1/(1 + e^{−x}) into ``out``, the operations and bits of ``_arrays``' NumPy σ."""
    with np.errstate(over="ignore"):  # e^{-x} = inf below x ≈ -709.78 gives σ = 0 there
        np.negative(x, out=out)
        np.exp(out, out=out)
        np.add(1.0, out, out=out)
        return np.divide(1.0, out, out=out)


ufuncs = types.SimpleNamespace(
    add=np.add, subtract=np.subtract, multiply=np.multiply, divide=np.divide, negative=np.negative,
    square=np.square, power=np.power, tanh=np.tanh, exp=np.exp, log=np.log, sqrt=np.sqrt, absolute=np.absolute,
    sign=np.sign, sin=np.sin, cos=np.cos, sigmoid=_sigmoid,
    softplus=lambda x, out: np.logaddexp(0.0, x, out=out),
)
"""The elementwise operations of the rewritten forward, each ``f(operands..., out=buffer)``."""
