"""torch.nn interop: load the weights of ``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell``
into the matching catalogue cell, and build the module back from a cell's parameters.

=====================================  ==============  =========================================
module                                 catalogue cell  parameters
=====================================  ==============  =========================================
``RNNCell(nonlinearity="tanh")``       ``elman``       W = weight_hh, U = weight_ih,
                                                       b = bias_ih + bias_hh
``GRUCell``                            ``gru_torch``   row blocks r, z, n of weight_ih → W_ir,
                                                       W_iz, W_in; of weight_hh → W_hr, W_hz,
                                                       W_hn; biases likewise (b_ir … b_hn)
``LSTMCell``                           ``lstm_torch``  row blocks i, f, g, o: W_ii … W_io,
                                                       W_hi … W_ho, b_ii … b_ho
=====================================  ==============  =========================================

A module built with ``bias=False`` maps to the cell's ``bias=False`` variant (no bias
parameters at all — the same map, not zeros), and back.  ``RNNCell(nonlinearity="relu")`` has
no catalogue cell and is refused; so is any other module type, including subclasses of the
three (they may change ``forward``).

Elman has one bias where torch has two that only add up: :func:`to_torch` puts ``b`` into
``bias_ih`` and zeros into ``bias_hh``.  So params → module → params is exact for all three
cells; module → params → module gives back the same tensors for GRU and LSTM (so the same
outputs, bit for bit), and for the RNN the same weights and outputs equal up to the rounding
of ``bias_ih + bias_hh``.

Example::

    cell, params = from_torch(torch.nn.GRUCell(3, 8))          # gru_torch, torch tensors
    J = numeric.compile(cell, "torch").state_jacobian({"h": h}, {"x": x}, params)   # (B, 8, 8)

The state order follows the catalogue: the LSTM's state is (h, c), as torch returns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gatejac.symbolic import Cell, cells, unknown_name

from ._arrays import check_backend
from ._errors import ArgumentError
from ._values import shapes


@dataclass(frozen=True)
class _Layout:
    """How one torch module's tensors map to a catalogue cell's parameters."""

    module: str  # torch.nn class name
    cell: str  # catalogue cell name
    blocks: str  # torch's row blocks of weight_ih / weight_hh ("" for the single-block RNN)


_LAYOUTS = (
    _Layout("RNNCell", "elman", ""),
    _Layout("GRUCell", "gru_torch", "rzn"),
    _Layout("LSTMCell", "lstm_torch", "ifgo"),
)
_SUPPORTED = ", ".join(f"torch.nn.{layout.module}" for layout in _LAYOUTS)


def from_torch(module, *, backend: str = "torch") -> tuple[Cell, dict]:
    """``(cell, params)`` for a ``torch.nn.RNNCell`` (tanh), ``GRUCell`` or ``LSTMCell``: the
    catalogue cell (sizes symbolic, ``bias`` as the module's) and its parameters as detached
    copies — torch tensors on the module's device, or NumPy arrays with ``backend="numpy"`` —
    in the module's dtype.  ``numeric.compile(cell, backend).step(states, inputs, params)``
    then computes what ``module(x, h)`` does.

    Names: torch stacks its gates' row blocks in ``weight_ih`` / ``weight_hh`` (and
    ``bias_ih`` / ``bias_hh``); the cell has one parameter per block —

    * ``RNNCell`` → ``elman``: W = weight_hh, U = weight_ih, b = bias_ih + bias_hh;
    * ``GRUCell`` → ``gru_torch``: weight_ih = [W_ir; W_iz; W_in], weight_hh = [W_hr; W_hz; W_hn],
      bias_ih = [b_ir; b_iz; b_in], bias_hh = [b_hr; b_hz; b_hn];
    * ``LSTMCell`` → ``lstm_torch``: weight_ih = [W_ii; W_if; W_ig; W_io], weight_hh =
      [W_hi; W_hf; W_hg; W_ho], biases likewise (b_ii … b_ho).

    ``CompiledCell.parameter_jacobian`` takes the module's names too: ∂s'/∂weight_hh is the
    Jacobians of its blocks side by side (row-major flattening of the stacked matrix)."""
    check_backend(backend)
    layout = _layout_of_module(module)
    cell = cells.get(layout.cell, bias=module.bias)
    tensors = _elman_params(module) if layout.cell == "elman" else _block_params(module, layout.blocks)
    return cell, {name: _export(tensor, backend) for name, tensor in tensors.items()}


def to_torch(cell: Cell | str, params: Mapping):
    """The ``torch.nn`` module computing the catalogue cell ``cell`` (``"elman"``,
    ``"gru_torch"``, ``"lstm_torch"`` or one built by ``symbolic.cells.get``) with ``params``
    (NumPy arrays or torch tensors of one float dtype).  Sizes are read from the parameters;
    the module takes their dtype and device and holds copies of them.  The names map as in
    :func:`from_torch`, backwards: the blocks are stacked in torch's gate order, and Elman's
    ``b`` goes to ``bias_ih`` with zeros in ``bias_hh``."""
    import torch

    cell, layout = _cell_and_layout(cell, params)
    values = _checked_tensors(cell, layout, params)
    hidden, inputs = values[_recurrent_weight(layout)].shape[0], values[_input_weight(layout)].shape[1]
    reference = next(iter(values.values()))
    module_class = getattr(torch.nn, layout.module)
    module = module_class(inputs, hidden, bias=_has_bias(cell), device="meta", dtype=reference.dtype)
    module = module.to_empty(device=reference.device)  # no random initialisation to overwrite
    tensors = _elman_tensors(values) if layout.cell == "elman" else _block_tensors(values, layout.blocks)
    with torch.no_grad():
        for name, tensor in tensors.items():
            getattr(module, name).copy_(tensor)
    return module


# ---------------------------------------------------------------------- module -> params
def _layout_of_module(module) -> _Layout:
    import torch

    for layout in _LAYOUTS:
        if type(module) is getattr(torch.nn, layout.module):
            if layout.module == "RNNCell" and module.nonlinearity != "tanh":
                raise ArgumentError(
                    f"torch.nn.RNNCell(nonlinearity={module.nonlinearity!r}) has no catalogue cell: gatejac's elman "
                    "cell is h' = tanh(W h + U x + b); use nonlinearity='tanh', or write a relu cell with symbolic.Cell"
                )
            return layout
    kind = type(module)
    raise ArgumentError(f"cannot load parameters from a {kind.__module__}.{kind.__qualname__}; supported: {_SUPPORTED}")


def _elman_params(module) -> dict:
    params = {"W": module.weight_hh, "U": module.weight_ih}
    if module.bias:
        params["b"] = module.bias_ih + module.bias_hh
    return params


def _block_params(module, blocks: str) -> dict:
    """Split torch's stacked ``weight_ih``, ``weight_hh`` (and biases) into row blocks."""
    n = module.hidden_size
    stacked = {"W_i": module.weight_ih, "W_h": module.weight_hh}
    if module.bias:
        stacked |= {"b_i": module.bias_ih, "b_h": module.bias_hh}
    return {f"{prefix}{k}": tensor[j * n:(j + 1) * n] for prefix, tensor in stacked.items() for j, k in enumerate(blocks)}


