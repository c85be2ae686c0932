"""The batch products of a NumPy dense Jacobian kernel on two threads, without BLAS's own threads.

A dense kernel's forward computes a few batch products ``a @ b`` — ``(B, k)·(k, n)``, e.g. the
GRU's three ``h @ W_h·ᵀ`` and three ``x @ W_i·ᵀ`` (Can, Krishnamurthy & Schwab 2020,
docs/theory.md: “The catalogue”) — inside ``dense_scope``, which holds OpenBLAS to one thread so
that its spinning idle threads leave the cores to the parallel fused writer that follows (see
``_blockrow``).  :func:`products` gives the products back the second core: each product's batch
rows are cut into :data:`PIECES` fixed pieces, and the calling thread and one persistent worker
thread (:class:`_Worker`) each take the next piece not yet taken until none is left, every piece
being one single-threaded BLAS call on its own rows (NumPy releases the GIL in ``matmul``, and
OpenBLAS at one thread runs on the thread that calls it, so nothing spins afterwards).

* The same bits in every call, whatever the timing: a row's value comes from the BLAS call on
  its fixed piece, whichever thread makes it.  (A piece's rows may differ from the unsplit
  product in the last bits where BLAS blocks a smaller product differently.)
* Nothing waits for a thread that is not running: the caller takes pieces itself from the
  start, so when the worker is slow to wake (a loaded machine, where ``_blockrow`` keeps small
  block rows on the calling thread for this reason) the caller does all the pieces and then
  waits only for a piece the worker has started.
* Only where a second thread is wanted (numba's thread count for the dense writer, see
  :func:`_two_threads`; ``benchmarks/kernels.py --phases`` sets it to one) and where it pays:
  inside the serial-BLAS scope (outside it, BLAS runs ``@`` on its own
  threads), and for at least :data:`SPLIT_MIN_MACS` multiply-adds together: waking the worker
  costs tens of microseconds on this virtual machine (see :data:`SPLIT_MIN_MACS`).
* The second core must be free: numba's OpenMP threads, which write the output after the
  forward, are started with a short spin for this (``_numba_threads.thread_count``).  GRU and
  multi-gate state Jacobians at B = n = 256, ``out=``, medians of 30 calls interleaved with the
  same kernels on one-thread products, load ≈ 2 on 2 cores: split / one thread 0.86–0.91
  (GRU float64 9.28 → 7.94 ms, float32 4.82 → 4.28 ms; multi-gate float64 7.56 → 6.67 ms).

When a module of the process has imported torch (and torch runs on more than one thread), the
products are torch's ``matmul`` on views of the arrays instead (torch is never imported here):
torch loads its own libgomp first, numba's parallel regions then run on that OpenMP runtime too
(its symbols come first), and its idle threads spin 7.5 ms after every region, numba's write
included, whatever ``GOMP_SPINCOUNT`` numba's threads were started with; on that runtime the
products find the spinning threads awake.  ``benchmarks/kernels.py --quick --sizes 256
--one-thread-products`` (it imports torch; load 1.6–1.8): split / one thread 0.85–0.96 in the 8
rows, with the Python worker there 1.01–1.07.  These products are torch's (its BLAS on its
threads), equal to NumPy's within round-off; read-only arrays (which torch would warn about)
take the worker route.

The worker is started on first use and again in a child process after ``fork`` (a forked child
has the caller's thread only).
"""

from __future__ import annotations

import os
import queue
import sys
import threading

import numpy as np

from . import _blockrow

PIECES = 2
"""Row pieces each product is cut into (the last piece takes the remainder of the rows)."""

SPLIT_MIN_MACS = 2**23
"""Products of fewer multiply-adds in all (Σ rows·k·n) are computed as ``a @ b`` on the calling
thread.  The GRU's six products at B = 256, m = n/4, wall-clock minima of 300 calls, one thread /
split in two pieces, ms: n = 32 (2^19.9 multiply-adds) float64 0.063 / 0.093, float32 0.035 /
0.085; n = 64 (2^21.9) 0.194 / 0.158, 0.098 / 0.112; n = 128 (2^23.9) 1.13 / 0.73, 0.35 / 0.32;
n = 256 (2^25.9) 3.47 / 2.08, 1.57 / 1.22 (four pieces a product were slower than two in every
row)."""


