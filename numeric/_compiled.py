"""``numeric.compile``: a cell's kernels for NumPy or torch, behind a checked interface.

Values are passed keyed by their spec names, in three mappings: ``states``, ``inputs`` and
``params``.  States and inputs have shape ``(..., size)`` with any leading batch dimensions
(broadcast against each other); parameters are unbatched (matrices ``(rows, cols)``,
vectors ``(size,)``, scalars ``()`` or Python numbers).  All arrays share one floating
dtype (float32 or float64), which the results keep; torch kernels run on the tensors'
device and are differentiable by autograd.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import sympy

from gatejac.symbolic import SCALAR, Cell, Derivation, MatrixParameter, derive, unknown_name

from ._arrays import arrays, check_backend
from ._blockrow import dense_scope_needed
from ._codegen import generate
from ._errors import ArgumentError, CompileError, is_real
from ._interop import module_parameters
from ._signatures import Signatures, out_signature, signature
from ._tensor_out import check_array_out, check_copied_out, check_tensor_out

CACHE_SIZE = 256
"""How many compiled cells :func:`compile` keeps (per cell or derivation and back-end); the
least recently used is dropped first.  A compiled cell holds its generated source and
functions, a few hundred kB at most, so the cache stays within tens of MB however many
throw-away cells a thorough verification run compiles."""


class _Cache:
    """A thread-safe least-recently-used map ``key -> CompiledCell`` of at most ``size`` entries."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, make) -> CompiledCell:
        """The entry for ``key``, made by ``make()`` (under the lock) if absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            compiled = self._entries[key] = make()
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return compiled

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _Cache(CACHE_SIZE)

TORCH_THROUGH_NUMPY_BELOW = 2**24
"""The torch back-end's dense Jacobian kernels (``state_jacobian``, ``input_jacobian``,
``parameter_jacobian``) run the NumPy kernels on NumPy views of the tensors' memory when every
tensor allows it (plain CPU tensors autograd does not track, no forward-mode duals, outside
``torch.func`` transforms and tracing: ``arrays("torch").numpy_views_of``) and the call's state
Jacobian has a largest block row (batch × one state's size × the state size) of fewer elements
than this: n < 256 at B = 256 for one state.  The results are the NumPy kernels' (equal to the
torch kernels' to the dtype's tolerance, not bit for bit): a new plain tensor (CPU, the values'
dtype, contiguous, not tracked) on the NumPy result's memory, or ``out`` itself, its version
bumped as an in-place write's is (a graph that saved it then refuses to backpropagate).  What
torch refuses of a dense ``out=`` — an inference tensor outside ``torch.inference_mode``, a value
or ``out`` autograd tracks while grad mode is on — and an ``out`` sharing memory with a value
raise ``ArgumentError`` on both routes (``numeric/_tensor_out.py``).  The
bound is measured, not a setting (each argument signature's decision is taken when it is first
checked); the torch kernels stay reachable raw through ``CompiledCell.kernel``.  A torch kernel
is some thirty torch operations, each dispatched at a few µs; NumPy's cost less.  (``step``,
``jvp`` and ``vjp`` stay torch's, equal bit for bit to the raw kernels of ``kernel``; a loop of
steps on plain tensors is ``rollout``'s, which runs NumPy on the same memory.)
``state_jacobian(out=)``, B = 256, float64, µs per call, NumPy | torch kernels, one thread (CPU
minima): leaky n = 16 87 | 176, GRU n = 32 381 | 532, LSTM n = 64 3055 | 3523, GRU n = 128
3509 | 3659; two threads (wall): leaky n = 16 86 | 170, LSTM n = 64 2118 | 2325, GRU n = 128
3261 | 3750; at n = 256 (block row 2²⁴ elements) the two were within 7 % either way (leaky
float32 3214 | 2981, GRU float64 7536 | 7683), and the torch kernels stay."""

SIGNATURES = 64
"""How many argument signatures each compiled cell remembers as checked (see
:class:`Signatures`); when full, the oldest is forgotten and checked again on its next use."""


def compile(cell_or_derivation: Cell | Derivation, backend: str = "numpy", *, jit: bool = False) -> CompiledCell:  # noqa: A001
    """Compile a cell (or its derivation) into kernels for ``backend`` ("numpy" or "torch").

    ``jit=True`` (NumPy back-end only, an explicit opt-in): the dense Jacobian kernels
    ``state_jacobian``, ``input_jacobian`` and the gate split's two are each compiled whole by
    numba (``_jit_codegen``): the products, gates and coefficients of one call in one fused
    loop, each output row written once — at n = 16 the NumPy kernels' time is dispatch of their
    some thirty array operations (``benchmarks/per_call.py --jit`` measures both).  Each kernel
    is compiled on its first call for a dtype (seconds) and kept in the per-user disk cache of
    ``_numba_cache``, which a later process loads.  The results equal the NumPy kernels' to the
    dtype's tolerance, not bit for bit (other summation orders and libm calls).  The other
    kernels (``step``, ``jvp``, ``vjp``, ``parameter_jacobian`` …) are the NumPy kernels, and a
    dense kernel with a term the jit writer has no form for raises ``CompileError`` when called
    (``CompiledCell.jit_refused`` names them).  ``jit=False`` (the default) compiles exactly as
    without the keyword.

    ``backend="torch"``: the dense Jacobians on plain CPU tensors autograd does not track run
    the NumPy kernels on the same memory below :data:`TORCH_THROUGH_NUMPY_BELOW` (n < 256 at
    B = 256), where they are faster, and give its results (to the dtype's tolerance of the torch
    kernels'; ``out=`` is written in place); tensors that need the graph, ``torch.func``
    transforms, tracing and larger calls take the torch kernels.

    Compiling the same cell again returns the cached kernels, keyed by the cell's
    ``fingerprint`` (so two separately built but identical cells share them).  A Derivation
    passed explicitly (possibly modified with ``Derivation.replace``) is compiled as given
    and cached by identity.  The cache keeps the :data:`CACHE_SIZE` most recently used.
    """
    check_backend(backend)
    if jit not in (True, False):
        raise CompileError(f"jit must be True or False, got {jit!r}")
    if jit and backend != "numpy":
        raise CompileError(f"jit=True compiles NumPy kernels; got backend {backend!r} (use backend='numpy' or jit=False)")
    if isinstance(cell_or_derivation, Derivation):
        derivation = cell_or_derivation
        # the entry holds the derivation, so its id is not reused while the entry exists
        return _CACHE.get(("derivation", id(derivation), backend, jit), lambda: CompiledCell(derivation, backend, jit))
    if isinstance(cell_or_derivation, Cell):
        cell = cell_or_derivation.validate()
        return _CACHE.get(("cell", cell.fingerprint, backend, jit), lambda: CompiledCell(derive(cell), backend, jit))
    raise CompileError(
        f"compile() takes a symbolic.Cell or symbolic.Derivation, got {type(cell_or_derivation).__name__}; "
        "build a cell with symbolic.Cell or symbolic.cells.get(name)"
    )


class CompiledCell:
    """Kernels of one cell for one back-end.  ``source`` is the generated Python code; with
    ``jit`` (see :func:`compile`), ``jit_source`` is the generated numba module and
    ``jit_refused`` maps the dense kernels it has no whole-kernel form for to the reason."""

    def __init__(self, derivation: Derivation, backend: str, jit: bool = False):
        self.derivation = derivation
        self.cell = derivation.cell
        self.backend = backend
        self.source = generate(derivation)
        namespace = {"_B": arrays(backend)}
        exec(compile_source(self.source, self.cell.name), namespace)  # noqa: S102 - our own generated code
        self._kernels = namespace
        self.jit = jit
        self.jit_source, self.jit_refused = (None, {})
        if jit:  # numba is imported here, never by `import gatejac.numeric`
            from ._jit_codegen import generate_jit
            from ._jit_loading import jit_kernels

            self.jit_source, self.jit_refused = generate_jit(derivation)
            self._kernels.update(jit_kernels(self.cell, self.jit_source, self.jit_refused))
        self._order = [p.name for p in (*self.cell.states, *self.cell.inputs, *self.cell.parameters)]
        self._numpy = None  # torch: the NumPy kernels of the same derivation (see TORCH_THROUGH_NUMPY_BELOW)
        self._signatures = Signatures(SIGNATURES, [[p.name for p in pieces] for pieces in
                                                     (self.cell.states, self.cell.inputs, self.cell.parameters)])

    def __getstate__(self) -> dict:
        """Copies and pickles leave out the NumPy twin (``_twin`` makes it again): its
        array namespace holds the BLAS limiter's lock."""
        return {**self.__dict__, "_numpy": None}

    @property
    def arguments(self) -> list[str]:
        """Positional argument order of the raw kernels: states, inputs, parameters."""
        return list(self._order)

    def kernel(self, name: str):
        """The raw generated function ``name`` (e.g. ``"step"``), taking :attr:`arguments`
        positionally with no checking — for oracles such as complex-step differentiation
        that pass values (complex arrays) the checked interface refuses."""
        if not callable(self._kernels.get(name)) or name.startswith("_"):
            known = [k for k, v in self._kernels.items() if callable(v) and not k.startswith("_")]
            raise unknown_name("kernel", name, known, f"(cell {self.cell.name!r})")
        return self._kernels[name]

    # ------------------------------------------------------------------ public kernels
    def step(self, states: Mapping, inputs: Mapping | None = None, params: Mapping | None = None, *,
             override: Mapping | None = None) -> dict:
        """The new states, ``{name: array}``.  ``override`` gives values to use for named
        intermediates instead of computing them (e.g. detached gates: AD through the step
        then gives the frozen-gate Jacobian A of the gate split)."""
        call = self._arguments(states, inputs, params)
        override = dict(override or {})
        self._check_names(override, [n.name for n in self.cell.named], "override")
        return dict(zip((s.name for s in self.cell.states), self._kernels["step"](*call.values, _override=override)))

    def intermediates(self, states, inputs=None, params=None) -> dict:
        """Values of the named intermediates and gates, ``{name: array}``."""
        return self._kernels["intermediates"](*self._arguments(states, inputs, params).values)

    def gate_split(self, states, inputs=None, params=None) -> tuple:
        """``(A, B)`` of the gate split J = A + B, each ``(..., S, S)``: A with every marked
        gate frozen, B the terms that exist because a gate reads the state."""
        if not self.cell.gates:
            raise ArgumentError(f"cell {self.cell.name!r} marks no gates, so its gate split is J = J + 0")
        call = self._arguments(states, inputs, params)
        size = sum(call.numel(s) for s in self.cell.states)
        scoped = self._scoped(call, call.batch + (size, size))
        with self._kernels["_B"].dense_scope() if scoped else contextlib.nullcontext():
            return (self._kernels["state_jacobian_frozen"](*call.values),
                    self._kernels["state_jacobian_gate"](*call.values))

    def state_jacobian(self, states, inputs=None, params=None, *, out=None):
        """∂s'/∂s, shape ``(..., S, S)`` with S the total state size (states in declaration order).
        ``out``: a contiguous array of that shape and dtype to write into (saves the allocation).
        In a loop, keep the array the first call returned and pass it back
        (``J = c.state_jacobian(s, x, p)``, then ``c.state_jacobian(s, x, p, out=J)``): it is
        placed as a new output is — the jit kernels (``compile(..., jit=True)``) start every new
        output on a cache line, the others from 1 MiB on (``numeric/_arrays.py: aligned_empty``)
        — whereas ``np.empty`` may put a small array 16 bytes off, where the jit kernels wrote
        2–5 % slower at n = 16.  An ``out`` sharing memory with a value (the kernels read the
        values while they write it) raises ``ArgumentError`` on every back-end and route
        (``numeric/_tensor_out.py``)."""
        return self._dense("state_jacobian", self.cell.states, states, inputs, params, out)

    def input_jacobian(self, states, inputs=None, params=None, *, out=None):
        """∂s'/∂x, shape ``(..., S, X)`` with X the total input size (inputs in declaration order)."""
        if "input_jacobian" not in self._kernels:
            raise ArgumentError(f"cell {self.cell.name!r} has no inputs, so it has no input Jacobian")
        return self._dense("input_jacobian", self.cell.inputs, states, inputs, params, out)

    def parameter_jacobian(self, name: str, states, inputs=None, params=None, *, out=None):
        """∂s'/∂θ for parameter ``name``, shape ``(..., S, numel(θ))``; a matrix θ is flattened
        row-major (column ``i·cols + j`` is entry ``(i, j)``, as ``torch.flatten`` does).

        For the cells of ``torch.nn`` modules (``elman``, ``gru_torch``, ``lstm_torch``) ``name``
        may also be the module's own tensor name (``"weight_hh"``, ``"weight_ih"``,
        ``"bias_ih"``, ``"bias_hh"``; see ``numeric.from_torch`` for the mapping): the result is
        then the Jacobians of the row blocks it stacks, side by side — ∂s'/∂θ for θ the
        module's tensor flattened row-major."""
        pieces = {p.name: p for p in self.cell.parameters}
        if name in pieces:
            return self._dense(f"parameter_jacobian_{name}", [pieces[name]], states, inputs, params, out)
        stacked = module_parameters(self.cell)
        if name not in stacked:
            raise unknown_name("parameter", name, [*pieces, *stacked], f"(cell {self.cell.name!r})")
        blocks = [self._dense(f"parameter_jacobian_{block}", [pieces[block]], states, inputs, params, None)
                  for block in stacked[name]]
        result = arrays(self.backend).concat(blocks)
        if out is None:
            return result
        out = self._check_out(self._arguments(states, inputs, params), out, tuple(result.shape))
        if self.backend == "torch":
            check_copied_out(out)
        out[...] = result
        return out

    def jvp(self, states, inputs=None, params=None, tangents: Mapping | None = None) -> dict:
        """J·t: tangents of the new states for tangents of any states, inputs and parameters
        (``{name: tangent}``, each shaped like its value); no Jacobian is formed."""
        tangents = dict(tangents or {})
        pieces = (*self.cell.states, *self.cell.inputs, *self.cell.parameters)
        call = self._related(states, inputs, params, tangents, self._order, pieces, "tangents")
        result = self._kernels["jvp"](*call.values, **{f"d_{k}": v for k, v in tangents.items()})
        return dict(zip((s.name for s in self.cell.states), result))

    def vjp(self, states, inputs=None, params=None, cotangents: Mapping | None = None) -> dict:
        """Jᵀ·c for cotangents of the new states (``{state: array}``): cotangents of every state
        and input (per sample) and every parameter (summed over the batch dimensions)."""
        cotangents = dict(cotangents or {})
        names = [s.name for s in self.cell.states]
        call = self._related(states, inputs, params, cotangents, names, self.cell.states, "cotangents")
        return self._kernels["vjp"](*call.values, **{f"c_{k}": v for k, v in cotangents.items()})

    def _twin(self) -> CompiledCell:
        """The NumPy kernels of this cell's derivation (the torch back-end's route below
        :data:`TORCH_THROUGH_NUMPY_BELOW`)."""
        if self._numpy is None:
            self._numpy = compile(self.derivation, "numpy")
        return self._numpy

    def _related(self, states, inputs, params, given: dict, names: list, pieces, group: str) -> _Call:
        """The checked call of a jvp or vjp whose tangents or cotangents are ``given``."""
        key = signature((states, inputs, params, given, group))  # jvp and vjp check their names apart
        entry = None if key is None else self._signatures.remembered(key)
        if entry is not None:
            return self._signatures.call(entry, states, inputs, params, _Call)
        self._check_names(given, names, group)
        call = self._arguments(states, inputs, params)
        self._check_like(call, given, pieces, group)
        self._signatures.remember(key, call, ())
        return call

    def _dense(self, kernel: str, columns, states, inputs, params, out):
        """A dense kernel's call.  A remembered signature (``out=``'s included) costs one
        lookup: the values are gathered in kernel order, and the route — whether the call needs
        ``dense_scope``, goes through NumPy, checks ``out=`` here — is what its first call
        decided (no SymPy size on the way: ``_scoped`` took 2 µs a call of 13–23 µs of the jit
        kernels' overhead at n = 2)."""
        key = signature((states, inputs, params, kernel))
        if key is not None:
            key += (out_signature(out),)
        entry = None if key is None else self._signatures.remembered(key)
        if entry is None:
            call = self._arguments(states, inputs, params)
            rows = sum(call.numel(s) for s in self.cell.states)
            shape = call.batch + (rows, sum(call.numel(c) for c in columns))
            self._check_out(call, out, shape)
            route = self._route(kernel, call, shape, out)
            self._signatures.remember(key, call, route)
            values = call.values
        else:
            route = self._signatures.extra(entry)
            values = self._signatures.values(states, inputs, params)
        scoped, through_numpy, checks_out = route
        kernels = self._kernels
        views = kernels["_B"].numpy_views_of(values if out is None else [*values, out]) if through_numpy else None
        if checks_out and self.backend == "torch":
            check_tensor_out(self._order, values, out, views)
        elif checks_out:
            check_array_out(self._order, values, out)
        if views is not None:
            return self._through_numpy(kernel, views, out, scoped)
        if scoped:
            with kernels["_B"].dense_scope():
                return kernels[kernel](*values, out=out)
        return kernels[kernel](*values, out=out)

    def _through_numpy(self, kernel: str, views: list, out, scoped: bool):
        """The NumPy kernel ``kernel`` on ``views``, NumPy views of the torch values (and of
        ``out``, last, when given), its result as a tensor on the same memory (see
        :data:`TORCH_THROUGH_NUMPY_BELOW`)."""
        import torch

        if out is not None:
            *views, out_view = views
        with arrays("numpy").dense_scope() if scoped else contextlib.nullcontext():
            if out is not None:
                self._twin()._kernels[kernel](*views, out=out_view)
                torch.autograd.graph.increment_version(out)  # as an in-place op would: saved copies of out are stale
                return out
            return torch.from_numpy(self._twin()._kernels[kernel](*views))

    def _route(self, kernel: str, call: _Call, shape: tuple, out) -> tuple[bool, bool, bool]:
        """A dense kernel call's route, decided once per signature: whether it needs
        ``dense_scope`` (:meth:`_scoped`); whether it may go through NumPy (torch, the state
        Jacobian's largest block row — batch × one state's size × the state size — below
        :data:`TORCH_THROUGH_NUMPY_BELOW`; whether it does depends on the tensors, asked on every
        call); whether ``out=`` is checked here (given, and not by a jit kernel, which checks
        it inside)."""
        rows = [call.numel(s) for s in self.cell.states]
        through_numpy = (self.backend == "torch"
                         and math.prod(call.batch) * max(rows) * sum(rows) < TORCH_THROUGH_NUMPY_BELOW)
        checks_out = out is not None and not getattr(self._kernels[kernel], "checks_out", False)
        return self._scoped(call, shape), through_numpy, checks_out

    def _scoped(self, call: _Call, shape: tuple) -> bool:
        """Whether an output of ``shape`` needs the back-end's ``dense_scope``: its largest block
        row (one state's rows) is large enough for the parallel writer (see ``_blockrow``)."""
        rows = max(call.numel(s) for s in self.cell.states)
        return dense_scope_needed(shape[:-2] + (rows, shape[-1]), call.reference.itemsize)

    # ------------------------------------------------------------------ argument checking
    def arguments_of(self, states, inputs=None, params=None) -> list:
        """The checked positional arguments of the raw kernels (:meth:`kernel`) for these
        values — what a loop checks once before calling a raw kernel on values of the same
        names, shapes and dtypes at every step."""
        return self._arguments(states, inputs, params).values

    def _arguments(self, states, inputs, params) -> _Call:
        """The checked call: every name, kind, dtype, device and shape, once per signature
        (the names, types, dtypes, shapes and devices of the values, see :class:`Signatures`)."""
        key = signature((states, inputs, params))
        entry = None if key is None else self._signatures.remembered(key)
        if entry is not None:
            return self._signatures.call(entry, states, inputs, params, _Call)
        call = self._check_arguments(states, inputs, params)
        self._signatures.remember(key, call, ())
        return call

    def _check_arguments(self, states, inputs, params) -> _Call:
        groups = {"states": (states, self.cell.states), "inputs": (inputs, self.cell.inputs),
                  "params": (params, self.cell.parameters)}
        call = _Call()
        for group, (given, pieces) in groups.items():
            given = {} if given is None else given
            if not isinstance(given, Mapping):
                raise ArgumentError(f"{group} must be a mapping from names to arrays, got {type(given).__name__}")
            self._check_names(given, [p.name for p in pieces], group)
            for piece in pieces:
                value = given[piece.name]
                call.reference = self._check_value(piece, value, group, call.sizes, call.reference)
                call.values.append(value)
        call.batch = _broadcast_batch([(f"{group}[{name!r}]", value)
                                       for group, given in (("states", states), ("inputs", inputs or {}))
                                       for name, value in given.items()])
        return call

    def _check_like(self, call: _Call, given: Mapping, pieces, group: str) -> dict:
        """Tangents / cotangents: the right kind, dtype and shape for the value they go with."""
        checked = {}
        for piece in pieces:
            if piece.name not in given:
                continue
            where = f"{group}[{piece.name!r}]"
            value = self._same_kind(given[piece.name], where)
            if call.reference is not None and value.dtype != call.reference.dtype:
                raise ArgumentError(
                    f"{where} has dtype {value.dtype} but the values have {call.reference.dtype}; "
                    "pass tangents and cotangents in the values' dtype"
                )
            self._check_shape(piece, value, where, dict(call.sizes))
            if piece.role != "parameter":
                _broadcast_batch([(where, value)], call.batch, "the values")
            checked[piece.name] = value
        return checked

    def _check_out(self, call: _Call, out, shape: tuple):
        """``out`` must be a contiguous array of the result's shape, dtype (and device)."""
        if out is None:
            return None
        out = self._same_kind(out, "out")
        contiguous = out.flags["C_CONTIGUOUS"] if self.backend == "numpy" else out.is_contiguous()
        if tuple(out.shape) != shape or out.dtype != call.reference.dtype or not contiguous:
            raise ArgumentError(
                f"out has shape {tuple(out.shape)}, dtype {out.dtype}{'' if contiguous else ', not contiguous'}; "
                f"the result needs a contiguous array of shape {shape} and dtype {call.reference.dtype}"
            )
        if self.backend == "torch" and out.device != call.reference.device:
            raise ArgumentError(f"out is on {out.device} but the values are on {call.reference.device}")
        if self.backend == "numpy" and not out.flags["WRITEABLE"]:
            raise ArgumentError(
                "out is read-only (its writeable flag is False); pass a writable array, e.g. out.copy(), or omit out"
            )
        return out

    def _check_names(self, given: Mapping, expected: list[str], group: str) -> None:
        missing = [name for name in expected if name not in given] if group in ("states", "inputs", "params") else []
        if missing:
            raise ArgumentError(
                f"{group}: missing {', '.join(repr(m) for m in missing)} for cell {self.cell.name!r}; "
                f"expected keys {expected}"
            )
        for name in given:
            if name not in expected:
                raise unknown_name(group.rstrip("s"), name, expected, f"(cell {self.cell.name!r}; passed in {group})")

    def _check_value(self, piece, value, group, sizes, reference):
        where = f"{group}[{piece.name!r}]"
        is_scalar = not isinstance(piece, MatrixParameter) and piece.size is SCALAR
        if is_scalar and is_real(value):  # a Python or NumPy number: taken in the values' dtype
            return reference
        if is_scalar and isinstance(value, (bool, np.bool_)):
            raise ArgumentError(
                f"{where} is the bool {value}; scalar parameter {piece.name} takes a real number such as 0.5 "
                "(or an array of shape () in the values' dtype)"
            )
        value = self._same_kind(value, where)
        if reference is not None and value.dtype != reference.dtype:
            raise ArgumentError(
                f"{where} has dtype {value.dtype} but earlier values have {reference.dtype}; "
                "pass every value in one dtype (float32 or float64)"
            )
        if self.backend == "torch" and reference is not None and value.device != reference.device:
            raise ArgumentError(f"{where} is on {value.device} but earlier values are on {reference.device}")
        self._check_shape(piece, value, where, sizes)
        return value

    def _same_kind(self, value, where):
        if self.backend == "numpy":
            if not isinstance(value, np.ndarray):
                raise ArgumentError(f"{where} is a {type(value).__name__}; the numpy backend takes numpy arrays")
            if value.dtype not in (np.float32, np.float64):
                raise ArgumentError(f"{where} has dtype {value.dtype}; use float32 or float64")
            return value
        import torch

        if not isinstance(value, torch.Tensor):
            raise ArgumentError(f"{where} is a {type(value).__name__}; the torch backend takes torch tensors")
        if value.dtype not in (torch.float32, torch.float64):
            raise ArgumentError(f"{where} has dtype {value.dtype}; use torch.float32 or torch.float64")
        return value

    def _check_shape(self, piece, value, where, sizes) -> None:
        if isinstance(piece, MatrixParameter):
            expected = piece.shape
            actual = tuple(value.shape)
            if len(actual) != 2:
                raise ArgumentError(f"{where} has shape {actual}; matrix parameter {piece.name} needs 2 dimensions {expected}")
        elif piece.size is SCALAR:
            if tuple(value.shape) not in ((), (1,)):
                raise ArgumentError(f"{where} has shape {tuple(value.shape)}; scalar parameter {piece.name} needs shape ()")
            return
        else:
            expected = (piece.size,)
            actual = tuple(value.shape[-1:])
            if piece.role == "parameter" and value.ndim != 1:
                raise ArgumentError(f"{where} has shape {tuple(value.shape)}; vector parameter {piece.name} needs shape ({piece.size},)")
            if value.ndim == 0:
                raise ArgumentError(f"{where} is 0-dimensional; {piece.role} {piece.name} needs shape (..., {piece.size})")
        for dim, got in zip(expected, actual):
            _bind_dim(dim, int(got), f"{where} (shape {tuple(value.shape)})", sizes)


class _Call:
    """What one call's arguments established: the values in kernel order, the sizes bound
    so far (``{dim: (size, where)}``), the batch shape and the reference array (dtype/device)."""

    def __init__(self):
        self.values: list = []
        self.sizes: dict = {}
        self.batch: tuple = ()
        self.reference = None

    def numel(self, piece) -> int:
        dims = piece.shape if isinstance(piece, MatrixParameter) else (() if piece.size is SCALAR else (piece.size,))
        total = 1
        for dim in dims:
            total *= int(sympy.sympify(dim).xreplace({d: v[0] for d, v in self.sizes.items()}))
        return total


def _broadcast_batch(values: list, batch: tuple = (), source: str | None = None) -> tuple:
    """The broadcast batch shape (all but the last axis) of ``values``, ``[(where, array)]``,
    and of ``batch`` (from ``source``), or an error naming the first value that disagrees."""
    for where, value in values:
        try:
            batch = tuple(np.broadcast_shapes(batch, tuple(value.shape[:-1])))
        except ValueError:
            raise ArgumentError(
                f"{where} has batch shape {tuple(value.shape[:-1])}, which does not broadcast with {batch} "
                f"of {source}; give states, inputs, tangents and cotangents one batch shape (or shapes that "
                "broadcast)"
            ) from None
        source = source or where
    return batch


def _bind_dim(dim, got: int, where: str, sizes: dict) -> None:
    dim = sympy.sympify(dim)
    if dim.is_Integer:
        if int(dim) != got:
            raise ArgumentError(f"{where}: size {got} where the cell declares {dim}")
        return
    if isinstance(dim, sympy.Symbol):
        if sizes.setdefault(dim, (got, where))[0] != got:
            raise ArgumentError(
                f"{where}: size {dim} = {got} here but {dim} = {sizes[dim][0]} from {sizes[dim][1]}; "
                "all values must agree on each size"
            )


def compile_source(source: str, name: str):
    """Byte-compile generated source with a recognisable file name in tracebacks."""
    import builtins

    return builtins.compile(source, f"<gatejac kernels: {name}>", "exec")
