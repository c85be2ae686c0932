"""The numba kernel of the formed action (``_tangent_formed``): a run of steps V ← J_t V, each
step's matrix columns formed a tile of rows at a time in cache and multiplied at once.

For a row tile of block i (rows p0 .. p0 + r of the block) and a column block j whose block (i, j)
has matrix terms (docs/theory.md: “Lyapunov exponents”), the tile

    C_ij[p0:p0+r] = Σ_a diag(u_{ija}[p0:p0+r]) M_{ija}[p0:p0+r] + diag(d_{ij})[p0:p0+r]

is summed in a per-thread work array (up to four terms per pass over a row, each row written
once) and multiplied by V_j with one BLAS product (numba's ``np.dot``), straight into the output
rows; blocks (i, j) with diagonal terms only add d ⊙ V_j elementwise.  A tile of
:data:`TILE_BYTES` stays in the second-level cache between its forming and its product, so C_t
never goes to memory: the n = 256, k = 32 tile of 64 rows is formed in 7 µs (four terms) and
multiplied in 18 µs (29 G multiply–adds/s, against 20 G for the whole 512×256 C_t read back
from memory: 200 µs; 330 µs when C_t was written by an earlier call).

Tasks (a sample's row tile) are numbered tile-major, the tiles of all row blocks that share
rows p0 .. p0 + r next to each other (their matrices share rows, read once into cache), and
``workers`` threads take consecutive equal shares of them; every step is one parallel region
(the next step needs all of this one's rows).  The products run with BLAS on one thread
(the caller sets it, ``_tangent_formed``): the threads here are the parallelism.

Where the LSTM's k = 32 spectrum at n = 256, T = 2000 goes (float64, batch 1; the arithmetic:
the product 2n·n·k = 4.2 M multiply–adds a step, 8.4 G in all, 0.29 s at the 29 G/s of one
core; forming 7n² = 0.46 M element-terms a step).  One thread, CPU seconds: rollout 0.19, this
kernel 0.45–0.47 (products 0.29, forming about 0.10, the rest the c column's elementwise terms
and the tiles' bookkeeping), QRs (63 of them, 0.2 ms each) 0.015, packing and Python 0.03 —
0.71 in all (1.11 before this kernel).  Two threads: the kernel's step took 126 µs of wall time
against 227 µs on one (1.8×; minima of 60 runs of 32 steps at load 2.8, so about 0.25 s for
T = 2000), the GRU's 65 against 108 µs (1.7×); the rollout and the QRs stay on one thread.

Tables (int64): ``tiles[t] = (first row of the state vector, rows, first row p0 within its
block, first group, end group)``; ``groups[g] = (column offset of block j, width n_j, first term,
end term, first diagonal, end diagonal)``, a group with no terms adding its diagonals
elementwise; ``terms[q] = (coefficient offset, matrix offset)``: term q's row p is
``coefficients[s, offset + p] · matrices[matrix offset + p·n_j : … + n_j]`` at sample-step s;
``diagonals`` lists coefficient offsets the same way.
"""

from __future__ import annotations

import numba
import numpy as np

from ._numba_cache import cached_njit

TILE_BYTES = 2**17
"""Bytes of formed rows per tile (kept in the second-level cache until multiplied)."""


@numba.njit(inline="always")
def _row_pass(row, values, s, terms, q, count, p, width, matrices, assign):
    """``row (=|+=) Σ_{c<count} u_c · M_c[p]`` for the ``count`` ≤ 4 terms from ``q``."""
    u0 = values[s, terms[q, 0] + p]
    m0 = matrices[terms[q, 1] + p * width:terms[q, 1] + (p + 1) * width]
    u1 = values[s, terms[q + 1, 0] + p] if count > 1 else 0.0
    m1 = matrices[terms[q + 1, 1] + p * width:terms[q + 1, 1] + (p + 1) * width] if count > 1 else m0
    u2 = values[s, terms[q + 2, 0] + p] if count > 2 else 0.0
    m2 = matrices[terms[q + 2, 1] + p * width:terms[q + 2, 1] + (p + 1) * width] if count > 2 else m0
    u3 = values[s, terms[q + 3, 0] + p] if count > 3 else 0.0
    m3 = matrices[terms[q + 3, 1] + p * width:terms[q + 3, 1] + (p + 1) * width] if count > 3 else m0
    if count == 1:
        if assign:
            for j in range(width):
                row[j] = u0 * m0[j]
        else:
            for j in range(width):
                row[j] += u0 * m0[j]
    elif count == 2:
        if assign:
            for j in range(width):
                row[j] = u0 * m0[j] + u1 * m1[j]
        else:
            for j in range(width):
                row[j] += u0 * m0[j] + u1 * m1[j]
    elif count == 3:
        if assign:
            for j in range(width):
                row[j] = u0 * m0[j] + u1 * m1[j] + u2 * m2[j]
        else:
            for j in range(width):
                row[j] += u0 * m0[j] + u1 * m1[j] + u2 * m2[j]
    elif assign:
        for j in range(width):
            row[j] = u0 * m0[j] + u1 * m1[j] + u2 * m2[j] + u3 * m3[j]
    else:
        for j in range(width):
            row[j] += u0 * m0[j] + u1 * m1[j] + u2 * m2[j] + u3 * m3[j]


