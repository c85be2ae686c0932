"""Conformance of the compiled kernels (issue 3) for every catalogue cell on both back-ends.

Oracles, each independent of the derived closed forms:

* exact AD — ``torch.func`` (``jacrev``, ``jvp``, ``vjp``) through the compiled torch ``step``,
  which renders only the cell's update, never its Jacobian;
* the real ``torch.nn`` modules (``RNNCell``, ``GRUCell``, ``LSTMCell``) with shared weights
  for the torch-convention cells;
* the float64 kernels, for the float32 kernels;
* the kernels themselves under reshaping (batch dimensions), ``out=`` and caching.

The dense Jacobians are checked on three routes (:data:`ROUTES`): the NumPy back-end; the torch
back-end as called, which for these small plain tensors runs the NumPy kernels on their memory
(``numeric.TORCH_THROUGH_NUMPY_BELOW``); and the torch back-end's own dense kernels, with that
route closed — what tensors autograd tracks and large calls get.

Every numeric comparison goes through :func:`assert_close`, which takes its tolerance from
``verify._tolerances`` and reports the worst entry.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch
from torch.func import jacrev, jvp, vjp, vmap

from gatejac import numeric
from gatejac.numeric import _compiled
from gatejac.symbolic import Cell, cells
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 3, "m": 2}  # n ≠ m, so a transposed or misplaced input block cannot pass
BATCH = (2,)
CELL_NAMES = cells.names()
BACKENDS = numeric.BACKENDS
ROUTES = [*BACKENDS, "torch kernels"]
"""The back-ends, and "torch kernels": the torch back-end with its route through NumPy closed."""
_TORCH_KERNELS: dict = {}  # cell fingerprint -> torch kernels whose signatures were all checked with the route closed


@pytest.fixture
def compiled_for(monkeypatch):
    """``compiled_for(cell, route)``: the compiled cell of a route (see :data:`ROUTES`).  For
    "torch kernels" the route through NumPy is closed (``TORCH_THROUGH_NUMPY_BELOW = 0``) for the
    test, on torch kernels of the cell's derivation that no other route's call checked (a
    remembered signature keeps its first call's route), and a dense call that still went
    through NumPy fails the test."""

    def compiled(cell: Cell, route: str):
        if route != "torch kernels":
            return numeric.compile(cell, route)
        monkeypatch.setattr(_compiled, "TORCH_THROUGH_NUMPY_BELOW", 0)
        monkeypatch.setattr(_compiled.CompiledCell, "_through_numpy", _through_numpy_refused)
        cell = cell.validate()
        if cell.fingerprint not in _TORCH_KERNELS:
            _TORCH_KERNELS[cell.fingerprint] = _compiled.CompiledCell(numeric.compile(cell, "torch").derivation, "torch")
        return _TORCH_KERNELS[cell.fingerprint]

    return compiled


def _through_numpy_refused(self, kernel, *args, **kwargs):
    raise AssertionError(f"{self.cell.name} {kernel} went through NumPy on the route 'torch kernels'")


def _backend(route: str) -> str:
    return "numpy" if route == "numpy" else "torch"


# ------------------------------------------------------------------ the one comparison
def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual, reference, oracle: str, what: str) -> None:
    """Entrywise ``|actual − reference| ≤ tolerance(oracle, dtype of actual, max|reference|)``;
    on failure the message names the worst entry (the largest excess over its bound)."""
    actual_np = _to_numpy(actual)
    reference_np = _to_numpy(reference).astype(np.float64)
    assert actual_np.shape == reference_np.shape, f"{what}: shape {actual_np.shape}, reference {reference_np.shape}"
    magnitude = np.abs(reference_np)
    allowed = tolerance(oracle, actual_np.dtype, magnitude.max(initial=0.0)).bound(magnitude)
    error = np.abs(actual_np.astype(np.float64) - reference_np)
    excess = np.where(np.isnan(error), np.inf, error - allowed)  # a NaN anywhere is the worst entry
    if excess.size == 0 or excess.max() <= 0:
        return
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    raise AssertionError(
        f"{what}: worst entry {tuple(int(i) for i in worst)}: got {float(actual_np[worst])!r}, reference "
        f"{float(reference_np[worst])!r}, |error| {error[worst]:.3g} > allowed {allowed[worst]:.3g} "
        f"({oracle}, {actual_np.dtype}; {int(np.sum(excess > 0))} of {excess.size} entries out)"
    )


# ------------------------------------------------------------------ values and kernels
def _values(cell: Cell, backend: str, *, batch=BATCH, seed: int = 0, dtype: str = "float64"):
    return numeric.random_values(cell, SIZES, batch=batch, seed=seed, backend=backend, dtype=dtype)


def _merged(states, inputs, params) -> dict:
    return {**states, **inputs, **params}


def _split(cell: Cell, values: dict) -> tuple[dict, dict, dict]:
    """``(states, inputs, params)`` from one mapping of every value."""
    return tuple({piece.name: values[piece.name] for piece in group}
                 for group in (cell.states, cell.inputs, cell.parameters))


def _state_names(cell: Cell) -> list[str]:
    return [s.name for s in cell.states]


def _per_sample(cell: Cell) -> set[str]:
    """Names whose values carry the batch dimensions (states and inputs)."""
    return {piece.name for piece in (*cell.states, *cell.inputs)}


def _kernel_outputs(compiled, states, inputs, params, tangents, cotangents) -> dict:
    """Every kernel's result for one set of values, labelled ``kernel[name]``."""
    cell = compiled.cell
    results = {f"step[{k}]": v for k, v in compiled.step(states, inputs, params).items()}
    results["state_jacobian"] = compiled.state_jacobian(states, inputs, params)
    if cell.inputs:
        results["input_jacobian"] = compiled.input_jacobian(states, inputs, params)
    for p in cell.parameters:
        results[f"parameter_jacobian[{p.name}]"] = compiled.parameter_jacobian(p.name, states, inputs, params)
    results.update({f"jvp[{k}]": v for k, v in compiled.jvp(states, inputs, params, tangents=tangents).items()})
    results.update({f"vjp[{k}]": v for k, v in compiled.vjp(states, inputs, params, cotangents=cotangents).items()})
    return results


def _directions(cell: Cell, backend: str, *, batch=BATCH, dtype: str = "float64"):
    """Seeded tangents (for every value) and cotangents (for every new state)."""
    states, inputs, params = _values(cell, backend, batch=batch, seed=1, dtype=dtype)
    cotangents, _, _ = _values(cell, backend, batch=batch, seed=2, dtype=dtype)
    return _merged(states, inputs, params), cotangents


# ------------------------------------------------------------------ the exact-AD oracle
def _new_states(torch_cell, values: dict) -> tuple:
    return tuple(torch_cell.step(*_split(torch_cell.cell, values))[k] for k in _state_names(torch_cell.cell))


def _ad_jacobian(torch_cell, values: dict, wrt: list[str]) -> torch.Tensor:
    """∂(new states, concatenated)/∂(values[k] for k in wrt, each flattened), per sample:
    ``vmap(jacrev)`` through the compiled torch step, shape ``(B, S, Σ numel)``."""
    in_dims = {k: 0 if k in _per_sample(torch_cell.cell) else None for k in values}

    def flat_step(chosen: dict, rest: dict) -> torch.Tensor:
        return torch.cat(_new_states(torch_cell, {**rest, **chosen}), dim=-1)

    chosen = {k: values[k] for k in wrt}
    blocks = vmap(jacrev(flat_step), in_dims=({k: in_dims[k] for k in wrt}, in_dims))(chosen, values)
    return torch.cat([blocks[k].reshape(*blocks[k].shape[:2], -1) for k in wrt], dim=-1)


def _torch_cell(name: str):
    return numeric.compile(cells.get(name), "torch")


# ------------------------------------------------------------------ agreement with torch.func
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_state_and_input_jacobians_match_ad(name, route, compiled_for):
    backend = _backend(route)
    oracle = _torch_cell(name)
    compiled = compiled_for(oracle.cell, route)
    values = _merged(*_values(oracle.cell, "torch"))
    given = _values(oracle.cell, backend)
    expected = _ad_jacobian(oracle, values, _state_names(oracle.cell))
    assert_close(compiled.state_jacobian(*given), expected, "ad", f"{name}/{route} state_jacobian")
    if oracle.cell.inputs:
        expected = _ad_jacobian(oracle, values, [x.name for x in oracle.cell.inputs])
        assert_close(compiled.input_jacobian(*given), expected, "ad", f"{name}/{route} input_jacobian")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_parameter_jacobians_match_ad(name, route, compiled_for):
    backend = _backend(route)
    oracle = _torch_cell(name)
    compiled = compiled_for(oracle.cell, route)
    values = _merged(*_values(oracle.cell, "torch"))
    given = _values(oracle.cell, backend)
    for p in oracle.cell.parameters:
        assert_close(compiled.parameter_jacobian(p.name, *given), _ad_jacobian(oracle, values, [p.name]),
                     "ad", f"{name}/{route} parameter_jacobian({p.name!r})")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's forward AD
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_jvp_matches_ad(name, backend):
    """One tangent at a time (each value's own term), then all at once."""
    oracle = _torch_cell(name)
    compiled = numeric.compile(oracle.cell, backend)
    values = _merged(*_values(oracle.cell, "torch"))
    tangents, _ = _directions(oracle.cell, "torch")
    given_tangents, _ = _directions(oracle.cell, backend)
    given = _values(oracle.cell, backend)
    for chosen in [[k] for k in values] + [list(values)]:
        _, expected = jvp(lambda part: _new_states(oracle, {**values, **part}),
                          ({k: values[k] for k in chosen},), ({k: tangents[k] for k in chosen},))
        actual = compiled.jvp(*given, tangents={k: given_tangents[k] for k in chosen})
        assert sorted(actual) == sorted(_state_names(oracle.cell))
        for state, reference in zip(_state_names(oracle.cell), expected):
            assert_close(actual[state], reference, "ad", f"{name}/{backend} jvp[{state}] with tangents {chosen}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_vjp_matches_ad(name, backend):
    oracle = _torch_cell(name)
    compiled = numeric.compile(oracle.cell, backend)
    values = _merged(*_values(oracle.cell, "torch"))
    _, cotangents = _directions(oracle.cell, "torch")
    _, given_cotangents = _directions(oracle.cell, backend)
    _, pullback = vjp(lambda every: _new_states(oracle, every), values)
    (expected,) = pullback(tuple(cotangents[k] for k in _state_names(oracle.cell)))
    actual = compiled.vjp(*_values(oracle.cell, backend), cotangents=given_cotangents)
    assert sorted(actual) == sorted(values)
    for key, reference in expected.items():
        assert_close(actual[key], reference, "ad", f"{name}/{backend} vjp[{key}]")


# ------------------------------------------------------------------ agreement with torch.nn
_TORCH_MODULES = {"elman": torch.nn.RNNCell, "gru_torch": torch.nn.GRUCell, "lstm_torch": torch.nn.LSTMCell}


def _module(name: str, bias: bool) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _TORCH_MODULES[name](SIZES["m"], SIZES["n"], bias=bias, dtype=torch.float64)


def _module_step(module: torch.nn.Module, states: dict, x: torch.Tensor) -> dict:
    if isinstance(module, torch.nn.LSTMCell):
        h, c = module(x, (states["h"], states["c"]))
        return {"h": h, "c": c}
    return {"h": module(x, states["h"])}


def _module_jacobian(module, states: dict, x: torch.Tensor, wrt: str) -> torch.Tensor:
    """∂(new states, concatenated)/∂wrt ("states" or "x") per sample, by vmap(jacrev) through the module."""
    names = list(states)

    def flat(sample_states, sample_x):
        new = _module_step(module, sample_states, sample_x)
        return torch.cat([new[k] for k in names], dim=-1)

    if wrt == "x":
        return vmap(jacrev(flat, argnums=1))(states, x)
    blocks = vmap(jacrev(flat, argnums=0))(states, x)
    return torch.cat([blocks[k] for k in names], dim=-1)


def _as_backend(values: dict, backend: str) -> dict:
    return {k: _to_numpy(v) for k, v in values.items()} if backend == "numpy" else dict(values)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", sorted(_TORCH_MODULES))
def test_torch_convention_cells_match_torch_nn(name, bias, route, compiled_for):
    """With the module's weights loaded by ``numeric.from_torch``, the step, the state and
    input Jacobians and the parameter gradients agree with the torch.nn module."""
    backend = _backend(route)
    module = _module(name, bias)
    cell, params = numeric.from_torch(module, backend=backend)
    assert cell.name == name
    compiled = compiled_for(cell, route)
    states, inputs, _ = _values(cell, "torch")
    given = (_as_backend(states, backend), _as_backend(inputs, backend), params)
    x = inputs["x"]

    expected_step = _module_step(module, states, x)
    for state, new in compiled.step(*given).items():
        assert_close(new, expected_step[state], "ad", f"{name}/{route} step[{state}]")
    assert_close(compiled.state_jacobian(*given), _module_jacobian(module, states, x, "states"),
                 "ad", f"{name}/{route} state_jacobian")
    assert_close(compiled.input_jacobian(*given), _module_jacobian(module, states, x, "x"),
                 "ad", f"{name}/{route} input_jacobian")

    _, cotangents = _directions(cell, "torch")
    new = _module_step(module, states, x)
    torch.autograd.backward([new[k] for k in cotangents], [cotangents[k] for k in cotangents])
    gradients = compiled.vjp(*given, cotangents=_as_backend(cotangents, backend))
    # numeric.to_torch stacks the parameter cotangents into torch's layout; elman's b feeds
    # both of torch's biases, so bias_hh's gradient is b's too (to_torch puts it in bias_ih).
    stacked = dict(numeric.to_torch(cell, {p.name: gradients[p.name] for p in cell.parameters}).named_parameters())
    for key, weight in module.named_parameters():
        source = "bias_ih" if (name, key) == ("elman", "bias_hh") else key
        assert_close(stacked[source], weight.grad, "ad", f"{name}/{route} gradient of {key}")


# ------------------------------------------------------------------ the generated forward
@pytest.mark.parametrize("name", CELL_NAMES)
def test_sums_add_their_terms_without_a_batch_axis_first(name):
    """In every sum of the generated kernels, the terms without the batch axis (biases,
    parameters) come before those with it, so they are added once, not once per sample: in
    each ``a + b + ...`` chain of a kernel's line, no parameter name (or number) follows a
    batched term."""
    compiled = numeric.compile(cells.get(name), "numpy")
    unbatched = {p.name for p in compiled.cell.parameters}
    forwards = [node for node in ast.parse(compiled.source).body if isinstance(node, ast.FunctionDef)]

    def chain(node):  # the operands of a left-leaning chain of + and -
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            return chain(node.left) + [node.right]
        return [node]

    def batched(node):
        return not all(isinstance(n, ast.Constant) or (isinstance(n, ast.Name) and n.id in unbatched)
                       for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Constant)))

    sums = [node for forward in forwards for node in ast.walk(forward)
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))]
    assert sums, f"{name}: no sums found in the dense kernels"
    for node in sums:
        flags = [batched(operand) for operand in chain(node)]
        assert flags == sorted(flags), f"{name}: {ast.unparse(node)} adds a term without the batch axis late"
    if name == "gru_torch":
        assert "sigmoid(b_hz + b_iz + " in compiled.source, "the GRU's update gate adds its two biases first"


