"""J_t V for frames of many columns: the step Jacobian's matrix columns formed from the
stored factors a tile of rows at a time, each tile multiplied at once (``_tangent_tiles``).

With the factors of ``_tangent`` (docs/theory.md: “Lyapunov exponents”), a column block j of
the step Jacobian that has matrix terms is

    C_j(t) = [ Σ_a diag(u_{ija}(t)) M_{ija} + diag(d_{ij}(t)) ]_i      (S × n_j, row blocks i),

and the action is (J_t V)_i = Σ_j (C_j(t) V_j)_i + Σ_{j without matrices} d_{ij}(t) ⊙ V_j.
``StructuredAction`` multiplies first, Σ_a u_a ⊙ (M_a V_j): (Σ_a rows of M_a)·n_j·k
multiply–adds.  Forming C_j first costs Σ_a n_i n_j element operations and then S·n_j·k
multiply–adds: for the GRU (three terms, one 3n×n stack) 3n² + n²k against 3n²k, for the LSTM
(seven terms on the h column, the c column diagonal) 7n² + 2n²k against 4n²k — at n = 256,
k = 32, 2.3 M against 6.3 M and 4.6 M against 8.4 M.  The result is the same sum, associated
differently ((diag(u) M) V = diag(u)(M V)), so the two routes agree to round-off.
:func:`formed_cost` and :func:`stacked_cost` are the two operation counts the trajectory
chooses by (``Trajectory.stepper``), a formed element counted as :data:`FORM_WEIGHT`
multiply–adds (measured at n = 256, one thread: 7 µs for a 64×256 tile of four terms, 18 µs
for its 64×256·256×32 product).

C_j is never stored whole: the kernel forms 64 rows (:data:`_tangent_tiles.TILE_BYTES`) in
the second-level cache and multiplies them at once, and :meth:`FormedAction.advance` takes the
m steps between two QRs of the Lyapunov sweep in one call (``_growth``: one call per QR instead
of one per step, the coefficients of a run of steps packed once).  Writing all of C_t to memory
and multiplying it there, as this module did before, cost the LSTM (n = 256, k = 32) 0.16 ms
a step to form and 0.2–0.33 ms to multiply; in tiles, 0.05 and 0.145 ms (the product at
29 G multiply–adds/s, the core's float64 peak, on one thread).

Threads: the kernel's tiles are shared by numba's threads, each tile's product on one BLAS
thread (both BLAS libraries, NumPy's and the one numba's ``np.dot`` calls, are limited to one
thread during a call and restored after).  The threads the user allows are the fewest of
numba's thread count and the BLAS limits in force: under ``threadpoolctl.threadpool_limits(1)``
the kernel runs on the calling thread alone.  Two threads took the LSTM's step (n = 256, k = 32)
from 227 to 126 µs of wall time and the GRU's from 108 to 65 µs (minima of 60 runs at load 2.8;
``_tangent_tiles`` has the split).  On a machine whose cores are busy with other work, limit it
to one: each step is a parallel region, and with two threads each of the 2000 steps waits for
the slower one to get a core (the LSTM's spectrum took 1.2 s of wall time at load 3 in one run,
against 0.7 s on one thread).

The first formed action of a process imports numba and loads the kernel (compiled once per
machine and dtype into ``_numba_cache``'s directory).  The action works on NumPy arrays (a
torch trajectory's plain CPU tensors through NumPy views of the same memory, as
``StructuredAction`` does).  It keeps the packed coefficients and the tiles' work arrays, so
threads sharing one action take turns (its own lock, re-entrant: a sweep begun inside a sweep
of the same thread runs in the outer one); the one-thread BLAS limit is the package's one scope,
``_blockrow.serial_blas``, which the dense kernels and the numba rollout enter too without
waiting for each other.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ._blockrow import serial_blas

FORM_WEIGHT = 3
"""Multiply–adds one formed element of C_j is counted as (see the module docstring)."""

RUN_BYTES = 2**22
"""Bytes of the coefficients packed at a time, for a run of consecutive steps (at least one)."""


def _term_groups(plan) -> dict:
    """``{(row, col): ([(coefficient, product)], [diagonal indices])}`` of the plan."""
    groups: dict = {}
    for term in plan.terms:
        groups.setdefault((term.row, term.col), ([], []))[0].append((term.coefficient, term.product))
    for row, col, position in plan.diagonals:
        groups.setdefault((row, col), ([], []))[1].append(position)
    return groups


def formed_cost(plan, sizes: list[int], columns: int) -> int:
    """Multiply–adds of one formed action on ``columns`` columns (batch 1)."""
    formed = sum(sizes[term.row] * sizes[term.col] for term in plan.terms)
    product = sum(sizes[row] * sizes[col] for row, col in {(term.row, term.col) for term in plan.terms})
    return FORM_WEIGHT * formed + product * columns


def stacked_cost(plan, sizes: list[int], columns: int) -> int:
    """Multiply–adds of one ``StructuredAction`` on ``columns`` columns (batch 1), the
    stacked matrices having the row count of the largest row block."""
    return sum(count * max(sizes) * sizes[col] for col, count in enumerate(plan.stacks)) * columns


class FormedAction:
    """``numpy_apply(t, V)`` = J_t V and ``advance(t, m, V)`` = J_{t+m−1} ⋯ J_t V by the formed
    matrix columns (see the module docstring), in the kernel of ``_tangent_tiles``.

    ``stacked`` is the trajectory's ``StructuredAction`` (its plan; it serves torch blocks that
    autograd tracks), ``values`` the kernel arguments (for ``plan.matrices``), ``coefficients``
    and ``diagonals`` the factor stacks ``(T, ..., size)`` the rollout stores, all NumPy (or plain CPU
    tensors, used through NumPy views); ``batch`` the trajectory's batch shape.

    The coefficients of a run of consecutive steps are packed into one (run·B, L) array, each
    step and sample a row of its L coefficient values; the run keeps it within
    :data:`RUN_BYTES`."""

    numpy_views = True

    def __init__(self, stacked, values: list, sizes: list[int], coefficients: list, diagonals: list, batch: tuple):
        from ._arrays import to_numpy
        from ._tangent_tiles import TILE_BYTES

        self.stacked, plan = stacked, stacked.plan
        matrices = [np.ascontiguousarray(to_numpy(m)) for m in plan.matrices(*values)]
        self.stacks = [to_numpy(c) for c in coefficients] + [to_numpy(d) for d in diagonals]
        self.dtype = matrices[0].dtype
        self.batch, self.count = tuple(batch), int(np.prod(batch, dtype=np.int64))
        self.offsets = np.cumsum([0, *sizes]).tolist()
        self.steps = int(self.stacks[0].shape[0])
        self.matrices = np.concatenate([m.reshape(-1) for m in matrices])
        places = np.cumsum([0, *(m.size for m in matrices)]).tolist()
        firsts = np.cumsum([0, *plan.stacks]).tolist()
        self.layout, groups, terms, diagonal_offsets = [], [], [], []  # layout: (stack, row block) per slot
        by_row = {row: [] for row in range(len(sizes))}  # the groups of each row block
        term_groups = _term_groups(plan)
        for row, col in sorted(term_groups):
            group_terms, positions = term_groups[(row, col)]
            q0, d0 = len(terms), len(diagonal_offsets)
            for coefficient, product in group_terms:
                terms.append((self._slot(coefficient, row, sizes), places[firsts[col] + product]))
            for position in positions:
                diagonal_offsets.append(self._slot(len(coefficients) + position, row, sizes))
            by_row[row].append(len(groups))
            groups.append((self.offsets[col], sizes[col], q0, len(terms), d0, len(diagonal_offsets)))
        self.width = sum(sizes[row] for _, row in self.layout)
        self.groups = np.array(groups, np.int64).reshape(-1, 6)
        self.terms = np.array(terms, np.int64).reshape(-1, 2)
        self.diagonals = np.array(diagonal_offsets, np.int64)
        self.widest = max([sizes[col] for (row, col), (group_terms, _) in term_groups.items() if group_terms] or [1])
        self.tile_rows = max(1, TILE_BYTES // (self.widest * self.dtype.itemsize))
        tiles = []  # the tiles of every row block sharing rows p0 .. p0 + r side by side; a block without terms: zeros
        for p0 in range(0, max(sizes), self.tile_rows):
            tiles += [(self.offsets[row] + p0, min(self.tile_rows, size - p0), p0,
                       by_row[row][0] if by_row[row] else 0, by_row[row][-1] + 1 if by_row[row] else 0)
                      for row, size in enumerate(sizes) if p0 < size]
        self.tiles = np.array(tiles, np.int64).reshape(-1, 5)
        self.run = max(1, min(self.steps, RUN_BYTES // max(1, self.count * self.width * self.dtype.itemsize)))
        self.packed = np.empty((self.run * self.count, self.width), self.dtype)
        self.packed_from, self.work, self.sweeps = None, {}, {}  # sweeps: thread → threads allowed
        self._lock = threading.RLock()  # the packed coefficients and work arrays: one thread at a time

    def _slot(self, stack: int, row: int, sizes: list[int]) -> int:
        """The offset in a packed row of stack ``stack`` (coefficients, then diagonals) for row
        block ``row``, added to the layout on first use."""
        if (stack, row) not in self.layout:
            self.layout.append((stack, row))
        index = self.layout.index((stack, row))
        return sum(sizes[r] for _, r in self.layout[:index])

    def __call__(self, t: int, block):
        """J_t V for a NumPy block, or a plain torch block through NumPy views; a torch block
        that autograd tracks takes ``stacked``'s torch operations."""
        if isinstance(block, np.ndarray):
            return self.numpy_apply(t, block)
        views = self.stacked.xp.numpy_views_of([block])
        if views is None:
            return self.stacked(t, block)
        import torch

        return torch.from_numpy(self.numpy_apply(t, views[0]))

    def numpy_apply(self, t: int, block):
        """J_t V for a NumPy block ``(..., S, k)``, 1 ≤ t ≤ T."""
        return self.advance(t, 1, block)

    @contextlib.contextmanager
    def sweep(self):
        """The action's lock and the one-thread BLAS limit (``_blockrow.serial_blas``) held across
        a whole sweep (the QRs between the runs included): the Benettin sweep of ``_growth`` takes
        it.  A QR on two BLAS threads between two parallel runs left BLAS's spinning worker
        competing with numba's for the second core: the LSTM's spectrum (n = 256, k = 32,
        T = 2000, rollout excluded) took 0.80–1.46 s of wall time on 2 threads with the limit
        taken per call, 0.32–0.37 s with it held for the sweep (four alternating runs each, load
        1.3).  Inside a sweep of the same thread it is the outer sweep's.  The kernel runs on the
        fewest of numba's threads and the BLAS threads the user allowed (``serial_blas.threads``)."""
        from ._numba_threads import thread_count

        thread = threading.get_ident()
        with self._lock:
            if thread in self.sweeps:
                yield
                return
            with serial_blas(numba_blas=True) as scope:
                self.sweeps[thread] = min(thread_count(), scope.threads)
                try:
                    yield
                finally:
                    del self.sweeps[thread]

    def advance(self, t: int, steps: int, block):
        """J_{t+steps−1} ⋯ J_{t+1} J_t V for a NumPy block ``(..., S, k)`` (a fresh array), 1 ≤ t
        and t + steps − 1 ≤ T: a run of steps in one kernel call per packed run of coefficients
        (inside :meth:`sweep`, or in one of its own)."""
        from ._tangent_tiles import _advance_parallel, _advance_serial

        threads = self.sweeps.get(threading.get_ident())
        if threads is None:
            with self.sweep():
                return self.advance(t, steps, block)
        columns = int(block.shape[-1])
        frame = np.empty((self.count, self.offsets[-1], columns), self.dtype)
        frame[...] = np.broadcast_to(block, (*self.batch, *block.shape[-2:])).reshape(frame.shape)
        spare = np.empty_like(frame)
        index, stop = t - 1, t - 1 + steps
        workers = min(threads, len(self.tiles) * self.count)
        kernel = _advance_parallel if workers > 1 else _advance_serial
        if workers not in self.work:
            self.work[workers] = np.empty((workers, self.tile_rows * self.widest), self.dtype)
        while index < stop:
            if self.packed_from is None or not self.packed_from <= index < self.packed_from + self.run:
                self._pack(min(index, self.steps - self.run))
            count = min(stop, self.packed_from + self.run) - index
            result = kernel(frame, spare, index - self.packed_from, count, self.packed, self.tiles, self.groups,
                            self.terms, self.diagonals, self.matrices, self.work[workers])
            frame, spare = result, (spare if result is frame else frame)
            index += count
        return frame.reshape(*self.batch, self.offsets[-1], columns)

    def _pack(self, first: int) -> None:
        """The coefficients of steps first+1 .. first+run into ``packed``, one row per step and
        sample, each (stack, row block) of the layout at its offset."""
        shape, start = (self.run * self.count, -1), 0
        for stack, row in self.layout:
            size = self.offsets[row + 1] - self.offsets[row]
            self.packed[:, start:start + size] = self._steps(self.stacks[stack], first, first + self.run,
                                                             size).reshape(shape)
            start += size
        self.packed_from = first

    def _steps(self, stack, first: int, stop: int, height: int):
        """``stack[first:stop]`` broadcast per step to ``(*batch, height)``: a step's value may
        be ``(*batch, height)``, ``(height,)`` or ``(1,)``."""
        values = stack[first:stop]
        missing = len(self.batch) + 1 - (values.ndim - 1)
        values = values.reshape(values.shape[0], *([1] * missing), *values.shape[1:])
        return np.broadcast_to(values, (stop - first, *self.batch, height))
