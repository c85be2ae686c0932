"""``verify.check(backend="torch")`` checks the torch kernels themselves.

The torch back-end's checked dense Jacobians of plain CPU tensors run the NumPy kernels below
``numeric.TORCH_THROUGH_NUMPY_BELOW`` (every size a check uses), so a check through them would
pass with a broken torch kernel.  Here one raw torch kernel is broken (the others and the NumPy
kernels untouched): the checked interface still returns the right Jacobian at the check's size,
and the check fails on exactly the broken Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric, verify
from gatejac.symbolic import cells

CELL = "gru_torch"
SIZES = {"n": 4, "m": 3}
JACOBIANS = {"state": "state_jacobian", "input": "input_jacobian", "parameter:W_hn": "parameter_jacobian_W_hn"}


def broken(kernel):
    """``kernel`` with one entry of its result moved by a tenth of the result's scale."""

    def wrong(*args, **kwargs):
        result = kernel(*args, **kwargs).clone()
        result[..., 0, -1] += 0.1 * (1.0 + float(result.abs().max()))
        return result

    return wrong


@pytest.mark.parametrize("name", list(JACOBIANS))
def test_a_broken_torch_kernel_fails_the_torch_check(monkeypatch, name):
    cell = cells.get(CELL)
    compiled = numeric.compile(cell, "torch")
    assert verify.check(cell, backend="torch", sizes=SIZES, points=1, jacobians=[name], oracles=("fd",)).passed
    monkeypatch.setitem(compiled._kernels, JACOBIANS[name], broken(compiled._kernels[JACOBIANS[name]]))

    # the checked interface does not see the broken kernel at this size (the NumPy route) ...
    states, inputs, params = (numeric.convert(group, "torch", "float64")
                              for group in numeric.random_values(cell, SIZES, batch=(2,), seed=0))
    numpy = numeric.compile(cell, "numpy")
    as_numpy = [numeric.convert(group, "numpy", "float64") for group in (states, inputs, params)]
    parameter = name.partition(":")[2]
    through, expected = ((compiled.parameter_jacobian(parameter, states, inputs, params),
                          numpy.parameter_jacobian(parameter, *as_numpy)) if parameter else
                         (getattr(compiled, f"{name}_jacobian")(states, inputs, params),
                          getattr(numpy, f"{name}_jacobian")(*as_numpy)))
    np.testing.assert_array_equal(numeric.to_numpy(through), expected)

    # ... but the check does, on that Jacobian only
    report = verify.check(cell, backend="torch", sizes=SIZES, points=1, oracles=("fd",),
                          jacobians=["state", "input", "parameter:W_hn", "parameter:W_ir"])
    failed = {result.jacobian for result in report.results if not result.passed}
    assert failed == {name}


def test_the_numpy_check_is_not_affected_by_a_broken_torch_kernel(monkeypatch):
    cell = cells.get(CELL)
    compiled = numeric.compile(cell, "torch")
    monkeypatch.setitem(compiled._kernels, "state_jacobian", broken(compiled._kernels["state_jacobian"]))
    assert verify.check(cell, backend="numpy", sizes=SIZES, points=1, jacobians=["state"], oracles=("fd",)).passed
    assert not verify.check(cell, backend="torch", sizes=SIZES, points=1, jacobians=["state"], oracles=("fd",)).passed


def test_the_float32_torch_kernels_are_checked_too(monkeypatch):
    cell = cells.get(CELL)
    compiled = numeric.compile(cell, "torch")
    kernel = compiled._kernels["input_jacobian"]
    wrong = broken(kernel)

    def broken_in_float32(*args, **kwargs):
        return (wrong if args[0].dtype == torch.float32 else kernel)(*args, **kwargs)

    monkeypatch.setitem(compiled._kernels, "input_jacobian", broken_in_float32)
    report = verify.check(cell, backend="torch", dtype="float32", sizes=SIZES, points=1, jacobians=["input"],
                          oracles=("fd",))
    assert [(r.oracle, r.dtype, r.passed) for r in report.results] == [("fd", "float64", True),
                                                                        ("reference", "float32", False)]
