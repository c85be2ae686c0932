"""Where dense outputs go and what a remembered call skips: the jit kernels' new outputs start on a
cache line at every size (so a result kept and passed back as ``out=`` does too), a remembered
dense signature takes the same ``dense_scope`` decision as its first call, the jit kernels take
values numba cannot use as they are (strided, Fortran-ordered, broadcast) through a copy, and
``benchmarks/per_call.py --out`` runs and refuses a route that does not write into the kept array;
a remembered signature's new values give their own Jacobians, and a looked-up entry outlives
its eviction by another thread.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _blockrow, _compiled, _jit_loading, _signatures
from gatejac.numeric._arrays import CACHE_LINE
from gatejac.symbolic import cells, derive
from gatejac.verify._tolerances import tolerance

ROOT = Path(__file__).resolve().parents[1]
PER_CALL = ROOT / "benchmarks" / "per_call.py"


def off_line(arrays) -> list:
    """The arrays among ``arrays`` whose first element does not start a cache line."""
    return [a for a in arrays if a.ctypes.data % CACHE_LINE]


def assert_close(actual, reference, dtype, what: str) -> None:
    bound = tolerance("reference", dtype, np.max(np.abs(reference), initial=0.0))
    assert actual.shape == reference.shape, what
    assert np.all(np.abs(actual - reference) <= bound.bound(np.abs(reference))), what


def test_jit_outputs_start_on_a_cache_line_at_every_size():
    """Sixteen outputs from 72 bytes to 256 KiB; ``np.empty`` puts three in four of such arrays
    off a line (16-byte steps), so a kernel that allocated with it would fail here."""
    cell = cells.get("multi_gate")
    jitted = numeric.compile(cell, jit=True)
    outputs = []
    for dtype in ("float64", "float32"):
        for n, batch in ((3, ()), (3, (1,)), (5, (3,)), (16, (256,))):
            values = numeric.random_values(cell, {"n": n, "m": 2}, batch=batch, seed=n, dtype=dtype)
            outputs += [jitted.state_jacobian(*values), jitted.input_jacobian(*values)]
    assert len(outputs) == 16 and not off_line(outputs)


def test_the_alignment_check_catches_an_output_off_a_line(monkeypatch):
    """The check above, on a kernel whose allocation is deliberately put 16 bytes past a line."""
    def off_by_16(shape, dtype, align_from=0):
        dtype = np.dtype(dtype)
        raw = np.empty(int(np.prod(shape)) * dtype.itemsize + 2 * CACHE_LINE, np.uint8)
        start = -raw.ctypes.data % CACHE_LINE + 16
        return np.ndarray(shape, dtype, raw, start)

    monkeypatch.setattr(_jit_loading, "aligned_empty", off_by_16)
    cell = cells.get("leaky")
    values = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(2,), seed=0)
    result = numeric.compile(cell, jit=True).state_jacobian(*values)
    assert off_line([result]) == [result]
    assert_close(result, numeric.compile(cell).state_jacobian(*values), "float64", "off a line")


@pytest.mark.parametrize("name, n, parallel", [("gru_torch", 16, False), ("gru_torch", 32, True)])
def test_a_remembered_dense_call_takes_the_scope_its_first_call_took(monkeypatch, name, n, parallel):
    """The scope decision is remembered with the signature (``_compiled._dense``): every later
    call, allocating or into ``out=``, enters ``dense_scope`` exactly when the first did."""
    entered, xp = [], numeric.arrays("numpy")
    monkeypatch.setattr(xp, "dense_scope", lambda scope=xp.dense_scope: entered.append(True) or scope())
    cell = cells.get(name)
    compiled = numeric.compile(cell)
    values = numeric.random_values(cell, {"n": n, "m": 4}, batch=(256,), seed=3)
    assert (256 * n * n * 8 >= _blockrow.PARALLEL_MIN_BYTES) == parallel, "the sizes no longer straddle it"
    out = compiled.state_jacobian(*values)
    for _ in range(3):
        compiled.state_jacobian(*values)
        assert compiled.state_jacobian(*values, out=out) is out
    assert len(entered) == (7 if parallel else 0)


def test_jit_kernels_copy_values_numba_cannot_take_as_they_are():
    """A strided state, a Fortran-ordered and a strided matrix, a Python number for a scalar and a state
    broadcast against batched inputs give the default kernel's Jacobian; the values are not
    changed."""
    cell = cells.get("leaky")
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    states, inputs, params = numeric.random_values(cell, {"n": 4, "m": 3}, batch=(5,), seed=2)
    wide = np.repeat(states["h"], 2, axis=-1)  # (5, 8): every other column is a strided (5, 4) state
    given = [
        ({"h": wide[:, ::2]}, inputs, params),
        (states, inputs, {**params, "W": np.asfortranarray(params["W"])}),
        (states, inputs, {**params, "W": np.repeat(params["W"], 2, axis=1)[:, ::2]}),
        (states, inputs, {**params, "alpha": float(params["alpha"])}),
        ({"h": states["h"][0]}, inputs, params),
    ]
    for k, (s, i, p) in enumerate(given):
        before = [v.copy() for v in (*s.values(), *i.values(), *p.values()) if isinstance(v, np.ndarray)]
        assert_close(jitted.state_jacobian(s, i, p), default.state_jacobian(s, i, p), "float64", f"case {k}")
        after = [v for v in (*s.values(), *i.values(), *p.values()) if isinstance(v, np.ndarray)]
        assert all(np.array_equal(a, b) for a, b in zip(before, after)), f"case {k} changed a value"


def test_per_call_out_times_every_route_into_its_kept_result():
    done = subprocess.run([sys.executable, str(PER_CALL), "--out", "--sizes", "4", "--cells", "leaky", "--repeats", "1"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [[f.strip() for f in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith("| leaky | 4 |")]
    assert sorted((r[2], r[3]) for r in rows) == sorted((d, r) for d in ("float64", "float32")
                                                         for r in ("numpy", "torch", "jit"))
    for row in rows:
        out, allocating, ratio = (float(f) for f in row[4:7])
        assert out > 0 and allocating > 0 and abs(ratio - out / allocating) < 2e-3, row
    assert "above 1 in" in done.stdout


def test_per_call_out_refuses_a_route_that_does_not_write_into_the_kept_array(monkeypatch):
    """A kernel returning a fresh array for ``out=`` (so the timing would be of something else)."""
    monkeypatch.syspath_prepend(str(PER_CALL.parent))
    per_call = importlib.import_module("per_call")

    class Copying:
        def __init__(self, compiled):
            self.compiled = compiled

        def state_jacobian(self, *values, out=None):
            return self.compiled.state_jacobian(*values).copy()

    fake = type("FakeNumeric", (), {"random_values": staticmethod(numeric.random_values),
                                    "compile": staticmethod(lambda c, b, jit=False: Copying(numeric.compile(c, b)))})
    with pytest.raises(AssertionError, match="did not return kept"):
        per_call._out_row(fake, cells.get("leaky"), 4, "float64", "numpy", False, 1)
    assert all(t > 0 for t in per_call._out_row(numeric, cells.get("leaky"), 4, "float64", "numpy", False, 1))


@pytest.mark.parametrize("backend, jit", [("numpy", True), ("numpy", False), ("torch", False)])
def test_a_remembered_signature_with_new_values_gives_their_jacobian(backend, jit):
    """The second call has the first's names, shapes and dtypes (one remembered signature) but
    other values: its results are those of a cell that never saw the first."""
    cell = cells.get("gru_torch")
    first, second = (numeric.random_values(cell, {"n": 4, "m": 3}, batch=(5,), seed=seed, backend=backend)
                     for seed in (1, 2))
    compiled = _compiled.CompiledCell(derive(cell), backend, jit)
    kept = compiled.state_jacobian(*first)
    compiled.input_jacobian(*first)
    fresh = _compiled.CompiledCell(derive(cell), backend, jit)
    expected = [np.asarray(fresh.state_jacobian(*second)), np.asarray(fresh.input_jacobian(*second))]
    results = [compiled.state_jacobian(*second, out=kept), compiled.input_jacobian(*second)]
    for result, reference in zip(results, expected):
        assert_close(np.asarray(result), reference, "float64", f"{backend} jit={jit}")
    assert not np.allclose(expected[0], np.asarray(compiled.state_jacobian(*first))), "the two values agree"


def test_a_remembered_entry_outlives_its_eviction():
    """A call keeps the entry it looked up (``Signatures.remembered``), so another thread that
    makes the memory forget the signature in between cannot fail it with a KeyError."""
    cell = cells.get("leaky")
    compiled = _compiled.CompiledCell(derive(cell), "numpy")
    memory = _signatures.Signatures(1, compiled._signatures.names)
    states, inputs, params = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(2,), seed=0)
    call = compiled._check_arguments(states, inputs, params)
    key = _signatures.signature((states, inputs, params))
    memory.remember(key, call, ("kept",))
    entry = memory.remembered(key)
    memory.remember(("another",), call, ())  # the memory holds one: the first is forgotten
    assert memory.remembered(key) is None and memory.extra(entry) == ("kept",)
    again = memory.call(entry, states, inputs, params, _compiled._Call)
    assert again.batch == call.batch and again.sizes == call.sizes and again.reference is call.reference
