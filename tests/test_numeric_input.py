"""Input the numeric layer once took wrongly, found by an outside probe: sizes, NumPy scalar
parameters, ``torch.func.vmap`` over the dense kernels, and the log singular values of a
singular Jacobian.  (Argument mistakes of the compiled kernels are in test_kernel_errors.)
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric import ArgumentError
from gatejac.symbolic import GatejacError, cells, derive

SIZES = {"n": 3, "m": 2}


# ----------------------------------------------------------------------------------- sizes
BAD_SIZES = [2.5, True, False, 0, -1, "3", None, float("nan"), np.float64(1.5)]


def _size_calls(n):
    leaky = cells.get("leaky")
    return {
        "shapes": lambda: numeric.shapes(leaky, {"n": n, "m": 2}),
        "random_values": lambda: numeric.random_values(leaky, {"n": n, "m": 2}),
        "initialise": lambda: numeric.initialise("elman", {"n": n, "m": 2}),
        "initialise m": lambda: numeric.initialise("elman", {"n": 3, "m": n}),
    }


@pytest.mark.parametrize("call", list(_size_calls(1)))
@pytest.mark.parametrize("size", BAD_SIZES, ids=repr)
def test_every_numeric_function_refuses_a_size_that_is_not_a_positive_integer(size, call):
    """One check for all: 2.5 was truncated to 2, True taken as 1, 0 gave empty arrays and
    −1 a raw NumPy error.  The error names the size and its value."""
    name = "m" if call.endswith(" m") else "n"
    with pytest.raises(ArgumentError, match=re.escape(f"size {name}={size!r} must be a positive integer")):
        _size_calls(size)[call]()


@pytest.mark.parametrize("size", [3, 3.0, np.int64(3), np.float32(3.0)], ids=repr)
def test_integral_sizes_of_any_number_type_are_taken(size):
    params = numeric.initialise("elman", {"n": size, "m": 2})
    assert params["W"].shape == (3, 3)
    assert type(numeric.shapes(cells.get("elman"), {"n": size, "m": 2})["W"][0]) is int


# --------------------------------------------------------------------- scalar parameters
@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("dtype", numeric.DTYPES)
@pytest.mark.parametrize("number", [np.float32(0.25), np.float64(0.25), np.int64(1), 0.25, 1],
                         ids=lambda v: f"{type(v).__name__}({v})")
def test_a_scalar_parameter_takes_python_and_numpy_numbers_alike(number, dtype, backend):
    """``np.float32(0.05)`` was refused ("is a float32; the numpy backend takes numpy arrays")
    while ``np.float64`` was accepted: every real number type is a number, taken in the
    values' dtype, with the same result as the Python float of the same value."""
    cell = cells.get("leaky")
    compiled = numeric.compile(cell, backend)
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(2,), backend=backend, dtype=dtype)
    result = compiled.step(states, inputs, {**params, "alpha": number})["h"]
    expected = compiled.step(states, inputs, {**params, "alpha": float(number)})["h"]
    assert result.dtype == states["h"].dtype
    np.testing.assert_array_equal(numeric.to_numpy(result), numeric.to_numpy(expected))


# ------------------------------------------------------------------------ torch.func.vmap
VMAP_CELLS = ["elman", "leaky", "gru_torch", "lstm_torch", "scalar_gate", "multi_gate"]


@pytest.mark.parametrize("name", VMAP_CELLS)
def test_vmap_over_dense_jacobians_matches_the_batched_kernels(name):
    """``torch.func.vmap`` failed on every dense kernel ("Batching rule not implemented for
    aten::mul.out"): inside a transform no ``out=`` fast path may be taken, and the output
    must be one the transform batches.  No warning may reach the user either."""
    cell = cells.get(name)
    compiled = numeric.compile(cell, "torch")
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(4,), seed=3, backend="torch")
    kernels = [compiled.state_jacobian]
    if cell.inputs:
        kernels.append(compiled.input_jacobian)
    kernels.append(lambda s, i, p: compiled.parameter_jacobian(cell.parameters[-1].name, s, i, p))
    if cell.gates:
        kernels.append(lambda s, i, p: torch.cat(compiled.gate_split(s, i, p), dim=-1))
    for kernel in kernels:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mapped = torch.func.vmap(lambda s, i: kernel(s, i, params))(states, inputs)
        torch.testing.assert_close(mapped, kernel(states, inputs, params), rtol=1e-13, atol=1e-15)


