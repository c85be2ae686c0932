"""The dense kernels' batch products on two threads (``numeric/_parallel_products.py``).

Split products must give the same bits in every call (fixed row pieces, whichever thread takes
them), agree with the unsplit product within the ``reference`` tolerance of
``verify._tolerances``, never wait for a worker that does not run, hand a worker's error to the
caller, and be used by the generated dense kernels only (the other kernels' code is unchanged).
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _blockrow, _parallel_products
from gatejac.symbolic import cells
from gatejac.verify._tolerances import tolerance


def _pairs(dtype, batch=200, n=48, m=12, seed=0):
    rng = np.random.default_rng(seed)
    h, x = rng.standard_normal((batch, n)).astype(dtype), rng.standard_normal((batch, m)).astype(dtype)
    return [(h, rng.standard_normal((n, n)).astype(dtype).T), (x, rng.standard_normal((n, m)).astype(dtype).T),
            (h, rng.standard_normal((n, n)).astype(dtype))]


def _assert_close(actual, expected):
    allowed = tolerance("reference", actual.dtype, np.abs(expected).max()).bound(np.abs(expected))
    assert np.all(np.abs(actual - expected) <= allowed)


@pytest.fixture
def split_all(monkeypatch):
    """Every product split, however small, by the caller and the worker thread (not torch's)."""
    monkeypatch.setattr(_parallel_products, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(_parallel_products, "_torch_pool", lambda: None)
    monkeypatch.setattr(_parallel_products, "_two_threads", lambda: True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_products_are_the_same_bits_every_call_and_match_the_unsplit_product(split_all, dtype):
    pairs = _pairs(dtype)
    with _blockrow.serial_blas():
        first = _parallel_products.products(*pairs)
        again = [_parallel_products.products(*pairs) for _ in range(20)]
    for k, (a, b) in enumerate(pairs):
        assert first[k].dtype == np.dtype(dtype) and first[k].shape == (a.shape[0], b.shape[1])
        assert all(np.array_equal(result[k], first[k]) for result in again)
        _assert_close(first[k], a @ b)


@pytest.mark.parametrize("route", ["plain", "split", "torch"])
def test_products_write_into_the_arrays_given_and_give_the_bits_of_fresh_ones(monkeypatch, route):
    pairs = _pairs(np.float32)
    monkeypatch.setattr(_parallel_products, "SPLIT_MIN_MACS", 0 if route != "plain" else 2**62)
    monkeypatch.setattr(_parallel_products, "_two_threads", lambda: True)
    if route == "torch":
        torch = pytest.importorskip("torch")
        monkeypatch.setattr(_parallel_products, "_torch_pool", lambda: torch)
    else:
        monkeypatch.setattr(_parallel_products, "_torch_pool", lambda: None)
    given = [np.full((a.shape[0], b.shape[1]), np.nan, np.float32) for a, b in pairs] + [np.empty(3)]  # one spare
    with _blockrow.serial_blas():
        fresh = _parallel_products.products(*pairs)
        written = _parallel_products.products(*pairs, out=given)
    for result, array, expected in zip(written, given, fresh):
        assert np.shares_memory(result, array) and np.array_equal(array, expected)


def test_the_closeness_check_catches_a_wrong_piece(split_all):
    """The check above fails when one row piece is off by a relative 1e-6 (a float64 product
    must match to ~1e-10)."""
    (a, b), = _pairs(np.float64)[:1]
    with _blockrow.serial_blas():
        result, = _parallel_products.products((a, b))
    result[: a.shape[0] // 2] *= 1 + 1e-6
    with pytest.raises(AssertionError):
        _assert_close(result, a @ b)


def test_outside_the_serial_blas_scope_products_are_plain_matmuls(split_all, monkeypatch):
    pairs = _pairs(np.float64)
    monkeypatch.setattr(_parallel_products, "_Job", None)  # a split would fail
    for (a, b), result in zip(pairs, _parallel_products.products(*pairs)):
        assert np.array_equal(result, a @ b)


def test_small_products_stay_on_the_calling_thread(monkeypatch):
    pairs = _pairs(np.float64, batch=8, n=8, m=4)
    monkeypatch.setattr(_parallel_products, "_Job", None)
    with _blockrow.serial_blas():
        for (a, b), result in zip(pairs, _parallel_products.products(*pairs)):
            assert np.array_equal(result, a @ b)


class _Recorder:
    """``np.matmul`` that notes which thread computed each piece, slowly enough that the
    worker wakes before the caller is done."""

    def __init__(self):
        self.threads = []
        self.matmul = np.matmul

    def __call__(self, a, b, out):
        self.threads.append(threading.current_thread().name)
        time.sleep(0.02)
        return self.matmul(a, b, out=out)


def test_the_worker_thread_takes_pieces(split_all, monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(_parallel_products.np, "matmul", recorder)
    pairs = _pairs(np.float64)
    with _blockrow.serial_blas():
        results = _parallel_products.products(*pairs)
    assert len(recorder.threads) == _parallel_products.PIECES * len(pairs)
    assert "gatejac-products" in recorder.threads and threading.current_thread().name in recorder.threads
    for (a, b), result in zip(pairs, results):
        _assert_close(result, a @ b)


class _Absent:
    def offer(self, job):
        pass


def test_the_caller_does_every_piece_when_the_worker_never_runs(split_all, monkeypatch):
    monkeypatch.setattr(_parallel_products, "_worker", _Absent)
    pairs = _pairs(np.float32)
    with _blockrow.serial_blas():
        results = _parallel_products.products(*pairs)
    for (a, b), result in zip(pairs, results):
        _assert_close(result, a @ b)


def test_an_error_on_the_worker_reaches_the_caller(split_all, monkeypatch):
    calls = []

    def failing(a, b, out):
        calls.append(threading.current_thread().name)
        time.sleep(0.02)
        if threading.current_thread().name == "gatejac-products":
            raise FloatingPointError("a piece failed")
        return np.dot(a, b, out=out)

    monkeypatch.setattr(_parallel_products.np, "matmul", failing)
    with _blockrow.serial_blas(), pytest.raises(FloatingPointError, match="a piece failed"):
        _parallel_products.products(*_pairs(np.float64))
    assert "gatejac-products" in calls


def _child_products(queue):
    pairs = _pairs(np.float64)
    _parallel_products.SPLIT_MIN_MACS = 0
    with _blockrow.serial_blas():
        results = _parallel_products.products(*pairs)
    queue.put([bool(np.allclose(result, a @ b)) for (a, b), result in zip(pairs, results)])


def test_a_forked_child_starts_its_own_worker(split_all):
    with _blockrow.serial_blas():
        _parallel_products.products(*_pairs(np.float64))  # the parent's worker is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_products, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [True, True, True]


def test_dense_kernels_call_products_once_for_the_state_and_input_products():
    source = numeric.compile(cells.get("gru_torch"), "numpy").source
    jacobian = source[source.index("def state_jacobian("):source.index("def state_jacobian_frozen(")]
    assert jacobian.count("_B.products(") == 1 and "@" not in jacobian
    for kernel in ("def step(", "def intermediates(", "def jvp(", "def vjp("):
        body = source[source.index(kernel):].split("\n\n\n")[0]
        assert "_B.products" not in body and "@ _B.transpose(W_hz)" in body


def test_a_product_of_a_node_is_computed_after_the_node():
    """The GRU of Cho et al. multiplies h⊙r by W_h: its product needs r, so it has a call of its own."""
    source = numeric.compile(cells.get("gru_cho"), "numpy").source
    jacobian = source[source.index("def state_jacobian("):source.index("def state_jacobian_frozen(")]
    lines = [line.strip() for line in jacobian.splitlines()]
    calls = [i for i, line in enumerate(lines) if line.startswith("_mv4, = _B.products((h*r, _B.transpose(W_h)))")]
    assert sum("_B.products(" in line for line in lines) == 3 and len(calls) == 2  # h*r's in each version (_lowering)
    for version, call in zip((lines.index("if _w is None:"), lines.index("else:")), calls):
        assert version < call and any(line.startswith("r = ") for line in lines[version:call])


@pytest.mark.parametrize("name", ["gru_torch", "gru_cho", "lstm_torch", "multi_gate"])
def test_dense_jacobians_with_split_products_match_the_torch_kernels(split_all, name):
    cell = cells.get(name)
    values = numeric.random_values(cell, {"n": 40, "m": 10}, batch=(96,), seed=3)
    expected = numeric.compile(cell, "torch").state_jacobian(
        *numeric.random_values(cell, {"n": 40, "m": 10}, batch=(96,), seed=3, backend="torch")).numpy()
    with _blockrow.serial_blas():
        actual = numeric.compile(cell, "numpy").state_jacobian(*values)
    _assert_close(actual, expected)


def test_with_torch_loaded_the_products_are_torchs(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(_parallel_products, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(_parallel_products, "_two_threads", lambda: True)
    monkeypatch.setattr(_parallel_products, "_Job", None)  # the worker route would fail
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    for dtype in (np.float64, np.float32):
        pairs = _pairs(dtype)
        with _blockrow.serial_blas():
            results = _parallel_products.products(*pairs)
        for (a, b), result in zip(pairs, results):
            assert isinstance(result, np.ndarray) and result.dtype == np.dtype(dtype)
            _assert_close(result, a @ b)


@pytest.mark.filterwarnings("error")
def test_read_only_arrays_or_one_torch_thread_take_the_worker_route(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(_parallel_products, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(_parallel_products, "_two_threads", lambda: True)
    (a, b), = _pairs(np.float64)[:1]
    a.setflags(write=False)  # torch.from_numpy would warn
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    with _blockrow.serial_blas():
        result, = _parallel_products.products((a, b))
    _assert_close(result, a @ b)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert _parallel_products._torch_pool() is None


def test_products_never_import_torch():
    code = ("import sys, numpy as np\n"
            "from gatejac.numeric import _blockrow, _parallel_products\n"
            "_parallel_products.SPLIT_MIN_MACS = 0\n"
            "a = np.ones((64, 32)); b = np.ones((32, 16))\n"
            "with _blockrow.serial_blas():\n"
            "    (r,) = _parallel_products.products((a, b))\n"
            "assert (r == 32).all() and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_one_numba_thread_means_one_thread_for_the_products(monkeypatch):
    """A user who holds numba's writer to one thread gets no second thread for the products."""
    numba = pytest.importorskip("numba")
    from gatejac.numeric import _numba_threads

    _numba_threads.thread_count()
    monkeypatch.setattr(_parallel_products, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(_parallel_products, "_Job", None)  # a split would fail
    monkeypatch.setattr(_parallel_products, "_torch_pool", lambda: None)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert not _parallel_products._two_threads()
        with _blockrow.serial_blas():
            _parallel_products.products(*_pairs(np.float64))
    finally:
        numba.set_num_threads(before)
    assert _parallel_products._two_threads() == (before > 1)
