"""How the dense Jacobian kernels write a block row, and the scope they run in.

``write_block_row(out, rows, *segments)`` of an array namespace (``numeric.arrays``) writes
the blocks Σ_k diag(u_k)·M_k + diag(d) of one block row, each segment
``(cols, coefficients, matrices, diagonals)``, in one pass with the numba kernel of
``_fused``: for NumPy, and for torch when the tensors are plain CPU tensors that autograd does
not need to track (``.numpy()`` shares their memory).  Torch blocks that autograd must record,
that live on another device or inside a ``torch.func`` transform, and block rows smaller than
:data:`FUSED_MIN_BYTES`, are written term by term with array operations instead
(:func:`write_by_terms`).

The strategy is chosen by the block row's size (B = 256, one numba thread, minimum of 40–60
interleaved repeats, float64; the by-terms cost grows with the number of terms, the fused one
barely does):

==============  =========================  ==============================
block row       1 term: fused / by terms   3 terms + diagonal (the GRU)
==============  =========================  ==============================
16 KiB (B = 8)  12 / 6 µs                  14 / 14 µs
64 KiB          20 / 17 µs                 19 / 32 µs
256 KiB (n=16)  31 / 36 µs                 38 / 110 µs
1 MiB (n=32)    62 / 104 µs                77 / 330 µs
8 MiB (n=64)    0.30 / 0.69 ms             0.40 / 3.4 ms
==============  =========================  ==============================

* below :data:`FUSED_MIN_BYTES` (64 KiB): term by term — the fused writer's fixed cost
  (packing its inputs, the call into numba: about 10 µs) is more than it saves;
* up to :data:`PARALLEL_MIN_BYTES` (2 MiB): the fused writer's serial build, on the calling
  thread alone.  Starting numba's threads costs more than a second thread saves on so little
  work, and a parallel region waits for its slowest thread: on a loaded machine (load 10 on 2
  cores) the median GRU block row at n = 16 took 24 ms on two threads and 0.10 ms on one;
* from :data:`PARALLEL_MIN_BYTES`: the fused writer on numba's threads.

Until issue 13 the fused writer started at 2 MiB and smaller block rows were written term by
term (the GRU at n = 16, B = 256: 0.24 ms by terms against 0.09 ms now).

``dense_scope()`` is the context the dense Jacobian kernels run in (large outputs only:
:func:`dense_scope_needed`).  For NumPy it limits the BLAS library (OpenBLAS) to one thread
(for the whole process, while any thread is inside it): after a multi-threaded matrix product
OpenBLAS's idle threads keep spinning for about 0.1 s, and two of them on a 2-core machine
halve the cores left to the parallel fused writer (measured: a three-term block row at
B = n = 256 right after a product took 25 ms instead of 13 ms).  The products of a dense kernel
are a few (B, n)·(n, n) GEMMs, a small part of its time.  On leaving, the limit the user had is
put back.  torch runs its products on its own thread pool, which does not hold the cores, so
its scope does nothing.  Inside the scope the forward's large products run on two threads of
gatejac's own (``_parallel_products``).

numba's threads (OpenMP, GNU libgomp here) spin too: after every parallel region libgomp's idle
worker keeps its core busy for ``GOMP_SPINCOUNT`` waits, 300 000 by default — 7.5 ms of CPU
here (measured: the CPU time of a 200 ms sleep after a GRU state Jacobian at B = n = 256), longer
than the whole next kernel call, whose forward then found the second core taken: its split
products gained nothing (GRU and multi-gate state Jacobians at n = 256, medians of 30 interleaved
calls, split / one-thread products 0.95–1.01).  ``_numba_threads.thread_count``, which starts numba's
threads whoever needs them first (the writer, the Lyapunov tiles), therefore starts them with
``GOMP_SPINCOUNT`` = ``_numba_threads.SPIN_COUNT`` (about 0.25 ms of spinning, enough
for the regions of one call, e.g. the LSTM's two block rows, to find the thread awake), unless
the user has set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``: split / one-thread products
0.86–0.91 (float64 GRU 9.28 → 7.94 ms, multi-gate 7.56 → 6.67 ms).  The variable is set only
while the threads start (libgomp reads it when it is loaded) and removed afterwards, so other
OpenMP libraries loaded later (torch's own libgomp) keep their defaults; where libgomp was loaded
before numba started its threads, the default stays.  In particular, after ``import torch`` numba's regions run on torch's libgomp (its symbols
come first), which keeps its 7.5 ms spin; the products then go to torch's threads
(``_parallel_products``).
"""

from __future__ import annotations

import math
import sys
import threading

from . import _fused_loading, _fused_numpy

FUSED_MIN_BYTES = 2**16
"""Block rows of fewer output bytes are written term by term (see the module docstring)."""

PARALLEL_MIN_BYTES = 2**21
"""Block rows of at least this many output bytes are written on numba's threads, smaller ones
on the calling thread (see the module docstring)."""

def _block_row_bytes(out, rows: slice) -> int:
    return out.shape[0] * (rows.stop - rows.start) * out.shape[-1] * out.itemsize


def small_block_row(out, rows: slice) -> bool:
    """Whether the block row ``out[:, rows, :]`` is below :data:`FUSED_MIN_BYTES`."""
    return _block_row_bytes(out, rows) < FUSED_MIN_BYTES


