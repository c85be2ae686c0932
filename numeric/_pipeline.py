"""Large dense NumPy Jacobians in batch chunks: each chunk's write overlaps the next chunk's forward.

A dense kernel first computes its forward (products, gates, coefficients: compute-bound) and
then writes the output (``_fused``: bound by memory bandwidth, which one thread's streaming
stores nearly use up — the GRU's block row at B = n = 256 took about as long on one of numba's
threads as on two).  So for outputs of :data:`MIN_BYTES` or more, :func:`run` calls the kernel
on :data:`CHUNKS` slices of the batch, one after another on the calling thread, with every
product on that thread; each block row the kernel hands to ``write_block_row`` is packed at
once (``_fused.packed_block_row`` copies the coefficients, so the kernel may reuse its arrays)
and written by this thread's writer, a second thread, while the calling thread goes on with the
next chunk's forward.  The call returns when every write has ended.

The chunks start at multiples of ``_fused.SAMPLE_GROUP``, so every sample is summed as the whole
batch sums it, and the writer's kernel is the same; the forward's products of a slice of the
batch may differ from those of the whole batch in the last bits (BLAS blocks them differently),
so the results equal the unchunked call's to round-off (``tests/test_pipeline.py``).

Measured side by side (B = n = 256, two cores, medians; load ≈ 2 from other work, so the ratios,
not the times): GRU state Jacobian 0.72× (float64) and 0.79× (float32) the unchunked call's time,
LSTM 0.69–0.96×.
"""

from __future__ import annotations

import os
import queue
import threading

from . import _fused_loading
from ._fused_numpy import SAMPLE_GROUP

CHUNKS = 4
"""Batch chunks of a pipelined call (8 chunks gained less: each adds a forward's fixed costs)."""

MIN_BYTES = 2**25
"""Outputs of at least this many bytes are pipelined (the size from which ``_fused`` streams
its block rows)."""

SLOTS = 4
"""Packed block rows in flight: the kernel may pack this many before it waits for the writer."""

_LOCAL = threading.local()


def _forget_writers() -> None:
    """In a child process after ``fork``: no writer thread was copied, so none is remembered."""
    global _LOCAL
    _LOCAL = threading.local()


os.register_at_fork(after_in_child=_forget_writers)


def wanted(batch: tuple, output_bytes: int) -> bool:
    """Whether a NumPy dense call with batch shape ``batch`` and an output of ``output_bytes``
    is pipelined: one batch axis that :data:`CHUNKS` chunks of whole sample groups divide, and
    an output of :data:`MIN_BYTES` or more."""
    return (len(batch) == 1 and batch[0] % (CHUNKS * SAMPLE_GROUP) == 0 and output_bytes >= MIN_BYTES)


def run(kernel, values: list, batched: int, out):
    """``kernel(*values, out=out)`` in :data:`CHUNKS` batch chunks (module docstring); ``out``:
    the (B, R, C) output.  The first ``batched`` values may carry the batch axis (states and
    inputs; a value without it, or with a batch of one, is passed whole); the others
    (parameters) are passed whole."""
    if not _fused_loading.loader.ready(out.dtype, True):  # numba still loading: unchunked (``_fused_loading``)
        return kernel(*values, out=out)
    import numba

    from ._numba_threads import thread_count

    size = out.shape[0] // CHUNKS
    threads = thread_count()  # numba's threads started here, as ``_numba_threads`` starts them
    writer = _writer()
    numba.set_num_threads(1)  # this thread's products stay on it (``_parallel_products``)
    _LOCAL.active = writer
    try:
        for start in range(0, out.shape[0], size):
            chunk = slice(start, start + size)
            kernel(*[v[chunk] if i < batched and v.ndim > 1 and v.shape[0] > 1 else v for i, v in enumerate(values)],
                   out=out[chunk])
    finally:
        _LOCAL.active = None
        numba.set_num_threads(threads)
        writer.wait()
    return out


def defer(out, rows: slice, segments: list) -> bool:
    """Hand the block row to this thread's writer if a pipelined call is running on it (then
    True), else False (``_blockrow.write_fused``)."""
    writer = getattr(_LOCAL, "active", None)
    if writer is None:
        return False
    writer.submit(out, rows, segments)
    return True


def _writer() -> _Writer:
    writer = getattr(_LOCAL, "writer", None)
    if writer is None:
        writer = _LOCAL.writer = _Writer()
    return writer


class _Writer:
    """A second thread that writes packed block rows for one calling thread, in order (each
    thread that makes pipelined calls has its own; the thread idles, blocked on its queue, between
    calls)."""

    def __init__(self):
        self._jobs = queue.Queue()
        self._free = [threading.Event() for _ in range(SLOTS)]
        for event in self._free:
            event.set()
        self._submitted = 0
        self._error = None
        threading.Thread(target=self._work, name="gatejac-writer", daemon=True).start()

    def submit(self, out, rows: slice, segments: list) -> None:
        """Pack the block row into the next free slot (waiting for the writer if none is) and
        queue its write."""
        from . import _fused

        slot = self._submitted % SLOTS
        self._free[slot].wait()
        self._free[slot].clear()
        self._submitted += 1
        try:
            arguments = _fused.packed_block_row(out, rows, [_fused.Segment(*segment) for segment in segments], slot)
        except BaseException:
            self._free[slot].set()
            raise
        self._jobs.put((slot, arguments))

    def wait(self) -> None:
        """Until every queued write has ended; a writer's error is raised here."""
        for event in self._free:
            event.wait()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _work(self) -> None:
        import numba

        from . import _fused

        numba.set_num_threads(1)  # this thread's own setting (numba's threads started by ``run``)
        while True:
            slot, arguments = self._jobs.get()
            try:
                _fused.write_packed(arguments)
            except BaseException as error:  # noqa: BLE001 - handed to the caller in wait()
                self._error = self._error or error
            finally:
                self._free[slot].set()
