"""Streaming stores (``numeric._streaming``) and the fused writer's streamed path.

The streamed path computes the same sums as the ordinary one and only stores them differently,
so the two are compared bit for bit (not within a tolerance): misaligned outputs (a view that
starts one element past an aligned address), odd widths, both dtypes, term counts 0 to 9, a
block row of several segments below row 0, batches that are not a multiple of four.  The
copy itself is checked at every alignment and length, and shown to catch a copy that is off by
one element; the machine code is checked to hold streaming stores (x86); a kernel using the
intrinsics is cached on disk and loaded by a second process.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from gatejac.numeric import _fused, _streaming


@numba.njit
def _copy(destination, position, source):
    _streaming.stream_copy(destination, position, source)
    _streaming.store_fence()


@numba.njit
def _copy_off_by_one(destination, position, source):
    _streaming.stream_copy(destination, position + 1, source)
    _streaming.store_fence()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_at_every_alignment_and_length(dtype):
    """Every start within two cache lines of a line boundary, lengths that end before, on and past
    the first whole line, and several lines: the vector and line stores and the ordinary ones at
    both ends all meet."""
    rng = np.random.default_rng(1)
    per_line = _streaming.LINE_BYTES // np.dtype(dtype).itemsize
    for position in range(2 * per_line + 1):
        for count in (0, 1, 3, 4, 5, 8, 17, per_line - 1, per_line, per_line + 3, 64, 3 * per_line + 5):
            source = rng.standard_normal(count).astype(dtype)
            destination = _aligned((6 * per_line + 64,), dtype)
            destination[:] = -1.0
            expected = destination.copy()
            expected[position:position + count] = source
            _copy(destination, position, source)
            assert destination.tobytes() == expected.tobytes(), (position, count)


def test_the_comparison_catches_a_copy_one_element_off():
    source = np.arange(1.0, 18.0)
    destination, expected = np.zeros(40), np.zeros(40)
    expected[3:20] = source
    _copy_off_by_one(destination, 3, source)
    assert destination.tobytes() != expected.tobytes()


def test_a_misaligned_destination_takes_ordinary_stores():
    """A float64 array whose data is not on an 8-byte boundary can never be aligned for a
    vector store: every element is stored one at a time (an aligned vector store there would
    fault)."""
    raw = np.zeros(8 * 40 + 1, np.uint8)
    destination = raw[1:].view(np.float64)
    assert destination.ctypes.data % 8
    source = np.arange(1.0, 33.0)
    _copy(destination, 2, source)
    assert destination[2:34].tobytes() == source.tobytes() and not destination[:2].any()


def test_the_intrinsic_refuses_mismatched_dtypes():
    @numba.njit
    def mixed(destination, source):
        _streaming.stream_vector(destination, 0, source, 0)

    with pytest.raises(numba.core.errors.TypingError):
        mixed(np.zeros(4), np.zeros(4, np.float32))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_machine_code_holds_streaming_stores_and_a_fence():
    destination, source = np.zeros(16), np.ones(8)
    _copy(destination, 0, source)
    assembly = _copy.inspect_asm(_copy.signatures[0])
    assert re.search(r"\bv?movnt\w+", assembly) and re.search(r"\bsfence\b", assembly)


def _aligned(shape, dtype, offset_elements=0):
    """A C-contiguous array of ``shape`` starting ``offset_elements`` past a 64-byte boundary."""
    itemsize = np.dtype(dtype).itemsize
    nbytes = int(np.prod(shape)) * itemsize
    raw = np.empty(nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset_elements * itemsize
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _segment(rng, cols, height, batch, terms, diagonals, dtype):
    width = cols.stop - cols.start
    return _fused.Segment(cols, [rng.standard_normal((batch, height)).astype(dtype) for _ in range(terms)],
                          [rng.standard_normal((height, width)).astype(dtype) for _ in range(terms)],
                          [rng.standard_normal((batch, height)).astype(dtype) for _ in range(diagonals)])


def _both_paths(shape, rows, segments, dtype, offset_elements):
    ordinary, streamed = _aligned(shape, dtype, offset_elements), _aligned(shape, dtype, offset_elements)
    ordinary[...] = streamed[...] = np.arange(ordinary.size, dtype=dtype).reshape(shape)
    _fused.write_block_row(ordinary, rows, segments, parallel=True, stream=False)
    _fused.write_block_row(streamed, rows, segments, parallel=True, stream=True)
    return ordinary, streamed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offset", [0, 1, 2], ids=["aligned", "odd-element", "two-elements"])
@pytest.mark.parametrize("terms", [0, 1, 2, 3, 4, 5, 7, 9])
def test_streamed_block_row_has_the_ordinary_bits(dtype, offset, terms):
    rng = np.random.default_rng(terms)
    batch, n = 9, 13
    segments = [_segment(rng, slice(0, n), n, batch, terms, diagonals=terms % 2 + (terms == 0), dtype=dtype)]
    ordinary, streamed = _both_paths((batch, n, n), slice(0, n), segments, dtype, offset)
    assert streamed.tobytes() == ordinary.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offset", [0, 1])
def test_streamed_second_block_row_of_several_segments(dtype, offset):
    """Rows 5..12 of a (B, 12, 19) output, segments at columns 0..7 (a diagonal) and 9..19 (odd
    width, odd start); rows 0..5 and columns 7..9 are no segment's and keep their values."""
    rng = np.random.default_rng(3)
    batch, rows = 11, slice(5, 12)
    segments = [_segment(rng, slice(0, 7), 7, batch, terms=3, diagonals=2, dtype=dtype),
                _segment(rng, slice(9, 19), 7, batch, terms=6, diagonals=0, dtype=dtype)]
    ordinary, streamed = _both_paths((batch, 12, 19), rows, segments, dtype, offset)
    assert streamed.tobytes() == ordinary.tobytes()
    untouched = np.arange(streamed.size, dtype=dtype).reshape(streamed.shape)
    assert np.array_equal(streamed[:, :5], untouched[:, :5]) and np.array_equal(streamed[:, 5:, 7:9],
                                                                                 untouched[:, 5:, 7:9])


