"""torch.nn interop (issue 3, item 4): ``from_torch`` / ``to_torch`` for RNNCell, GRUCell and
LSTMCell.

The oracle is the real module: with the weights ``from_torch`` loads, the compiled step and
Jacobians must agree with the module's forward and with ``torch.func.jacrev`` through the
module (a wrong row block, a swapped W/U or a dropped bias changes the outputs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import jacrev, vmap

from gatejac import numeric
from gatejac.numeric import from_torch, initialise, to_torch
from gatejac.symbolic import Cell, GatejacError, UnknownNameError, cells
from gatejac.verify._tolerances import tolerance

N, M, BATCH = 5, 3, 4  # n ≠ m, so a transposed or misplaced block cannot pass
MODULES = {"elman": torch.nn.RNNCell, "gru_torch": torch.nn.GRUCell, "lstm_torch": torch.nn.LSTMCell}


def assert_close(actual, reference, oracle: str, what: str) -> None:
    """Entrywise within ``verify._tolerances.tolerance(oracle, dtype of actual, max|reference|)``."""
    actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    reference = reference.detach().cpu().numpy().astype(np.float64)
    assert actual.shape == reference.shape, f"{what}: shape {actual.shape} vs {reference.shape}"
    allowed = tolerance(oracle, actual.dtype, np.abs(reference).max(initial=0.0)).bound(np.abs(reference))
    error = np.abs(actual.astype(np.float64) - reference)
    assert np.all(error <= allowed), f"{what}: max |error| {error.max():.3g} ({oracle}, {actual.dtype})"


def make_module(name: str, bias: bool = True, dtype=torch.float64, **options) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(7)
        return MODULES[name](M, N, bias=bias, dtype=dtype, **options)


def module_inputs(name: str, dtype=torch.float64) -> tuple[dict, torch.Tensor]:
    """Batched states ``{"h"(, "c")}`` and input ``x``."""
    generator = torch.Generator().manual_seed(3)
    states = {k: 0.5 * torch.randn(BATCH, N, generator=generator, dtype=dtype)
              for k in ("h", "c")[: 2 if name == "lstm_torch" else 1]}
    return states, torch.randn(BATCH, M, generator=generator, dtype=dtype)


def module_step(module, states: dict, x: torch.Tensor) -> torch.Tensor:
    """The module's new states, concatenated in the cell's state order (h, c)."""
    if isinstance(module, torch.nn.LSTMCell):
        return torch.cat(module(x, (states["h"], states["c"])), dim=-1)
    return module(x, states["h"])


def module_jacobians(module, states: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ∂s'/∂s and ∂s'/∂x by vmap(jacrev) through the module."""
    by_state, by_input = vmap(jacrev(lambda s, xi: module_step(module, s, xi), argnums=(0, 1)))(states, x)
    return torch.cat([by_state[k] for k in states], dim=-1), by_input


def as_backend(values: dict, backend: str) -> dict:
    return {k: v.numpy() for k, v in values.items()} if backend == "numpy" else values


