"""Pipelined dense calls (``numeric/_pipeline.py``): the kernel on batch chunks, each chunk's
block rows written by a second thread while the next chunk's forward runs.

The threshold is lowered so that outputs of a few MiB are pipelined, and every test compiles a
fresh cell (a compiled cell remembers each signature's route).  A pipelined result must equal,
bit for bit, the raw kernel (``CompiledCell.kernel``, never pipelined) run on each chunk, and the
raw kernel on the whole batch to the dtype's reference tolerance.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _fused, _fused_loading, _numba_threads, _pipeline
from gatejac.symbolic import cells, derive
from gatejac.verify._tolerances import tolerance

N = 96
"""The hidden size: a 64-sample state Jacobian then has a block row of 2 MiB or more in both dtypes,
the size from which a dense call runs in ``dense_scope`` (and so may be pipelined)."""


@pytest.fixture
def runs(monkeypatch):
    """Every dense call large enough for ``dense_scope`` pipelined (numba loaded, two threads), and
    a record of the pipelined calls."""
    monkeypatch.setattr(_pipeline, "MIN_BYTES", 0)
    _fused_loading.loader.ready(np.float64, True)  # ``_fused`` is imported: the loader is finished
    if _numba_threads.thread_count() < 2:
        pytest.skip("pipelining needs two of numba's threads")
    calls = []
    real = _pipeline.run

    def recording(kernel, values, batched, out):
        calls.append(out.shape)
        return real(kernel, values, batched, out)

    monkeypatch.setattr(_pipeline, "run", recording)
    return calls


def _fresh(name: str, n: int, batch, dtype="float64", backend="numpy", jit=False):
    cell = cells.get(name)
    values = numeric.random_values(cell, {"n": n, "m": max(1, n // 4)}, batch=batch, seed=3, dtype=dtype,
                                   backend=backend)
    return numeric.compile(derive(cell), backend, jit=jit), values


def _by_chunks(compiled, values, kernel="state_jacobian"):
    """The raw kernel on each of the pipeline's chunks, concatenated."""
    states, inputs, params = values
    size = next(iter(states.values())).shape[0] // _pipeline.CHUNKS
    parts = []
    for start in range(0, size * _pipeline.CHUNKS, size):
        def cut(group):
            return {k: v[start:start + size] if v.ndim > 1 and v.shape[0] > 1 else v for k, v in group.items()}
        parts.append(compiled.kernel(kernel)(*compiled.arguments_of(cut(states), cut(inputs), params)))
    return np.concatenate(parts)


def _whole(compiled, values, kernel="state_jacobian"):
    return compiled.kernel(kernel)(*compiled.arguments_of(*values))


def _assert_close(actual, expected):
    allowed = tolerance("reference", actual.dtype, np.abs(expected).max(initial=0.0)).bound(np.abs(expected))
    error = np.abs(actual.astype(np.float64) - expected)
    assert np.all(error <= allowed), f"worst error {error.max():.3g} at {np.unravel_index(error.argmax(), error.shape)}"