def test_a_sum_inside_a_named_node_that_a_coefficient_needs_is_computed_once():
    """The GRU's b_hn + W_hn·h is inside h̃ = tanh(… + r⊙(b_hn + W_hn·h)) and in the
    coefficient of W_hr in ∂h'/∂h: each dense kernel computes it once, by name."""
    source = numeric.compile(cells.get("gru_torch"), "numpy").source
    tree = ast.parse(source)
    kernel = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "state_jacobian")
    code = ast.unparse(kernel)
    products = next(node for node in ast.walk(kernel) if isinstance(node, ast.Assign) and "_B.products" in ast.unparse(node))
    product = next(target.id for target, pair in zip(products.targets[0].elts, products.value.args)
                   if "W_hn" in ast.unparse(pair))
    assert code.count(f"b_hn + {product}") == 1, code
    lines = [line.strip() for line in code.splitlines()]
    name = next(line.split(" = ")[0] for line in lines if line.endswith(f"= b_hn + {product}"))
    assert any(line.startswith("h_tilde = ") and name in line for line in lines), code
    assert any(line.startswith("_c") and name in line for line in lines), code


# ------------------------------------------------------------------ float32 against float64
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_float32_matches_float64(name, route, compiled_for):
    """At the same (float32-representable) point, the float32 step and state Jacobian agree
    with the float64 kernels within the float32 reference tolerance."""
    backend = _backend(route)
    compiled = compiled_for(cells.get(name), route)
    single = _values(compiled.cell, backend, dtype="float32")
    double = tuple({k: (_to_numpy(v).astype(np.float64) if backend == "numpy" else v.double())
                    for k, v in group.items()} for group in single)
    for state, new in compiled.step(*single).items():
        assert_close(new, compiled.step(*double)[state], "reference", f"{name}/{route} float32 step[{state}]")
    assert_close(compiled.state_jacobian(*single), compiled.state_jacobian(*double), "reference",
                 f"{name}/{route} float32 state_jacobian")


