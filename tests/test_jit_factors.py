"""The tangent rollout as one numba function (numeric/_jit_factors.py).

Oracles: the generated NumPy kernels, which never run the numba function — ``step`` from each
stored state s_{t−1} (the new state s_t, compared step by step so that no divergence of two
trajectories enters) and ``factors`` evaluated on the stored states (the u and d of every step,
``window_factors``); the exponents of the NumPy ``factors`` rollout.  Tolerances from
``verify._tolerances`` (through ``_assert_close``).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
import weakref

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from threadpoolctl import threadpool_info, threadpool_limits
from test_trajectory import _assert_close

from gatejac import numeric
from gatejac.numeric import _jit_factors as jit_factors
from gatejac.numeric import rollout
from gatejac.numeric._jit_codegen import Unsupported
from gatejac.numeric._tangent import tangent_plan, window_factors
from gatejac.numeric._blockrow import serial_blas
from gatejac.symbolic import cells
from gatejac.verify.strategies import random_cells

STEPS = jit_factors.JIT_MIN_STEPS
FACTOR_CELLS = sorted(name for name in cells.names() if tangent_plan(numeric.compile(cells.get(name), "numpy")))


def _rolled_arguments(name, sizes, steps, batch=(2,), dtype="float64", backend="numpy"):
    """``(states, inputs, params)`` of catalogue cell ``name``: states of ``batch``, inputs of
    ``(steps, *batch)``."""
    cell = cells.get(name)
    states, _, params = numeric.random_values(cell, sizes, batch=batch, seed=0, dtype=dtype, backend=backend)
    _, inputs, _ = numeric.random_values(cell, sizes, batch=(steps, *batch), seed=1, dtype=dtype, backend=backend)
    return states, inputs, params


def _rolled(name, *, dtype="float64", batch=(2,), steps=STEPS, sizes=None, backend="numpy"):
    arguments = _rolled_arguments(name, sizes or {"n": 5, "m": 3}, steps, batch, dtype, backend)
    return rollout(numeric.compile(cells.get(name), backend), *arguments)


def _check_against_numpy_kernels(trajectory, dtype="float64"):
    """Every stored state and factor equals the NumPy kernels' on the stored states."""
    compiled = trajectory.compiled
    states, inputs = trajectory.window(0, trajectory.steps)
    new_states = compiled.kernel("step")(*compiled.arguments_of(states, inputs, trajectory.params))
    for name, value in zip(trajectory.states, new_states):
        _assert_close(trajectory.states[name][1:], np.broadcast_to(value, trajectory.states[name][1:].shape),
                      "reference", dtype)
    expected = window_factors(tangent_plan(compiled), compiled, states, inputs, trajectory.params)
    for stored, reference in zip(trajectory._cache["factors"], expected):
        for value, wanted in zip(stored, reference):
            wanted = np.broadcast_to(np.reshape(wanted, (len(wanted), *[1] * (value.ndim - np.ndim(wanted)),
                                                         *np.shape(wanted)[1:])), value.shape)
            _assert_close(value, wanted, "reference", dtype)


def _assert_in_kernel_order(plan):
    """The plan lists its u terms and d terms in the order of the ``factors`` kernel's lists,
    which ``_jit_factors._factor_rows`` reads them in (it does not sort)."""
    assert [term.coefficient for term in plan.terms] == list(range(len(plan.terms)))
    assert [position for _, _, position in plan.diagonals] == list(range(len(plan.diagonals)))


@pytest.mark.parametrize("name", FACTOR_CELLS)
def test_catalogue_rollouts_equal_the_numpy_kernels(name):
    """Every catalogue cell with stored factors rolls out in the numba function (batch (2,)),
    and its states and factors are the NumPy kernels' to round-off."""
    trajectory = _rolled(name)
    assert trajectory.rollout_kernel == "numba"
    _assert_in_kernel_order(tangent_plan(trajectory.compiled))
    _check_against_numpy_kernels(trajectory)


