"""The one-pass block-row writer of ``numeric._fused`` (the dense Jacobians' inner loop).

Reference: the same blocks written term by term with NumPy broadcasting in float64
(``_blockrow.write_by_terms``, the path torch takes under autograd), compared at the
``reference`` tolerance of ``verify._tolerances`` for the writer's dtype.  The cases cover
what the packing in ``write_block_row`` must get right: term counts 0 to 9 (passes take one
to four terms, or two for a lone sample), several segments in one block row (the LSTM's
[∂h'/∂h  ∂h'/∂c]), a block row that does not start at row 0, batch sizes that are not a
multiple of the sample group of four, coefficients that are per-sample, shared vectors or
scalars (and all per-sample, so that a mix-up between the four samples of a group shows),
and columns no segment covers (left untouched); partial tiles and sample blocks of the
parallel split.  On the torch side: autograd's version counter, forward-mode AD and the
BLAS scope of the NumPy kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric import _blockrow, _fused
from gatejac.symbolic import GatejacError, cells
from gatejac.verify._tolerances import tolerance


def _segment(rng, cols: slice, height: int, batch: int, terms: int, diagonals: int, dtype, mixed=True):
    """Random terms; ``mixed``: per-sample, shared-vector and scalar coefficients in turn,
    otherwise all per-sample (so that every term differs between the samples of a group)."""
    width = cols.stop - cols.start
    coefficients = []
    for k in range(terms):
        kind = k % 3 if mixed else 0
        shape = (batch, height) if kind == 0 else ((height,) if kind == 1 else (1,))
        coefficients.append(rng.standard_normal(shape).astype(dtype))
    matrices = [rng.standard_normal((height, width)).astype(dtype) for _ in range(terms)]
    diagonal = [rng.standard_normal((batch, height)).astype(dtype) for _ in range(diagonals)]
    return _fused.Segment(cols, coefficients, matrices, diagonal)


def _reference(out, rows, segments):
    expected = out.astype(np.float64)
    for s in segments:
        as64 = [[np.asarray(v, np.float64) for v in values] for values in (s.coefficients, s.matrices, s.diagonals)]
        _blockrow.write_by_terms(numeric.arrays("numpy"), expected, rows, [(s.cols, *as64)])
    return expected


def _assert_close(actual, expected):
    allowed = tolerance("reference", actual.dtype, np.abs(expected).max(initial=0.0)).bound(np.abs(expected))
    error = np.abs(actual.astype(np.float64) - expected)
    assert np.all(error <= allowed), f"worst error {error.max():.3g} at {np.unravel_index(error.argmax(), error.shape)}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("terms", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize("batch", [1, 3, 4, 9, 16])
@pytest.mark.parametrize("mixed", [True, False], ids=["mixed", "per-sample"])
def test_square_block_matches_term_by_term(dtype, terms, batch, mixed):
    rng = np.random.default_rng(terms * 10 + batch)
    n = 5
    out = rng.standard_normal((batch, n, n)).astype(dtype)
    segments = [_segment(rng, slice(0, n), n, batch, terms, diagonals=terms % 2 + (terms == 0), dtype=dtype,
                         mixed=mixed)]
    expected = _reference(out, slice(0, n), segments)
    _fused.write_block_row(out, slice(0, n), segments)
    _assert_close(out, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_second_block_row_of_several_segments(dtype):
    """Rows 3..6 of a (B, 7, 9) output: segments at columns 0..3 (square, with a diagonal) and
    5..9 (no diagonal); columns 3..5 and rows 0..3 are no segment's and keep their values."""
    rng = np.random.default_rng(7)
    batch, rows = 3, slice(3, 7)
    out = rng.standard_normal((batch, 7, 9)).astype(dtype)
    before = out.copy()
    segments = [
        _segment(rng, slice(0, 4), 4, batch, terms=6, diagonals=2, dtype=dtype),
        _segment(rng, slice(5, 9), 4, batch, terms=2, diagonals=0, dtype=dtype),
    ]
    expected = _reference(out, rows, segments)
    _fused.write_block_row(out, rows, segments)
    _assert_close(out, expected)
    np.testing.assert_array_equal(out[:, :3], before[:, :3])
    np.testing.assert_array_equal(out[:, 3:, 4:5], before[:, 3:, 4:5])


