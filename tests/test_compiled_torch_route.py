"""The torch back-end's dense kernels on plain CPU tensors below ``TORCH_THROUGH_NUMPY_BELOW`` run
the NumPy kernels on NumPy views of the same memory; tensors autograd tracks, forward-mode duals,
``torch.func`` transforms, tracing, meta tensors and larger outputs keep the torch kernels.
``numpy_views_of`` (the torch namespace's) refuses what a view would lose.  A result through
NumPy is a new plain tensor; ``out=`` is bumped as an in-place write; what torch refuses of
``out=`` (and an ``out`` on a value's memory) is one ``ArgumentError`` on both routes.  The
torch kernels the route passes by are checked raw against the NumPy kernels for every cell.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD

from gatejac import numeric
from gatejac.numeric import _compiled
from gatejac.symbolic import cells, derive
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 4, "m": 3}


def assert_close(actual: torch.Tensor, reference: torch.Tensor, what: str) -> None:
    """Within the tolerance of ``actual``'s dtype against ``reference`` (float32 against float64 too)."""
    actual, reference = actual.detach().numpy(), reference.detach().numpy()
    bound = tolerance("reference", str(actual.dtype), np.max(np.abs(reference), initial=0.0))
    assert actual.shape == reference.shape, what
    assert np.all(np.abs(actual - reference) <= bound.bound(np.abs(reference))), what


@pytest.fixture
def routes(monkeypatch):
    """The kernels each call ran: "numpy" through the views, "torch" the torch kernels."""
    taken = []
    through = _compiled.CompiledCell._through_numpy

    def recording(self, *args, **kwargs):
        taken.append("numpy")
        return through(self, *args, **kwargs)

    monkeypatch.setattr(_compiled.CompiledCell, "_through_numpy", recording)
    return taken


def _values(name="gru_torch", dtype="float64", batch=(5,)):
    cell = cells.get(name)
    return cell, numeric.random_values(cell, SIZES, batch=batch, seed=7, dtype=dtype, backend="torch")


def fresh(cell):
    """Torch kernels of ``cell`` outside the compile cache: no signature remembered by another test."""
    return _compiled.CompiledCell(derive(cell), "torch")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["leaky", "gru_torch", "lstm_torch"])
def test_plain_tensors_run_the_numpy_kernels_on_the_same_memory(routes, monkeypatch, name, dtype):
    cell, values = _values(name, dtype)
    compiled = fresh(cell)
    through = compiled.state_jacobian(*values)
    out = torch.full_like(through, float("nan"))
    assert compiled.state_jacobian(*values, out=out) is out
    inputs = compiled.input_jacobian(*values)
    assert routes == ["numpy"] * 3
    monkeypatch.setattr(_compiled, "TORCH_THROUGH_NUMPY_BELOW", 0)
    torch_kernels = fresh(cell)
    reference = torch_kernels.state_jacobian(*values)
    assert routes == ["numpy"] * 3, "above the bound the torch kernels ran"
    assert isinstance(through, torch.Tensor) and through.dtype == reference.dtype
    assert_close(through, reference, f"{name} {dtype}")
    assert_close(out, reference, f"{name} {dtype} out=")
    assert_close(inputs, torch_kernels.input_jacobian(*values), f"{name} {dtype} input Jacobian")


def test_a_remembered_signature_with_tensors_autograd_tracks_takes_the_torch_kernels(routes):
    """The same names, shapes and dtypes as a plain call before it (one remembered signature):
    the views are refused call by call, so the gradient flows."""
    cell, values = _values()
    compiled = fresh(cell)
    plain = compiled.state_jacobian(*values)
    states, inputs, params = values
    tracked = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    jacobian = compiled.state_jacobian(states, inputs, tracked)
    assert routes == ["numpy"] and jacobian.requires_grad
    jacobian.sum().backward()
    assert all(p.grad is not None for p in tracked.values())
    assert_close(jacobian, plain, "tracked")


# torch's forward mode loads decompositions that warn about torch.jit.script (torch's own warning)
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_duals_and_vmap_take_the_torch_kernels(routes):
    cell, values = _values("leaky")
    compiled = fresh(cell)
    states, inputs, params = values
    compiled.state_jacobian(*values)
    with fwAD.dual_level():
        dual = fwAD.make_dual(params["W"], torch.ones_like(params["W"]))
        tangent = fwAD.unpack_dual(compiled.state_jacobian(states, inputs, {**params, "W": dual})).tangent
    assert tangent is not None and torch.any(tangent != 0)
    batched = torch.func.vmap(lambda h: compiled.state_jacobian({"h": h}, inputs, params))(states["h"][None])
    assert_close(batched[0], compiled.state_jacobian(*values), "vmap")
    assert routes == ["numpy", "numpy"]  # the first plain call and the last one