@settings(max_examples=8, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cell=random_cells(max_states=2, max_inputs=1, max_named=2, max_depth=2))
def test_random_cells_rollouts_equal_the_numpy_kernels(cell):
    """Random cells with stored factors (states of one or two sizes, named nodes, products of
    expressions): the numba rollout's states and factors are the NumPy kernels', where finite."""
    compiled = numeric.compile(cell, "numpy")
    assume(tangent_plan(compiled) is not None)
    note(str(cell.updates))
    _assert_in_kernel_order(tangent_plan(compiled))
    states, _, params = numeric.random_values(cell, {"n": 4, "m": 3, "k": 2}, batch=(2,), seed=0, gain=0.5)
    _, inputs, _ = numeric.random_values(cell, {"n": 4, "m": 3, "k": 2}, batch=(STEPS, 2), seed=1)
    with np.errstate(all="ignore"):
        trajectory = rollout(compiled, states, inputs or None, params, steps=None if inputs else STEPS)
        assume(all(np.max(np.abs(value)) < 1e3 for value in trajectory.states.values()))  # not an exploding cell
        assert trajectory.rollout_kernel == "numba"
        _check_against_numpy_kernels(trajectory)


@pytest.mark.parametrize("name", ["gru_torch", "lstm_torch"])
def test_float32_and_broadcast_batches(name):
    """float32 stays float32 and matches the float32 NumPy kernels to the float32 tolerance;
    an unbatched initial state broadcasts against inputs of batch (2, 3)."""
    trajectory = _rolled(name, dtype="float32")
    assert trajectory.rollout_kernel == "numba"
    assert all(value.dtype == np.float32 for value in trajectory.states.values())
    _check_against_numpy_kernels(trajectory, "float32")
    cell = cells.get(name)
    states, _, params = numeric.random_values(cell, {"n": 4, "m": 2}, batch=(), seed=0)
    _, inputs, _ = numeric.random_values(cell, {"n": 4, "m": 2}, batch=(STEPS, 2, 3), seed=1)
    trajectory = rollout(numeric.compile(cell, "numpy"), states, inputs, params)
    assert trajectory.rollout_kernel == "numba" and trajectory.batch_shape == (2, 3)
    _check_against_numpy_kernels(trajectory)
    empty = _rolled(name, batch=(0,))
    assert empty.rollout_kernel == "numba" and empty.states["h"].shape == (STEPS + 1, 0, 5)


@pytest.mark.parametrize("name, count", [("gru_torch", 6), ("lstm_torch", 12)])
def test_exponents_equal_the_numpy_factors_route(name, count, monkeypatch):
    """The exponents from the numba rollout equal those of the NumPy ``factors`` rollout (the
    route below JIT_MIN_STEPS) of the same sequence."""
    trajectory = _rolled(name, batch=(), steps=400, sizes={"n": 16, "m": 3})
    monkeypatch.setattr(jit_factors, "JIT_MIN_STEPS", 10**9)
    reference = rollout(trajectory.compiled, trajectory.states_at(0), trajectory.inputs, trajectory.params)
    assert (trajectory.rollout_kernel, reference.rollout_kernel) == ("numba", "factors")
    _assert_close(trajectory.lyapunov(count, method="action"), reference.lyapunov(count, method="action"))


def test_a_wrong_generated_factor_is_caught(monkeypatch):
    """A u written 1e-6 relative off (the generator's first factor) fails the comparison."""
    original = jit_factors._plan

    def shifted(module, term):
        plan = original(module, term)
        plan.left = plan.left * (1 + 1e-6)
        return plan

    monkeypatch.setattr(jit_factors, "_plan", shifted)
    monkeypatch.setattr(jit_factors, "_ROLLOUTS", weakref.WeakKeyDictionary())
    trajectory = _rolled("gru_torch", sizes={"n": 3, "m": 2})
    assert trajectory.rollout_kernel == "numba"
    with pytest.raises(AssertionError, match="worst entry"):
        _check_against_numpy_kernels(trajectory)


def test_which_kernel_rolled_is_observable(monkeypatch):
    """Short rollouts and tracked torch tensors take ``factors``, cells without factors ``step``,
    plain torch tensors the numba function (on NumPy views); a cell the writer refuses keeps
    ``factors``, and the refusal says why."""
    assert _rolled("gru_torch", steps=STEPS - 1).rollout_kernel == "factors"
    assert _rolled("gru_chung").rollout_kernel == "step"
    plain = _rolled("lstm_torch", backend="torch")
    assert plain.rollout_kernel == "numba" and isinstance(plain.states["h"], torch.Tensor)
    cell = cells.get("gru_torch")
    states, _, params = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(), seed=0, backend="torch")
    _, inputs, _ = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(STEPS,), seed=1, backend="torch")
    tracked = {name: value.clone().requires_grad_(True) for name, value in states.items()}
    assert rollout(numeric.compile(cell, "torch"), tracked, inputs, params).rollout_kernel == "factors"

    def refuse(self, name="rollout"):
        raise Unsupported("a term made up by this test")

    monkeypatch.setattr(jit_factors._RolloutKernel, "lines", refuse)
    monkeypatch.setattr(jit_factors, "_ROLLOUTS", weakref.WeakKeyDictionary())
    trajectory = _rolled("gru_torch")
    assert trajectory.rollout_kernel == "factors"
    refusal = jit_factors.jit_rollout(trajectory.compiled, tangent_plan(trajectory.compiled))
    assert "made up by this test" in refusal.reason
    _check_against_numpy_kernels(trajectory)