# ------------------------------------------------------------------ array conventions
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_batch_dimensions_are_consistent(name, route, compiled_for):
    """Every kernel on a (2, 3) batch equals the kernel on the flattened (6,) batch reshaped,
    and sample (1, 2) alone (no batch dimensions) equals entry (1, 2) of the batched result
    (parameter cotangents of the vjp are summed over the batch, so only the flat check applies)."""
    backend = _backend(route)
    compiled = compiled_for(cells.get(name), route)
    cell, batch = compiled.cell, (2, 3)
    values = _merged(*_values(cell, backend, batch=batch))
    tangents, cotangents = _directions(cell, backend, batch=batch)
    per_sample = _per_sample(cell)

    def rebatched(mapping: dict, index) -> dict:
        """Per-sample values with the batch flattened (index None) or only sample ``index``."""
        return {k: (v.reshape((-1, v.shape[-1])) if index is None else v[index]) if k in per_sample else v
                for k, v in mapping.items()}

    batched = _kernel_outputs(compiled, *_split(cell, values), tangents, cotangents)
    for index in (None, (1, 2)):
        flat = _kernel_outputs(compiled, *_split(cell, rebatched(values, index)), rebatched(tangents, index),
                               rebatched(cotangents, index))
        assert sorted(flat) == sorted(batched)
        for key, result in batched.items():
            summed = key.startswith("vjp[") and key[4:-1] not in per_sample
            if index is None:
                assert_close(flat[key].reshape(result.shape), result, "reference",
                             f"{name}/{route} {key}, flat batch")
            elif not summed:
                assert_close(flat[key], result[index], "reference", f"{name}/{route} {key}, one sample")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ["leaky", "scalar_gate", "lstm_torch"])
