"""``numeric.compile(..., jit=True)``: the whole-kernel numba Jacobians against the NumPy kernels.

Each jit kernel is compiled by numba on its first call for a dtype (about a second) and kept
in the per-user disk cache, so a second run of this file loads them; Hypothesis draws its
random cells derandomized, so that they are the same cells (and cache entries) every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings

from gatejac import numeric
from gatejac.numeric import _jit_math, _printer
from gatejac.numeric._jit_codegen import KERNELS
from gatejac.numeric import CompileError
from gatejac.symbolic import GatejacError, cells, derive
from gatejac.verify._tolerances import tolerance
from gatejac.verify.strategies import random_cells

SIZES = {"n": 3, "k": 2, "m": 2}
BATCHES = [(), (3,), (2, 3)]


def kernel_calls(compiled):
    """``{kernel: call(states, inputs, params, out=None)}`` of the dense kernels jit covers."""
    calls = {"state_jacobian": compiled.state_jacobian}
    if compiled.cell.inputs:
        calls["input_jacobian"] = compiled.input_jacobian
    if compiled.cell.gates:  # the two parts of gate_split, checked as gate_split checks them
        for name in ("state_jacobian_frozen", "state_jacobian_gate"):
            calls[name] = lambda s, i, p, out=None, name=name: compiled.kernel(name)(*compiled.arguments_of(s, i, p))
    return calls


def assert_close(actual, reference, dtype, what: str) -> None:
    """Equal to the dtype's ``reference`` tolerance (``verify/_tolerances.py``)."""
    assert actual.shape == reference.shape and actual.dtype == reference.dtype, what
    bound = tolerance("reference", dtype, np.max(np.abs(reference), initial=0.0))
    error = np.abs(actual - reference) - bound.bound(np.abs(reference))
    assert np.all(error <= 0), f"{what}: worst excess {error.max():.3g} over the tolerance"


def compare(cell, dtypes=("float64", "float32"), batches=BATCHES) -> list[str]:
    """Compare every jit kernel of ``cell`` with the default one; the kernels compared."""
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    compared = []
    for name, call in kernel_calls(jitted).items():
        if name in jitted.jit_refused:
            with pytest.raises(CompileError, match="jit=False"):
                call(*numeric.random_values(cell, SIZES, dtype="float64"))
            continue
        for dtype in dtypes:
            for seed, batch in enumerate(batches):
                values = numeric.random_values(cell, SIZES, batch=batch, seed=seed, dtype=dtype)
                assert_close(call(*values), kernel_calls(default)[name](*values), dtype,
                             f"{cell.name} {name} {dtype} batch {batch}")
        compared.append(name)
    return compared


@pytest.mark.parametrize("name", cells.names())
def test_catalogue_jit_kernels_equal_the_numpy_kernels(name):
    cell = cells.get(name)
    compared = compare(cell)
    refused = numeric.compile(cell, jit=True).jit_refused
    assert set(compared) | set(refused) == set(kernel_calls(numeric.compile(cell)))
    if name in ("gru_cho", "gru_chung", "gru_gain"):  # diag·W·diag·U terms: a matrix product per sample
        assert "Diag · Mat · Diag · Mat" in refused["state_jacobian"]
    else:
        assert not refused, refused


@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cell=random_cells(max_states=2, max_inputs=1, max_named=2, max_depth=2))
def test_random_cells_jit_kernels_equal_the_numpy_kernels(cell):
    note(str(cell.updates))
    compare(cell, dtypes=("float64",), batches=[(4,)])


def test_out_is_written_and_a_wrong_out_gets_the_default_error():
    cell = cells.get("gru_torch")
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    for dtype in ("float64", "float32"):
        values = numeric.random_values(cell, SIZES, batch=(2, 3), seed=4, dtype=dtype)
        out = np.full((2, 3, 3, 3), np.nan, dtype)
        assert jitted.state_jacobian(*values, out=out) is out
        assert_close(out, default.state_jacobian(*values), dtype, f"out= {dtype}")
        for wrong in (np.empty((2, 3, 3, 4), dtype), np.empty((2, 3, 3, 3), np.float16),
                      np.empty((2, 3, 3, 6), dtype)[..., ::2]):
            with pytest.raises(GatejacError) as expected:
                default.state_jacobian(*values, out=wrong)
            with pytest.raises(GatejacError) as got:
                jitted.state_jacobian(*values, out=wrong)
            assert str(got.value) == str(expected.value)