@pytest.mark.parametrize("name", ["gru_torch", "lstm_torch", "multi_gate"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_pipelined_state_jacobian_has_the_bits_of_its_chunks(name, dtype, runs):
    compiled, values = _fresh(name, N, (64,), dtype)
    got = compiled.state_jacobian(*values)
    assert len(runs) == 1
    assert got.tobytes() == _by_chunks(compiled, values).tobytes()
    _assert_close(got, _whole(compiled, values))
    out = np.full_like(got, np.nan)
    assert compiled.state_jacobian(*values, out=out) is out and len(runs) == 2
    assert out.tobytes() == got.tobytes()


def test_the_input_jacobian_is_pipelined_too(runs):
    compiled, values = _fresh("gru_torch", N, (128,))  # its (B, n, n / 4) block row needs B = 128 for 2 MiB
    got = compiled.input_jacobian(*values)
    assert len(runs) == 1 and got.tobytes() == _by_chunks(compiled, values, "input_jacobian").tobytes()


def test_the_comparison_catches_a_chunk_left_unwritten(runs, monkeypatch):
    compiled, values = _fresh("gru_torch", N, (64,))
    writes, real = [], _fused.write_packed
    monkeypatch.setattr(_fused, "write_packed", lambda arguments: writes.append(1) or (
        None if len(writes) == 2 else real(arguments)))
    got = compiled.state_jacobian(*values, out=np.zeros((64, N, N)))
    assert got.tobytes() != _by_chunks(compiled, values).tobytes()


@pytest.mark.parametrize("shared", ["inputs", "states"])
def test_values_without_the_batch_axis_or_with_a_batch_of_one_are_passed_whole(shared, runs):
    compiled, (states, inputs, params) = _fresh("gru_torch", N, (64,))
    if shared == "inputs":
        inputs = {k: v[:1] for k, v in inputs.items()}  # a batch of one, broadcast to every sample
    else:
        states = {k: v[0] for k, v in states.items()}  # one state (no batch axis) for every sample
    got = compiled.state_jacobian(states, inputs, params)
    assert len(runs) == 1 and got.shape == (64, N, N)
    _assert_close(got, _whole(compiled, (states, inputs, params)))


@pytest.mark.parametrize("batch", [(56,), (8, 8)])
def test_batches_the_chunks_do_not_divide_are_not_pipelined(batch, runs):
    """56 is not a multiple of CHUNKS × SAMPLE_GROUP (16); two batch axes are not chunked; both
    block rows are large enough for ``dense_scope``."""
    compiled, values = _fresh("gru_torch", N, batch)
    got = compiled.state_jacobian(*values)
    assert not runs
    assert got.tobytes() == _whole(compiled, values).tobytes()


def test_small_outputs_the_torch_back_end_and_the_jit_kernels_are_not_pipelined(runs):
    for compiled, values in (_fresh("gru_torch", 16, (64,)), _fresh("gru_torch", N, (64,), jit=True),
                             _fresh("gru_torch", N, (64,), backend="torch")):
        compiled.state_jacobian(*values)
    assert not runs


def test_one_numba_thread_means_no_writer_thread(runs, monkeypatch):
    compiled, values = _fresh("gru_torch", N, (64,))
    monkeypatch.setattr(_pipeline, "_Writer", None)  # a writer would fail
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        got = compiled.state_jacobian(*values)
    finally:
        numba.set_num_threads(before)
    assert len(runs) == 1 and got.tobytes() == _whole(compiled, values).tobytes()


def test_a_writer_error_reaches_the_caller_and_the_next_call_works(runs, monkeypatch):
    compiled, values = _fresh("gru_torch", N, (64,))
    real = _fused.write_packed

    def failing(arguments):
        raise MemoryError("writer failed")

    monkeypatch.setattr(_fused, "write_packed", failing)
    before = numba.get_num_threads()
    with pytest.raises(MemoryError, match="writer failed"):
        compiled.state_jacobian(*values)
    assert numba.get_num_threads() == before
    monkeypatch.setattr(_fused, "write_packed", real)
    assert compiled.state_jacobian(*values).tobytes() == _by_chunks(compiled, values).tobytes()


def test_an_interrupt_in_a_chunks_forward_ends_the_writes_first(runs):
    """A kernel interrupted in its third chunk: the interrupt reaches the caller after the writes
    already queued have ended, numba's thread count is as it was, and the thread no longer
    pipelines."""
    calls = []

    def kernel(*pieces, out):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        _pipeline.defer(out, slice(0, N), [(slice(0, N), [np.ones((16, N))], [np.eye(N)], [])])

    out = np.zeros((64, N, N))
    before = numba.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        _pipeline.run(kernel, [np.zeros((64, N))], 1, out)
    assert np.array_equal(out[:32], np.broadcast_to(np.eye(N), (32, N, N))) and not out[32:].any()
    assert numba.get_num_threads() == before
    assert _pipeline.defer(out, slice(0, N), []) is False