def test_numpy_views_of_refuses_what_a_view_would_lose():
    xp = numeric.arrays("torch")
    plain = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    views = xp.numpy_views_of([plain, 0.5])
    assert views[1] == 0.5 and np.shares_memory(views[0], plain.numpy())
    refused = [plain.clone().requires_grad_(True), torch.nn.Parameter(plain.clone()), _Subclass(plain.clone()),
               plain.to(torch.complex128).conj(), torch._neg_view(plain), torch.arange(3), plain.float().half()]
    for tensor in refused:
        assert xp.numpy_views_of([plain, tensor]) is None, tensor
    frozen = torch.nn.Parameter(plain.clone(), requires_grad=False)
    assert np.shares_memory(xp.numpy_views_of([frozen])[0], frozen.detach().numpy())
    with fwAD.dual_level():
        assert xp.numpy_views_of([plain]) is None
    assert numeric.arrays("numpy").numpy_views_of([views[0], 0.5])[0] is views[0]


class _Subclass(torch.nn.Parameter):
    """A subclass of ``nn.Parameter``, which may override operations: never viewed."""


def test_parameters_take_the_numpy_kernels_where_autograd_does_not_track_the_result(routes):
    """A module's own weights (``nn.Parameter``, whose operations are a plain tensor's) go through
    NumPy under ``torch.no_grad()``, ``torch.inference_mode()`` and with ``requires_grad=False``,
    with the plain tensors' result; with grad mode on they keep the torch kernels and the graph."""
    cell, values = _values("gru_torch")
    compiled = fresh(cell)
    states, inputs, params = values
    reference = compiled.state_jacobian(*values)
    weights = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    tracked = compiled.state_jacobian(states, inputs, weights)
    assert routes == ["numpy"] and tracked.requires_grad, "grad mode on: the torch kernels and the graph"
    with torch.no_grad():
        results = {"no_grad": compiled.state_jacobian(states, inputs, weights)}
    with torch.inference_mode():
        results["inference_mode"] = compiled.state_jacobian(states, inputs, weights)
    frozen = {k: torch.nn.Parameter(v.clone(), requires_grad=False) for k, v in params.items()}
    results["requires_grad=False"] = compiled.state_jacobian(states, inputs, frozen)
    assert routes == ["numpy"] * 4
    for what, result in results.items():
        assert type(result) is torch.Tensor and not result.requires_grad, what
        assert torch.equal(result, reference), what
    assert_close(tracked, reference, "tracked parameters")


def test_the_closeness_check_catches_an_entry_off_by_ten_of_its_tolerances():
    """``assert_close`` (the check of both routes' agreement) is not vacuous."""
    for dtype in ("float64", "float32"):
        cell, values = _values("leaky", dtype)
        reference = fresh(cell).state_jacobian(*values)
        broken = reference.clone()
        scale = float(reference.abs().max())
        broken[0, 0, 0] += 10 * tolerance("reference", dtype, scale).bound(abs(float(reference[0, 0, 0])))
        with pytest.raises(AssertionError):
            assert_close(broken, reference, "broken")


@pytest.mark.parametrize("kernel", ["state_jacobian", "input_jacobian"])
def test_a_result_through_numpy_is_a_new_plain_tensor_sharing_memory_with_no_value(routes, kernel):
    cell, values = _values("lstm_torch", "float32")
    result = getattr(fresh(cell), kernel)(*values)
    assert routes == ["numpy"]
    assert type(result) is torch.Tensor and result.dtype == torch.float32 and result.device.type == "cpu"
    assert not result.requires_grad and result.is_contiguous() and not result.is_inference()
    memory = result.numpy()
    assert not any(np.may_share_memory(memory, value.numpy()) for group in values for value in group.values())


def test_an_out_written_through_numpy_is_bumped_so_a_graph_that_saved_it_refuses_to_backpropagate(routes):
    cell, values = _values("leaky")
    compiled = fresh(cell)
    jacobians = [compiled.state_jacobian(*values) for _ in range(2)]
    weights = [torch.ones_like(j, requires_grad=True) for j in jacobians]
    products = [(w * j).sum() for w, j in zip(weights, jacobians)]  # each saves its Jacobian for backward
    version = jacobians[0]._version
    assert compiled.state_jacobian(*values, out=jacobians[0]) is jacobians[0]
    assert routes == ["numpy"] * 3 and jacobians[0]._version > version
    products[1].backward()  # the control: a graph whose saved tensor was not written
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        products[0].backward()


