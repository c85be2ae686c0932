"""``numeric.module``: any cell as a ``torch.nn.Module`` that runs it over a sequence and trains
with autograd.

The module runs the cell's compiled torch step (``numeric.compile(cell, "torch")``, the same
generated code every other part of gatejac differentiates) over the time axis::

    s_t = step(s_{t-1}, x_t; θ),  t = 1 … T,   s_0 = 0 (or given),
    ŷ   = W_o h_T                                (the optional readout)

with h the cell's first state (the LSTM's h, not c).  The readout is bias-free and linear, as in
Livi 2025 (arXiv:2508.12121, Section VII: ŷ = W_o h_T, MSE loss); without one, ``forward``
returns h_T itself.

Layout: **batch first**.  ``forward(inputs)`` takes inputs of shape ``(B, T, M)`` (for a cell
with several inputs, ``{name: (B, T, size)}``) and optional initial states ``{name: (B, size)}``.

Parameters: every trainable parameter of the cell is an ``nn.Parameter`` and every fixed one
(``trainable=False``, e.g. leaky's α) a buffer, both under ``module.weights`` with the cell's
names (``state_dict`` keys ``weights.W_r``, ``weights.alpha``, ``readout.weight``).  Initial
values come from :func:`numeric.initialise` (``init``, ``gain``, ``seed``, ``overrides``); the
readout W_o is drawn as ``torch.nn.Linear`` draws it, U(−1/√N, 1/√N) with N the size of h, from
the NumPy stream seeded by ``(seed, "W_o")``.  A ``torch.nn.RNNCell`` / ``GRUCell`` /
``LSTMCell`` may be given instead of a cell: its weights are loaded (:func:`numeric.from_torch`)
and :meth:`to_torch` gives such a module back (:func:`numeric.to_torch`).

Speed (benchmarks/learning.py, training table): ``forward`` binds the raw step kernel once
(``CompiledCell.kernel("step")``) and calls it positionally, with the parameters gathered once
per sequence (scalars as shape (1,), which the kernel passes through) and the inputs split along
time by one ``unbind``; the checked ``CompiledCell.step`` would validate every name, dtype and
shape at every time step.  Inputs are checked once per call instead.  (The kernel asks its array
namespace for the batch shape of its arguments at every call; the namespace answers directly when the
shapes agree, as they always do here, instead of calling ``torch.broadcast_shapes``, ≈ 8 µs of the
≈ 46 µs an Elman step's forward takes at N = B = 64 with autograd recording.)  The step kernel
multiplies by Wᵀ (``_B.transpose(W)``, a view) for every matrix parameter W at every step, and with
autograd recording each such view is a node of the graph, run again by the backward pass; the
module runs the same generated kernel in a namespace of its own whose ``transpose`` returns the
Wᵀ taken once per sequence (:class:`_Transposes`), so a sequence of T steps records one
transpose per matrix instead of T.  The arithmetic is unchanged: the outputs and the gradients
are bit for bit those of the per-step transposes (tests/test_module.py); the training step is
6–14 % faster (Elman, scalar and multi-gate cells at N = B = 64, T = 120, one thread).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
import zlib
from collections.abc import Mapping

import numpy as np

from gatejac.symbolic import Cell, cells

from ._arrays import arrays, check_dtype
from ._compiled import compile as compile_cell
from ._compiled import compile_source
from ._errors import ArgumentError, check_integer
from ._init import initialise
from ._interop import from_torch, to_torch
from ._values import shapes


def module(cell, sizes: Mapping[str, int] | None = None, *, outputs: int | None = None, init: str = "torch",
           gain: float = 1.0, seed: int = 0, dtype: str | None = None, overrides: Mapping | None = None):
    """``cell`` (a ``symbolic.Cell``, a catalogue name, or a ``torch.nn.RNNCell`` / ``GRUCell`` /
    ``LSTMCell`` whose weights are loaded) as a ``torch.nn.Module`` at ``sizes`` (e.g.
    ``{"n": 64, "m": 4}``; read from a torch module, so omit it then).

    ``outputs``: n_o of the bias-free linear readout ŷ = W_o h_T (None: no readout, ``forward``
    returns h_T).  ``init``, ``gain``, ``seed``, ``overrides``: as :func:`numeric.initialise`.
    ``dtype``: "float32" or "float64" (default: the torch module's, else "float32").
    See the module docstring for the layout and the parameter names."""
    if _is_torch_module(cell):
        if sizes is not None or overrides is not None:
            raise ArgumentError("module(torch_cell) reads sizes and weights from the torch module; "
                                "pass neither sizes nor overrides")
        torch_cell = cell
        cell, overrides = from_torch(torch_cell, backend="numpy")
        sizes = {str(cell.states[0].size): torch_cell.hidden_size, str(cell.inputs[0].size): torch_cell.input_size}
        dtype = dtype or str(torch_cell.weight_hh.dtype).removeprefix("torch.")
    cell = cells.get(cell) if isinstance(cell, str) else cell
    if not isinstance(cell, Cell):
        raise ArgumentError(f"module() takes a symbolic.Cell, a catalogue name or a torch.nn RNNCell/GRUCell/"
                            f"LSTMCell, got {type(cell).__name__}")
    if sizes is None:
        example = ", ".join(f"{d.name!r}: 4" for d in cell.dims)
        raise ArgumentError(f"module({cell.name!r}) needs sizes, e.g. {{{example}}}")
    dtype = dtype or "float32"
    check_dtype(dtype)
    if outputs is not None:
        check_integer("outputs", outputs, 1, None)
    if not cell.inputs:
        raise ArgumentError(f"cell {cell.name!r} has no inputs; module() runs a cell over an input sequence")
    values = initialise(cell, sizes, scheme=init, gain=gain, seed=seed, backend="torch", dtype=dtype,
                        overrides=overrides)
    return _module_class()(cell, dict(sizes), values, outputs, seed, dtype)


def _is_torch_module(value) -> bool:
    """A ``torch.nn.Module`` (torch is loaded already if one exists)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


class _Transposes:
    """The ``transpose`` of a step kernel's namespace for :func:`module`: the transposes of the
    matrices given to :meth:`holding`, taken once on entry, else ``matrix.mT`` as the shared
    array namespace takes it.  Matrices are recognised by identity, which is unique while they
    are held (each held view keeps its matrix alive)."""

    def __init__(self):
        self._held = {}

    def __call__(self, matrix):
        held = self._held.get(id(matrix))
        return matrix.mT if held is None else held

    @contextlib.contextmanager
    def holding(self, values):
        """Transpose each matrix of ``values`` (ndim ≥ 2) once for the duration of the block."""
        self._held = {id(value): value.mT for value in values if value.ndim >= 2}
        try:
            yield
        finally:
            self._held = {}


@functools.lru_cache(maxsize=64)
def _hoisting_step(compiled) -> tuple:
    """``(step, transposes)``: the generated ``step`` kernel of ``compiled`` (a torch
    ``CompiledCell``) run in a namespace whose ``transpose`` is ``transposes``
    (:class:`_Transposes`); one per compiled cell, shared by its modules."""
    transposes = _Transposes()
    namespace = {"_B": types.SimpleNamespace(**{**vars(arrays("torch")), "transpose": transposes})}
    exec(compile_source(compiled.source, compiled.cell.name), namespace)  # noqa: S102 - our own generated code
    return namespace["step"], transposes


@functools.cache
def _module_class():
    """The ``torch.nn.Module`` subclass, defined on first use (``gatejac.numeric`` does not
    import torch until a torch kernel is asked for)."""
    import torch

    class CellModule(torch.nn.Module):
        """A cell run over a sequence (see ``numeric.module``)."""

        def __init__(self, cell: Cell, sizes: dict, values: dict, outputs: int | None, seed: int, dtype: str):
            super().__init__()
            self.cell = cell
            self.sizes = sizes
            self.compiled = compile_cell(cell, "torch")
            self._parameter_names = [p.name for p in cell.parameters]
            self._shapes = shapes(cell, sizes)
            self.weights = torch.nn.Module()
            for p in cell.parameters:
                if p.trainable:
                    self.weights.register_parameter(p.name, torch.nn.Parameter(values[p.name]))
                else:
                    self.weights.register_buffer(p.name, values[p.name])
            self.readout = None
            if outputs is not None:
                hidden = self._shapes[cell.states[0].name][0]
                rng = np.random.default_rng([seed, zlib.crc32(b"W_o")])
                weight = rng.uniform(-1 / np.sqrt(hidden), 1 / np.sqrt(hidden), (outputs, hidden))
                self.readout = torch.nn.Linear(hidden, outputs, bias=False, device="meta")
                self.readout.weight = torch.nn.Parameter(torch.as_tensor(weight, dtype=getattr(torch, dtype)))

        def extra_repr(self) -> str:
            return f"cell={self.cell.name!r}, sizes={self.sizes}"

        def values(self) -> dict:
            """``{name: tensor}`` of every cell parameter (detached), ready for the other numeric
            functions (``compile(...).step``, ``rollout``, ``expansion_factors`` ...)."""
            return {name: getattr(self.weights, name).detach() for name in self._parameter_names}

        def to_torch(self):
            """The ``torch.nn`` cell with this module's weights (``numeric.to_torch``; catalogue
            cells elman, gru_torch, lstm_torch only)."""
            return to_torch(self.cell, self.values())

        def forward(self, inputs, states: Mapping | None = None):
            """ŷ = W_o h_T, shape (B, n_o), with a readout; h_T, shape (B, N), without one.
            ``inputs``: (B, T, M) (batch first) or ``{name: (B, T, size)}``; ``states``: initial
            ``{name: (B, size)}`` (default zeros)."""
            final = self.run(inputs, states)
            return final[0] if self.readout is None else self.readout(final[0])

        def run(self, inputs, states: Mapping | None = None) -> tuple:
            """The final states s_T, in the cell's state order (h first)."""
            sequences = self._sequences(inputs)
            batch = sequences[0].shape[0]
            current = self._initial(states, batch, sequences[0])
            # a scalar as shape (1,): the kernel's ``_B.scalar`` passes it through instead of
            # converting and reshaping it at every step
            values = [value.reshape(1) if value.ndim == 0 else value
                      for value in (getattr(self.weights, name) for name in self._parameter_names)]
            step, transposes = _hoisting_step(self.compiled)
            with transposes.holding(values):  # each Wᵀ once per sequence (module docstring)
                for x_t in zip(*(sequence.unbind(1) for sequence in sequences)):
                    current = step(*current, *x_t, *values)
            return tuple(current)

        def _sequences(self, inputs) -> list:
            names = [x.name for x in self.cell.inputs]
            if not isinstance(inputs, Mapping):
                if len(names) != 1:
                    raise ArgumentError(f"cell {self.cell.name!r} has inputs {names}; pass {{name: (B, T, size)}}")
                inputs = {names[0]: inputs}
            if sorted(inputs) != sorted(names):
                raise ArgumentError(f"inputs has keys {sorted(inputs)}; cell {self.cell.name!r} takes {names}")
            reference = next(iter(self.weights.parameters()), None)
            reference = reference if reference is not None else next(iter(self.weights.buffers()))
            sequences = [inputs[name] for name in names]
            lead = None
            for name, sequence in zip(names, sequences):
                expected = self._shapes[name][0]
                if not isinstance(sequence, torch.Tensor) or sequence.ndim != 3 or sequence.shape[-1] != expected:
                    got = tuple(sequence.shape) if isinstance(sequence, torch.Tensor) else type(sequence).__name__
                    raise ArgumentError(f"inputs[{name!r}] is {got}; the module takes a tensor (B, T, {expected}), "
                                        "batch first")
                if sequence.dtype != reference.dtype or sequence.device != reference.device:
                    raise ArgumentError(f"inputs[{name!r}] is {sequence.dtype} on {sequence.device}; the module is "
                                        f"{reference.dtype} on {reference.device} (convert with .to(...))")
                if lead is not None and tuple(sequence.shape[:2]) != lead:
                    raise ArgumentError(f"inputs[{name!r}] has (B, T) = {tuple(sequence.shape[:2])}, others {lead}")
                lead = tuple(sequence.shape[:2])
            if lead[1] == 0:
                raise ArgumentError("inputs has T = 0 time steps; give at least one")
            return sequences

        def _initial(self, states, batch: int, like) -> list:
            names = [s.name for s in self.cell.states]
            if states is None:
                return [like.new_zeros(batch, self._shapes[name][0]) for name in names]
            if not isinstance(states, Mapping) or sorted(states) != sorted(names):
                raise ArgumentError(f"states must be {{name: (B, size)}} for {names}, got "
                                    f"{sorted(states) if isinstance(states, Mapping) else type(states).__name__}")
            for name in names:
                if tuple(states[name].shape) != (batch, self._shapes[name][0]):
                    raise ArgumentError(f"states[{name!r}] has shape {tuple(states[name].shape)}; "
                                        f"expected ({batch}, {self._shapes[name][0]})")
            return [states[name] for name in names]

    return CellModule