# ------------------------------------------------------------------ agreement with the module
@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_loaded_cell_matches_the_module(name, bias, backend):
    """Step, state Jacobian and input Jacobian of the loaded cell, on a batch, agree with the
    module's forward and with jacrev through the module."""
    module = make_module(name, bias)
    cell, params = from_torch(module, backend=backend)
    assert cell.name == name and any(p.name.startswith("b") for p in cell.parameters) == bias
    states, x = module_inputs(name)
    compiled = numeric.compile(cell, backend)
    given = (as_backend(states, backend), as_backend({"x": x}, backend), params)

    new = compiled.step(*given)
    actual = np.concatenate([np.asarray(new[k]) if backend == "numpy" else new[k].numpy() for k in states], -1)
    assert_close(actual, module_step(module, states, x), "ad", f"{name} step")
    state_jacobian, input_jacobian = module_jacobians(module, states, x)
    assert_close(compiled.state_jacobian(*given), state_jacobian, "ad", f"{name} state Jacobian")
    assert_close(compiled.input_jacobian(*given), input_jacobian, "ad", f"{name} input Jacobian")


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("tensor", ["weight_hh", "weight_ih", "bias_ih", "bias_hh"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_parameter_jacobians_take_the_module_tensor_names(name, tensor, backend):
    """``parameter_jacobian("weight_hh")`` (the module's own name) is ∂s'/∂weight_hh of the
    module, flattened row-major — jacrev through the module with respect to that tensor."""
    module = make_module(name)
    cell, params = from_torch(module, backend=backend)
    states, x = module_inputs(name)
    given = (as_backend(states, backend), as_backend({"x": x}, backend), params)
    compiled = numeric.compile(cell, backend)
    actual = compiled.parameter_jacobian(tensor, *given)

    tensors = dict(module.named_parameters())

    def flat_step(value, s, xi):
        hidden = tuple(v[None] for v in s.values()) if name == "lstm_torch" else s["h"][None]
        out = torch.func.functional_call(module, {**tensors, tensor: value}, (xi[None], hidden))
        return (torch.cat(out, dim=-1) if isinstance(out, tuple) else out)[0]

    expected = vmap(jacrev(flat_step), in_dims=(None, 0, 0))(tensors[tensor].detach(), states, x)
    assert_close(actual, expected.reshape(BATCH, expected.shape[1], -1), "ad", f"{name} ∂s'/∂{tensor}")
    out = np.empty(actual.shape) if backend == "numpy" else torch.empty(tuple(actual.shape), dtype=torch.float64)
    assert compiled.parameter_jacobian(tensor, *given, out=out) is out
    assert_close(out, expected.reshape(BATCH, expected.shape[1], -1), "ad", f"{name} ∂s'/∂{tensor} into out")


def test_module_names_are_offered_only_for_the_torch_cells():
    with pytest.raises(UnknownNameError, match="weight_hh"):
        numeric.compile(cells.get("gru_chung")).parameter_jacobian("weight_hh", {}, {}, {})
    with pytest.raises(UnknownNameError, match="bias_hh"):  # a module built with bias=False has none
        numeric.compile(cells.get("gru_torch", bias=False)).parameter_jacobian("bias_hh", {}, {}, {})


def test_params_are_detached_copies_in_the_module_dtype():
    module = make_module("gru_torch", dtype=torch.float32)
    _, params = from_torch(module)
    _, arrays = from_torch(module, backend="numpy")
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 and not v.requires_grad for v in params.values())
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in arrays.values())
    before = module.weight_hh.detach().clone()
    params["W_hr"].add_(1.0)
    arrays["W_hz"] += 1.0
    assert torch.equal(module.weight_hh, before), "changing the loaded params must not change the module"


def test_float32_module_matches_the_float64_reference():
    """A float32 module loads into float32 params whose kernels agree with the same weights in
    float64 within the float32 reference tolerance."""
    module = make_module("lstm_torch", dtype=torch.float32)
    cell, params = from_torch(module)
    states, x = module_inputs("lstm_torch")
    reference = module_step(to_torch(cell, {k: v.double() for k, v in params.items()}), states, x)
    new = numeric.compile(cell, "torch").step({k: v.float() for k, v in states.items()}, {"x": x.float()}, params)
    assert new["h"].dtype == torch.float32
    assert_close(torch.cat([new["h"], new["c"]], -1), reference, "reference", "float32 LSTM step")


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_to_params_to_module(name, bias):
    """The rebuilt module has the original's type, sizes, bias setting and outputs: GRU and LSTM
    bit for bit (the same tensors), the RNN up to the rounding of bias_ih + bias_hh."""
    module = make_module(name, bias)
    rebuilt = to_torch(*from_torch(module))
    assert type(rebuilt) is type(module)
    assert (rebuilt.input_size, rebuilt.hidden_size, rebuilt.bias) == (M, N, bias)
    states, x = module_inputs(name)
    if name == "elman":
        assert torch.equal(rebuilt.weight_hh, module.weight_hh) and torch.equal(rebuilt.weight_ih, module.weight_ih)
        assert_close(module_step(rebuilt, states, x), module_step(module, states, x), "ad", "RNN round trip")
    else:
        for (key, original), (_, copy) in zip(module.named_parameters(), rebuilt.named_parameters()):
            assert torch.equal(copy, original), key
        assert torch.equal(module_step(rebuilt, states, x), module_step(module, states, x))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("name", sorted(MODULES))
def test_params_to_module_to_params_is_exact(name, backend):
    """Initialised params (NumPy or torch, a cell or its name) come back unchanged, and the
    module computes what the compiled cell computes; elman's b lands in bias_ih, zeros in bias_hh."""
    params = initialise(name, {"n": N, "m": M}, seed=2, backend=backend)
    for cell in (name, cells.get(name)):
        module = to_torch(cell, params)
        _, again = from_torch(module, backend=backend)
        assert sorted(again) == sorted(params)
        for key, value in params.items():
            assert np.array_equal(np.asarray(again[key]), np.asarray(value)), key
    if name == "elman":
        assert not module.bias_hh.any() and np.array_equal(module.bias_ih.detach().numpy(), np.asarray(params["b"]))
    states, x = module_inputs(name)
    compiled = numeric.compile(cells.get(name), "torch")
    new = compiled.step(states, {"x": x}, {k: torch.as_tensor(v) for k, v in params.items()})
    assert_close(torch.cat([new[k] for k in states], -1), module_step(module, states, x), "ad", f"{name} module")