@pytest.mark.parametrize("bound", ["default", 0])
def test_what_torch_refuses_of_out_gets_one_clear_error_on_either_route(monkeypatch, bound):
    """An inference tensor outside inference mode, and out= with tensors autograd tracks: the
    route through NumPy would write them without a word, the torch kernels raise torch's own
    error; both give the ArgumentError naming what to do (and work where torch allows it)."""
    if bound == 0:
        monkeypatch.setattr(_compiled, "TORCH_THROUGH_NUMPY_BELOW", 0)
    cell, values = _values("leaky")
    compiled = fresh(cell)
    states, inputs, params = values
    expected = compiled.state_jacobian(*values)
    with torch.inference_mode():
        inference = torch.empty_like(expected)
    with pytest.raises(numeric.ArgumentError, match="out is an inference tensor.*torch.inference_mode"):
        compiled.state_jacobian(*values, out=inference)
    with torch.inference_mode():
        assert_close(compiled.state_jacobian(*values, out=inference), expected, "inference mode")
    tracked = {**params, "W": params["W"].clone().requires_grad_(True)}
    with pytest.raises(numeric.ArgumentError, match="but W requires grad; omit out"):
        compiled.state_jacobian(states, inputs, tracked, out=torch.empty_like(expected))
    with pytest.raises(numeric.ArgumentError, match="but out requires grad"):
        compiled.state_jacobian(*values, out=torch.empty_like(expected).requires_grad_(True))
    with torch.no_grad():
        assert_close(compiled.state_jacobian(states, inputs, tracked, out=torch.empty_like(expected)), expected,
                     "no_grad")


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # torch's notes on the torch kernels' traced Python
@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")  # tracing is still supported
def test_tracing_and_tensors_off_the_cpu_take_the_torch_kernels(routes):
    """A trace that took the NumPy route would hold its first result as a constant (the check on
    new values fails); meta tensors have no memory to view."""
    cell, values = _values("leaky")
    compiled = fresh(cell)
    states, inputs, params = values
    compiled.state_jacobian(*values)

    def jacobian(h):
        return compiled.state_jacobian({"h": h}, inputs, params)

    traced = torch.jit.trace(jacobian, (states["h"],), check_trace=False)
    assert_close(traced(0.5 * states["h"]), jacobian(0.5 * states["h"]), "traced on new values")
    meta = [{k: v.to("meta") for k, v in group.items()} for group in values]
    assert compiled.state_jacobian(*meta).device.type == "meta"
    assert routes == ["numpy", "numpy"], "only the untraced plain calls, before and after"


@pytest.mark.parametrize("name", cells.names())
def test_the_torch_kernels_the_route_passes_by_still_match_the_numpy_kernels(name):
    """The dense Jacobians of plain small tensors (every other test's, ``verify.check``'s) now run
    the NumPy kernels, so the torch kernels — still those of tracked tensors, other devices and
    large calls — are checked here, called raw (``kernel``), against the float64 NumPy kernels
    (which tests/test_kernels.py checks against exact AD), in both dtypes."""
    cell = cells.get(name)
    torch_kernels, numpy_kernels = numeric.compile(cell, "torch"), numeric.compile(cell, "numpy")
    reference_values = numeric.random_values(cell, SIZES, batch=(3,), seed=5)
    kernels = ["state_jacobian", *(["input_jacobian"] if cell.inputs else []),
               *(f"parameter_jacobian_{p.name}" for p in cell.parameters)]
    references = {kernel: numpy_kernels.kernel(kernel)(*numpy_kernels.arguments_of(*reference_values))
                  for kernel in kernels}
    for dtype in ("float64", "float32"):
        values = [numeric.convert(group, "torch", dtype) for group in reference_values]
        arguments = torch_kernels.arguments_of(*values)
        for kernel in kernels:
            result = torch_kernels.kernel(kernel)(*arguments)
            assert result.dtype == getattr(torch, dtype), kernel
            assert_close(result, torch.from_numpy(references[kernel]), f"{name} {dtype} {kernel}")


def test_a_module_tensor_jacobian_into_an_inference_out_gets_the_clear_error():
    """``parameter_jacobian`` of a ``torch.nn`` tensor name joins blocks and copies them into ``out``."""
    cell, values = _values("gru_torch")
    compiled = fresh(cell)
    expected = compiled.parameter_jacobian("weight_hh", *values)
    with torch.inference_mode():
        inference = torch.empty_like(expected)
    with pytest.raises(numeric.ArgumentError, match="out is an inference tensor"):
        compiled.parameter_jacobian("weight_hh", *values, out=inference)
    out = torch.empty_like(expected)
    assert compiled.parameter_jacobian("weight_hh", *values, out=out) is out
    assert_close(out, expected, "weight_hh out=")


