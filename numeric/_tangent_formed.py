"""J_t V for frames of many columns: the step Jacobian's matrix columns formed from the
stored factors in one pass, then one matrix product.

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

C_j is written by the fused block-row writer of ``_fused`` (one pass over each output row,
the rows of every M_a read once), on the calling thread, with its matrices packed once here;
the C_j of a run of consecutive steps (:data:`RUN_BYTES`) are written by one call per row
block, so that a step costs one product and a share of a writer call.  The first formed action
of a process imports numba and loads the writer (about 0.7 s with a warm cache: the GRU's k = 32
spectrum at n = 256, T = 2000 took 1.14 s the first time in a new process, 0.46 s the second).  :func:`formed_cost` and
:func:`stacked_cost` are the two operation counts the trajectory chooses by
(``Trajectory.stepper``), a formed element counted as :data:`FORM_WEIGHT` multiply–adds
(measured at n = 256, one thread: 0.025 ms for 3n² elements, 0.10 ms for the n×n·n×32
product).

Threads: C_j is formed on the calling thread; the product C_j V runs on the BLAS library's
threads, as many as the user allows (OpenBLAS's default: every core).  On 2 cores two threads
halve it (256×256·256×32: 0.101 → 0.053 ms wall; 512×256·256×32: 0.200 → 0.104 ms; minima of
30 repeats) and the GRU's k = 32 spectrum at n = 256, T = 2000 took 0.39 s of wall time instead
of 0.48 s (rollout included; minima of 3 runs at load 2–3.5).  Where the cores are taken by
other work, limit BLAS to one thread (``threadpoolctl.threadpool_limits(1)``): with two, each of
the 2000 products can wait for the second thread to get a core, and the same spectrum took 3–6 s
of wall time in runs at load 2–3.
The action works on NumPy arrays (a torch trajectory's plain CPU tensors through
NumPy views of the same memory, as ``StructuredAction`` does).  It keeps the formed run in
work arrays, which a lock guards: threads that share one trajectory take turns.
"""

from __future__ import annotations

import threading

import numpy as np

FORM_WEIGHT = 3
"""Multiply–adds one formed element of C_j is counted as (see the module docstring)."""

RUN_BYTES = 2**22
"""Bytes of the C_j formed at a time, for a run of consecutive steps (at least one step)."""


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
    total = sum(sizes)
    formed = sum(sizes[term.row] * sizes[term.col] for term in plan.terms)
    product = sum(total * sizes[col] for col, count in enumerate(plan.stacks) if count)
    return FORM_WEIGHT * formed + product * columns


def stacked_cost(plan, sizes: list[int], columns: int) -> int:
    """Multiply–adds of one ``StructuredAction`` on ``columns`` columns (batch 1), the
    stacked matrices having the row count of the largest row block."""
    return sum(count * max(sizes) * sizes[col] for col, count in enumerate(plan.stacks)) * columns


class _RowWrite:
    """One row block i of C_j: its terms' matrices side by side, packed once, and the
    coefficient and diagonal stacks it takes its per-step values from."""

    def __init__(self, rows: slice, width: int, matrices: list, coefficients: list, diagonals: list, dtype):
        self.rows, self.coefficients, self.diagonals = rows, coefficients, diagonals
        self.height = rows.stop - rows.start
        self.stacked = (np.ascontiguousarray(np.concatenate(matrices, axis=1)) if matrices
                        else np.zeros((self.height, 0), dtype))
        self.offsets = np.arange(len(matrices), dtype=np.int64) * width
        self.table = np.array([[0, width, 0, len(matrices), 0 if diagonals else -1]], dtype=np.int64)


