"""The fused writer's arithmetic in NumPy, for block rows written while numba loads.

A block row ``J[b] = Σ_k diag(u_k[b]) · M_k + diag(Σ_l d_l[b])`` (see ``_fused``; e.g. the GRU's
∂h'/∂h of Can, Krishnamurthy & Schwab 2020, docs/theory.md: “The catalogue”) is written here with
NumPy array operations that round exactly as the numba kernel of ``_fused`` does, so both give the
same bits (``tests/test_fused_numpy.py`` checks it against the kernel):

* every input is first rounded to the output's dtype (the kernel packs its inputs so);
* samples ``b < B - B mod 4`` are written four at a time by the kernel: the first pass assigns the
  first ``count mod 4`` terms (four when that is zero), ``((u_0 M_0 + u_1 M_1) + u_2 M_2) + …``,
  and every later pass adds the sum of the next four, ``J += ((u_k M_k + u_{k+1} M_{k+1}) + …)``;
* the last ``B mod 4`` samples are written two terms per pass, ``J = u_0 M_0 + u_1 M_1``, then
  ``J += u_k M_k + u_{k+1} M_{k+1}``;
* the diagonal terms are summed first, ``d = d_0 + d_1 + …``, and added last, ``J_ii += d``.

No step contracts a product and a sum into one fused multiply-add, and neither does the kernel
(numba compiles it without fast-math flags).  ``_fused_loading`` says when this writer is used.
"""

from __future__ import annotations

import numpy as np

SAMPLE_GROUP = 4
"""Samples the kernel writes together (``_fused.SAMPLE_GROUP``; numba is not imported here)."""

CHUNK_BYTES = 2**25
"""Output bytes of the samples written by one round of array operations: few enough rounds
that each array operation is large, each small enough to keep its work arrays modest."""


def write_block_row(out: np.ndarray, rows: slice, segments) -> None:
    """``out[:, rows, cols] = Σ_k diag(c_k)·M_k + diag(Σ_l d_l)`` for every segment
    ``(cols, coefficients, matrices, diagonals)``, rounded as the fused kernel rounds."""
    dtype, batch = out.dtype, out.shape[0]
    grouped = batch - batch % SAMPLE_GROUP
    height = rows.stop - rows.start
    for cols, coefficients, matrices, diagonals in segments:
        block = out[:, rows, cols]
        terms = [(np.broadcast_to(np.asarray(c).astype(dtype, copy=False), (batch, height))[..., None],
                  np.asarray(m).astype(dtype, copy=False)) for c, m in zip(coefficients, matrices)]
        sample_bytes = block.shape[1] * block.shape[2] * out.itemsize
        step = max(SAMPLE_GROUP, CHUNK_BYTES // max(1, sample_bytes) // SAMPLE_GROUP * SAMPLE_GROUP)
        scratch = [np.empty((min(step, batch),) + block.shape[1:], dtype) for _ in range(2 if len(terms) > 1 else 0)]
        lead = len(terms) % SAMPLE_GROUP or min(len(terms), SAMPLE_GROUP)
        for start in range(0, grouped, step):
            samples = slice(start, min(grouped, start + step))
            _passes(block[samples], [(c[samples], m) for c, m in terms], _sizes(len(terms), lead, SAMPLE_GROUP),
                    scratch)
        if grouped < batch:
            tail = slice(grouped, batch)
            _passes(block[tail], [(c[tail], m) for c, m in terms], _sizes(len(terms), min(2, len(terms)), 2),
                    scratch)
        if diagonals:
            total = np.asarray(sum(diagonals[1:], diagonals[0])).astype(dtype, copy=False)
            diagonal = np.einsum("...ii->...i", block)
            diagonal += total


def _sizes(count: int, lead: int, size: int) -> list[int]:
    """Terms per pass: ``lead`` in the first, ``size`` in every later one (fewer in the last)."""
    return [lead] + [size] * -(-(count - lead) // size)


def _passes(target: np.ndarray, terms: list, sizes: list[int], scratch: list[np.ndarray]) -> None:
    """``target`` = the first ``sizes[0]`` terms summed left to right, then ``target +=`` the
    sum of each next ``sizes[p]`` terms (zero when there are no terms); ``scratch``: two work
    arrays of at least ``target``'s length."""
    if not terms:
        target.fill(0)
        return
    product, partial = (array[:len(target)] for array in scratch) if scratch else (None, None)
    _sum_into(target, terms[:sizes[0]], product)
    position = sizes[0]
    for size in sizes[1:]:
        _sum_into(partial, terms[position:position + size], product)
        target += partial
        position += size


def _sum_into(target: np.ndarray, terms: list, product) -> None:
    """``target = ((c_0 M_0 + c_1 M_1) + c_2 M_2) + …``, each product rounded, then each sum."""
    np.multiply(terms[0][0], terms[0][1], out=target)
    for coefficient, matrix in terms[1:]:
        np.multiply(coefficient, matrix, out=product)
        target += product