def test_a_module_tensor_jacobian_copied_into_out_keeps_the_graph_and_refuses_a_leaf_that_requires_grad():
    """The blocks are copied into ``out`` by a torch operation, which autograd records: tracked
    values are no error there (the state Jacobian's ``out=`` refuses them), a gradient through
    ``out`` is the one through the allocated result, and a leaf ``out`` that requires grad gets
    the clear error instead of torch's RuntimeError."""
    cell, (states, inputs, params) = _values("gru_torch")
    compiled = fresh(cell)
    tracked = {**params, "W_hr": params["W_hr"].clone().requires_grad_(True)}
    expected = compiled.parameter_jacobian("weight_hh", states, inputs, tracked)
    out = torch.empty_like(expected.detach())
    assert compiled.parameter_jacobian("weight_hh", states, inputs, tracked, out=out) is out
    (through_out,) = torch.autograd.grad((out * out).sum(), tracked["W_hr"])
    (through_result,) = torch.autograd.grad((expected * expected).sum(), tracked["W_hr"])
    assert through_result.abs().max() > 0, "a gradient that could be told from none"
    assert_close(through_out, through_result, "gradient through out")
    leaf = torch.empty_like(out).requires_grad_(True)
    with pytest.raises(numeric.ArgumentError, match="out is a leaf tensor that requires grad.*torch.no_grad"):
        compiled.parameter_jacobian("weight_hh", states, inputs, params, out=leaf)
    with torch.no_grad():
        assert compiled.parameter_jacobian("weight_hh", states, inputs, params, out=leaf) is leaf
    assert_close(leaf, expected, "a leaf out under no_grad")


@pytest.mark.parametrize("bound", ["default", 0])
def test_an_out_on_a_values_memory_is_refused_and_one_beside_it_is_written(monkeypatch, bound):
    """``out`` on the memory of the weight the kernel reads gave a Jacobian off by 0.04 through
    NumPy (and torch's own error from the torch kernels); ``out`` in the same storage right after
    the weight is not shared memory and gets the Jacobian."""
    if bound == 0:
        monkeypatch.setattr(_compiled, "TORCH_THROUGH_NUMPY_BELOW", 0)
    cell, (states, inputs, params) = _values("gru_torch", batch=())
    compiled = fresh(cell)
    expected = compiled.state_jacobian(states, inputs, params)
    weight = params["W_hr"]
    storage = torch.empty(weight.numel() + expected.numel(), dtype=weight.dtype)
    storage[:weight.numel()] = weight.reshape(-1)
    given = {**params, "W_hr": storage[:weight.numel()].view(weight.shape)}
    with pytest.raises(numeric.ArgumentError, match="out shares memory with W_hr"):
        compiled.state_jacobian(states, inputs, given, out=storage[:expected.numel()].view(expected.shape))
    beside = storage[weight.numel():].view(expected.shape)
    assert compiled.state_jacobian(states, inputs, given, out=beside) is beside
    assert_close(beside, expected, "out beside the weight")


def test_a_non_contiguous_out_after_a_contiguous_one_of_its_shape_is_checked_again(routes):
    """The out= signature holds contiguity: the remembered contiguous call does not let a
    transposed out (same shape and dtype) through to the NumPy route."""
    cell, values = _values("leaky", batch=())
    compiled = fresh(cell)
    out = compiled.state_jacobian(*values)
    assert compiled.state_jacobian(*values, out=out) is out
    with pytest.raises(numeric.ArgumentError, match="not contiguous"):
        compiled.state_jacobian(*values, out=torch.empty_like(out).t())
    assert routes == ["numpy", "numpy"]


def test_torch_func_grad_through_a_dense_jacobian_takes_the_torch_kernels(routes):
    """Inside ``torch.func.grad`` the weight is a functorch wrapper: no view, so the gradient of
    a function of the Jacobian is the one autograd gives (through the NumPy route it would be 0)."""
    cell, (states, inputs, params) = _values("leaky")
    compiled = fresh(cell)
    gradient = torch.func.grad(lambda w: compiled.state_jacobian(states, inputs, {**params, "W": w}).square().sum())(
        params["W"])
    tracked = params["W"].clone().requires_grad_(True)
    compiled.state_jacobian(states, inputs, {**params, "W": tracked}).square().sum().backward()
    assert routes == [] and torch.any(gradient != 0)
    assert_close(gradient, tracked.grad, "torch.func.grad")


def test_out_under_vmap_gets_torchs_own_vmap_error_not_the_memory_checks():
    """``torch.func`` wrappers have no data pointer: the memory check leaves them to torch."""
    cell, (states, inputs, params) = _values("leaky")
    compiled = fresh(cell)
    out = compiled.state_jacobian(states, inputs, params)
    batched = states["h"][:, None].expand(-1, 2, -1)
    with pytest.raises(RuntimeError, match="^vmap: inplace"):
        torch.func.vmap(lambda h: compiled.state_jacobian({"h": h}, inputs, params, out=out), in_dims=1)(batched)
