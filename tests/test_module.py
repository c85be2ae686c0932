"""numeric.module: a cell as a torch.nn.Module — its forward against a hand-unrolled loop of the
compiled step and against torch.nn.GRU / LSTM, its gradients against a hand-written module,
its parameters, the torch interop and its errors."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric._module import module
from gatejac.symbolic import GatejacError, cells
from gatejac.verify import tolerance

SIZES = {"n": 6, "m": 3}
CELLS = ("leaky", "scalar_gate", "multi_gate", "elman", "gru_torch", "lstm_torch")


def _close(actual, reference, dtype="float64"):
    """Entrywise within verify.tolerance("ad", dtype) scaled by the reference (both sides are
    exact computations of the same function, so only round-off separates them)."""
    reference = reference.detach().numpy()
    bound = tolerance("ad", dtype, np.abs(reference).max()).bound(np.abs(reference))
    return bool(np.all(np.abs(actual.detach().numpy() - reference) <= bound))


def _inputs(batch=4, steps=7, m=3, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).uniform(0, 1, (batch, steps, m)))


@pytest.mark.parametrize("name", CELLS)
def test_forward_is_the_compiled_step_unrolled_by_hand(name):
    net = module(name, SIZES, outputs=2, dtype="float64", seed=3)
    x = _inputs()
    compiled = numeric.compile(cells.get(name), "torch")
    params = net.values()
    states = {s.name: torch.zeros(4, 6, dtype=torch.float64) for s in compiled.cell.states}
    for t in range(x.shape[1]):
        states = compiled.step(states, {"x": x[:, t]}, params)
    expected = states["h"] @ net.readout.weight.detach().T
    assert _close(net(x), expected)
    # the module's faster binding of the kernel computes the same operations: the same bits
    assert all(torch.equal(a, states[s.name]) for a, s in zip(net.run(x), compiled.cell.states))
    # the comparison can fail: one step fewer is a different state
    short = net(x[:, :-1])
    assert not _close(short, expected)


def _unrolled_gradients(net, x, y):
    """The gradients of the MSE loss through the compiled step kernel unrolled by hand (its own
    per-step transposes), for the module's parameters and readout."""
    step = net.compiled.kernel("step")
    params = {k: v.clone().requires_grad_(v.is_floating_point() and getattr(net.weights, k).requires_grad)
              for k, v in net.values().items()}
    readout = net.readout.weight.detach().clone().requires_grad_()
    values = [v.reshape(1) if v.ndim == 0 else v for v in params.values()]
    states = [x.new_zeros(x.shape[0], 6) for _ in net.cell.states]
    for t in range(x.shape[1]):
        states = step(*states, x[:, t], *values)
    torch.nn.functional.mse_loss(states[0] @ readout.T, y).backward()
    return {**{k: v.grad for k, v in params.items() if v.requires_grad}, "readout": readout.grad}


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposes_once_per_sequence_give_the_per_step_gradients_bit_for_bit(name, dtype):
    """The module takes each Wᵀ once per sequence (numeric/_module.py: _Transposes); its loss and
    gradients are those of the kernel unrolled with a transpose per step, to the bit."""
    net = module(name, SIZES, outputs=1, dtype=dtype, seed=2)
    x = _inputs(steps=9).to(getattr(torch, dtype))
    y = torch.ones(4, 1, dtype=x.dtype)
    torch.nn.functional.mse_loss(net(x), y).backward()
    expected = _unrolled_gradients(net, x, y)
    got = {**{k: p.grad for k, p in net.weights.named_parameters()}, "readout": net.readout.weight.grad}
    assert sorted(got) == sorted(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    # nothing is held after the sequence: a matrix not held is transposed as the array layer does
    from gatejac.numeric._module import _hoisting_step
    transposes = _hoisting_step(net.compiled)[1]
    w = torch.arange(6.0).reshape(2, 3)
    assert transposes._held == {} and torch.equal(transposes(w), w.T)


def test_a_wrong_held_transpose_is_caught(monkeypatch):
    """The bit-for-bit check can fail: holding the square W itself instead of Wᵀ changes the
    gradients."""
    from gatejac.numeric import _module as module_code

    net = module("elman", SIZES, outputs=1, dtype="float64", seed=2)
    x, y = _inputs(steps=9), torch.ones(4, 1, dtype=torch.float64)
    monkeypatch.setattr(module_code._Transposes, "holding", _holding_untransposed)
    torch.nn.functional.mse_loss(net(x), y).backward()
    expected = _unrolled_gradients(net, x, y)
    assert not torch.equal(net.weights.W.grad, expected["W"])


@contextlib.contextmanager
def _holding_untransposed(self, values):
    """A broken hold: a square matrix untransposed (the others transposed, so shapes still fit)."""
    self._held = {id(value): value if value.shape[-1] == value.shape[-2] else value.mT
                  for value in values if value.ndim >= 2}
    try:
        yield
    finally:
        self._held = {}


def test_the_fast_batch_shape_still_broadcasts():
    """The array layer answers the batch shape directly when shapes agree; when they differ it
    must still broadcast, as the raw kernel the module calls relies on."""
    compiled = numeric.compile(cells.get("elman"), "torch")
    step = compiled.kernel("step")
    _, _, params = numeric.random_values(cells.get("elman"), SIZES, backend="torch")
    h, x = torch.zeros(2, 1, 6, dtype=torch.float64), torch.ones(5, 3, dtype=torch.float64)
    assert step(h, x, *params.values())[0].shape == (2, 5, 6)
    assert torch.equal(step(h, x, *params.values())[0], compiled.step({"h": h}, {"x": x}, params)["h"])


@pytest.mark.parametrize("name", CELLS)
def test_initial_states_are_used(name):
    net = module(name, SIZES, dtype="float64")
    x = _inputs(steps=1)
    given = {s.name: torch.full((4, 6), 0.3, dtype=torch.float64) for s in net.cell.states}
    step = net.compiled.step(given, {"x": x[:, 0]}, net.values())
    assert _close(net(x, given), step["h"])
    assert not _close(net(x), step["h"])


def _stacked_torch(kind, torch_cell):
    """torch.nn.GRU / LSTM (one layer, batch first) with the weights of ``torch_cell``."""
    sequence = kind(torch_cell.input_size, torch_cell.hidden_size, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(sequence, f"{name}_l0").copy_(getattr(torch_cell, name))
    return sequence


@pytest.mark.parametrize("cell_kind, sequence_kind", [(torch.nn.GRUCell, torch.nn.GRU),
                                                      (torch.nn.LSTMCell, torch.nn.LSTM)])
def test_loaded_weights_reproduce_torch_nn_gru_and_lstm(cell_kind, sequence_kind):
    torch.manual_seed(0)
    torch_cell = cell_kind(3, 6, dtype=torch.float64)
    net = module(torch_cell)
    x = _inputs(steps=12)
    output, _ = _stacked_torch(sequence_kind, torch_cell)(x)
    assert net.compiled.cell.name == {torch.nn.GRUCell: "gru_torch", torch.nn.LSTMCell: "lstm_torch"}[cell_kind]
    assert _close(net(x), output[:, -1])
    # and back: the module's weights as a torch cell, bit for bit
    back = net.to_torch()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert torch.equal(getattr(back, name), getattr(torch_cell, name))


def test_a_torch_cell_gives_its_dtype_and_sizes():
    net = module(torch.nn.GRUCell(3, 5))
    assert net.sizes == {"n": 5, "m": 3}
    assert net.values()["W_hr"].dtype == torch.float32
    with pytest.raises(GatejacError, match="reads sizes"):
        module(torch.nn.GRUCell(3, 5), {"n": 5, "m": 3})


def _plain_multi_gate(p, x):
    h = x.new_zeros(x.shape[0], p["W_r"].shape[0])
    for t in range(x.shape[1]):
        g = torch.sigmoid(h @ p["W_rg"].T + x[:, t] @ p["W_ig"].T + p["b_g"])
        h = (1 - g) * h + g * torch.tanh(h @ p["W_r"].T + x[:, t] @ p["W_i"].T + p["b"])
    return h


def _plain_elman(p, x):
    h = x.new_zeros(x.shape[0], p["W"].shape[0])
    for t in range(x.shape[1]):
        h = torch.tanh(h @ p["W"].T + x[:, t] @ p["U"].T + p["b"])
    return h


def _plain_scalar_gate(p, x):
    h = x.new_zeros(x.shape[0], p["W_r"].shape[0])
    for t in range(x.shape[1]):
        g = torch.sigmoid(h @ p["w_rg"][:, None] + x[:, t] @ p["w_ig"][:, None] + p["b_g"])
        h = (1 - g) * h + g * torch.tanh(h @ p["W_r"].T + x[:, t] @ p["W_i"].T + p["b"])
    return h


@pytest.mark.parametrize("name, plain", [("multi_gate", _plain_multi_gate), ("elman", _plain_elman),
                                         ("scalar_gate", _plain_scalar_gate)])
def test_gradients_equal_those_of_a_hand_written_module(name, plain):
    net = module(name, SIZES, outputs=1, dtype="float64", seed=1)
    x, y = _inputs(steps=9), torch.ones(4, 1, dtype=torch.float64)
    torch.nn.functional.mse_loss(net(x), y).backward()
    params = {k: v.clone().requires_grad_() for k, v in net.values().items()}
    readout = net.readout.weight.detach().clone().requires_grad_()
    torch.nn.functional.mse_loss(plain(params, x) @ readout.T, y).backward()
    for k, v in params.items():
        assert _close(getattr(net.weights, k).grad, v.grad), k
    assert _close(net.readout.weight.grad, readout.grad)
    # a wrong plain module (gate on the other side) has other gradients: the check can fail
    if name != "elman":
        swapped = {k: v.clone().requires_grad_() for k, v in net.values().items()}
        flipped = {**swapped, "b_g": -swapped["b_g"]}
        torch.nn.functional.mse_loss(plain(flipped, x) @ readout.detach().T, y).backward()
        assert not _close(getattr(net.weights, "W_r").grad, swapped["W_r"].grad)


def test_trainable_parameters_and_fixed_buffers():
    net = module("leaky", SIZES, outputs=1)
    trainable = {name for name, _ in net.named_parameters()}
    assert trainable == {"weights.W", "weights.U", "weights.b", "readout.weight"}
    assert [name for name, _ in net.named_buffers()] == ["weights.alpha"]
    assert float(net.weights.alpha) == pytest.approx(0.8)
    assert set(net.state_dict()) == trainable | {"weights.alpha"}


def test_parameters_are_initialise_s_and_the_readout_is_seeded():
    net = module("multi_gate", SIZES, outputs=2, init="gaussian", gain=1.5, seed=4, dtype="float64")
    expected = numeric.initialise("multi_gate", SIZES, scheme="gaussian", gain=1.5, seed=4, backend="torch")
    for name, value in expected.items():
        assert torch.equal(net.values()[name], value)
    again, other = (module("multi_gate", SIZES, outputs=2, seed=s, dtype="float64") for s in (4, 5))
    assert torch.equal(net.readout.weight, again.readout.weight)
    assert not torch.equal(net.readout.weight, other.readout.weight)
    assert float(net.readout.weight.detach().abs().max()) <= 1 / np.sqrt(6)


def test_float32_is_the_default_and_inputs_must_match():
    net = module("elman", SIZES)
    assert net.values()["W"].dtype == torch.float32
    with pytest.raises(numeric.ArgumentError, match=r"float64 .*module is torch.float32"):
        net(_inputs())


@pytest.mark.parametrize("call, message", [
    (lambda net: net(torch.zeros(4, 7)), r"\(B, T, 3\), batch first"),
    (lambda net: net(torch.zeros(4, 7, 2)), r"\(B, T, 3\)"),
    (lambda net: net(torch.zeros(4, 0, 3)), "T = 0"),
    (lambda net: net({"y": torch.zeros(4, 7, 3)}), "takes"),
    (lambda net: net(torch.zeros(4, 7, 3), {"h": torch.zeros(3, 6)}), r"expected \(4, 6\)"),
])
def test_bad_inputs_are_named(call, message):
    with pytest.raises(numeric.ArgumentError, match=message):
        call(module("elman", SIZES))


@pytest.mark.parametrize("kwargs, message", [
    ({"outputs": 0}, "outputs=0"),
    ({"dtype": "float16"}, "float16"),
    ({"init": "xavier"}, "xavier"),
])
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(GatejacError, match=message):
        module("elman", SIZES, **kwargs)


def test_sizes_are_required_and_checked():
    with pytest.raises(numeric.ArgumentError, match="needs sizes"):
        module("elman")
    with pytest.raises(GatejacError, match="needs integer sizes"):
        module("elman", {"n": 4})
    with pytest.raises(numeric.ArgumentError, match="symbolic.Cell"):
        module(3.0, SIZES)


def test_the_module_trains_with_autograd_under_an_optimizer():
    net = module("multi_gate", SIZES, outputs=1, dtype="float64")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.nn.functional.mse_loss(net(_inputs()), torch.ones(4, 1, dtype=torch.float64)).backward()
    optimizer.step()
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"weights.{p}" for p in ("W_rg", "W_ig", "b_g", "W_r", "W_i", "b")} | {"readout.weight"}


def test_importing_the_module_does_not_import_torch():
    code = "import sys, gatejac.numeric._module; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["leaky", "scalar_gate", "lstm_torch"])
def test_per_example_gradients_through_torch_func(name):
    """vmap(grad) over torch.func.functional_call (how per-example gradients are computed) equals
    one backward pass per sequence."""
    from torch.func import functional_call, grad, vmap

    net = module(name, SIZES, outputs=1, dtype="float64")
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = dict(net.named_buffers())
    x, y = _inputs(batch=3), torch.as_tensor([[0.1], [0.5], [0.9]], dtype=torch.float64)

    def loss(p, x_i, y_i):
        return torch.nn.functional.mse_loss(functional_call(net, (p, buffers), (x_i[None],)), y_i[None])

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for i in range(3):
        net.zero_grad()
        torch.nn.functional.mse_loss(net(x[i:i + 1]), y[i:i + 1]).backward()
        for key, parameter in net.named_parameters():
            assert _close(per_example[key][i], parameter.grad), (key, i)
    assert not _close(per_example["readout.weight"][0], per_example["readout.weight"][1])


def _two_input_cell():
    from gatejac.symbolic import Cell, tanh

    cell = Cell("two_inputs")
    h, x, u = cell.state("h", "n"), cell.input("x", "m"), cell.input("u", "k")
    W, U, V = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("V", ("n", "k"))
    cell.update(h, tanh(W @ h + U @ x + V @ u))
    return cell


def test_a_cell_with_several_inputs_takes_a_mapping():
    cell = _two_input_cell()
    net = module(cell, {"n": 4, "m": 3, "k": 2}, dtype="float64")
    x, u = _inputs(m=3), _inputs(m=2, seed=1)
    p = net.values()
    h = torch.zeros(4, 4, dtype=torch.float64)
    for t in range(x.shape[1]):
        h = torch.tanh(h @ p["W"].T + x[:, t] @ p["U"].T + u[:, t] @ p["V"].T)
    assert _close(net({"x": x, "u": u}), h)
    with pytest.raises(numeric.ArgumentError, match=r"inputs \['x', 'u'\]; pass \{name"):
        net(x)
    with pytest.raises(numeric.ArgumentError, match=r"\(B, T\) = \(4, 6\), others \(4, 7\)"):
        net({"x": x, "u": u[:, :6]})