def test_streams_only_large_aligned_block_rows(monkeypatch):
    rng = np.random.default_rng(4)
    segments = [_segment(rng, slice(0, 8), 8, 4, terms=1, diagonals=0, dtype=np.float64)]
    monkeypatch.setattr(_fused, "STREAM_MIN_BYTES", 4 * 8 * 8 * 8)
    assert _fused.streams(_aligned((4, 8, 8), np.float64), slice(0, 8), segments)
    assert not _fused.streams(_aligned((4, 8, 8), np.float64, 1), slice(0, 8), segments)  # rows off the boundary
    assert not _fused.streams(_aligned((4, 8, 9), np.float64), slice(0, 8), segments)  # odd row stride
    monkeypatch.setattr(_fused, "STREAM_MIN_BYTES", 4 * 8 * 8 * 8 + 1)
    assert not _fused.streams(_aligned((4, 8, 8), np.float64), slice(0, 8), segments)


_CACHED_KERNEL = textwrap.dedent("""
    import json, sys
    import numpy as np
    from gatejac.numeric import _numba_cache, _streaming

    @_numba_cache.cached_njit()
    def copy(destination, position, source):
        _streaming.stream_copy(destination, position, source)
        _streaming.store_fence()

    destination = np.zeros(64)
    copy(destination, 3, np.arange(1.0, 41.0))
    json.dump({"hits": sum(copy.stats.cache_hits.values()), "values": destination.tolist()}, sys.stdout)
""")


def test_a_kernel_with_the_intrinsics_is_cached_and_loaded_by_a_second_process(tmp_path):
    module = tmp_path / "streaming_kernel.py"
    module.write_text(_CACHED_KERNEL)
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment["GATEJAC_CACHE_DIR"] = str(tmp_path / "cache")
    runs = [json.loads(subprocess.run([sys.executable, str(module)], capture_output=True, text=True, check=True,
                                      env=environment).stdout) for _ in range(2)]
    expected = [0.0] * 3 + list(np.arange(1.0, 41.0)) + [0.0] * 21
    assert [run["hits"] for run in runs] == [0, 1]
    assert runs[0]["values"] == runs[1]["values"] == expected
