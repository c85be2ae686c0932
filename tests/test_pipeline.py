"""Pipelined dense calls (``numeric/_pipeline.py``): the kernel on batch chunks, each chunk's
block rows written by a second thread while the next chunk's forward runs.

The threshold is lowered so that small outputs are pipelined; results are compared with the raw
kernel's unchunked call, to the dtype's reference tolerance (a chunk's products may differ from the
whole batch's in the last bits).
"""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _fused, _pipeline
from gatejac.symbolic import cells
from gatejac.numeric import _numba_threads
from gatejac.verify._tolerances import tolerance


N = 96
"""The hidden size: a 64-sample state Jacobian then has a block row of 2 MiB or more in both dtypes,
the size from which a dense call runs in ``dense_scope`` (and so may be pipelined)."""


def _values(name: str, n: int, batch, dtype="float64", seed=3):
    cell = cells.get(name)
    return cell, numeric.random_values(cell, {"n": n, "m": max(1, n // 4)}, batch=batch, seed=seed, dtype=dtype)


@pytest.fixture
def pipelined(monkeypatch):
    """Every large-enough NumPy dense call pipelined, and a record of the deferred block rows."""
    monkeypatch.setattr(_pipeline, "MIN_BYTES", 0)
    _numba_threads.thread_count()  # (``_fused`` imported: the pipeline need not wait for numba to load)
    deferred = []
    real = _pipeline.defer

    def recording(out, rows, segments):
        taken = real(out, rows, segments)
        deferred.append(taken)
        return taken

    monkeypatch.setattr(_pipeline, "defer", recording)
    return deferred


def _assert_close(actual, expected):
    allowed = tolerance("reference", actual.dtype, np.abs(expected).max(initial=0.0)).bound(np.abs(expected))
    error = np.abs(actual.astype(np.float64) - expected)
    assert np.all(error <= allowed), f"worst error {error.max():.3g} at {np.unravel_index(error.argmax(), error.shape)}"


def _unpipelined(cell, kernel, values):
    """The raw kernel on the whole batch (``CompiledCell.kernel`` never pipelines)."""
    compiled = numeric.compile(cell, "numpy")
    return compiled.kernel(kernel)(*compiled.arguments_of(*values))


@pytest.mark.parametrize("name", ["gru_torch", "lstm_torch", "multi_gate"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_pipelined_state_jacobian_equals_the_unchunked_one(name, dtype, pipelined):
    cell, values = _values(name, N, (64,), dtype)
    compiled = numeric.compile(cell, "numpy")
    got = compiled.state_jacobian(*values)
    reference = _unpipelined(cell, "state_jacobian", values)
    assert pipelined.count(True) == _pipeline.CHUNKS * len(cell.states)
    _assert_close(got, reference)
    out = np.full_like(got, np.nan)
    assert compiled.state_jacobian(*values, out=out) is out
    _assert_close(out, reference)


def test_the_comparison_catches_a_chunk_left_unwritten(pipelined, monkeypatch):
    cell, values = _values("gru_torch", N, (64,))
    compiled = numeric.compile(cell, "numpy")
    reference = _unpipelined(cell, "state_jacobian", values)
    writes = []
    real = _fused.write_packed
    monkeypatch.setattr(_fused, "write_packed", lambda arguments: writes.append(1) or (
        None if len(writes) == 2 else real(arguments)))
    out = np.zeros_like(reference)
    compiled.state_jacobian(*values, out=out)
    with pytest.raises(AssertionError):
        _assert_close(out, reference)


def test_inputs_without_the_batch_axis_are_passed_whole(pipelined):
    cell, (states, inputs, params) = _values("gru_torch", N, (64,))
    inputs = {name: value[0] for name, value in inputs.items()}  # one input for every sample
    got = numeric.compile(cell, "numpy").state_jacobian(states, inputs, params)
    assert pipelined.count(True) == _pipeline.CHUNKS
    _assert_close(got, _unpipelined(cell, "state_jacobian", (states, inputs, params)))


@pytest.mark.parametrize("batch", [(60,), (8, 8), (7,)])
def test_batches_the_chunks_do_not_divide_are_not_pipelined(batch, pipelined):
    """60 is not a multiple of CHUNKS × SAMPLE_GROUP (16); two batch axes are not chunked."""
    cell, values = _values("gru_torch", N, batch)
    got = numeric.compile(cell, "numpy").state_jacobian(*values)
    assert True not in pipelined
    np.testing.assert_array_equal(got, _unpipelined(cell, "state_jacobian", values))


def test_the_torch_back_end_and_the_jit_kernels_are_not_pipelined(pipelined):
    cell, values = _values("gru_torch", N, (64,))
    numeric.compile(cell, "numpy", jit=True).state_jacobian(*values)
    torch_values = numeric.random_values(cell, {"n": N, "m": N // 4}, batch=(64,), seed=3, backend="torch")
    numeric.compile(cell, "torch").state_jacobian(*torch_values)
    assert True not in pipelined


def test_a_writer_error_reaches_the_caller_and_the_next_call_works(pipelined, monkeypatch):
    cell, values = _values("gru_torch", N, (64,))
    compiled = numeric.compile(cell, "numpy")
    real = _fused.write_packed

    def failing(arguments):
        raise MemoryError("writer failed")

    monkeypatch.setattr(_fused, "write_packed", failing)
    before = numba.get_num_threads()
    with pytest.raises(MemoryError, match="writer failed"):
        compiled.state_jacobian(*values)
    assert numba.get_num_threads() == before
    monkeypatch.setattr(_fused, "write_packed", real)
    _assert_close(compiled.state_jacobian(*values), _unpipelined(cell, "state_jacobian", values))


def test_an_error_in_a_chunks_forward_waits_for_the_writes_and_leaves_no_pipeline_behind(pipelined):
    """A kernel that fails in its third chunk (as an interrupt would): the error reaches the caller
    after the writes already queued have ended, and the thread is no longer pipelining."""
    cell, values = _values("gru_torch", N, (64,))
    calls = []

    def kernel(*pieces, out):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        _pipeline.defer(out, slice(0, N), [(slice(0, N), [np.ones((16, N))], [np.eye(N)], [])])

    out = np.zeros((64, N, N))
    with pytest.raises(KeyboardInterrupt):
        _pipeline.run(kernel, list(values[0].values()), 1, out)
    assert out[:32].any() and not out[32:].any()
    assert _pipeline.defer(out, slice(0, N), []) is False


def test_a_child_process_forked_after_a_pipelined_call_remembers_no_writer(pipelined):
    """The parent's writer thread is not copied by ``fork``: the child must not queue block rows
    for it (nobody would write them, and the call would wait for ever)."""
    cell, values = _values("gru_torch", N, (64,))
    numeric.compile(cell, "numpy").state_jacobian(*values)
    assert getattr(_pipeline._LOCAL, "writer", None) is not None
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 if it remembers no writer
        os._exit(0 if getattr(_pipeline._LOCAL, "writer", None) is None else 1)
    assert os.waitpid(pid, 0)[1] == 0
