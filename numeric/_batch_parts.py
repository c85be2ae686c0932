"""The forward pass of a large dense Jacobian kernel in two halves of the batch, on two threads.

A dense Jacobian kernel (``_codegen``) first computes its coefficient vectors from the (B, n)
states and inputs — matrix products such as the GRU's h·W_hzᵀ, gates, elementwise products;
the *forward* — and then writes the (B, S, S) output (``_blockrow``).  The write runs on
numba's threads, but NumPy's forward ran on the calling thread alone: inside ``dense_scope``
the BLAS library is held at one thread, because OpenBLAS's idle threads keep spinning after a
product and slow the parallel write down (see ``_blockrow``).  At B = n = 256 (float64) the
GRU's forward took 3–5 ms of single-thread CPU time against a 4.9 ms fill of its output, so
while it ran one of the two cores idled.

:func:`batch_parts` runs the forward on each half of the batch, the second half on a worker
thread and the first on the calling thread, and joins the halves: every coefficient is a
function of its own sample alone, so the result is that of one pass over the whole batch, to
round-off (the products of a half may block their sums differently; with OpenBLAS here the bits
were equal; ``tests/test_kernels.py`` checks every dense kernel of every catalogue cell against
one pass and against AD).  NumPy releases the
GIL in matrix products and in elementwise loops over more than a few hundred values, and each
thread's products run on that thread (BLAS held at one thread by ``dense_scope``, which
:func:`batch_parts` enters too), so the halves overlap.  Batches of fewer than
:data:`SPLIT_MIN_VALUES` state and input values are computed in one pass: handing half of them
to a thread costs more than it saves.  torch runs its products on its own thread pool, so its
namespace calls the forward once.
"""

from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._blockrow import serial_blas

SPLIT_MIN_VALUES = 2**15
"""Batches with fewer state and input values (B·Σ sizes) are computed in one pass."""

_POOL_LOCK = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """The one worker thread of the second halves, started on first use."""
    global _pool
    with _POOL_LOCK:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gatejac-forward")
        return _pool


def _forget_worker() -> None:
    """In a forked child: the parent's worker thread does not exist there (work handed to its
    executor would wait forever), so the child starts its own on first use."""
    global _pool, _POOL_LOCK
    _pool, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_worker)


def batch_parts(function, vectors: tuple, batched: tuple) -> tuple:
    """``function(*vectors)`` — a tuple of coefficient arrays — computed on two halves of the
    batch (the leading axis of every array in ``vectors``) on two threads and joined;
    ``batched[i]`` says whether coefficient ``i`` has the batch axis (the others do not depend
    on the states and inputs, and are taken from the first half's result)."""
    size = vectors[0].shape[0]
    if size < 2 or sum(size * v.shape[-1] for v in vectors) < SPLIT_MIN_VALUES:
        return function(*vectors)
    half = size // 2
    with serial_blas():
        # in the caller's context: NumPy's error state (e.g. ``_B.quietly()``) is a context variable
        second = _worker().submit(contextvars.copy_context().run, function, *(v[half:] for v in vectors))
        first = function(*(v[:half] for v in vectors))
        second = second.result()
    return tuple(np.concatenate((a, b)) if joined else a for a, b, joined in zip(first, second, batched))