def test_to_torch_builds_no_gradient_history_and_copies():
    params = initialise("gru_torch", {"n": N, "m": M}, backend="torch")
    params["W_hr"].requires_grad_(True)
    module = to_torch("gru_torch", params)
    assert module.weight_hh.is_leaf and module.weight_hh.requires_grad
    with torch.no_grad():
        params["W_hr"].zero_()
    assert module.weight_hh[:N].abs().sum() > 0, "the module holds a copy"


# ------------------------------------------------------------------ errors
class _CustomGRU(torch.nn.GRUCell):
    pass


def _fake_elman() -> Cell:
    """A cell called 'elman' that is not the catalogue's: h' = W h + U x + b, no tanh."""
    cell = Cell("elman")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m"))
    cell.update(h, W @ h + U @ x + cell.parameter("b", "n"))
    return cell.validate()


FROM_TORCH_ERRORS = [
    ("relu", lambda: torch.nn.RNNCell(M, N, nonlinearity="relu"), {}, numeric.ArgumentError,
     r"RNNCell\(nonlinearity='relu'\) has no catalogue cell.*tanh"),
    ("linear", lambda: torch.nn.Linear(M, N), {}, numeric.ArgumentError,
     r"cannot load parameters from a torch\.nn\.modules\.linear\.Linear; supported: torch\.nn\.RNNCell, "
     r"torch\.nn\.GRUCell, torch\.nn\.LSTMCell"),
    ("multi-layer GRU", lambda: torch.nn.GRU(M, N), {}, numeric.ArgumentError, r"\.GRU; supported"),
    ("subclass", lambda: _CustomGRU(M, N), {}, numeric.ArgumentError, "_CustomGRU; supported"),
    ("not a module", lambda: "gru", {}, numeric.ArgumentError, r"builtins\.str; supported"),
    ("unknown backend", lambda: torch.nn.GRUCell(M, N), {"backend": "jaxx"}, UnknownNameError,
     "unknown backend 'jaxx'"),
]


@pytest.mark.parametrize(("case", "make", "kwargs", "error", "match"), FROM_TORCH_ERRORS,
                         ids=[e[0] for e in FROM_TORCH_ERRORS])
def test_from_torch_errors(case, make, kwargs, error, match):
    with pytest.raises(error, match=match):
        from_torch(make(), **kwargs)
    assert issubclass(error, GatejacError)


def _gru_params(**changes) -> dict:
    params = initialise("gru_torch", {"n": N, "m": M}, backend="torch")
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


TO_TORCH_ERRORS = [
    ("no torch module", "leaky", _gru_params(), UnknownNameError, "unknown torch-convertible cell 'leaky'"),
    ("misspelt", "gru_troch", _gru_params(), UnknownNameError, "did you mean 'gru_torch'"),
    ("other GRU", cells.get("gru_cho"), _gru_params(), UnknownNameError, "cell 'gru_cho'.*elman, gru_torch, lstm_torch"),
    ("not the catalogue cell", _fake_elman(), {}, numeric.ArgumentError, "not the catalogue's 'elman' cell"),
    ("missing", "gru_torch", _gru_params(b_hn=None), numeric.ArgumentError, "missing 'b_hn'"),
    ("unknown", cells.get("gru_torch"), _gru_params(W_hx=torch.zeros(N, N)), UnknownNameError,
     "parameter 'W_hx'; did you mean"),
    ("shape", "gru_torch", _gru_params(b_hz=torch.zeros(N + 1, dtype=torch.float64)), numeric.ArgumentError,
     r"params\['b_hz'\] has shape \(6,\); at sizes .* needs \(5,\)"),
    ("mixed dtypes", "gru_torch", _gru_params(W_hz=torch.zeros(N, N, dtype=torch.float32)), numeric.ArgumentError,
     "one dtype"),
    ("integer", "gru_torch", {k: v.long() for k, v in _gru_params().items()}, numeric.ArgumentError, "one dtype"),
    ("not an array", "gru_torch", _gru_params(W_hz="zeros"), numeric.ArgumentError, r"params\['W_hz'\] is not an array"),
    ("not a mapping", "gru_torch", [1, 2], numeric.ArgumentError, "params must be a mapping"),
]


@pytest.mark.parametrize(("case", "cell", "params", "error", "match"), TO_TORCH_ERRORS,
                         ids=[e[0] for e in TO_TORCH_ERRORS])
def test_to_torch_errors(case, cell, params, error, match):
    with pytest.raises(error, match=match):
        to_torch(cell, params)


def test_catalogue_cells_with_concrete_sizes_convert():
    params = initialise("elman", {"n": N, "m": M})
    module = to_torch(cells.get("elman", n=N, m=M), params)
    assert isinstance(module, torch.nn.RNNCell) and (module.input_size, module.hidden_size) == (M, N)