def test_states_and_inputs_broadcast(name, route, compiled_for):
    """Unbatched inputs with batched states give the same results as inputs repeated over the batch."""
    backend = _backend(route)
    compiled = compiled_for(cells.get(name), route)
    states, inputs, params = _values(compiled.cell, backend, batch=(4,))
    single = {k: v[0] for k, v in inputs.items()}
    repeated = {k: np.repeat(v[None], 4, axis=0) if backend == "numpy" else v.expand(4, -1).clone()
                for k, v in single.items()}
    assert_close(compiled.state_jacobian(states, single, params), compiled.state_jacobian(states, repeated, params),
                 "reference", f"{name}/{route} state_jacobian with unbatched inputs")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_dtype_is_preserved(name, route, dtype, compiled_for):
    backend = _backend(route)
    compiled = compiled_for(cells.get(name), route)
    tangents, cotangents = _directions(compiled.cell, backend, dtype=dtype)
    outputs = _kernel_outputs(compiled, *_values(compiled.cell, backend, dtype=dtype), tangents, cotangents)
    wrong = {k: str(v.dtype) for k, v in outputs.items() if str(v.dtype).replace("torch.", "") != dtype}
    assert not wrong, f"{name}/{route}: {dtype} in, but {wrong}"


@pytest.mark.parametrize("name", CELL_NAMES)
def test_torch_kernels_follow_the_device(name):
    """With every value on another device ("meta": shapes without data), every torch kernel
    runs there — no tensor is created on the default device — with the usual shapes."""
    compiled = numeric.compile(cells.get(name), "torch")
    tangents, cotangents = _directions(compiled.cell, "torch")
    on_cpu = _kernel_outputs(compiled, *_values(compiled.cell, "torch"), tangents, cotangents)

    def moved(values: dict) -> dict:
        return {k: v.to("meta") for k, v in values.items()}

    values = map(moved, _values(compiled.cell, "torch"))
    on_meta = _kernel_outputs(compiled, *values, moved(tangents), moved(cotangents))
    wrong = {k: (str(v.device), tuple(v.shape)) for k, v in on_meta.items()
             if v.device.type != "meta" or v.shape != on_cpu[k].shape}
    assert not wrong, f"{name}: results not on meta or misshapen: {wrong}"