def test_long_rollouts_run_in_calls_of_chunk_rows(monkeypatch):
    """With CHUNK_ROWS lowered to 100 steps of batch 2, a rollout of 256 steps makes three
    calls (100, 100, 56 steps), each from the last one's states, and still equals the NumPy
    kernels; a trajectory built from given states has no rollout kernel."""
    monkeypatch.setattr(jit_factors, "CHUNK_ROWS", 200)
    compiled = numeric.compile(cells.get("lstm_torch"), "numpy")
    function = jit_factors.jit_rollout(compiled, tangent_plan(compiled))
    steps = []

    def counted(*arguments):
        steps.append(arguments[0].shape[0] - 1)
        return original(*arguments)

    original = function._functions[np.dtype(np.float64)]
    monkeypatch.setitem(function._functions, np.dtype(np.float64), counted)
    trajectory = rollout(compiled, *_rolled_arguments("lstm_torch", {"n": 3, "m": 2}, STEPS))
    assert trajectory.rollout_kernel == "numba" and steps == [100, 100, STEPS - 200]
    _check_against_numpy_kernels(trajectory)
    rebuilt = numeric.Trajectory(trajectory.compiled, trajectory.states, trajectory.inputs, trajectory.params)
    assert rebuilt.rollout_kernel is None


def test_an_interrupted_rollout_leaves_the_scope_and_blas_threads_as_they_were(monkeypatch):
    """Ctrl-C arriving between two calls (a KeyboardInterrupt raised by the second call here)
    ends the rollout; the serial-BLAS scope is left and the BLAS pools have their two threads
    again (one while it ran)."""
    monkeypatch.setattr(jit_factors, "CHUNK_ROWS", 200)
    compiled = numeric.compile(cells.get("gru_torch"), "numpy")
    function = jit_factors.jit_rollout(compiled, tangent_plan(compiled))
    original, calls = function._functions[np.dtype(np.float64)], []

    def interrupted(*arguments):
        calls.append(serial_blas.active())
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*arguments)

    def blas_threads():
        return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    arguments = _rolled_arguments("gru_torch", {"n": 3, "m": 2}, STEPS)
    rollout(compiled, *arguments)  # every BLAS library the rollout uses loaded
    monkeypatch.setitem(function._functions, np.dtype(np.float64), interrupted)
    with threadpool_limits(2, user_api="blas"):  # two threads, which the rollout sets to one while it runs
        before = blas_threads()
        with pytest.raises(KeyboardInterrupt):
            rollout(compiled, *arguments)
        assert calls == [True, True] and blas_threads() == before and set(before.values()) == {2}
    assert not serial_blas.active()


def test_read_only_and_broadcast_arguments_reuse_the_machine_code():
    """numba types read-only arrays apart: read-only parameters and inputs, and inputs without
    the batch axis (broadcast over the states' batch, so copied), take the machine code of
    writeable ones (no second compilation); each gives the trajectory of the same values
    writeable, or repeated over the batch, whose step Jacobians the unbatched inputs' give too
    (``Trajectory.window`` puts unit batch axes after their time axis)."""
    sizes = {"n": 3, "m": 2}
    states, inputs, params = _rolled_arguments("gru_torch", sizes, STEPS)
    compiled = numeric.compile(cells.get("gru_torch"), "numpy")
    reference = rollout(compiled, states, inputs, params)
    function = jit_factors.jit_rollout(compiled, tangent_plan(compiled))._functions[np.dtype(np.float64)]
    signatures = list(function.signatures)
    for value in (*params.values(), *inputs.values()):
        value.flags.writeable = False
    frozen = rollout(compiled, states, inputs, params)
    unbatched = rollout(compiled, states, {name: np.ascontiguousarray(value[:, 0]) for name, value in inputs.items()},
                        params)
    assert function.signatures == signatures
    repeated = rollout(compiled, states, {name: np.repeat(value[:, :1], 2, axis=1) for name, value in inputs.items()},
                       params)
    assert frozen.rollout_kernel == unbatched.rollout_kernel == repeated.rollout_kernel == "numba"
    np.testing.assert_array_equal(frozen.states["h"], reference.states["h"])
    np.testing.assert_array_equal(unbatched.states["h"], repeated.states["h"])
    _check_against_numpy_kernels(repeated)
    np.testing.assert_array_equal(unbatched.step_jacobians(), repeated.step_jacobians())