def test_vmap_of_jacrev_through_a_dense_jacobian():
    """A transform of a transform (per-sample derivatives of a Jacobian entry sum) runs and
    agrees with the batched autograd result."""
    cell = cells.get("elman")
    compiled = numeric.compile(cell, "torch")
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(3,), seed=5, backend="torch")

    def total(h, x):
        return compiled.state_jacobian({"h": h}, {"x": x}, params).sum()

    mapped = torch.func.vmap(torch.func.grad(total))(states["h"], inputs["x"])
    h = states["h"].clone().requires_grad_(True)
    compiled.state_jacobian({"h": h}, inputs, params).sum().backward()
    torch.testing.assert_close(mapped, h.grad, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ singular Jacobians
def _singular_trajectory(backend: str, zero_columns: int):
    """An Elman trajectory whose W has its last ``zero_columns`` columns zero, so every J_t has
    as many zero columns and Φ(1, 0) = J_1 as many zero singular values."""
    cell = cells.get("elman")
    states, inputs, params = numeric.random_values(cell, SIZES, batch=(2,), seed=7)
    params["W"][:, SIZES["n"] - zero_columns:] = 0.0
    sequence = {"x": np.stack([inputs["x"]] * 3)}
    converted = [numeric.convert(group, backend, "float64") for group in (states, sequence, params)]
    return numeric.rollout(numeric.compile(cell, backend), *converted)


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("zero_columns", [1, 3])
def test_log_singular_values_of_a_singular_jacobian_are_minus_inf_without_warnings(zero_columns, backend):
    """It gave −inf for the zero singular values with about 1,300 RuntimeWarnings (and the
    log diagonal of the triangular factor, not singular values, for the others)."""
    trajectory = _singular_trajectory(backend, zero_columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = numeric.to_numpy(trajectory.log_singular_values(1, 0))
        exponents = numeric.to_numpy(trajectory.lyapunov())
    jacobian = numeric.to_numpy(trajectory.step_jacobian(1))
    singular = np.linalg.svd(jacobian, compute_uv=False)
    kept = SIZES["n"] - zero_columns
    assert np.all(values[..., kept:] == -np.inf) and np.all(exponents[..., kept:] == -np.inf)
    np.testing.assert_allclose(values[..., :kept], np.log(singular[..., :kept]), rtol=1e-12, atol=1e-12)


def test_the_errors_of_this_page_are_gatejac_errors():
    assert issubclass(ArgumentError, GatejacError) and issubclass(ArgumentError, ValueError)


# ------------------------------------------------------- checks once per signature (numeric/_compiled.py)
def _lstm(backend: str):
    """A compiled LSTM of its own (compiled from a fresh derivation, not the process's cached cell):
    the signature memory these tests read holds only their own calls, whatever ran before."""
    cell = cells.get("lstm_torch")
    return (numeric.compile(derive(cell), backend),
            *numeric.random_values(cell, SIZES, batch=(2,), seed=3, backend=backend))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
def test_a_remembered_signature_skips_the_checks_and_gives_the_checked_results(backend, monkeypatch):
    """The second call with the same names, types, dtypes, shapes and devices is not checked
    again, and every result is bit for bit that of the checked first call and of the raw kernel
    on ``arguments_of`` — also with the states passed in another key order (the values still
    reach the kernel in declaration order)."""
    compiled, states, inputs, params = _lstm(backend)
    tangents = {"h": states["h"] * 0.5, "x": inputs["x"]}
    first = (compiled.step(states, inputs, params), compiled.jvp(states, inputs, params, tangents),
             compiled.state_jacobian(states, inputs, params))
    checks = []
    original = numeric.CompiledCell._check_arguments
    monkeypatch.setattr(numeric.CompiledCell, "_check_arguments", lambda *a: checks.append(1) or original(*a))
    swapped = {"c": states["c"], "h": states["h"]}
    for given in (states, swapped):
        again = (compiled.step(given, inputs, params), compiled.jvp(given, inputs, params, tangents),
                 compiled.state_jacobian(given, inputs, params))
        for before, after in zip(first, again):
            for name in (before if isinstance(before, dict) else {"J": None}):
                pair = (before[name], after[name]) if isinstance(before, dict) else (before, after)
                assert np.array_equal(numeric.to_numpy(pair[0]), numeric.to_numpy(pair[1]))
    assert checks == [1]  # only the swapped key order is a new signature
    raw = compiled.kernel("jvp")(*compiled.arguments_of(states, inputs, params), d_h=tangents["h"], d_x=tangents["x"])
    assert np.array_equal(numeric.to_numpy(raw[0]), numeric.to_numpy(first[1]["h"]))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
def test_a_new_signature_after_a_remembered_one_gets_the_clear_error(backend):
    """Remembering a valid call does not let a mistake through: another dtype, shape, kind of
    value or a read-only out (same shape and dtype) is checked in full and named."""
    compiled, states, inputs, params = _lstm(backend)
    compiled.state_jacobian(states, inputs, params)
    compiled.jvp(states, inputs, params, {"h": states["h"]})
    cast = (lambda v: v.astype(np.float32)) if backend == "numpy" else (lambda v: v.float())
    with pytest.raises(ArgumentError, match=r"states\['c'\] has dtype .*float32 but earlier values have"):
        compiled.state_jacobian({**states, "c": cast(states["c"])}, inputs, params)
    with pytest.raises(ArgumentError, match=r"tangents\['h'\] has dtype .*float32 but the values have"):
        compiled.jvp(states, inputs, params, {"h": cast(states["h"])})
    with pytest.raises(ArgumentError, match=r"params\['b_hi'\].*size n = 4 here but n = 3"):
        compiled.state_jacobian(states, inputs, {**params, "b_hi": params["b_hi"][:1].repeat(4)})
    if backend == "numpy":
        out = np.empty((2, 6, 6))
        compiled.state_jacobian(states, inputs, params, out=out)
        out.flags.writeable = False
        with pytest.raises(ArgumentError, match="out is read-only"):
            compiled.state_jacobian(states, inputs, params, out=out)


def test_the_remembered_signatures_stay_within_their_bound():
    """A loop over ever new batch shapes does not grow the memory of checked signatures past
    ``SIGNATURES``; the oldest are dropped and checked again when they come back."""
    from gatejac.numeric._compiled import SIGNATURES

    cell = cells.get("leaky")
    compiled = numeric.compile(cell)
    params = numeric.random_values(cell, SIZES, seed=0)[2]
    for batch in range(1, SIGNATURES + 20):
        states, inputs, _ = numeric.random_values(cell, SIZES, batch=(batch,), seed=0)
        compiled.step(states, inputs, params)
    assert len(compiled._signatures._entries) == SIGNATURES
    first = numeric.random_values(cell, SIZES, batch=(1,), seed=0)
    assert compiled.step(first[0], first[1], params)["h"].shape == (1, SIZES["n"])



def test_a_module_holding_a_compiled_cell_with_remembered_signatures_deep_copies():
    """verify.compare deep-copies a user's module: a compiled cell that has remembered signatures
    (and so holds a lock) must survive it, giving the same outputs."""
    import copy

    module = numeric.module(cells.get("gru_torch"), {"n": 3, "m": 2})
    x = torch.zeros(2, 4, 2, dtype=next(module.parameters()).dtype)
    expected = module(x)  # remembers the call's signature
    assert torch.equal(copy.deepcopy(module)(x), expected)