def test_argument_mistakes_get_the_default_errors():
    cell = cells.get("leaky")
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(2,))
    mistakes = [
        (dict(states, h=states["h"][:, :2]), inputs, params),
        (states, inputs, dict(params, W=params["W"].astype(np.float32))),
        (states, {}, params),
        (states, dict(inputs, x=np.zeros((3, 2))), params),
    ]
    for mistake in mistakes:
        with pytest.raises(GatejacError) as expected:
            default.state_jacobian(*mistake)
        with pytest.raises(GatejacError) as got:
            jitted.state_jacobian(*mistake)
        assert str(got.value) == str(expected.value)


def test_a_broken_printer_is_caught_by_the_comparison(monkeypatch):
    """A sign flipped in the jit printer's σ gives kernels the comparison refuses."""
    cell = cells.get("gru_torch")
    monkeypatch.setitem(_printer._SCALAR_FUNCTIONS, "sigmoid", "(-_m.sigmoid_SX({0}))")
    broken = numeric.compile(derive(cell), jit=True)  # a new derivation: compiled afresh with the patch
    assert "(-_m.sigmoid_f64(" in broken.jit_source
    values = numeric.random_values(cell, SIZES, batch=(4,), seed=1)
    with pytest.raises(AssertionError, match="worst excess"):
        assert_close(broken.state_jacobian(*values), numeric.compile(cell).state_jacobian(*values), "float64", "broken")


def test_jit_is_an_explicit_numpy_option():
    cell = cells.get("leaky")
    default = numeric.compile(cell)
    assert default is numeric.compile(cell, jit=False) and not default.jit and default.jit_source is None
    jitted = numeric.compile(cell, jit=True)
    assert jitted is not default and jitted is numeric.compile(cell, "numpy", jit=True)
    assert all(name in jitted.jit_source for name in ("state_jacobian__f64", "input_jacobian__f32"))
    with pytest.raises(CompileError, match="backend 'torch'"):
        numeric.compile(cell, "torch", jit=True)
    with pytest.raises(CompileError, match="jit must be True or False"):
        numeric.compile(cell, jit="yes")
    assert set(KERNELS) >= set(kernel_calls(jitted))


@numba.njit
def _apply(function, values, out):
    for q in range(values.shape[0]):
        out[q] = function(values[q])


@pytest.mark.parametrize("suffix, dtype", [("f64", np.float64), ("f32", np.float32)])
def test_jit_math_is_within_a_few_ulp_of_numpy(suffix, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([3 * rng.standard_normal(20000), 1e-6 * rng.standard_normal(200), [0.0, 30.0, -30.0]]).astype(dtype)
    references = {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh,
                  "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "softplus": lambda v: np.logaddexp(0, v)}
    for name, reference in references.items():
        function = getattr(_jit_math, f"{name}_{suffix}")
        out = np.empty_like(x)
        _apply(function, x, out)
        exact = reference(x.astype(np.float64))
        ulps = np.abs(out - exact) / np.maximum(np.abs(exact), np.finfo(dtype).tiny) / np.finfo(dtype).eps
        assert ulps.max() <= 3, f"{name}_{suffix}: {ulps.max():.2f} ulp"


def test_a_second_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    script = textwrap.dedent("""
        import json
        import numpy as np
        from gatejac import numeric
        from gatejac.symbolic import cells
        cell = cells.get("multi_gate")
        jitted = numeric.compile(cell, jit=True)
        jitted.state_jacobian(*numeric.random_values(cell, {"n": 3, "m": 2}, batch=(2,)))
        function = jitted._kernels["state_jacobian"]._functions[np.dtype("float64")]
        print(json.dumps([sum(function.stats.cache_hits.values()), sum(function.stats.cache_misses.values())]))
    """)
    environment = dict(os.environ, GATEJAC_CACHE_DIR=str(tmp_path))
    environment.pop("NUMBA_CACHE_DIR", None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True,
                                      text=True, check=True).stdout.splitlines()[-1]) for _ in range(2)]
    assert runs[0] == [0, 1]  # compiled and stored
    assert runs[1] == [1, 0]  # loaded, not compiled
    assert list((tmp_path / "numba" / "jit").glob("gatejac_jit_*.py"))
