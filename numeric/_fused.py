"""One-pass dense writes of Jacobian block rows made of row-scaled matrices, compiled by numba.

Every state and input Jacobian block of the catalogue cells has the form

    J_st[b] = Σ_k diag(u_k[b]) · M_k  +  diag(d[b]),        d = Σ_l d_l,

with the u_k, d_l per sample and the matrices M_k (sums of parameter matrices, their
transposes and I) shared by the batch; e.g. the GRU's ∂h'/∂h (Can et al. 2020, docs/theory.md: “The catalogue”) is
diag(z) + diag(u_n) W_hn + diag(u_r) W_hr + diag(u_z) W_hz.  Written with array operations,
each term is one more pass over the B·R·C output.  The numba kernel here builds each output
row ``J[b, i, :] = Σ_k u_k[b, i] · M_k[i, :]`` in the first-level cache and writes it to
memory once, so its cost is close to that of filling the output (``benchmarks/kernels.py``
measures it against a plain fill).

Layout decisions (measured at B = n = 256 on a 2-core machine):

* rows are taken in tiles whose matrix rows (Σ_k C_k values each) fit in a quarter of the
  second-level cache: a tile's rows of every M_k stay in cache while it serves every sample,
  and each sample's rows of the tile are written to memory in one contiguous run (writing
  row i of all samples before row i + 1 jumps across the output and took 1.05–1.37× as long);
* samples are taken four at a time (:data:`SAMPLE_GROUP`): each matrix value loaded from
  cache serves the same row of four samples, and a pass adds up to four terms to the four
  rows (the first pass ``count % 4`` of them, or four), so the GRU's three terms are one
  pass; against two terms per pass on one sample at a time this took 0.81–0.89× the time
  for one to four terms (B = n = 256, float64 and float32), and brought three- and
  four-term block rows to 0.95–1.25× the time of a plain ``fill``; the samples left at
  the end of a block (fewer than four) are written one at a time, two terms per pass —
  one compiled kernel serves every cell, whatever its number of terms, and each dtype
  compiles once per machine: the compiled code is cached on disk, in a per-user directory
  (``_numba_cache``: ``$XDG_CACHE_HOME/gatejac/numba`` or ``~/.cache/gatejac/numba``, or
  ``$GATEJAC_CACHE_DIR/numba``, or numba's ``NUMBA_CACHE_DIR``);
* the coefficients are packed into one (P, B, R) array and the matrices side by side into
  one (R, ΣC_k) array, so the kernel takes a fixed set of arrays;
* the kernel is built twice from one task body (:func:`_write_task`): ``_write_rows`` runs the
  tasks on numba's threads, ``_write_rows_serial`` on the calling thread without touching
  numba's thread pool (block rows under 2 MiB, see ``_blockrow``);
* a serial block row whose matrices fit in :data:`NARROW_MATRIX_BYTES` (16 KiB: n ≤ 26 for
  the GRU in float64, n ≤ 36 in float32) is written by ``_write_narrow`` instead, one sample
  at a time with unsigned indices and no per-row views, with the same sums bit for bit (the
  four-sample kernel's views cost more than its arithmetic on rows of 16 values);
* a parallel block row of :data:`STREAM_MIN_BYTES` (32 MiB) or more whose rows start on 16-byte
  boundaries (:func:`streams`) is streamed: each four-sample row is computed into a flat
  scratch in the first-level cache, one pass of up to four terms with unsigned indices
  (:func:`_scratch_terms`), then copied out
  with streaming stores (``_streaming``), which skip reading the destination lines before
  writing them; the same sums bit for bit.  GRU block row at B = n = 256, one thread, CPU
  minima side by side (``benchmarks/kernels.py --phases``, quiet machine): 5.39 against
  8.92 ms (float64), 2.76 against 4.61 ms (float32); the fill 5.61 and 2.15 ms.

The first call on a machine compiles the kernels (``benchmarks/cold_start.py`` measures it; the
streamed path doubled the parallel kernel's share); later processes load them from the cache, the
first dense Jacobian costing mostly numba's own start-up (the README gives both).  The back-ends
import this module (and so numba) on first use, so ``import numeric`` does not import numba.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numba
import numpy as np

from gatejac.symbolic import GatejacError

from ._numba_cache import cached_njit
from ._numba_threads import thread_count
from ._streaming import VECTOR_BYTES, store_fence, stream_copy

NO_DIAGONAL = -1

TILE_BYTES = 2**17
"""Bytes of matrix rows a tile keeps in the second-level cache while it serves the batch."""

TASKS_PER_THREAD = 4
"""Parallel tasks (tiles × sample blocks) per numba thread, for balance."""

SAMPLE_GROUP = 4
"""Samples whose rows are written together, so that each matrix row loaded serves four
output rows (the kernel's four-sample helpers are written for this value)."""

NARROW_MATRIX_BYTES = 2**14
"""Serial block rows whose matrices M_k take at most this many bytes together are written by
:func:`_write_narrow`: one sample at a time, every matrix row read again for each sample from
the first-level cache (32 KiB here), which they then fill at most half of, with no per-row array
views.  Single-thread CPU minima at B = 256 (numba 0.68, AMD EPYC), narrow / four-sample kernel,
µs: n = 16, one term 30 / 84 (float64), 23 / 79 (float32); three terms and a diagonal (the
GRU) 62 / 97 and 41 / 89; n = 24, three terms, 122 / 157 and 70 / 137; n = 8 26 / 53; n = 32,
four terms, float32 (16 KiB of matrices) 152 / 207, but float64 (32 KiB) 342 / 253 and n = 64,
three terms, float32 (48 KiB) 500 / 445: the first-level cache no longer holds the matrices."""

STREAM_MIN_BYTES = 2**25
"""Parallel block rows of at least this many output bytes (the third-level cache here) are
written with streaming stores (``_streaming``).  Streamed / ordinary, one thread, CPU minima
(``benchmarks/kernels.py --phases``, B = 256): 16 MiB block rows (n = 128, float32) 1.19–1.47,
the fill then taking 0.29 ms, faster than memory: the output partly stays in the cache;
32 MiB 0.88–0.96 (float64), 0.89 (the LSTM's, float32); 64 MiB 0.74 (the LSTM's, float64)."""

SCRATCH_MAX_BYTES = 2**26
"""Work arrays larger than this are not kept between calls."""

_SCRATCH = threading.local()


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


def write_block_row(out: np.ndarray, rows: slice, segments: list[Segment], parallel: bool = True,
                    stream: bool | None = None) -> None:
    """Write ``out[:, rows, segment.cols]`` for every segment, each output row once.

    ``out``: a C-contiguous (B, rows, cols) array; columns of ``rows`` that no segment
    covers are left as they are.  ``parallel``: on numba's threads, or else on the calling
    thread only (small block rows, see ``_blockrow``).  ``stream``: whether the parallel kernel
    writes the rows of whole sample groups with streaming stores (the same bits); by default
    when :func:`streams` says so.
    """
    batch, height = out.shape[0], rows.stop - rows.start
    for segment in segments:
        if segment.diagonals and segment.cols.stop - segment.cols.start != height:
            raise GatejacError(
                f"internal error: a diagonal term in a {height}×{segment.cols.stop - segment.cols.start} block; "
                "diagonal terms need square blocks (please report this with the cell)"
            )
    table, offsets, packed, stacked, diagonals = _pack(out, rows, segments)
    if stream is None:
        stream = parallel and streams(out, rows, segments)
    if not parallel and stacked.nbytes <= NARROW_MATRIX_BYTES and out.flags.c_contiguous:
        _write_narrow(out, rows.start, table, offsets, packed, stacked, diagonals)
        return
    tile = max(1, min(height, TILE_BYTES // max(1, stacked.shape[1] * stacked.itemsize)))
    if parallel:
        _write_rows(out, rows.start, table, offsets, packed, stacked, diagonals, tile,
                    _sample_block(batch, -(-height // tile), thread_count()), stream)
    else:
        _write_rows_serial(out, rows.start, table, offsets, packed, stacked, diagonals, tile,
                           _sample_block(batch, -(-height // tile), 1))


def streams(out: np.ndarray, rows: slice, segments: list[Segment]) -> bool:
    """Whether the parallel kernel writes this block row with streaming stores: when it has at
    least :data:`STREAM_MIN_BYTES` and every output row of every segment starts on a
    :data:`_streaming.VECTOR_BYTES` boundary (so no cache line takes both ordinary and
    streaming stores)."""
    itemsize = out.itemsize
    starts = [out.ctypes.data, out.shape[2] * itemsize] + [s.cols.start * itemsize for s in segments]
    return (out.shape[0] * (rows.stop - rows.start) * out.shape[2] * itemsize >= STREAM_MIN_BYTES
            and all(start % VECTOR_BYTES == 0 for start in starts))


def _sample_block(batch: int, tiles: int, threads: int) -> int:
    """Samples per parallel task, a whole number of sample groups: at least
    :data:`TASKS_PER_THREAD` tasks (tiles × sample blocks) per thread, and if possible a task
    count that the threads divide, because numba hands each thread an equal run of tasks (13
    tasks on 2 threads, the GRU at B = n = 256, took 1.13× the time of 26)."""
    groups = -(-batch // SAMPLE_GROUP)
    for blocks in range(max(1, -(-TASKS_PER_THREAD * threads // tiles)), groups + 1):
        size = -(-groups // blocks)
        if tiles * -(-groups // size) % threads == 0:
            return size * SAMPLE_GROUP
    return SAMPLE_GROUP


def _pack(out: np.ndarray, rows: slice, segments: list[Segment]) -> tuple:
    """The kernel's inputs: the segment table, matrix offsets, the coefficients packed as
    (P, B, R), the matrices side by side as (R, ΣC_k), the summed diagonals as (D, B, R)."""
    batch, height, dtype = out.shape[0], rows.stop - rows.start, out.dtype
    terms, widths = [len(s.matrices) for s in segments], [s.cols.stop - s.cols.start for s in segments]
    packed = _scratch("packed", (sum(terms), batch, height), dtype)
    stacked = _scratch("stacked", (height, sum(width * count for width, count in zip(widths, terms))), dtype)
    diagonals = _scratch("diagonals", (sum(bool(s.diagonals) for s in segments), batch, height), dtype)
    offsets, table = [], []  # made arrays at the end: one conversion instead of one per entry
    term = column = diagonal = 0
    for segment, width in zip(segments, widths):
        table.append((segment.cols.start, width, term, len(segment.matrices),
                      diagonal if segment.diagonals else NO_DIAGONAL))
        for coefficient, matrix in zip(segment.coefficients, segment.matrices):
            packed[term] = coefficient
            stacked[:, column:column + width] = matrix
            offsets.append(column)
            term, column = term + 1, column + width
        if segment.diagonals:
            diagonals[diagonal] = sum(segment.diagonals[1:], segment.diagonals[0])
            diagonal += 1
    return (np.array(table, np.int64).reshape(len(segments), 5), np.array(offsets, np.int64), packed, stacked,
            diagonals)


def _scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A work array of this thread, reused while calls ask for the same shape and dtype: a
    fresh array of a few MB costs page faults on every call (zero-filled fresh work arrays took
    about 1 ms per call at B = n = 256 in a profile)."""
    buffers = _SCRATCH.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = np.empty(shape, dtype)
        buffers[name] = buffer if buffer.nbytes <= SCRATCH_MAX_BYTES else None
    return buffer


@numba.njit(inline="always")
def _add_one_term(row, u, matrix_row, assign):
    """``row (=|+=) u · matrix_row``."""
    if assign:
        for j in range(row.shape[0]):
            row[j] = u * matrix_row[j]
    else:
        for j in range(row.shape[0]):
            row[j] += u * matrix_row[j]


@numba.njit(inline="always")
def _add_two_terms(row, u, matrix_row, v, other_row, assign):
    """``row (=|+=) u · matrix_row + v · other_row``: one pass over the row for two terms."""
    if assign:
        for j in range(row.shape[0]):
            row[j] = u * matrix_row[j] + v * other_row[j]
    else:
        for j in range(row.shape[0]):
            row[j] += u * matrix_row[j] + v * other_row[j]


@numba.njit(inline="always")
def _matrix_row(stacked, offsets, k, i, width):
    """Row i of term k's matrix."""
    return stacked[i, offsets[k]:offsets[k] + width]


@numba.njit(inline="always")
def _segment_row(out, b, i, row, col0, width, first, count, diagonal, packed, stacked, offsets, diagonals):
    """Sample b's output row ``row`` (matrix row i) of one segment, two terms per pass."""
    target = out[b, row, col0:col0 + width]
    if count == 0:
        target[:] = 0
    for k in range(first, first + count, 2):
        matrix_row = _matrix_row(stacked, offsets, k, i, width)
        if k + 1 == first + count:
            _add_one_term(target, packed[k, b, i], matrix_row, k == first)
        else:
            other_row = _matrix_row(stacked, offsets, k + 1, i, width)
            _add_two_terms(target, packed[k, b, i], matrix_row, packed[k + 1, b, i], other_row, k == first)
    if diagonal != NO_DIAGONAL:
        target[i] += diagonals[diagonal, b, i]


@numba.njit(inline="always")
def _coefficients_4(packed, k, b, i):
    """Term k's coefficients of row i for the four samples b..b+3, as scalars (held in
    registers through the row loop)."""
    return packed[k, b, i], packed[k, b + 1, i], packed[k, b + 2, i], packed[k, b + 3, i]


@numba.njit(inline="always")
def _one_term_4(r0, r1, r2, r3, packed, stacked, offsets, k, b, i):
    """``r_q = u_q · M_k[i]`` for the four samples q = b..b+3 (u = packed[k, :, i])."""
    u0, u1, u2, u3 = _coefficients_4(packed, k, b, i)
    m = _matrix_row(stacked, offsets, k, i, r0.shape[0])
    for j in range(r0.shape[0]):
        x = m[j]
        r0[j] = u0 * x
        r1[j] = u1 * x
        r2[j] = u2 * x
        r3[j] = u3 * x


@numba.njit(inline="always")
def _two_terms_4(r0, r1, r2, r3, packed, stacked, offsets, k, b, i):
    """``r_q = u_q · M_k[i] + v_q · M_{k+1}[i]`` for the four samples q = b..b+3."""
    u0, u1, u2, u3 = _coefficients_4(packed, k, b, i)
    v0, v1, v2, v3 = _coefficients_4(packed, k + 1, b, i)
    m = _matrix_row(stacked, offsets, k, i, r0.shape[0])
    p = _matrix_row(stacked, offsets, k + 1, i, r0.shape[0])
    for j in range(r0.shape[0]):
        x = m[j]
        y = p[j]
        r0[j] = u0 * x + v0 * y
        r1[j] = u1 * x + v1 * y
        r2[j] = u2 * x + v2 * y
        r3[j] = u3 * x + v3 * y


@numba.njit(inline="always")
def _three_terms_4(r0, r1, r2, r3, packed, stacked, offsets, k, b, i):
    """``r_q = Σ_{t<3} packed[k+t, q, i] · M_{k+t}[i]`` for the four samples q = b..b+3."""
    u0, u1, u2, u3 = _coefficients_4(packed, k, b, i)
    v0, v1, v2, v3 = _coefficients_4(packed, k + 1, b, i)
    w0, w1, w2, w3 = _coefficients_4(packed, k + 2, b, i)
    m = _matrix_row(stacked, offsets, k, i, r0.shape[0])
    p = _matrix_row(stacked, offsets, k + 1, i, r0.shape[0])
    e = _matrix_row(stacked, offsets, k + 2, i, r0.shape[0])
    for j in range(r0.shape[0]):
        x = m[j]
        y = p[j]
        z = e[j]
        r0[j] = u0 * x + v0 * y + w0 * z
        r1[j] = u1 * x + v1 * y + w1 * z
        r2[j] = u2 * x + v2 * y + w2 * z
        r3[j] = u3 * x + v3 * y + w3 * z


@numba.njit(inline="always")
def _four_terms_4(r0, r1, r2, r3, packed, stacked, offsets, k, b, i, assign):
    """``r_q (=|+=) Σ_{t<4} packed[k+t, q, i] · M_{k+t}[i]`` for the four samples q = b..b+3."""
    u0, u1, u2, u3 = _coefficients_4(packed, k, b, i)
    v0, v1, v2, v3 = _coefficients_4(packed, k + 1, b, i)
    w0, w1, w2, w3 = _coefficients_4(packed, k + 2, b, i)
    t0, t1, t2, t3 = _coefficients_4(packed, k + 3, b, i)
    m = _matrix_row(stacked, offsets, k, i, r0.shape[0])
    p = _matrix_row(stacked, offsets, k + 1, i, r0.shape[0])
    e = _matrix_row(stacked, offsets, k + 2, i, r0.shape[0])
    f = _matrix_row(stacked, offsets, k + 3, i, r0.shape[0])
    for j in range(r0.shape[0]):
        x = m[j]
        y = p[j]
        z = e[j]
        q = f[j]
        s0 = u0 * x + v0 * y + w0 * z + t0 * q
        s1 = u1 * x + v1 * y + w1 * z + t1 * q
        s2 = u2 * x + v2 * y + w2 * z + t2 * q
        s3 = u3 * x + v3 * y + w3 * z + t3 * q
        if assign:
            r0[j] = s0
            r1[j] = s1
            r2[j] = s2
            r3[j] = s3
        else:
            r0[j] += s0
            r1[j] += s1
            r2[j] += s2
            r3[j] += s3


@numba.njit(inline="always")
def _segment_rows_4(out, b, i, row, col0, width, first, count, diagonal, packed, stacked, offsets, diagonals):
    """Output row ``row`` (matrix row i) of samples b..b+3 of one segment.

    The first pass assigns ``count % 4`` terms (four if that is zero), every later pass adds
    four.  Each view is bound by its own statement: under ``parallel=True``, numba 0.68.1
    lost the diagonal writes through views bound by one tuple assignment
    (``r0, r1 = out[b, i], out[b + 1, i]``)."""
    r0 = out[b, row, col0:col0 + width]
    r1 = out[b + 1, row, col0:col0 + width]
    r2 = out[b + 2, row, col0:col0 + width]
    r3 = out[b + 3, row, col0:col0 + width]
    lead = count % 4 if count % 4 else min(count, 4)
    if lead == 0:
        r0[:] = 0
        r1[:] = 0
        r2[:] = 0
        r3[:] = 0
    elif lead == 1:
        _one_term_4(r0, r1, r2, r3, packed, stacked, offsets, first, b, i)
    elif lead == 2:
        _two_terms_4(r0, r1, r2, r3, packed, stacked, offsets, first, b, i)
    elif lead == 3:
        _three_terms_4(r0, r1, r2, r3, packed, stacked, offsets, first, b, i)
    else:
        _four_terms_4(r0, r1, r2, r3, packed, stacked, offsets, first, b, i, True)
    for k in range(first + lead, first + count, 4):
        _four_terms_4(r0, r1, r2, r3, packed, stacked, offsets, k, b, i, False)
    if diagonal != NO_DIAGONAL:
        r0[i] += diagonals[diagonal, b, i]
        r1[i] += diagonals[diagonal, b + 1, i]
        r2[i] += diagonals[diagonal, b + 2, i]
        r3[i] += diagonals[diagonal, b + 3, i]


@numba.njit(inline="always")
def _scratch_terms(target, w, packed, matrices, matrix_row, offsets, first, stop, b, i):
    """``target[q·w + j] = Σ_{first ≤ k < stop} packed[k, b + q, i] · M_k[i, j]`` for the four
    samples q < 4 and one to four terms, in one pass: each sum is formed in registers, left to
    right as :func:`_segment_rows_4` forms it, and stored once (``matrices``: the stacked
    matrices, flat; ``matrix_row``: where row i starts in them).  Unsigned indices into one array
    for the four rows: the loops then compile to vector code without run-time overlap checks
    between the rows.  One store per value instead of one per term: the GRU's block row (three
    terms) at B = n = 256, one thread, CPU minima, took 0.72× (float64) and 0.74× (float32) the
    time of a pass per term, the LSTM's and multi-gate's 0.82–0.90×."""
    terms = stop - first
    m0 = matrix_row + numba.uint64(offsets[first])
    u0, u1, u2, u3 = _coefficients_4(packed, first, b, i)
    if terms == 1:
        for j in range(w):
            x = matrices[m0 + j]
            target[j] = u0 * x
            target[w + j] = u1 * x
            target[2 * w + j] = u2 * x
            target[3 * w + j] = u3 * x
        return
    m1 = matrix_row + numba.uint64(offsets[first + 1])
    v0, v1, v2, v3 = _coefficients_4(packed, first + 1, b, i)
    if terms == 2:
        for j in range(w):
            x, y = matrices[m0 + j], matrices[m1 + j]
            target[j] = u0 * x + v0 * y
            target[w + j] = u1 * x + v1 * y
            target[2 * w + j] = u2 * x + v2 * y
            target[3 * w + j] = u3 * x + v3 * y
        return
    m2 = matrix_row + numba.uint64(offsets[first + 2])
    t0, t1, t2, t3 = _coefficients_4(packed, first + 2, b, i)
    if terms == 3:
        for j in range(w):
            x, y, z = matrices[m0 + j], matrices[m1 + j], matrices[m2 + j]
            target[j] = u0 * x + v0 * y + t0 * z
            target[w + j] = u1 * x + v1 * y + t1 * z
            target[2 * w + j] = u2 * x + v2 * y + t2 * z
            target[3 * w + j] = u3 * x + v3 * y + t3 * z
        return
    m3 = matrix_row + numba.uint64(offsets[first + 3])
    s0, s1, s2, s3 = _coefficients_4(packed, first + 3, b, i)
    for j in range(w):
        x, y, z, e = matrices[m0 + j], matrices[m1 + j], matrices[m2 + j], matrices[m3 + j]
        target[j] = u0 * x + v0 * y + t0 * z + s0 * e
        target[w + j] = u1 * x + v1 * y + t1 * z + s1 * e
        target[2 * w + j] = u2 * x + v2 * y + t2 * z + s2 * e
        target[3 * w + j] = u3 * x + v3 * y + t3 * z + s3 * e


@numba.njit(inline="always")
def _streamed_rows_4(flat, scratch, partial, shape, b, i, row, col0, width, first, count, diagonal, packed, matrices,
                     width_all, offsets, diagonals):
    """:func:`_segment_rows_4` computed in ``scratch`` (the four rows one after another, in the
    first-level cache; ``partial``: the same size, for the passes after the first), with the
    same passes and the same sums bit for bit, then copied to the output (``flat``: its
    (B, R, C) elements in order) with streaming stores (``_streaming``)."""
    w = numba.uint64(width)
    lead = count % SAMPLE_GROUP if count % SAMPLE_GROUP else min(count, SAMPLE_GROUP)
    matrix_row = numba.uint64(i) * width_all
    if count == 0:
        for j in range(SAMPLE_GROUP * w):
            scratch[j] = 0
    else:
        _scratch_terms(scratch, w, packed, matrices, matrix_row, offsets, first, first + lead, b, i)
    for k in range(first + lead, first + count, SAMPLE_GROUP):
        _scratch_terms(partial, w, packed, matrices, matrix_row, offsets, k, k + SAMPLE_GROUP, b, i)
        for j in range(SAMPLE_GROUP * w):
            scratch[j] += partial[j]
    if diagonal != NO_DIAGONAL:
        for q in range(SAMPLE_GROUP):
            scratch[numba.uint64(q) * w + numba.uint64(i)] += diagonals[diagonal, b + q, i]
    start = (b * shape[1] + row) * shape[2] + col0
    for q in range(SAMPLE_GROUP):
        stream_copy(flat, start + q * shape[1] * shape[2], scratch[q * width:(q + 1) * width])


@numba.njit(inline="always")
def _write_task(out, row0, table, offsets, packed, stacked, diagonals, tile, sample_block, task, stream):
    """One task of the kernels below: rows ``[t·tile, (t + 1)·tile)`` of the samples of one
    sample block, for every segment; samples are taken four at a time (the rest one at a time).
    ``stream``: the four-sample rows leave through streaming stores (``write_block_row``), and
    the task ends with a store fence."""
    batch, height = out.shape[0], packed.shape[2]
    blocks = -(-batch // sample_block)
    first_row = (task // blocks) * tile
    first_sample = (task % blocks) * sample_block
    last_sample = min(batch, first_sample + sample_block)
    flat, matrices, width_all = out.reshape(-1), stacked.reshape(-1), numba.uint64(stacked.shape[1])
    scratch = np.empty(SAMPLE_GROUP * out.shape[2] if stream else 0, out.dtype)
    partial = np.empty_like(scratch)
    b = first_sample
    while b < last_sample:
        group = SAMPLE_GROUP if last_sample - b >= SAMPLE_GROUP else 1
        for i in range(first_row, min(height, first_row + tile)):
            for s in range(table.shape[0]):
                if group == SAMPLE_GROUP and stream:
                    _streamed_rows_4(flat, scratch, partial, out.shape, b, i, row0 + i, table[s, 0], table[s, 1],
                                     table[s, 2], table[s, 3], table[s, 4], packed, matrices, width_all, offsets,
                                     diagonals)
                elif group == SAMPLE_GROUP:
                    _segment_rows_4(out, b, i, row0 + i, table[s, 0], table[s, 1], table[s, 2], table[s, 3],
                                    table[s, 4], packed, stacked, offsets, diagonals)
                else:
                    _segment_row(out, b, i, row0 + i, table[s, 0], table[s, 1], table[s, 2], table[s, 3],
                                 table[s, 4], packed, stacked, offsets, diagonals)
        b += group
    if stream:
        store_fence()


@cached_njit(parallel=True)
def _write_rows(out, row0, table, offsets, packed, stacked, diagonals, tile, sample_block, stream):
    """The kernel: ``out[b, row0 + i, cols]`` for every row i, segment and sample b.

    ``table`` has one row per segment: first column, width, first packed term, term count,
    diagonal index (or -1); term k's matrix row i is ``stacked[i, offsets[k]:offsets[k] +
    width]``, its coefficient ``packed[k, b, i]``.  The work is split into tiles of ``tile``
    rows times blocks of ``sample_block`` samples (:func:`_write_task`), run in parallel;
    ``stream``: rows written with streaming stores."""
    tasks = -(-packed.shape[2] // tile) * -(-out.shape[0] // sample_block)
    for task in numba.prange(tasks):
        _write_task(out, row0, table, offsets, packed, stacked, diagonals, tile, sample_block, task, stream)


@cached_njit()
def _write_rows_serial(out, row0, table, offsets, packed, stacked, diagonals, tile, sample_block):
    """:func:`_write_rows` on the calling thread alone, never touching numba's thread pool (a
    parallel region run with one thread still met the pool's spinning workers)."""
    tasks = -(-packed.shape[2] // tile) * -(-out.shape[0] // sample_block)
    for task in range(tasks):
        _write_task(out, row0, table, offsets, packed, stacked, diagonals, tile, sample_block, task, False)


@cached_njit()
def _write_narrow(out, row0, table, offsets, packed, stacked, diagonals):
    """:func:`_write_rows_serial` for small matrices (:data:`NARROW_MATRIX_BYTES`), with the same
    result bit for bit: samples one at a time, each output row written by passes that add the
    terms in the four-sample kernel's order (samples of whole groups of four: a first pass of
    ``count % 4`` terms, or four, then passes of four; the last ``B mod 4`` samples: passes of
    two), each pass's terms summed left to right and added to the row, then the diagonal.  Indices are unsigned
    (``numba.uint64``), so no negative-index wrap-around check stands in the inner loops, which
    then compile to vector code: a four-sample kernel row of 16 values paid more for its four
    array views than for its arithmetic."""
    batch, height = out.shape[0], packed.shape[2]
    rows, cols, width_all = numba.uint64(out.shape[1]), numba.uint64(out.shape[2]), numba.uint64(stacked.shape[1])
    flat, matrices = out.reshape(-1), stacked.reshape(-1)
    grouped = batch - batch % SAMPLE_GROUP
    partial = np.empty(out.shape[2], out.dtype)
    for b in range(batch):
        per_pass = SAMPLE_GROUP if b < grouped else 2
        for s in range(table.shape[0]):
            col0, width = numba.uint64(table[s, 0]), numba.uint64(table[s, 1])
            first, count, diagonal = table[s, 2], table[s, 3], table[s, 4]
            lead = count % SAMPLE_GROUP if per_pass == SAMPLE_GROUP and count % SAMPLE_GROUP else min(count, per_pass)
            for i in range(height):
                o = (numba.uint64(b) * rows + numba.uint64(row0 + i)) * cols + col0
                matrix_row = numba.uint64(i) * width_all
                if count == 0:
                    for j in range(width):
                        flat[o + j] = 0
                else:
                    _narrow_pass(flat, o, width, packed, matrices, matrix_row, offsets, first, first + lead, b, i)
                for k in range(first + lead, first + count, per_pass):
                    _narrow_pass(partial, numba.uint64(0), width, packed, matrices, matrix_row, offsets, k,
                                 min(k + per_pass, first + count), b, i)
                    for j in range(width):
                        flat[o + j] += partial[j]
                if diagonal != NO_DIAGONAL:
                    flat[o + numba.uint64(i)] += diagonals[diagonal, b, i]


@numba.njit(inline="always")
def _narrow_pass(target, o, width, packed, matrices, matrix_row, offsets, first, stop, b, i):
    """``target[o:o + width] = Σ_{first ≤ k < stop} packed[k, b, i] · M_k[i]``, summed left to right."""
    u, m = packed[first, b, i], matrix_row + numba.uint64(offsets[first])
    for j in range(width):
        target[o + j] = u * matrices[m + j]
    for k in range(first + 1, stop):
        u, m = packed[k, b, i], matrix_row + numba.uint64(offsets[k])
        for j in range(width):
            target[o + j] += u * matrices[m + j]