@pytest.mark.parametrize("name", ["multi_gate", "gru_torch", "lstm_torch"])
def test_torch_state_jacobian_is_differentiable(name):
    """autograd through the torch state-Jacobian kernel agrees with finite differences
    (torch.autograd.gradcheck) with respect to every state."""
    compiled = numeric.compile(cells.get(name), "torch")
    states, inputs, params = _values(compiled.cell, "torch")
    names = _state_names(compiled.cell)

    def jacobian(*state_values):
        return compiled.state_jacobian(dict(zip(names, state_values)), inputs, params)

    assert torch.autograd.gradcheck(jacobian, tuple(states[k].requires_grad_() for k in names))


def _out_kernels(cell: Cell, matrices: bool) -> dict:
    """Kernels that accept ``out=``, as functions ``(compiled, values, out)``: the Jacobians of
    the matrix parameters if ``matrices``, else the state and input Jacobians and those of the
    vector and scalar parameters."""
    shapes = numeric.shapes(cell, SIZES)
    kernels = {} if matrices else {"state_jacobian": lambda c, v, out: c.state_jacobian(*v, out=out)}
    if cell.inputs and not matrices:
        kernels["input_jacobian"] = lambda c, v, out: c.input_jacobian(*v, out=out)
    for p in cell.parameters:
        if (len(shapes[p.name]) == 2) == matrices:
            kernels[f"parameter_jacobian({p.name!r})"] = (
                lambda c, v, out, p=p.name: c.parameter_jacobian(p, *v, out=out))
    return kernels