def test_partial_tiles_and_sample_blocks_cover_every_row_once(monkeypatch):
    """Tiles of 2 of 5 rows; 11 samples in blocks of 8 (two groups of four, then three
    samples written one at a time)."""
    monkeypatch.setattr(_fused, "TILE_BYTES", 2 * 8 * 4 * 3)  # two rows of 3 matrices 4 wide
    monkeypatch.setattr(_fused, "TASKS_PER_THREAD", 1)
    monkeypatch.setattr(_fused.numba, "get_num_threads", lambda: 2)  # 3 tiles × 2 sample blocks: 6 tasks
    assert _fused._sample_block(11, 3, 2) == 8
    rng = np.random.default_rng(5)
    out = rng.standard_normal((11, 5, 9))
    segments = [_segment(rng, slice(0, 5), 5, 11, terms=2, diagonals=1, dtype=np.float64, mixed=False),
                _segment(rng, slice(5, 9), 5, 11, terms=1, diagonals=0, dtype=np.float64, mixed=False)]
    expected = _reference(out, slice(0, 5), segments)
    _fused.write_block_row(out, slice(0, 5), segments)
    _assert_close(out, expected)


@pytest.mark.parametrize("batch", [0, 1, 7, 8, 9, 64, 256, 1000])
@pytest.mark.parametrize("tiles", [1, 2, 3, 13, 40])
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_sample_blocks_are_whole_groups_and_split_the_tasks_evenly_when_they_can(batch, tiles, threads):
    size = _fused._sample_block(batch, tiles, threads)
    groups = -(-batch // _fused.SAMPLE_GROUP)
    assert size > 0 and size % _fused.SAMPLE_GROUP == 0
    tasks = tiles * -(-batch // size)
    even = [blocks for blocks in range(1, groups + 1) if tiles * -(-groups // -(-groups // blocks)) % threads == 0]
    if even and max(even) * tiles >= _fused.TASKS_PER_THREAD * threads:
        assert tasks % threads == 0, f"{tasks} tasks on {threads} threads"
        assert tasks >= _fused.TASKS_PER_THREAD * threads


def test_a_diagonal_in_a_non_square_block_is_refused():
    segment = _fused.Segment(slice(0, 3), [], [], [np.ones((2, 4))])
    with pytest.raises(GatejacError, match="diagonal terms need square blocks"):
        _fused.write_block_row(np.zeros((2, 4, 3)), slice(0, 4), [segment])


def test_empty_batch_is_accepted():
    """B = 0: no tasks to split (the sample-block arithmetic must not divide by zero)."""
    out = np.empty((0, 4, 4))
    segment = _fused.Segment(slice(0, 4), [np.ones((0, 4))], [np.eye(4)], [np.ones((0, 4))])
    _fused.write_block_row(out, slice(0, 4), [segment])


def test_torch_tensors_that_require_grad_are_written_when_no_graph_is_recorded():
    """Under ``torch.no_grad`` a tensor with ``requires_grad`` takes the fused path (through a
    detached view) and gives the same block as the term-by-term path autograd takes."""
    torch_ops = numeric.arrays("torch")
    rng = np.random.default_rng(3)
    segment = _segment(rng, slice(0, 4), 4, 2, terms=3, diagonals=1, dtype=np.float64)
    tensors = [[torch.tensor(v, requires_grad=True) for v in values]
               for values in (segment.coefficients, segment.matrices, segment.diagonals)]
    with torch.no_grad():
        fused = torch.zeros(2, 4, 4, dtype=torch.float64)
        torch_ops.write_block_row(fused, slice(0, 4), (slice(0, 4), *tensors))
    by_terms = torch.zeros(2, 4, 4, dtype=torch.float64)
    torch_ops.write_block_row(by_terms, slice(0, 4), (slice(0, 4), *tensors))
    assert by_terms.requires_grad, "with grad enabled the block must be recorded by autograd"
    _assert_close(fused.numpy(), by_terms.detach().numpy())


# the three ways a block row can be written, by the thresholds that select them
_PATHS = {"by terms": (float("inf"), float("inf")), "fused, one thread": (0, float("inf")), "fused, parallel": (0, 0)}


def _path(monkeypatch, path: str) -> None:
    fused_min, parallel_min = _PATHS[path]
    monkeypatch.setattr(_blockrow, "FUSED_MIN_BYTES", fused_min)
    monkeypatch.setattr(_blockrow, "PARALLEL_MIN_BYTES", parallel_min)


def _dense_jacobians(name: str, backend: str, dtype: str, n: int, batch: int, seed: int):
    """A function returning every dense state / input Jacobian and the gate split of catalogue
    cell ``name`` at fixed random values (called again after the writing path is changed)."""
    cell = cells.get(name)
    compiled = numeric.compile(cell, backend)
    values = numeric.random_values(cell, {"n": n, "m": 3}, batch=(batch,), seed=seed, backend=backend, dtype=dtype)
    methods = ["state_jacobian"] + (["input_jacobian"] if cell.inputs else [])

    def dense():
        results = [getattr(compiled, method)(*values) for method in methods]
        return results + (list(compiled.gate_split(*values)) if cell.gates else [])

    return dense


@pytest.mark.parametrize("path", ["fused, one thread", "fused, parallel"])
@pytest.mark.parametrize("n, batch", [(5, 3), (16, 9), (40, 6)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", cells.names())
def test_catalogue_dense_jacobians_agree_between_fused_and_term_by_term(name, backend, dtype, n, batch, path,
                                                                        monkeypatch):
    """Every dense state / input Jacobian (and the gate split) of every catalogue cell, written
    by the fused loop (on one thread and on numba's threads) and by the term-by-term path (which
    ``test_kernels`` checks against ``torch.func``): the size thresholds between them are moved
    so that each writes them all.  Sizes: a sample group and a remainder, n = 16 (the size whose
    strategy changed from term by term to one-thread fused), a tile that is not a power of two."""
    dense = _dense_jacobians(name, backend, dtype, n, batch, seed=11)
    _path(monkeypatch, path)
    fused = dense()
    _path(monkeypatch, "by terms")
    for actual, expected in zip(fused, dense()):
        assert actual.dtype == expected.dtype
        _assert_close(numeric.to_numpy(actual), numeric.to_numpy(expected).astype(np.float64))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("n, batch, expected", [
    (16, 1, "by terms"),  # 2 KiB
    (16, 64, "fused, one thread"),  # 128 KiB
    (16, 256, "fused, one thread"),  # 512 KiB: written term by term before issue 13
    (64, 256, "fused, parallel"),  # 8 MiB
])
def test_the_writing_strategy_is_chosen_by_the_block_rows_size(backend, n, batch, expected, monkeypatch):
    cell = cells.get("gru_torch")
    compiled = numeric.compile(cell, backend)
    values = numeric.random_values(cell, {"n": n, "m": 4}, batch=(batch,), seed=3, backend=backend)
    taken = []
    by_terms, fused = _blockrow.write_by_terms, _fused.write_block_row
    monkeypatch.setattr(_blockrow, "write_by_terms", lambda *a: (taken.append("by terms"), by_terms(*a))[1])
    monkeypatch.setattr(_fused, "write_block_row", lambda *a, parallel: (
        taken.append("fused, parallel" if parallel else "fused, one thread"), fused(*a, parallel=parallel))[1])
    jacobian = compiled.state_jacobian(*values)
    assert taken == [expected]
    monkeypatch.setattr(_blockrow, "FUSED_MIN_BYTES", float("inf"))  # the old path for reference
    _assert_close(numeric.to_numpy(jacobian), numeric.to_numpy(compiled.state_jacobian(*values)))


def test_a_one_thread_write_leaves_numbas_thread_count_as_it_was():
    import numba

    rng = np.random.default_rng(4)
    before = numba.get_num_threads()
    out = np.zeros((4, 6, 6))
    _fused.write_block_row(out, slice(0, 6), [_segment(rng, slice(0, 6), 6, 4, 2, 1, np.float64)], parallel=False)
    assert numba.get_num_threads() == before


def _large_gru(backend: str):
    """A GRU whose state Jacobian block row (4 × 32 × 32 × 8 B) takes the fused path once the
    threshold is lowered to 0."""
    cell = cells.get("gru_torch")
    return numeric.compile(cell, backend), numeric.random_values(cell, {"n": 32, "m": 4}, batch=(4,), seed=2,
                                                                 backend=backend)


def test_a_fused_write_into_a_tensor_saved_for_backward_is_seen_by_autograd(monkeypatch):
    monkeypatch.setattr(_blockrow, "FUSED_MIN_BYTES", 0)
    compiled, values = _large_gru("torch")
    out = torch.ones(4, 32, 32, dtype=torch.float64)
    weight = torch.ones(1, dtype=torch.float64, requires_grad=True)
    loss = (weight * out).sum()  # saves out for backward
    compiled.state_jacobian(*values, out=out)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


# torch's forward mode loads decompositions that warn about torch.jit.script (torch's own warning,
# raised because this test uses forward mode itself; gatejac never does)
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_ad_takes_the_term_by_term_path(monkeypatch):
    """Under ``torch.autograd.forward_ad`` the block is written with torch operations, so the
    Jacobian carries its tangent (the fused loop would drop it)."""
    import torch.autograd.forward_ad as fwAD

    monkeypatch.setattr(_blockrow, "FUSED_MIN_BYTES", 0)
    compiled, (states, inputs, params) = _large_gru("torch")
    with fwAD.dual_level():
        dual = {"h": fwAD.make_dual(states["h"], torch.ones_like(states["h"]))}
        jacobian = compiled.state_jacobian(dual, inputs, params)
        assert fwAD.unpack_dual(jacobian).tangent is not None


def test_numpy_dense_kernels_hold_blas_to_one_thread_and_restore_it(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    _path(monkeypatch, "fused, parallel")
    compiled, values = _large_gru("numpy")
    compiled.state_jacobian(*values)  # loads numba's writer and what it loads (SciPy's BLAS) first
    before = blas_threads()
    assert before, "threadpoolctl sees no BLAS library, so this test would check nothing"
    seen = []
    real = _fused.write_block_row
    monkeypatch.setattr(_fused, "write_block_row", lambda *args, **kw: (seen.append(blas_threads()), real(*args, **kw)))
    with numeric.arrays("numpy").dense_scope():  # nested scopes: the inner exit must not restore
        compiled.state_jacobian(*values)
        assert blas_threads() == [1] * len(before)
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert blas_threads() == before


@pytest.mark.parametrize("name, n, parallel", [("lstm_torch", 16, False), ("lstm_torch", 32, True),
                                               ("gru_torch", 16, False), ("gru_torch", 32, True)])
def test_blas_is_held_only_around_outputs_with_a_block_row_for_the_parallel_writer(monkeypatch, name, n, parallel):
    """The LSTM's state Jacobian at n = 16, B = 256, float64 is 2 MiB but its two block rows are
    1 MiB each, written on the calling thread: no BLAS limit around it (it only cost time); at
    n = 32 its block rows reach the parallel writer and the limit is taken."""
    entered = []
    scope = numeric.arrays("numpy").dense_scope

    def counting():
        entered.append(True)
        return scope()

    monkeypatch.setattr(numeric.arrays("numpy"), "dense_scope", counting)
    cell = cells.get(name)
    compiled = numeric.compile(cell, "numpy")
    values = numeric.random_values(cell, {"n": n, "m": 4}, batch=(256,), seed=3)
    rows = max(v.shape[-1] for v in values[0].values())
    total = sum(v.shape[-1] for v in values[0].values())
    assert (256 * rows * total * 8 >= _blockrow.PARALLEL_MIN_BYTES) == parallel, "the sizes no longer straddle it"
    compiled.state_jacobian(*values)
    assert bool(entered) == parallel


@pytest.mark.parametrize("n, batch", [(4, 2), (16, 64), (64, 64)], ids=["by terms", "one thread", "parallel"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", cells.names())
def test_out_receives_what_allocation_returns_on_every_path(name, backend, dtype, n, batch):
    """``state_jacobian(out=)`` into a NaN-filled buffer equals the allocating call, at sizes whose
    block rows take each writing strategy at the default thresholds (float32 halves the bytes)."""
    cell = cells.get(name)
    compiled = numeric.compile(cell, backend)
    values = numeric.random_values(cell, {"n": n, "m": 3}, batch=(batch,), seed=5, backend=backend, dtype=dtype)
    expected = compiled.state_jacobian(*values)
    out = expected * np.nan if backend == "numpy" else expected * float("nan")
    assert compiled.state_jacobian(*values, out=out) is out
    _assert_close(numeric.to_numpy(out), numeric.to_numpy(expected).astype(np.float64))


def _four_sample_kernel(monkeypatch) -> None:
    """Every serial block row to the four-sample kernel (no matrices are small enough for the
    narrow one)."""
    monkeypatch.setattr(_fused, "NARROW_MATRIX_BYTES", -1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("terms", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize("batch", [1, 3, 4, 9, 16])
def test_the_narrow_kernel_writes_what_the_four_sample_kernel_writes_bit_for_bit(dtype, terms, batch, monkeypatch):
    """Rows 3..6 of a (B, 7, 9) output, two segments (one with diagonals) and untouched columns:
    the narrow kernel sums each pass's terms in the four-sample kernel's order (a group's first
    pass ``terms % 4`` terms, a lone sample's passes two), so the two agree to the last bit —
    which also keeps them equal to ``_fused_numpy``.  Term counts 0–9 cover every pass layout."""
    rng = np.random.default_rng(100 * terms + batch)
    rows = slice(3, 7)
    start = rng.standard_normal((batch, 7, 9)).astype(dtype)
    segments = [_segment(rng, slice(0, 4), 4, batch, terms, diagonals=terms % 3, dtype=dtype, mixed=False),
                _segment(rng, slice(5, 9), 4, batch, (terms + 2) % 7, diagonals=0, dtype=dtype)]
    narrow = start.copy()
    _fused.write_block_row(narrow, rows, segments, parallel=False)
    _four_sample_kernel(monkeypatch)
    four = start.copy()
    _fused.write_block_row(four, rows, segments, parallel=False)
    np.testing.assert_array_equal(narrow, four)
    np.testing.assert_array_equal(narrow[:, :3], start[:, :3])
    np.testing.assert_array_equal(narrow[:, 3:, 4:5], start[:, 3:, 4:5])
    _assert_close(narrow, _reference(start, rows, segments))


def test_a_broken_narrow_kernel_is_caught(monkeypatch):
    """The comparison above fails for a narrow kernel that sums a pass in another order (the
    first pass of four terms as (u0 M0 + u1 M1) + (u2 M2 + u3 M3)): round-off shows."""
    rng = np.random.default_rng(1)
    segments = [_segment(rng, slice(0, 16), 16, 8, 4, diagonals=0, dtype=np.float32, mixed=False)]
    out = np.empty((8, 16, 16), np.float32)
    _fused.write_block_row(out, slice(0, 16), segments, parallel=False)
    pairs = [sum(np.float32(c)[:, :, None] * m for c, m in zip(segments[0].coefficients[h:h + 2],
                                                              segments[0].matrices[h:h + 2])) for h in (0, 2)]
    assert not np.array_equal(out, pairs[0] + pairs[1])


@pytest.mark.parametrize("n, dtype, narrow", [
    (16, "float64", True),  # GRU: 3 matrices of 16 × 16, 6 KiB
    (24, "float64", True),  # 13.5 KiB
    (32, "float32", True),  # 12 KiB
    (32, "float64", False),  # 24 KiB
    (64, "float32", False),  # 48 KiB
])
def test_the_narrow_kernel_is_taken_for_small_matrices(n, dtype, narrow, monkeypatch):
    cell = cells.get("gru_torch")
    compiled = numeric.compile(cell, "numpy")
    values = numeric.random_values(cell, {"n": n, "m": 4}, batch=(64,), seed=3, dtype=dtype)
    _path(monkeypatch, "fused, one thread")
    taken = []
    real = _fused._write_narrow
    monkeypatch.setattr(_fused, "_write_narrow", lambda *a: (taken.append(True), real(*a))[1])
    compiled.state_jacobian(*values)
    assert taken == ([True] if narrow else [])


@pytest.mark.parametrize("n, batch", [(5, 9), (16, 256), (24, 7)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", cells.names())
def test_catalogue_dense_jacobians_are_the_same_from_the_narrow_kernel(name, backend, dtype, n, batch, monkeypatch):
    """Every dense state / input Jacobian and gate split of every catalogue cell, written on one
    thread by the narrow kernel and by the four-sample kernel: equal bit for bit."""
    dense = _dense_jacobians(name, backend, dtype, n, batch, seed=12)
    _path(monkeypatch, "fused, one thread")
    narrow = dense()
    _four_sample_kernel(monkeypatch)
    for actual, expected in zip(narrow, dense()):
        np.testing.assert_array_equal(numeric.to_numpy(actual), numeric.to_numpy(expected))
