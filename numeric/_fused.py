"""One-pass dense writes of Jacobian block rows made of row-scaled matrices, compiled by numba.

Every state and input Jacobian block of the catalogue cells has the form

    J_st[b] = Σ_k diag(u_k[b]) · M_k  +  diag(d[b]),        d = Σ_l d_l,

with the u_k, d_l per sample and the matrices M_k (sums of parameter matrices, their
transposes and I) shared by the batch; e.g. the GRU's ∂h'/∂h (Can et al. 2020, MATH.md) is
diag(z) + diag(u_n) W_hn + diag(u_r) W_hr + diag(u_z) W_hz.  Written with array operations,
each term is one more pass over the B·R·C output.  The numba kernel here writes each output
row once, left to right across the blocks of a block row (for the LSTM, [∂h'/∂h  ∂h'/∂c]),
summing four terms at a time in registers, so its cost is close to that of writing the
output (benchmarks/kernels.py measures it against a plain fill).

Layout decisions (measured at B = n = 256 on a 2-core machine):

* samples are processed in groups of :data:`GROUP`: row i of each M_k is read from cache
  once per group rather than once per sample; groups are spread over numba's threads;
* whole output rows are written, not one block at a time: writing the four n×n blocks of
  the LSTM's 2n×2n Jacobian separately took 1.6× as long as writing its two block rows;
* coefficients are packed into one zero-padded (P, B, R) array and the matrices side by
  side into one (R, ΣC_k) array, so one compiled kernel serves every cell and each dtype
  compiles once; compiled code is cached on disk (``cache=True``).

The back-ends import this module (and so numba) on first use, so ``import numeric`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

GROUP = 2
"""Samples that share each read of a matrix row."""

TERMS_PER_PASS = 4
"""Terms summed in registers per pass over an output row (the kernel's body names four)."""

NO_DIAGONAL = -1


@dataclass(frozen=True)
class Segment:
    """One block of a block row: columns ``cols`` of the output hold Σ_k diag(c_k)·M_k +
    diag(Σ_l d_l).  ``coefficients`` and ``diagonals`` broadcast to (B, R) (per-sample
    vectors, shared vectors or scalars); ``matrices`` are (R, C) arrays, one per coefficient;
    diagonal terms need a square block."""

    cols: slice
    coefficients: list
    matrices: list
    diagonals: list


def write_block_row(out: np.ndarray, rows: slice, segments: list[Segment]) -> None:
    """Write ``out[:, rows, segment.cols]`` for every segment, one pass per output row.

    ``out``: a C-contiguous (B, rows, cols) array; columns of ``rows`` that no segment
    covers are left as they are.
    """
    batch, height, dtype = out.shape[0], rows.stop - rows.start, out.dtype
    padded = [TERMS_PER_PASS * -(-len(s.matrices) // TERMS_PER_PASS) for s in segments]
    packed = np.zeros((sum(padded), batch, height), dtype)
    stacked = np.empty((height, sum(s.cols.stop - s.cols.start for s in segments for _ in s.matrices)), dtype)
    offsets = np.zeros(len(packed), np.int64)
    table = np.empty((len(segments), 5), np.int64)
    diagonals = np.empty((sum(bool(s.diagonals) for s in segments), batch, height), dtype)
    term = column = diagonal = 0
    for index, (segment, count) in enumerate(zip(segments, padded)):
        width = segment.cols.stop - segment.cols.start
        table[index] = (segment.cols.start, width, term, count, diagonal if segment.diagonals else NO_DIAGONAL)
        for k, (coefficient, matrix) in enumerate(zip(segment.coefficients, segment.matrices)):
            packed[term + k] = coefficient
            stacked[:, column:column + width] = matrix
            offsets[term + k:term + count] = column  # padded terms (u = 0) reuse the last matrix
            column += width
        if segment.diagonals:
            diagonals[diagonal] = sum(segment.diagonals[1:], segment.diagonals[0])
            diagonal += 1
        term += count
    _write_rows(out, rows.start, table, offsets, packed, stacked, diagonals, GROUP)


@numba.njit(parallel=True, cache=True)
def _write_rows(out, row0, table, offsets, packed, stacked, diagonals, group):
    """The kernel: rows ``row0 + i`` of every sample b, segment by segment (see ``table``:
    first column, width, first packed term, padded term count, diagonal index or -1)."""
    batch, height = packed.shape[1], packed.shape[2]
    for first_sample in numba.prange((batch + group - 1) // group):
        for i in range(height):
            for b in range(first_sample * group, min(batch, first_sample * group + group)):
                for s in range(table.shape[0]):
                    col0, width, first, count, diagonal = table[s]
                    row = out[b, row0 + i, col0:col0 + width]
                    if count == 0:
                        row[:] = 0
                    for k in range(first, first + count, TERMS_PER_PASS):
                        u0, u1, u2, u3 = packed[k, b, i], packed[k + 1, b, i], packed[k + 2, b, i], packed[k + 3, b, i]
                        m0 = stacked[i, offsets[k]:offsets[k] + width]
                        m1 = stacked[i, offsets[k + 1]:offsets[k + 1] + width]
                        m2 = stacked[i, offsets[k + 2]:offsets[k + 2] + width]
                        m3 = stacked[i, offsets[k + 3]:offsets[k + 3] + width]
                        if k == first:
                            for j in range(width):
                                row[j] = u0 * m0[j] + u1 * m1[j] + u2 * m2[j] + u3 * m3[j]
                        else:
                            for j in range(width):
                                row[j] += u0 * m0[j] + u1 * m1[j] + u2 * m2[j] + u3 * m3[j]
                    if diagonal != NO_DIAGONAL:
                        row[i] += diagonals[diagonal, b, i]