def test_a_diverging_rollout_is_reported_as_numpy_would():
    """A leaky cell with dt/τ = 4 (h_t ≈ −3 h_{t−1}) overflows float32 within 256 steps and
    ends in NaN (∞ − ∞): the numba route, which sets no floating-point flags, warns, raises or
    passes as ``np.errstate(invalid=...)`` says, not as ``over`` says; a finite rollout says
    nothing."""
    states, inputs, params = _rolled_arguments("leaky_dt", {"n": 3, "m": 2}, STEPS, dtype="float32")
    params["tau"] = params["dt"] / 4
    compiled = numeric.compile(cells.get("leaky_dt"), "numpy")
    with np.errstate(invalid="warn", over="ignore"), pytest.warns(RuntimeWarning, match="'leaky_dt' ended in NaN"):
        assert rollout(compiled, states, inputs, params).rollout_kernel == "numba"
    with np.errstate(invalid="raise", over="ignore"), pytest.raises(FloatingPointError, match="diverged"):
        rollout(compiled, states, inputs, params)
    with np.errstate(invalid="ignore", over="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        diverged = rollout(compiled, states, inputs, params)
    assert not np.isfinite(diverged.states["h"][-1]).all()
    params["tau"] = params["dt"] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(rollout(compiled, states, inputs, params).states["h"]).all()
    infinite = [np.array([1.0, np.inf])]  # no NaN: reported as np.errstate(over=...) says
    with np.errstate(over="raise", invalid="ignore"), pytest.raises(FloatingPointError, match="infinite values"):
        jit_factors._report_non_finite("leaky_dt", infinite)
    with np.errstate(over="ignore", invalid="raise"):
        jit_factors._report_non_finite("leaky_dt", infinite)


def test_without_numba_the_factors_kernel_rolls_and_says_why():
    """In a process where numba cannot be imported, a long rollout takes the NumPy ``factors``
    kernel, and the refusal names numba (a fresh interpreter: numba is loaded here)."""
    script = """
import sys
sys.modules["numba"] = None
from gatejac import numeric
from gatejac.numeric import _jit_factors
from gatejac.numeric._tangent import tangent_plan
from gatejac.symbolic import cells
cell = cells.get("gru_torch")
states, inputs, params = (numeric.random_values(cell, {"n": 3, "m": 2}, batch=batch, seed=0)[k]
                          for batch, k in (((), 0), ((%d,), 1), ((), 2)))
trajectory = numeric.rollout(numeric.compile(cell, "numpy"), states, inputs, params)
compiled = trajectory.compiled
print(trajectory.rollout_kernel, _jit_factors.jit_rollout(compiled, tangent_plan(compiled)).reason)
""" % STEPS
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("factors numba cannot be imported"), result.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scalar_parameters_as_numbers_or_arrays(dtype):
    """A scalar parameter given as a Python float, a NumPy float64 number or a 0-d array of the
    values' dtype rolls out to the same bits, in the values' dtype."""
    states, inputs, params = _rolled_arguments("leaky_dt", {"n": 3, "m": 2}, STEPS, dtype=dtype)
    params["tau"] = params["dt"] * 4  # a stable leak: h_t = 3/4 h_{t−1} + ...
    compiled = numeric.compile(cells.get("leaky_dt"), "numpy")
    reference = rollout(compiled, states, inputs, params)
    assert np.isfinite(reference.states["h"]).all()
    for number in (float, np.float64):
        numbers = {name: number(params[name]) for name in ("dt", "tau")}
        trajectory = rollout(compiled, states, inputs, {**params, **numbers})
        assert trajectory.rollout_kernel == reference.rollout_kernel == "numba"
        assert trajectory.states["h"].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(trajectory.states["h"], reference.states["h"])
