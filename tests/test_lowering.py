"""The dense NumPy kernels' forward rewritten onto owned buffers (``numeric/_lowering.py``,
``numeric/_workspace.py``): the same bits as the forward as written, for every catalogue cell."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from gatejac import numeric
from gatejac.numeric import _lowering, _workspace
from gatejac.symbolic import cells, derive
from gatejac.verify.strategies import random_cells

KERNELS = ("state_jacobian", "state_jacobian_frozen", "state_jacobian_gate", "input_jacobian")


def _dense_results(compiled, values, parameters=True):
    """Every dense Jacobian of ``compiled`` at ``values`` (parameter ones too with ``parameters``)."""
    results = [getattr(compiled, name)(*values) for name in KERNELS if hasattr(compiled, name)
               and (name != "input_jacobian" or compiled.cell.inputs)]
    if parameters:
        results += [compiled.parameter_jacobian(p.name, *values) for p in compiled.cell.parameters]
    return results


def _written_and_rewritten(monkeypatch, compiled, values, parameters=True):
    """The dense Jacobians with the forward as written, then rewritten (every size uses buffers)."""
    monkeypatch.setattr(_workspace, "MIN_BYTES", 2**62)
    written = _dense_results(compiled, values, parameters)
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    rewritten = [_dense_results(compiled, values, parameters) for _ in range(2)]  # the second call reuses the buffers
    return written, rewritten


@pytest.mark.parametrize("name", cells.names())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_rewritten_forward_gives_the_bits_of_the_forward_as_written(monkeypatch, name, dtype):
    cell = cells.get(name)
    compiled = numeric.compile(cell, "numpy")
    values = numeric.random_values(cell, {"n": 6, "m": 3}, batch=(5,), seed=2, dtype=dtype)
    written, rewritten = _written_and_rewritten(monkeypatch, compiled, values)
    _dense_results(compiled, numeric.random_values(cell, {"n": 6, "m": 3}, batch=(5,), seed=3, dtype=dtype))
    for again in rewritten:  # the call on other values (the same buffers) changed no earlier result
        assert len(again) == len(written)
        for actual, expected in zip(again, written):
            assert actual.dtype == expected.dtype and np.array_equal(actual, expected)


def test_arguments_of_mixed_dtypes_take_the_expressions(monkeypatch):
    """A raw kernel given float64 parameters with float32 states (the checked interface refuses such
    calls; ``CompiledCell.kernel`` does not) computes its forward as written, in the promoted
    dtype: float32 buffers would round every pass to float32 (without the dtype check the result
    differs from the expressions' in the last bits)."""
    cell = cells.get("gru_torch")
    compiled = numeric.compile(cell, "numpy")
    states, inputs, _ = numeric.random_values(cell, {"n": 6, "m": 3}, batch=(5,), seed=2, dtype="float32")
    _, _, params = numeric.random_values(cell, {"n": 6, "m": 3}, batch=(5,), seed=2)
    arguments = [states["h"], inputs["x"], *[params[p.name] for p in cell.parameters]]
    kernel = compiled.kernel("state_jacobian")
    monkeypatch.setattr(_workspace, "MIN_BYTES", 2**62)
    written = kernel(*arguments)
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    assert kernel(*arguments).tobytes() == written.tobytes()


def test_every_catalogue_state_jacobian_is_rewritten():
    for name in cells.names():
        source = numeric.compile(cells.get(name), "numpy").source
        jacobian = source[source.index("def state_jacobian("):].split("\n\n\n")[0]
        assert "_B.workspace(" in jacobian and ("_f.sigmoid(" in jacobian or "_f.tanh(" in jacobian), name


def test_the_bit_check_catches_a_rewrite_that_reuses_a_live_buffer(monkeypatch):
    """With no line's names counted as read later, buffers are reused while their values are
    still needed: the comparison above must see it."""
    line = _lowering._Lowering.line
    monkeypatch.setattr(_lowering._Lowering, "line", lambda self, text, later: line(self, text, set()))
    cell = cells.get("gru_torch")
    broken = numeric.compile(derive(cell), "numpy")  # a fresh derivation: compiled now, with the patch
    values = numeric.random_values(cell, {"n": 6, "m": 3}, batch=(5,), seed=2)
    written, rewritten = _written_and_rewritten(monkeypatch, broken, values, parameters=False)
    assert not np.array_equal(rewritten[0][0], written[0])


def test_the_workspace_is_the_same_buffers_on_a_thread_and_others_elsewhere(monkeypatch):
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    like = np.zeros((4, 3), np.float32)
    first = _workspace.workspace(like, (3, 5))
    assert [b.shape for b in first] == [(4, 3), (4, 5)] and all(b.dtype == np.float32 for b in first)
    assert all(a is b for a, b in zip(first, _workspace.workspace(like, (3, 5))))
    other = []
    thread = threading.Thread(target=lambda: other.extend(_workspace.workspace(like, (3, 5))))
    thread.start()
    thread.join()
    assert not any(np.shares_memory(a, b) for a in first for b in other)


def test_the_workspace_keeps_a_few_sets_and_refuses_what_it_does_not_serve(monkeypatch):
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    like = np.zeros((2, 3))
    first = _workspace.workspace(like, (3,))
    for batch in range(3, 3 + _workspace.KEPT):  # as many other batches as it keeps
        _workspace.workspace(np.zeros((batch, 3)), (3,))
    assert _workspace.workspace(like, (3,))[0] is not first[0]  # the least recently used went
    assert _workspace.workspace(like.astype(complex), (3,)) is None  # complex-step differentiation
    monkeypatch.setattr(_workspace, "MIN_BYTES", like.nbytes + 1)
    assert _workspace.workspace(like, (3,)) is None


def test_a_set_over_the_cap_serves_its_call_and_is_not_kept(monkeypatch):
    like = np.zeros((4, 8))
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    monkeypatch.setattr(_workspace, "KEPT_MAX_BYTES", like.nbytes)  # one (4, 8) float64 buffer
    assert _workspace.workspace(like, (8,))[0] is _workspace.workspace(like, (8,))[0]
    over = _workspace.workspace(like, (8, 8))
    assert over is not None and over[0] is not _workspace.workspace(like, (8, 8))[0]


def test_torch_kernels_compute_the_forward_as_written():
    assert numeric.arrays("torch").workspace(np.zeros((256, 256)), (256,), ()) is None


def test_a_line_the_rewrite_cannot_take_is_kept_and_what_reads_it_stays_correct(monkeypatch):
    """A subscript is not elementwise: its line, and a line reading its value of unknown kind,
    run as written inside the rewritten version; the values agree with the forward as written."""
    forward = ["a = _B.sigmoid(h + b)", "c = a[:, :1] * h", "_c0 = c * a", "_c1 = 1 - a**2"]
    lines = _lowering.lower(forward, ["return _c0, _c1"], {"h": (True, "n"), "b": (False, "n")}, "h", ["h", "b"])
    rewritten = lines[lines.index("else:"):]
    assert "    c = a[:, :1] * h" in rewritten and "    _c0 = c * a" in rewritten
    assert any(line.strip().startswith("_f.square(") for line in rewritten)
    source = "def forward(h, b):\n    n = h.shape[-1]\n" + "".join(f"    {line}\n" for line in lines) + "    return _c0, _c1\n"
    namespace = {"_B": numeric.arrays("numpy")}
    exec(source, namespace)  # noqa: S102 - the code under test
    h, b = np.random.default_rng(0).standard_normal((4, 3)), np.arange(3.0)
    monkeypatch.setattr(_workspace, "MIN_BYTES", 2**62)
    written = namespace["forward"](h, b)
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    for actual, expected in zip(namespace["forward"](h, b), written):
        assert np.array_equal(actual, expected)


@settings(max_examples=100, deadline=None)
@given(cell=random_cells(), seed=st.integers(0, 2**32 - 1))
def test_random_cells_rewritten_give_the_bits_of_the_forward_as_written(cell, seed):
    """Cells composed at random from the cell language: every dense Jacobian the same both ways."""
    note(repr(cell))
    compiled = numeric.compile(cell, "numpy")
    values = numeric.random_values(cell, {"n": 3, "k": 2, "m": 2}, batch=(4,), seed=seed % 2**31)
    with pytest.MonkeyPatch.context() as monkeypatch:
        written, rewritten = _written_and_rewritten(monkeypatch, compiled, values)
    for again in rewritten:
        for actual, expected in zip(again, written):
            assert np.array_equal(actual, expected, equal_nan=True)