def products(*pairs, out=None) -> list:
    """``[a @ b for a, b in pairs]`` for 2-D NumPy arrays ``a`` (B, k) and ``b`` (k, n); on two
    threads inside ``_blockrow.serial_blas`` for large enough products (module docstring).

    ``out``: None, or arrays the products are written into, one (B, n) array of their dtype a
    pair (further ones are not used; the dense kernels pass their workspace, ``_workspace``).
    Six GRU products at B = n = 256 on one thread, CPU minima: 1.32 / 2.58 ms into the same
    arrays every call against 1.77 / 3.08 ms into fresh ones (float32 / float64), which
    ``malloc`` maps afresh, a page fault every 4 KiB."""
    outs = [None] * len(pairs) if out is None else list(out[:len(pairs)])
    if not _blockrow.serial_blas.active() or sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs) < \
            SPLIT_MIN_MACS or not _two_threads():
        return [np.matmul(a, b, out=result) for (a, b), result in zip(pairs, outs)]
    torch = _torch_pool()
    if torch is not None and all(a.flags.writeable and b.flags.writeable for a, b in pairs):
        return [torch.matmul(torch.from_numpy(a), torch.from_numpy(b),
                             out=None if result is None else torch.from_numpy(result)).numpy()
                for (a, b), result in zip(pairs, outs)]
    results, pieces = [], []
    for (a, b), result in zip(pairs, outs):
        result = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b)) if result is None else result
        results.append(result)
        pieces.extend((a[rows], b, result[rows]) for rows in _row_pieces(a.shape[0]))
    pieces.sort(key=lambda piece: -piece[0].shape[0] * piece[0].shape[1] * piece[1].shape[1])
    _Job(pieces).run()
    return results


def _two_threads() -> bool:
    """Whether a second thread may work: the dense writer's numba threads are more than one for
    the calling thread (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) once gatejac has
    started them, else the machine has more than one core."""
    if _blockrow.numba_threads_started():
        return sys.modules["numba"].get_num_threads() > 1
    return (os.cpu_count() or 1) > 1


def _torch_pool():
    """torch, when a module of the process has imported it and it runs on more than one thread
    (never imported here), else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.get_num_threads() > 1 else None


def _row_pieces(rows: int) -> list[slice]:
    size = max(1, rows // PIECES)
    starts = list(range(0, rows, size))[:PIECES]
    return [slice(start, stop) for start, stop in zip(starts, starts[1:] + [rows])]


class _Job:
    """Pieces ``(a, b, out)`` shared by the caller and the worker, each taken by one of them."""

    def __init__(self, pieces: list):
        self._pieces = pieces
        self._next = 0
        self._busy = 0  # pieces taken and not yet finished
        self._error = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def run(self) -> None:
        """Offer the job to the worker, take pieces until none is left, wait for the worker's."""
        _worker().offer(self)
        self.work()
        with self._lock:
            while self._busy:
                self._idle.wait()
        if self._error is not None:
            raise self._error

    def work(self) -> None:
        while True:
            with self._lock:
                if self._next == len(self._pieces):
                    return
                a, b, out = self._pieces[self._next]
                self._next += 1
                self._busy += 1
            try:
                np.matmul(a, b, out=out)
            except BaseException as error:  # noqa: BLE001 - handed to the caller by run()
                self._error = error
            with self._lock:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.notify_all()


class _Worker:
    """One daemon thread that works on the jobs offered to it."""

    def __init__(self):
        self._jobs = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="gatejac-products", daemon=True).start()

    def offer(self, job: _Job) -> None:
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            self._jobs.get().work()


_WORKER: list[_Worker] = []
_START = [threading.Lock()]


def _worker() -> _Worker:
    """The worker thread, started on first use."""
    if not _WORKER:
        with _START[0]:
            if not _WORKER:
                _WORKER.append(_Worker())
    return _WORKER[0]


def _forget_worker() -> None:
    """In a forked child: the parent's worker thread does not exist there (nor does whoever
    held the start lock)."""
    _WORKER.clear()
    _START[0] = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_forget_worker)
