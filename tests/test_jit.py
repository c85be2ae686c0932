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
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings

from gatejac import numeric
from gatejac.numeric import _jit_loading, _jit_math, _numba_cache, _printer
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


def _exact_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


EXACT = {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh, "sigmoid": _exact_sigmoid,
         "softplus": lambda x: np.logaddexp(0, x)}
"""The references, evaluated in np.longdouble (x87 extended, 64-bit significand) for float64
arguments and in float64 for float32 ones, then rounded."""


def math_points(dtype) -> np.ndarray:
    """Every finite magnitude of ``dtype`` log-spaced (subnormals to the largest), both signs,
    ±0, a fine grid over [−800, 800] (where exp overflows and underflows, tanh and σ saturate),
    the thresholds themselves, ±inf and nan, and two million random values (half random bit
    patterns, half normal of scale 20)."""
    info, rng = np.finfo(dtype), np.random.default_rng(7)
    tiny = float(np.nextafter(dtype(0), dtype(1)))
    magnitudes = np.geomspace(tiny, float(info.max) * (1 - 1e-12), 400_000)
    thresholds = [np.log(float(info.max)), np.log(tiny), np.log(float(info.tiny)), 19.06, 9.01, 36.7, 17.3]
    bits = rng.integers(0, 2 ** (8 * info.bits // 8), 1_000_000, dtype=np.uint64 if info.bits == 64 else np.uint32)
    points = np.concatenate([magnitudes, -magnitudes, np.linspace(-800, 800, 400_001), thresholds,
                             np.negative(thresholds), [0.0, -0.0, np.inf, -np.inf, np.nan],
                             20 * rng.standard_normal(1_000_000)]).astype(dtype)
    return np.concatenate([points, bits.view(dtype)])


def ulp_errors(actual, exact, dtype) -> np.ndarray:
    """|actual − exact| in units of the spacing of ``dtype`` at the exact value rounded to
    ``dtype``; 0 where both are the same infinity or both nan, inf where one is nan alone."""
    rounded = exact.astype(dtype)
    same = (actual == rounded) | (np.isnan(actual) & np.isnan(rounded))
    with np.errstate(all="ignore"):
        error = np.abs(actual.astype(exact.dtype) - exact) / np.spacing(np.abs(rounded)).astype(exact.dtype)
    return np.where(same, 0.0, np.where(np.isnan(error), np.inf, error)).astype(np.float64)


def worst_ulps(module, suffix, dtype) -> dict:
    """``{function: worst ulp error over math_points}`` of ``module``'s functions."""
    x = math_points(dtype)
    with np.errstate(invalid="ignore"):  # the nan among the random bit patterns
        wide = x.astype(np.longdouble if dtype == np.float64 else np.float64)
    worst = {}
    for name, exact in EXACT.items():
        out = np.empty_like(x)
        _apply(getattr(module, f"{name}_{suffix}"), x, out)
        with np.errstate(all="ignore"):
            worst[name] = float(ulp_errors(out, exact(wide), dtype).max())
    return worst


@pytest.mark.parametrize("suffix, dtype", [("f64", np.float64), ("f32", np.float32)])
def test_jit_math_is_within_a_few_ulp_everywhere(suffix, dtype):
    worst = worst_ulps(_jit_math, suffix, dtype)
    assert max(worst.values()) <= 3, worst
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    for name, numpy_function in [("exp", np.exp), ("expm1", np.expm1), ("tanh", np.tanh),
                                 ("sigmoid", _exact_sigmoid), ("softplus", lambda v: np.logaddexp(0, v))]:
        out = np.empty_like(special)
        _apply(getattr(_jit_math, f"{name}_{suffix}"), special, out)
        np.testing.assert_array_equal(out, numpy_function(special))  # nan where NumPy has nan, signed zeros
        signed = ~np.isnan(out)  # a nan's sign bit is arbitrary
        assert np.array_equal(np.signbit(out[signed]), np.signbit(numpy_function(special)[signed])), name


def test_a_broken_constant_of_jit_math_is_caught():
    """The same module with the low part of ln 2 off in its last digits fails the ulp check."""
    import types

    source = Path(_jit_math.__file__).read_text()
    assert "1.42860682030941723212e-6" in source
    broken = types.ModuleType("broken_jit_math")
    broken.__dict__["cached_njit"] = lambda **options: numba.njit(**options)
    exec(compile(source.replace("from ._numba_cache import cached_njit\n", "")  # noqa: S102 - our own module
                 .replace("1.42860682030941723212e-6", "1.42860682030941723212e-5"), "broken", "exec"), broken.__dict__)
    worst = worst_ulps(broken, "f64", np.float64)
    assert worst["exp"] > 3 and worst["tanh"] > 3, worst


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
    key = _numba_cache.cache_directory().name  # the hash of the package's numba sources
    assert list((tmp_path / "numba" / key / "jit").glob("gatejac_jit_*.py"))


@pytest.mark.parametrize("name", ["lstm_torch", "scalar_gate"])
def test_streamed_rows_equal_rows_written_in_place(monkeypatch, name):
    """Outputs of STREAM_MIN_BYTES and more are written through a row buffer with streaming
    stores; forced for a small output here, the values are the same bits."""
    cell = cells.get(name)
    jitted = numeric.compile(cell, jit=True)
    values = numeric.random_values(cell, SIZES, batch=(2, 3), seed=5)
    in_place = jitted.state_jacobian(*values)
    monkeypatch.setattr(_jit_loading, "STREAM_MIN_BYTES", 0)
    np.testing.assert_array_equal(jitted.state_jacobian(*values), in_place)


def test_batch_shapes_that_broadcast():
    """States of batch (2, 3) with inputs of batch (3,), and unbatched states with batched inputs."""
    cell = cells.get("multi_gate")
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(2, 3), seed=6)
    for given in ((states, {"x": inputs["x"][0]}, params), ({"h": states["h"][0, 0]}, inputs, params)):
        assert_close(jitted.state_jacobian(*given), default.state_jacobian(*given), "float64", "broadcast")
        assert_close(jitted.input_jacobian(*given), default.input_jacobian(*given), "float64", "broadcast")