def dense_scope_needed(block_row: tuple, itemsize: int) -> bool:
    """Whether a dense output whose largest block row has shape ``block_row`` has a block row
    for the parallel fused writer (and so needs ``dense_scope``): an output whose block rows are
    all smaller is written on the calling thread, and limiting BLAS around it would only cost
    time (the LSTM at n = 16, B = 256, float64: a 2 MiB output of two 1 MiB block rows)."""
    return math.prod(block_row) * itemsize >= PARALLEL_MIN_BYTES


def write_by_terms(xp, out, rows: slice, segments) -> None:
    """Every segment of a block row with the array operations of namespace ``xp``:
    ``out[:, rows, cols] = Σ_k diag(c_k)·M_k + diag(Σ_l d_l)``, one term at a time."""
    for cols, coefficients, matrices, diagonals in segments:
        block = out[:, rows, cols]
        if coefficients:
            xp.assign_product(block, coefficients[0][..., :, None], matrices[0])
            for coefficient, matrix in zip(coefficients[1:], matrices[1:]):
                xp.add_product(block, coefficient[..., :, None], matrix)
        else:
            xp.fill_zero(block)
        if diagonals:
            diagonal = xp.diagonal(block)
            for value in diagonals:
                diagonal += value


def write_fused(out, rows: slice, segments) -> None:
    """The block row in one pass by the numba kernel (NumPy arrays; imports numba on first use),
    on numba's threads from :data:`PARALLEL_MIN_BYTES`, else on the calling thread.  While numba
    starts on a background thread, ``_fused_numpy`` writes it instead, with the same result bit
    for bit (see ``_fused_loading``)."""
    parallel = _block_row_bytes(out, rows) >= PARALLEL_MIN_BYTES
    if not _fused_loading.loader.ready(out.dtype, parallel):
        _fused_numpy.write_block_row(out, rows, segments)
        return
    from . import _fused

    _fused.write_block_row(out, rows, [_fused.Segment(*segment) for segment in segments], parallel=parallel)


def numba_threads_started() -> bool:
    """Whether numba's threads have been started in this process (``_numba_threads``), without
    importing numba."""
    threads = sys.modules.get(f"{__package__}._numba_threads")
    return threads is not None and threads.threads_started()


class _SerialBlas:
    """The one serial-BLAS scope of the package: BLAS at one thread while any thread is inside it.

    The NumPy ``dense_scope`` of the dense kernels, the Lyapunov sweep of
    ``_tangent_formed.FormedAction`` and the numba rollout of ``_jit_factors`` all enter it.  The
    BLAS thread count is process-wide, so the scope counts its entrants: the first one notes the
    BLAS threads the user allowed (:attr:`threads`) and sets the limit, the last one restores
    what it found.  Its lock guards that count and the limit only, for the moment of entering or
    leaving: threads inside the scope run side by side (each caller guards its own work arrays,
    e.g. ``FormedAction``'s lock), and a thread may enter it again while inside.

    threadpoolctl's view of the loaded BLAS libraries (a ``ThreadpoolController``, about 1 ms to
    make) is made on the first entry and made again once, when SciPy's BLAS
    (``scipy.linalg.cython_blas``, the one numba's ``np.dot`` calls) has been imported since:
    numba's code entering the scope has loaded it, and a view without it would leave that library
    on all its threads.  The scope does not import SciPy itself: that import took 0.2 s of a new
    process's first dense Jacobian (0.62 against 0.81 s, import to result, warm numba cache),
    which numba, starting on a background thread (``_fused_loading``), would pay anyway.  A view
    made while threads are inside the scope limits the libraries it adds at once; the limits are
    restored in the reverse order they were set."""

    _SCIPY_BLAS = "scipy.linalg.cython_blas"

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._limits: list = []  # threadpoolctl limiters, restored last one first
        self._controller = None
        self._sees_scipy = False  # whether the controller was made after SciPy's BLAS was loaded
        self.threads = None
        """The fewest BLAS threads a pool allowed when the first entrant came in (None outside)."""

    def __call__(self, numba_blas: bool = False):
        """The scope.  ``numba_blas``: for numba code calling ``np.dot``, whose BLAS (SciPy's) is
        imported first so that the scope limits it too (numba has imported most of SciPy by then)."""
        if numba_blas:
            import scipy.linalg.cython_blas  # noqa: F401 - loaded before the scope's view is made

        return self

    def active(self) -> bool:
        """Whether some thread is inside the scope (BLAS is at one thread)."""
        return self._inside > 0

    def __enter__(self):
        with self._lock:
            if self._controller is None or (not self._sees_scipy and self._SCIPY_BLAS in sys.modules):
                from threadpoolctl import ThreadpoolController

                self._sees_scipy = self._SCIPY_BLAS in sys.modules
                self._controller = ThreadpoolController().select(user_api="blas")
                if self._inside:  # a library loaded while others are inside: limited from now on
                    self._limits.append(self._controller.limit(limits=1))
            if self._inside == 0:
                self.threads = min([pool.num_threads for pool in self._controller.lib_controllers], default=1)
                self._limits.append(self._controller.limit(limits=1))
            self._inside += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                while self._limits:
                    self._limits.pop().restore_original_limits()
                self.threads = None


serial_blas = _SerialBlas()