@numba.njit(inline="always")
def _tile(frame, out, work, b, s, tile, values, tiles, groups, terms, diagonals, matrices):
    """Rows ``tiles[tile]`` of sample b's J V (``out``) from ``frame``, at sample-step s."""
    first, rows, p0 = tiles[tile, 0], tiles[tile, 1], tiles[tile, 2]
    target = out[b][first:first + rows]
    started = False
    for g in range(tiles[tile, 3], tiles[tile, 4]):
        column, width, q0, q1 = groups[g, 0], groups[g, 1], groups[g, 2], groups[g, 3]
        if q0 == q1:
            continue
        formed = work[:rows * width].reshape((rows, width))
        for p in range(rows):
            row = formed[p]
            q = q0
            while q < q1:
                count = min(4, q1 - q)
                _row_pass(row, values, s, terms, q, count, p0 + p, width, matrices, q == q0)
                q += count
            for d in range(groups[g, 4], groups[g, 5]):
                row[p0 + p] += values[s, diagonals[d] + p0 + p]
        source = frame[b][column:column + width]
        if started:
            target += np.dot(formed, source)
        else:
            np.dot(formed, source, target)
            started = True
    if not started:
        target[:] = 0
    for g in range(tiles[tile, 3], tiles[tile, 4]):
        if groups[g, 2] != groups[g, 3]:
            continue
        for d in range(groups[g, 4], groups[g, 5]):
            for p in range(rows):
                u = values[s, diagonals[d] + p0 + p]
                source_row = frame[b][groups[g, 0] + p0 + p]
                target_row = target[p]
                for c in range(target_row.shape[0]):
                    target_row[c] += u * source_row[c]


@numba.njit(inline="always")
def _share(frame, out, work, worker, workers, s0, values, tiles, groups, terms, diagonals, matrices):
    """Worker ``worker``'s consecutive share of the step's tasks (sample-step rows s0 + b)."""
    count = tiles.shape[0]
    tasks = frame.shape[0] * count
    for task in range(worker * tasks // workers, (worker + 1) * tasks // workers):
        b = task // count
        _tile(frame, out, work[worker], b, s0 + b, task % count, values, tiles, groups, terms, diagonals, matrices)


@cached_njit(parallel=True, nogil=True)
def _advance_parallel(frame, out, first, steps, values, tiles, groups, terms, diagonals, matrices, work):
    """``steps`` steps V ← J V from ``frame`` (B, S, k), alternating with ``out``, the steps'
    coefficients at rows (first + step)·B + b of ``values``; one thread per row of ``work``.
    Returns the array holding the result."""
    workers = work.shape[0]
    for step in range(steps):
        s0 = (first + step) * frame.shape[0]
        for worker in numba.prange(workers):
            _share(frame, out, work, worker, workers, s0, values, tiles, groups, terms, diagonals, matrices)
        frame, out = out, frame
    return frame


@cached_njit(nogil=True)
def _advance_serial(frame, out, first, steps, values, tiles, groups, terms, diagonals, matrices, work):
    """:func:`_advance_parallel` on the calling thread alone (numba's pool untouched)."""
    for step in range(steps):
        _share(frame, out, work, 0, 1, (first + step) * frame.shape[0], values, tiles, groups, terms, diagonals,
               matrices)
        frame, out = out, frame
    return frame
