"""The tangent rollout as one numba function: every step's new states and the factors u, d of its
Jacobian in one call for the whole sequence.

``numeric.rollout`` of a cell with stored factors (``_tangent``: J_t = Σ diag(u)·M + diag(d),
docs/theory.md: “Lyapunov exponents”) calls the generated NumPy ``factors`` once a step.  At
batch 1 that is some forty small array operations a step, and their dispatch, not the
arithmetic, is most of the time (the table below; of the LSTM's time a step at n = 256 its four
256×256 matrix–vector products take 30 µs).  Here the same derivation becomes one function
(written with ``_jit_codegen``'s printer and loaded by ``_jit_loading``, like ``jit=True``'s
dense kernels, float64 and float32 variants):

1. nodes that depend on no state are computed before the time loop: those without the batch
   axis once, those of the inputs for all T steps at once (the input products x_t Wᵀ as one
   (T·B)×m by m×n product);
2. then, for t = 1..T, the products of the state (``np.dot``, BLAS) and one loop over the
   samples and the entries of each group of equal-size states, in which every other node and
   every new state, u and d is a scalar expression with common subexpressions shared
   (``sympy.cse``), computed side by side into a work array and copied to the stacks
   ``(T+1, B, size)`` and ``(T, B, size)`` the trajectory keeps (a long rollout in several
   calls: :data:`CHUNK_ROWS`).

The values are the NumPy kernel's (the same expressions; tanh, σ, exp of ``_jit_math``, within
a few ulp, so the states and factors agree to the dtype's tolerance).  Stacking the products
that share the state (h·[W_i; W_f; W_g; W_o]ᵀ as one product) was measured and not taken: in
numba at n = 256 the four products took 30.1 µs a step, the stacked one 29.3 (memory-bound:
2 MB of weights a step).

Used (``Trajectory.rollout_kernel`` says which route ran) for a NumPy rollout (a torch one of
plain CPU tensors included, which runs in NumPy) of a cell with stored factors, float32 or
float64, of at least :data:`JIT_MIN_STEPS` steps: shorter ones do not repay loading the
function (compiled once per machine and cell into ``_numba_cache``'s directory, 6 s for the
LSTM; then loaded from disk, 0.04 s once numba is running, 0.65 s for a new process's first,
which also imports numba and inspects the BLAS libraries).  The rollout's CPU µs a step by the
two routes, the one place these numbers are kept (``benchmarks/lyapunov.py --rollout-routes
--repeats 7 [--n 64]``, float64, batch 1, one thread, T = 2000, both routes interleaved in one
process, minima; load 0.9–1.0):

==========  ==============  ==============  ==============  ==============
cell        n = 256: numba  factors kernel  n = 64: numba   factors kernel
==========  ==============  ==============  ==============  ==============
gru_torch   32.9            58.5            4.2             28.8
lstm_torch  41.9            88.9            5.5             42.6
==========  ==============  ==============  ==============  ==============

It saves 25–47 µs a step, so a rollout repays the 0.04 s from about a thousand steps, and
repeated rollouts of a cell from the first.  The cells whose
Jacobian has other terms (the Chung and Cho GRUs, the scalar gate) have no factors and roll out
with ``step``; a cell whose factors this writer cannot express (a node it would have to read
outside the entry loop, a matrix coefficient that varies by sample:
:class:`_jit_codegen.Unsupported`) keeps the NumPy ``factors``, and :func:`jit_rollout` gives
the reason; so does every cell where numba cannot be imported.  Where no directory can hold
the generated source (``_jit_loading``), the rollout raises ``CompileError``, which says to set
``GATEJAC_CACHE_DIR``.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import sympy

from gatejac.symbolic import SCALAR

from ._codegen import _Module
from ._coefficients import indent
from ._jit_codegen import Unsupported, _Kernel, _plan, float_variants, header
from ._blockrow import serial_blas

JIT_MIN_STEPS = 256
"""The fewest steps a rollout takes the numba function for (see the module docstring)."""

CHUNK_ROWS = 2**14
"""Steps × samples of one call of the numba function: a longer rollout makes several calls of
max(1, CHUNK_ROWS // B) steps each (B the batch size), each starting from the last one's
states, so Ctrl-C, which compiled code does not see, stops it after one call (the LSTM at
n = 256, batch 1: 16384 steps, about 0.7 s), and the input products hoisted out of the time
loop take CHUNK_ROWS rows each at most.  A rollout of T = 2000 steps at batch 1 is one call."""


def _factor_rows(plan) -> list[int]:
    """The row block of each factor of ``plan``, the coefficients u then the diagonals d (the
    plan lists each in the kernel's order: ``TangentPlan``)."""
    return [term.row for term in plan.terms] + [row for row, _, _ in plan.diagonals]


class _RolloutKernel(_Kernel):
    """The generator of ``rollout(<state stacks>, <input sequences>, <parameters>, <factor
    stacks>)``."""

    def __init__(self, module: _Module, plan):
        cell = module.cell
        news = [cell.updates[s.name] for s in cell.states]
        super().__init__(module, module.derivation.state, list(cell.states), extra=news)
        rows = _factor_rows(plan)
        factors = [_plan(module, term).left for term in plan.sources]
        self.outputs = [(f"_S{k}", "_t + 1", module.expr(e), cell.states[k]) for k, e in enumerate(news)]
        self.outputs += [(f"_F{k}", "_t", module.expr(e), cell.states[row]) for k, (e, row) in
                         enumerate(zip(factors, rows))]
        self.factor_count = len(factors)

    def lines(self, name: str = "rollout") -> list[str]:
        """The function: stacks ``_S<k>`` ``(T+1, B, size)`` (row 0 the initial states), input
        sequences ``_X<k>`` ``(T, B, size)``, the parameters, factor stacks ``_F<k>`` ``(T, B,
        size)``; the nodes without the state before the time loop (see the module docstring)."""
        cell, module = self.cell, self.module
        states = [f"_S{k}" for k in range(len(cell.states))]
        inputs = [f"_X{k}" for k in range(len(cell.inputs))]
        factors = [f"_F{k}" for k in range(self.factor_count)]
        parameters = [p.name for p in cell.parameters]
        body = ["_T = _S0.shape[0] - 1", "_nbs = _S0.shape[1]"]
        bind = [f"{p.name} = {stack}[_t]" for p, stack in zip((*cell.states, *cell.inputs), (*states, *inputs))]
        body += [line.replace("[_t]", "[0]") for line in bind]
        body += [f"{dim.name} = {source}" for dim, source in module._dim_sources().items()]
        fixed = {s for s in self.materialized if not module.batched(s)}
        hoisted = [s for s in self.order if s in self.materialized and module.batched(s)
                   and not module.batched(s, ("state",))]  # of the inputs only
        body += (["_nb = 1"] + self._node_lines(fixed)) if fixed else []
        if hoisted:
            body += ["_nb = _T * _nbs"]
            body += [f"{x.name} = {stack}.reshape(_nb, {stack}.shape[-1])" for x, stack in zip(cell.inputs, inputs)]
            body += self._node_lines(hoisted)
            body += [f"_H{s.name} = {s.name}.reshape(_T, _nbs, {s.name}.shape[-1])" for s in hoisted]
            bind += [f"{s.name} = _H{s.name}[_t]" for s in hoisted]
        groups: dict = {}
        for output in self.outputs:
            groups.setdefault(sympy.sympify(output[3].size), []).append(output)
        body += ["_nb = _nbs"] + [f"_w{g} = np.empty(({module.size(size)}, {len(outputs)}), _FT)"
                                  for g, (size, outputs) in enumerate(groups.items())]
        step = bind + self._node_lines(set(self.materialized) - fixed - set(hoisted))
        for g, (size, outputs) in enumerate(groups.items()):
            step += self._entry_loop(f"_w{g}", size, outputs)
        body += ["for _t in range(_T):"] + indent(step)
        return [f"def {name}({', '.join([*states, *inputs, *parameters, *factors])}):"] + indent(body)

    def _entry_loop(self, work: str, size, outputs) -> list[str]:
        """One loop over the samples and the ``size`` entries computing ``outputs`` (each
        entry's values from shared temporaries) side by side into ``work[i, k]``, then copied
        to each output's row.  With each value written straight to its stack LLVM did not
        vectorize the loop (the LSTM at n = 256: 27 µs a step against 12 with the copies)."""
        temporaries, _, codes = self.shared_lines([expr for _, _, expr, _ in outputs], "_i", "_e")
        writes = [f"{work}[_i, {k}] = {code}" for k, code in enumerate(codes)]
        copies = [f"{stack}[{time}, _b, :] = {work}[:, {k}]" for k, (stack, time, _, _) in enumerate(outputs)]
        return ["for _b in range(_nb):"] + indent([f"for _i in range({self.module.size(size)}):"]
                                                  + indent(temporaries + writes) + copies)


def generate_rollout(derivation, plan) -> str:
    """The numba module source of ``derivation``'s rollout (raises :class:`Unsupported`)."""
    lines = _RolloutKernel(_Module(derivation), plan).lines()
    return "\n\n".join([header(derivation.cell.name), *float_variants("rollout", lines)])


class JitRollout:
    """``rollout(values, inputs, length)`` → ``(state stacks, coefficient stacks, diagonal
    stacks)`` by the numba function: ``values`` the checked kernel arguments of step 1,
    ``inputs`` ``{name: (T, ..., size)}``; stacks ``(T+1, *batch, size)`` and ``(T, *batch,
    size)`` (every factor with the batch axis).  ``reason`` is None: it runs (:class:`Refused`
    says why not)."""

    reason = None

    def __init__(self, derivation, plan):
        from ._jit_loading import load

        self.cell, self.plan = derivation.cell, plan
        module = load(generate_rollout(derivation, plan))
        self._functions = {np.dtype(np.float64): module.rollout__f64, np.dtype(np.float32): module.rollout__f32}

    def runs(self, dtype) -> bool:
        """Whether the function has a variant for ``dtype``."""
        return np.dtype(dtype) in self._functions

    def __call__(self, values: list, inputs: dict, length: int) -> tuple[list, list, list]:
        """The stacks (see the class docstring), by calls of at most :data:`CHUNK_ROWS` steps ×
        samples each, inside ``_blockrow.serial_blas``; a non-finite last step is reported as NumPy's
        ``errstate`` says (:func:`_report_non_finite`)."""
        cell = self.cell
        count, dtype = len(cell.states), values[0].dtype
        sequences = [np.asarray(inputs[x.name]) for x in cell.inputs]
        batch = np.broadcast_shapes(*(np.shape(v)[:-1] for v in values[:count]), *(s.shape[1:-1] for s in sequences))
        flat = int(np.prod(batch, dtype=np.int64))
        states = [np.empty((length + 1, *batch, s.shape[-1]), dtype) for s in values[:count]]
        for stack, start in zip(states, values[:count]):
            stack[0] = start
        sequences = [_read_only(np.ascontiguousarray(np.broadcast_to(  # the time axis kept first
            s.reshape(length, *[1] * (len(batch) + 2 - s.ndim), *s.shape[1:]), (length, *batch, s.shape[-1])), dtype))
            for s in sequences]
        parameters = [_read_only(np.asarray(v, dtype).reshape(1) if getattr(p, "size", 0) is SCALAR
                                 else np.ascontiguousarray(v))
                      for p, v in zip(cell.parameters, values[count + len(cell.inputs):])]
        sizes = [int(states[row].shape[-1]) for row in _factor_rows(self.plan)]
        factors = [np.empty((length, *batch, size), dtype) for size in sizes]
        function, chunk = self._functions[np.dtype(dtype)], max(1, CHUNK_ROWS // max(flat, 1))
        with serial_blas(numba_blas=True):  # products on one thread: two gave the same wall time at twice the CPU
            for first in range(0, length, chunk):
                stop = min(length, first + chunk)
                function(*(s[first:stop + 1].reshape(stop + 1 - first, flat, s.shape[-1]) for s in states),
                         *(s[first:stop].reshape(stop - first, flat, s.shape[-1]) for s in sequences), *parameters,
                         *(f[first:stop].reshape(stop - first, flat, f.shape[-1]) for f in factors))
        _report_non_finite(cell.name, [s[-1] for s in states] + [f[-1] for f in factors])
        split = len(self.plan.terms)
        return states, factors[:split], factors[split:]


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array``: numba types a read-only array apart from a writeable one,
    so the inputs and parameters always go in read-only (a broadcast input is), and a user's
    read-only or writeable arrays never compile a second machine code (4–6 s)."""
    view = array.view()
    view.flags.writeable = False
    return view


def _report_non_finite(cell: str, last: list) -> None:
    """numba's code (``error_model="numpy"``) sets no floating-point error flags, so NumPy's
    overflow and invalid-value reports of the ``factors`` route have no counterpart; instead a
    NaN (or else an infinity) among the last step's states and factors, where a diverging
    rollout's values end up, warns (``RuntimeWarning``), raises ``FloatingPointError`` or
    passes, as ``np.geterr()["invalid"]`` (or ``["over"]``) says."""
    if all(np.isfinite(value).all() for value in last):
        return
    kind = "invalid" if any(np.isnan(value).any() for value in last) else "over"
    mode = np.geterr()[kind]
    message = (f"the rollout of cell {cell!r} ended in {'NaN' if kind == 'invalid' else 'infinite'} values (it "
               "diverged); smaller weights, inputs or steps keep it finite")
    if mode == "raise":
        raise FloatingPointError(message)
    if mode != "ignore":
        warnings.warn(message, RuntimeWarning, stacklevel=5)  # the caller of numeric.rollout


class Refused:
    """No numba rollout for a cell: ``reason`` says why (see the module docstring)."""

    def __init__(self, reason: str):
        self.reason = reason

    def runs(self, dtype) -> bool:
        """Never: see :attr:`reason`."""
        return False


_ROLLOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def jit_rollout(compiled, plan) -> JitRollout | Refused:
    """The numba rollout of ``compiled`` (a NumPy :class:`CompiledCell` whose tangent plan is
    ``plan``), or :class:`Refused`; generated and loaded once per compiled cell."""
    if compiled not in _ROLLOUTS:
        try:
            _ROLLOUTS[compiled] = JitRollout(compiled.derivation, plan)
        except Unsupported as reason:
            _ROLLOUTS[compiled] = Refused(f"a whole-kernel rollout cannot express {reason}")
        except ImportError as error:  # numba, a dependency, missing or broken: the factors kernel still runs
            _ROLLOUTS[compiled] = Refused(f"numba cannot be imported ({error}); reinstall gatejac's dependencies")
    return _ROLLOUTS[compiled]


def rollout_function(compiled, plan, values: list, length: int) -> JitRollout | None:
    """The numba rollout for a NumPy rollout of ``length`` steps from the checked kernel
    arguments ``values`` (one dtype: ``CompiledCell.arguments_of`` checked it), or None where
    it is not used (see the module docstring)."""
    if length < JIT_MIN_STEPS:
        return None
    function = jit_rollout(compiled, plan)
    return function if function.runs(values[0].dtype) else None
