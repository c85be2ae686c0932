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
from gatejac.verify._tolerances import tolerance

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


# --------------------------------------------------------------------------- one answer to "through NumPy?"
def _tensors() -> dict:
    plain = torch.randn(3, 4, dtype=torch.float64)
    return {"plain": plain, "tracked": plain.clone().requires_grad_(True), "number": 0.5,
            "parameter": torch.nn.Parameter(plain.clone()), "float16": plain.half(),
            "meta": torch.empty(3, 4, device="meta"), "negative view": plain._neg_view()}


@pytest.mark.parametrize("grad", [True, False], ids=["grad mode", "no_grad"])
def test_numpy_views_is_whether_numpy_views_of_gives_views(grad):
    xp = numeric.arrays("torch")
    viewable = {"plain", "number"} | (set() if grad else {"tracked", "parameter"})
    with torch.set_grad_enabled(grad):
        for name, value in _tensors().items():
            views = xp.numpy_views_of([value])
            assert (views is not None) == (name in viewable) == xp.numpy_views([value]), name
            if views is not None and isinstance(value, torch.Tensor):
                assert np.shares_memory(views[0], value.detach().numpy()), name
        with torch.autograd.forward_ad.dual_level():
            assert xp.numpy_views_of([_tensors()["plain"]]) is None and not xp.numpy_views([_tensors()["plain"]])


def test_a_tracked_block_under_no_grad_is_transported_through_numpy():
    """The action of a rollout on plain tensors reads a tracked block under ``no_grad`` through
    NumPy, with the result of the untracked block bit for bit, and keeps the torch operations
    (a result autograd tracks) with grad mode on."""
    cell = cells.get(CELL)
    states, inputs, params = (numeric.convert(group, "torch", "float64")
                              for group in numeric.random_values(cell, SIZES, batch=(2,), seed=1))
    sequence = {name: value.expand(5, *value.shape).contiguous() for name, value in inputs.items()}
    trajectory = numeric.rollout(numeric.compile(cell, "torch"), states, sequence, params)
    with torch.no_grad():  # the rollout reads tracked values through NumPy too: the same states
        tracked_states = {name: value.clone().requires_grad_(True) for name, value in states.items()}
        again = numeric.rollout(numeric.compile(cell, "torch"), tracked_states, sequence, params)
    for name in states:
        np.testing.assert_array_equal(again.states_at(5)[name].numpy(), trajectory.states_at(5)[name].numpy())
    block = torch.randn(2, SIZES["n"], 3, dtype=torch.float64)
    expected = trajectory.transport_apply(5, 0, block)
    tracked = block.clone().requires_grad_(True)
    with torch.no_grad():
        untracked = trajectory.transport_apply(5, 0, tracked)
    assert not untracked.requires_grad
    np.testing.assert_array_equal(untracked.numpy(), expected.numpy())
    graph = trajectory.transport_apply(5, 0, tracked)
    assert graph.requires_grad
    bound = tolerance("reference", "float64", float(expected.abs().max()))
    assert np.all(np.abs(graph.detach().numpy() - expected.numpy()) <= bound.bound(np.abs(expected.numpy())))