def _check_out_buffer(compiled, route: str, matrices: bool) -> None:
    """The result is written into ``out`` (pre-filled with NaN, so an entry left unwritten
    fails) and ``out`` itself is returned."""
    name, backend = compiled.cell.name, _backend(route)
    values = _values(compiled.cell, backend)
    for label, kernel in _out_kernels(compiled.cell, matrices).items():
        expected = kernel(compiled, values, None)
        buffer = (np.full(expected.shape, np.nan) if backend == "numpy"
                  else torch.full(expected.shape, np.nan, dtype=torch.float64))
        assert kernel(compiled, values, buffer) is buffer, f"{name}/{route} {label} did not return out"
        assert_close(buffer, expected, "reference", f"{name}/{route} {label} written into out")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_out_buffer_is_filled_and_returned(name, route, compiled_for):
    _check_out_buffer(compiled_for(cells.get(name), route), route, matrices=False)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_out_buffer_is_filled_and_returned_for_matrix_parameters(name, route, compiled_for):
    _check_out_buffer(compiled_for(cells.get(name), route), route, matrices=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_compile_is_cached(name, backend):
    cell = cells.get(name)
    first = numeric.compile(cell, backend)
    assert numeric.compile(cell, backend) is first
    assert numeric.compile(cells.get(name), backend) is first, "an identically built cell should share the kernels"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CELL_NAMES)
def test_source_is_python_documenting_argument_order(name, backend):
    """``.source`` parses; its docstring lists the arguments in the order the kernels take
    them (states, inputs, parameters, in declaration order)."""
    cell = cells.get(name)
    compiled = numeric.compile(cell, backend)
    order = [piece.name for piece in (*cell.states, *cell.inputs, *cell.parameters)]
    tree = ast.parse(compiled.source)
    docstring = ast.get_docstring(tree) or ""
    assert ", ".join(order) in docstring, f"{name}: docstring {docstring!r} does not list the arguments {order}"
    kernels = [node for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    assert {"step", "state_jacobian", "jvp", "vjp"} <= {k.name for k in kernels}
    for kernel in kernels:
        assert [a.arg for a in kernel.args.args][:len(order)] == order, f"{name}: {kernel.name} argument order"