def _export(tensor, backend: str):
    copy = tensor.detach().clone()
    return copy if backend == "torch" else copy.cpu().numpy()


# ---------------------------------------------------------------------- params -> module
def _cell_and_layout(cell: Cell | str, params: Mapping) -> tuple[Cell, _Layout]:
    """The catalogue cell and its module layout; a cell name takes ``bias`` from the params."""
    known = [layout.cell for layout in _LAYOUTS]
    name = cell if isinstance(cell, str) else getattr(cell, "name", type(cell).__name__)
    if name not in known:
        raise unknown_name("torch-convertible cell", name, known, f"(to_torch builds {_SUPPORTED})")
    layout = _LAYOUTS[known.index(name)]
    if not isinstance(params, Mapping):
        raise ArgumentError(f"params must be a mapping from parameter names to arrays, got {type(params).__name__}")
    if isinstance(cell, str):
        return cells.get(name, bias=any(key.startswith("b") for key in params)), layout
    if not _is_catalogue_cell(cell, name):
        raise ArgumentError(f"cell {name!r} is not the catalogue's {name!r} cell; to_torch converts only catalogue cells")
    return cell, layout


def _is_catalogue_cell(cell: Cell, name: str) -> bool:
    """Whether ``cell`` is the catalogue cell ``name`` (at its own sizes, with or without bias)."""
    if not isinstance(cell, Cell) or not cell.states or len(cell.inputs) != 1:
        return False
    twin = cells.get(name, n=cell.states[0].size, m=cell.inputs[0].size, bias=_has_bias(cell))
    return twin.fingerprint == cell.fingerprint