class FormedAction:
    """``numpy_apply(t, V)`` = J_t V by the formed matrix columns (see the module docstring).

    ``stacked`` is the trajectory's ``StructuredAction`` (its plan; it serves torch blocks that
    autograd tracks), ``values`` the kernel arguments (for ``plan.matrices``), ``coefficients``
    and ``diagonals`` the factor stacks of ``_tangent.stack_factors``, all NumPy (or plain CPU
    tensors, used through NumPy views); ``batch`` the trajectory's batch shape.

    The C_j of a run of consecutive steps are formed by one call of the writer, the run's
    steps taken as its samples (R·B samples for a run of R steps at batch size B): its
    four-sample passes then serve every step at batch size 1, and a call is made every R steps.
    R keeps the run's C_j within :data:`RUN_BYTES`."""

    numpy_views = True

    def __init__(self, stacked, values: list, sizes: list[int], coefficients: list, diagonals: list, batch: tuple):
        from ._arrays import to_numpy
        from ._fused import TILE_BYTES, _sample_block, _write_rows_serial

        self._kernel, self.stacked, plan = _write_rows_serial, stacked, stacked.plan
        matrices = [to_numpy(m) for m in plan.matrices(*values)]
        coefficients, diagonals = [to_numpy(c) for c in coefficients], [to_numpy(d) for d in diagonals]
        self.dtype = matrices[0].dtype
        self.batch, self.count = tuple(batch), int(np.prod(batch, dtype=np.int64))
        self.offsets = np.cumsum([0, *sizes]).tolist()
        self.steps = int(coefficients[0].shape[0]) if coefficients else int(diagonals[0].shape[0])
        groups = _term_groups(plan)
        starts = np.cumsum([0, *plan.stacks]).tolist()
        self.columns, self.elementwise = [], []  # [(col, [_RowWrite])], [(row, col, diagonal stacks)]
        for col, count in enumerate(plan.stacks):
            if not count:
                self.elementwise += [(row, col, [diagonals[p] for p in groups[(row, c)][1]])
                                     for row, c in sorted(groups) if c == col]
                continue
            writes = []
            for row in range(len(sizes)):
                terms, positions = groups.get((row, col), ([], []))
                if terms or positions:
                    group = matrices[starts[col]:starts[col] + count]
                    writes.append(_RowWrite(slice(self.offsets[row], self.offsets[row + 1]), sizes[col],
                                            [group[product] for _, product in terms],
                                            [coefficients[c] for c, _ in terms], [diagonals[p] for p in positions],
                                            self.dtype))
            self.columns.append((col, writes))
        step_bytes = self.count * self.offsets[-1] * sum(sizes[col] for col, _ in self.columns) * self.dtype.itemsize
        self.run = max(1, min(self.steps, RUN_BYTES // step_bytes))
        samples = self.run * self.count
        self.formed = [np.zeros((samples, self.offsets[-1], sizes[col]), self.dtype) for col, _ in self.columns]
        for _, writes in self.columns:
            for write in writes:
                write.tile = max(1, min(write.height, TILE_BYTES // max(1, write.stacked.shape[1] * self.dtype.itemsize)))
                write.sample_block = _sample_block(samples, -(-write.height // write.tile), 1)
        self.formed_from, self.lock = None, threading.Lock()

    def __call__(self, t: int, block):
        """J_t V for a NumPy block, or a plain torch block through NumPy views; a torch block
        that autograd tracks takes ``stacked``'s torch operations."""
        if isinstance(block, np.ndarray):
            return self.numpy_apply(t, block)
        if not self.stacked.xp.numpy_views([block]):
            return self.stacked(t, block)
        import torch

        return torch.from_numpy(self.numpy_apply(t, block.numpy()))

    def numpy_apply(self, t: int, block):
        """J_t V for a NumPy block ``(..., S, k)``, 1 ≤ t ≤ T."""
        index = t - 1
        columns = int(block.shape[-1])
        if block.shape[:-2] != self.batch:
            block = np.broadcast_to(block, (*self.batch, *block.shape[-2:]))
        frame = block.reshape(self.count, self.offsets[-1], columns)
        result = None
        with self.lock:
            if self.formed_from is None or not self.formed_from <= index < self.formed_from + self.run:
                self._form(min(index, self.steps - self.run))
            samples = slice((index - self.formed_from) * self.count, (index - self.formed_from + 1) * self.count)
            for (col, _), formed in zip(self.columns, self.formed):
                product = formed[samples] @ frame[:, self.offsets[col]:self.offsets[col + 1]]
                if result is None:
                    result = product
                else:
                    result += product
        for row, col, stacks in self.elementwise:
            target = result[:, self.offsets[row]:self.offsets[row + 1]]
            for stack in stacks:
                value = np.broadcast_to(stack[index], (*self.batch, self.offsets[row + 1] - self.offsets[row]))
                target += value.reshape(self.count, -1)[:, :, None] * frame[:, self.offsets[col]:self.offsets[col + 1]]
        return result.reshape(*self.batch, self.offsets[-1], columns)

    def _form(self, first: int) -> None:
        """C_j of steps first+1 .. first+run, from their coefficients and summed diagonals
        packed per row block as C-contiguous (P, run·B, height) and (0 or 1, run·B, height)."""
        stop = first + self.run
        shape = (self.run * self.count, -1)
        for (_, writes), formed in zip(self.columns, self.formed):
            for write in writes:
                packed = np.empty((len(write.coefficients), *shape[:1], write.height), self.dtype)
                for term, stack in enumerate(write.coefficients):
                    packed[term] = self._steps(stack, first, stop, write.height).reshape(shape)
                diagonal = np.zeros((int(bool(write.diagonals)), *shape[:1], write.height), self.dtype)
                for stack in write.diagonals:
                    diagonal[0] += self._steps(stack, first, stop, write.height).reshape(shape)
                self._kernel(formed, write.rows.start, write.table, write.offsets, packed, write.stacked, diagonal,
                             write.tile, write.sample_block)
        self.formed_from = first

    def _steps(self, stack, first: int, stop: int, height: int):
        """``stack[first:stop]`` broadcast per step to ``(*batch, height)``: a step's value may
        be ``(*batch, height)``, ``(height,)`` or ``(1,)``."""
        values = stack[first:stop]
        missing = len(self.batch) + 1 - (values.ndim - 1)
        values = values.reshape(values.shape[0], *([1] * missing), *values.shape[1:])
        return np.broadcast_to(values, (stop - first, *self.batch, height))
