"""Large dense NumPy Jacobians in batch chunks: each chunk's write overlaps the next chunk's forward.

A dense kernel first computes its forward (products, gates, coefficients: bound by arithmetic)
and then writes the output (``_fused``: bound by memory bandwidth, which one thread's streaming
stores nearly use up — the GRU's block row at B = n = 256 took as long on one of numba's
threads as on two).  So when the output's largest block row is streamed (at least
:data:`MIN_BYTES`, ``_fused.STREAM_MIN_BYTES``), numba may use two threads, and the batch is one
axis that :data:`CHUNKS` chunks of whole sample groups divide, :func:`run` calls the kernel on
:data:`CHUNKS` slices of the batch, one after another on the calling thread, with its products
on that thread; each block row the kernel hands to ``write_block_row`` is packed at once
(``_fused.packed_block_row`` copies the coefficients, so the kernel may reuse its arrays) and
written, with the streaming stores the whole block row would have had, by a writer thread
started for the call, while the calling thread goes on with the next chunk's forward.  The call
returns when every write has ended (also when it ends in an error or an interrupt: the output is
never written after the call has returned).

Chunks start at multiples of ``_fused.SAMPLE_GROUP``, so each sample's row sums are those of the
whole batch; the forward of a slice of the batch gave the same bits as the whole batch's in
every case tested (``tests/test_pipeline.py`` compares bit for bit with the unchunked kernel on
each chunk, and to round-off with the whole batch's), though BLAS does not promise it.  A
process's first large call, made while numba loads (``_fused_loading``), runs unchunked.

``benchmarks/kernels.py`` times the unchunked kernel beside the pipelined call (column
``unchunked out=``).
"""

from __future__ import annotations

import queue
import threading

from . import _fused_loading
from ._fused_numpy import SAMPLE_GROUP

CHUNKS = 4
"""Batch chunks of a pipelined call (8 gained less in a prototype: each chunk adds a forward's
fixed costs)."""

MIN_BYTES = 2**25
"""A call is pipelined when its output's largest block row has at least this many bytes: the
size from which ``_fused`` streams a block row (``_fused.STREAM_MIN_BYTES``; numba is not
imported here)."""

SLOTS = 4
"""Packed block rows in flight: the calling thread packs up to this many ahead of the writer."""

_LOCAL = threading.local()


def wanted(batch: tuple, block_row_bytes: int) -> bool:
    """Whether a NumPy dense call with batch shape ``batch`` whose largest block row has
    ``block_row_bytes`` is pipelined (module docstring; the thread count is asked in :func:`run`)."""
    return len(batch) == 1 and batch[0] % (CHUNKS * SAMPLE_GROUP) == 0 and block_row_bytes >= MIN_BYTES


def run(kernel, values: list, batched: int, out):
    """``kernel(*values, out=out)`` in :data:`CHUNKS` batch chunks (module docstring); ``out``:
    the (B, R, C) output.  The first ``batched`` values may carry the batch axis (states and
    inputs; a value without it, or with a batch of one, is passed whole); the others
    (parameters) are passed whole.  Unchunked while numba loads or when the calling thread may
    use only one of numba's threads (``numba.set_num_threads(1)``, ``NUMBA_NUM_THREADS=1``)."""
    if not _fused_loading.loader.finished:
        return kernel(*values, out=out)
    import numba

    from ._numba_threads import thread_count

    threads = thread_count()
    if threads < 2:
        return kernel(*values, out=out)
    size = out.shape[0] // CHUNKS
    writer = _Writer(out.shape[0])
    try:
        numba.set_num_threads(1)  # this thread's products stay on it (``_parallel_products``)
        _LOCAL.active = writer
        for start in range(0, out.shape[0], size):
            chunk = slice(start, start + size)
            kernel(*[v[chunk] if i < batched and v.ndim > 1 and v.shape[0] > 1 else v for i, v in enumerate(values)],
                   out=out[chunk])
    except BaseException:
        _end(writer, threads)
        raise
    _end(writer, threads)
    writer.raise_error()
    return out


def _end(writer: _Writer, threads: int) -> None:
    """Stop pipelining on this thread and wait for the writer to finish, through interrupts (an
    interrupt that arrives meanwhile is raised once the output is no longer being written)."""
    import numba

    _LOCAL.active = None
    numba.set_num_threads(threads)
    interrupted = None
    while True:
        try:
            writer.finish()
            break
        except KeyboardInterrupt as interrupt:
            interrupted = interrupt
    if interrupted is not None:
        raise interrupted


def defer(out, rows: slice, segments: list) -> bool:
    """Hand the block row to the writer if a pipelined call is running on this thread (then
    True), else False (``_blockrow.write_fused``)."""
    writer = getattr(_LOCAL, "active", None)
    if writer is None:
        return False
    writer.submit(out, rows, segments)
    return True


class _Writer:
    """The thread that writes one pipelined call's packed block rows, in order."""

    def __init__(self, batch: int):
        self._batch = batch
        self._jobs = queue.Queue()
        self._free = [threading.Event() for _ in range(SLOTS)]
        for event in self._free:
            event.set()
        self._submitted = 0
        self._error = None
        self._thread = threading.Thread(target=self._work, name="gatejac-writer", daemon=True)
        self._thread.start()

    def submit(self, out, rows: slice, segments: list) -> None:
        """Pack the block row into the next free slot (waiting for the writer if none is) and
        queue its write; streamed as the whole batch's block row would be."""
        from . import _fused

        slot = self._submitted % SLOTS
        self._free[slot].wait()
        self._free[slot].clear()
        self._submitted += 1
        try:
            segments = [_fused.Segment(*segment) for segment in segments]
            stream = (self._batch * (rows.stop - rows.start) * out.shape[2] * out.itemsize >= _fused.STREAM_MIN_BYTES
                      and _fused.stream_aligned(out, segments))
            arguments = _fused.packed_block_row(out, rows, segments, slot, stream)
        except BaseException:
            self._free[slot].set()
            raise
        self._jobs.put((slot, arguments))

    def finish(self) -> None:
        """Until every queued write has ended and the thread has stopped."""
        self._jobs.put(None)
        self._thread.join()

    def raise_error(self) -> None:
        """The first error a write raised, if any."""
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        import numba

        from . import _fused

        numba.set_num_threads(1)  # this thread's own setting (numba's threads were started by ``run``)
        while (job := self._jobs.get()) is not None:
            slot, arguments = job
            try:
                if self._error is None:
                    _fused.write_packed(arguments)
            except BaseException as error:  # noqa: BLE001 - raised on the calling thread (``run``)
                self._error = error
            finally:
                self._free[slot].set()