def module_parameters(cell: Cell) -> dict[str, list[str]]:
    """``{module tensor name: the cell's parameters it stacks, in row-block order}`` for the
    torch-convention catalogue cells (see the module docstring), ``{}`` for any other cell.
    Elman's ``bias_ih`` and ``bias_hh`` both map to ``b`` (torch adds them)."""
    layout = next((layout for layout in _LAYOUTS if layout.cell == cell.name), None)
    if layout is None or not _is_catalogue_cell(cell, layout.cell):
        return {}
    if layout.cell == "elman":
        names = {"weight_ih": ["U"], "weight_hh": ["W"], "bias_ih": ["b"], "bias_hh": ["b"]}
    else:
        prefixes = {"weight_ih": "W_i", "weight_hh": "W_h", "bias_ih": "b_i", "bias_hh": "b_h"}
        names = {tensor: [f"{prefix}{k}" for k in layout.blocks] for tensor, prefix in prefixes.items()}
    declared = {p.name for p in cell.parameters}
    return {tensor: blocks for tensor, blocks in names.items() if blocks[0] in declared}


def _has_bias(cell: Cell) -> bool:
    return any(p.name.startswith("b") for p in cell.parameters)


def _recurrent_weight(layout: _Layout) -> str:
    return "W" if layout.cell == "elman" else f"W_h{layout.blocks[0]}"


def _input_weight(layout: _Layout) -> str:
    return "U" if layout.cell == "elman" else f"W_i{layout.blocks[0]}"


def _checked_tensors(cell: Cell, layout: _Layout, params: Mapping) -> dict:
    """``params`` as torch tensors of one dtype and device with the cell's shapes, or a clear error."""
    import torch

    names = [p.name for p in cell.parameters]
    for key in params:
        if key not in names:
            raise unknown_name("parameter", key, names, f"(cell {cell.name!r}; passed to to_torch)")
    missing = [name for name in names if name not in params]
    if missing:
        raise ArgumentError(f"params: missing {', '.join(map(repr, missing))} for cell {cell.name!r}; expected {names}")
    values = {name: _as_tensor(params[name], name) for name in names}
    kinds = {(v.dtype, v.device) for v in values.values()}
    if len(kinds) != 1 or next(iter(kinds))[0] not in (torch.float32, torch.float64):
        found = sorted({f"{k}: {v.dtype} on {v.device}" for k, v in values.items()})
        raise ArgumentError(f"params must share one dtype (float32 or float64) and device; got {found}")
    recurrent, input_ = values[_recurrent_weight(layout)], values[_input_weight(layout)]
    if recurrent.ndim != 2 or input_.ndim != 2:
        raise ArgumentError(f"params: {_recurrent_weight(layout)} and {_input_weight(layout)} must be matrices")
    sizes = {str(cell.states[0].size): recurrent.shape[0], str(cell.inputs[0].size): input_.shape[1]}
    for name, expected in shapes(cell, sizes).items():
        if name in values and tuple(values[name].shape) != expected:
            raise ArgumentError(
                f"params[{name!r}] has shape {tuple(values[name].shape)}; at sizes {sizes} (read from "
                f"{_recurrent_weight(layout)} and {_input_weight(layout)}) cell {cell.name!r} needs {expected}"
            )
    return values


def _as_tensor(value, name: str):
    import torch

    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ArgumentError(f"params[{name!r}] is not an array ({error}); pass a NumPy array or torch tensor") from None


def _elman_tensors(values: dict) -> dict:
    tensors = {"weight_hh": values["W"], "weight_ih": values["U"]}
    if "b" in values:
        tensors |= {"bias_ih": values["b"], "bias_hh": values["b"].new_zeros(values["b"].shape)}
    return tensors


def _block_tensors(values: dict, blocks: str) -> dict:
    """Stack the row blocks back into torch's ``weight_ih``, ``weight_hh`` (and biases)."""
    import torch

    prefixes = {"weight_ih": "W_i", "weight_hh": "W_h", "bias_ih": "b_i", "bias_hh": "b_h"}
    return {attr: torch.cat([values[f"{prefix}{k}"] for k in blocks])
            for attr, prefix in prefixes.items() if f"{prefix}{blocks[0]}" in values}
