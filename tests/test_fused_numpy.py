"""The NumPy writer that stands in for the fused kernel while numba starts (``numeric._fused_numpy``).

Its promise is the kernel's result bit for bit, so each case compares the two byte by byte: term
counts 0 to 9 (first passes of one to four terms, later passes of four; two per pass for the
samples after the last group of four), zero to two diagonal terms, batches that are and are not
multiples of four, per-sample, shared-vector and scalar coefficients, a block row that does not
start at row 0 with columns no segment covers, two segments, inputs of another dtype than the
output, and a batch split into several rounds.  The comparison is shown to catch a writer that
sums in another order (term by term, as ``_blockrow.write_by_terms`` does).
"""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _blockrow, _fused, _fused_numpy


def _segment(rng, cols: slice, height: int, batch: int, terms: int, diagonals: int, dtype, inputs=None):
    """Random terms with per-sample, shared-vector and scalar coefficients in turn; the inputs
    in ``inputs`` (default: ``dtype``)."""
    inputs = inputs or dtype
    width = cols.stop - cols.start
    shapes = [(batch, height), (height,), (1,)]
    coefficients = [rng.standard_normal(shapes[k % 3]).astype(inputs) for k in range(terms)]
    matrices = [rng.standard_normal((height, width)).astype(inputs) for _ in range(terms)]
    diagonal = [rng.standard_normal((batch, height)).astype(inputs) for _ in range(diagonals)]
    return cols, coefficients, matrices, diagonal


def _both(batch: int, segments: list, dtype, width: int = 11, rows: slice = slice(3, 10), parallel=False):
    """The block row written by the kernel (serial or parallel) and by the NumPy writer, on a
    background of 7s."""
    kernel = np.full((batch, rows.stop, width), 7.0, dtype)
    written = kernel.copy()
    _fused.write_block_row(kernel, rows, [_fused.Segment(*s) for s in segments], parallel=parallel)
    _fused_numpy.write_block_row(written, rows, segments)
    return kernel, written


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("terms", range(10))
@pytest.mark.parametrize("batch", [1, 3, 4, 9, 16])
@pytest.mark.parametrize("diagonals", [0, 1, 2])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_a_square_block_has_the_kernels_bits(dtype, terms, batch, diagonals, parallel):
    rng = np.random.default_rng(terms * 100 + batch * 10 + diagonals)
    segment = _segment(rng, slice(2, 9), 7, batch, terms, diagonals, dtype)
    kernel, written = _both(batch, [segment], dtype, parallel=parallel)
    assert _same_bits(kernel, written)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_segments_and_inputs_of_another_dtype_have_the_kernels_bits(dtype):
    rng = np.random.default_rng(5)
    other = np.float32 if dtype == np.float64 else np.float64
    segments = [_segment(rng, slice(0, 7), 7, 9, 6, 2, dtype, inputs=other),
                _segment(rng, slice(8, 12), 7, 9, 5, 0, dtype)]
    kernel, written = _both(9, segments, dtype, width=13)
    assert _same_bits(kernel, written)
    assert np.all(written[:, :3] == 7.0) and np.all(written[:, :, 7] == 7.0)  # rows and columns not covered


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_a_batch_in_several_rounds_has_the_kernels_bits(dtype, parallel, monkeypatch):
    """Matrices too large for the serial kernel's narrow variant; rounds of four samples."""
    rng = np.random.default_rng(6)
    segment = _segment(rng, slice(0, 40), 40, 30, 7, 1, dtype)
    monkeypatch.setattr(_fused_numpy, "CHUNK_BYTES", 4 * 40 * 40 * np.dtype(dtype).itemsize)
    kernel, written = _both(30, [segment], dtype, width=40, rows=slice(0, 40), parallel=parallel)
    assert _same_bits(kernel, written)


def test_the_comparison_catches_another_summation_order():
    """Term by term, ``J = u_0 M_0; J += u_1 M_1; …``, differs from the kernel's passes of four
    terms in the last bits: the byte comparison above would see such a writer."""
    rng = np.random.default_rng(7)
    segment = _segment(rng, slice(0, 16), 16, 8, 8, 2, np.float64)
    kernel, _ = _both(8, [segment], np.float64, width=16, rows=slice(0, 16))
    by_terms = np.full_like(kernel, 7.0)
    _blockrow.write_by_terms(numeric.arrays("numpy"), by_terms, slice(0, 16), [segment])
    assert np.allclose(by_terms, kernel, rtol=1e-12, atol=1e-12)
    assert not _same_bits(by_terms, kernel)
