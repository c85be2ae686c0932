"""The trajectory engine: roll a compiled cell over a sequence, then take Jacobian products
along the trajectory in chain-rule order.

Conventions (docs/theory.md: “Conventions”).  Steps t = 1..T map s_{t−1} to s_t = F(s_{t−1}, x_t).  The state
vector s concatenates the cell's states in declaration order (size S; for an LSTM s = (h, c)),
as :meth:`CompiledCell.state_jacobian` does.

* step Jacobian   J_t = ∂s_t/∂s_{t−1}, evaluated at (s_{t−1}, x_t);
* transport       Φ(t, k) = ∂s_t/∂s_k = J_t J_{t−1} ⋯ J_{k+1}   (later steps on the LEFT),
                  Φ(t, t) = I, for 0 ≤ k ≤ t ≤ T;
* adjoint (BPTT)  Φ(t, k)ᵀ u = J_{k+1}ᵀ ⋯ J_tᵀ u, i.e. δ_k = J_{k+1}ᵀ δ_{k+1} (docs/theory.md: “Transports and backpropagation”).

Products of many steps (costs for batch size B and state size S, one step = one S×S product):

* :meth:`Trajectory.transport` — one product Φ(t, k): (t − k) matrix products, O((t−k)·B·S³);
* :meth:`Trajectory.transports_from` — Φ(t, k) for every t ≥ k by one left-multiplication
  sweep Φ(t, k) = J_t Φ(t−1, k): O((T−k)·B·S³);
* :meth:`Trajectory.transports_to` — Φ(t, k) for every k ≤ t by one right-multiplication
  sweep Φ(t, k−1) = Φ(t, k) J_k: O(t·B·S³);
* :meth:`Trajectory.transports` — Φ(k+ℓ, k) for every k and each requested lag ℓ, by the lag
  recursion Φ(k+ℓ, k) = J_{k+ℓ} Φ(k+ℓ−1, k): one batched product per lag up to max ℓ,
  O(max ℓ · T·B·S³) time and O(T·B·S²) working memory — never all T² products.

The same sweeps work on any stack of per-step factors (:func:`prefix_products`,
:func:`suffix_products`, :func:`lag_products`), e.g. the frozen-gate parts A_t of
:meth:`Trajectory.gate_splits` for the first-order expansion of docs/theory.md: “The first-order gate expansion”

Jacobian actions never call the dense Jacobian kernel: for an S×r block V, ``step_apply``
evaluates J_t V from the step Jacobian's diagonal factors the rollout stored (``_tangent``:
Σ u ⊙ (M V) + d ⊙ V, one product by the stacked weights, the step not recomputed; for many
columns, where it costs fewer multiply–adds, the factors summed into J_t's matrix columns first
and one product by them, ``_tangent_formed``), or with the cell's ``jvp`` for a
cell without that form (the r columns become a batch axis), and ``step_apply_transpose``
evaluates J_tᵀ U with its ``vjp``.  An action costs about r·B·S² per matrix term of the Jacobian and
O(r·B·S) memory; the ``vjp`` also forms every parameter cotangent, which makes it several
times dearer.  The dense route costs one ``state_jacobian`` (O(B·S²) memory, formed per step,
never stacked) and a B·S²·r product.  Measured with NumPy (B = 8–16, S = 64–256; multi-gate,
GRU, LSTM; with the jvp kernel, which does the same products as the stored factors and more)
the jvp action wins below r ≈ S/4 and the vjp action below r ≈ S/16, so
``method="auto"`` uses the action there and the dense Jacobian otherwise;
``method="action"`` never calls ``state_jacobian``, ``method="jacobian"`` always does.

Long horizons use QR re-orthonormalisation (:func:`qr_log_growth`): the Benettin method for
Lyapunov exponents (docs/theory.md: “Lyapunov exponents”), and for the log singular values of Φ(t, k) a QR sweep
followed by a one-sided Jacobi SVD of the graded triangular factor
(:func:`graded_log_singular_values`), so nothing overflows or underflows at T = 1000.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._arrays import arrays
from ._compiled import CompiledCell
from ._compiled import compile as compile_cell
from ._errors import ArgumentError, check_integer
from ._growth import graded_log_singular_values, qr_log_growth
from ._lyapunov import lyapunov_spectrum
from ._products import lag_products, prefix_products, suffix_products
from ._roll import roll
from ._tangent import StructuredAction, tangent_plan, window_factors
from ._tangent_formed import FormedAction, formed_cost, stacked_cost

METHODS = ("auto", "action", "jacobian")


def _random_orthogonal(size: int, count: int, like):
    """The first ``count`` columns of a fixed orthogonal S×S matrix (the Q of a seed-0 Gaussian
    G), in ``like``'s array type: the Q of G's first ``count`` columns, which Householder QR
    gives equal to them (the thin factorisation is ~7× cheaper at S = 256, count = 32)."""
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((size, size))[:, :count])[0]
    return basis.astype(like.dtype) if isinstance(like, np.ndarray) else like.new_tensor(basis)


def rollout(compiled: CompiledCell, initial_states: Mapping, inputs_sequence: Mapping | None = None,
            params: Mapping | None = None, *, steps: int | None = None) -> Trajectory:
    """Roll ``compiled`` over a sequence: s_t = step(s_{t−1}, x_t) for t = 1..T.

    ``initial_states`` is ``{state: (..., size)}``; ``inputs_sequence`` is
    ``{input: (T, ..., size)}`` with the time axis first (a cell without inputs takes
    ``steps=T`` instead); ``params`` as for :meth:`CompiledCell.step`.  Batch dimensions of
    the states and inputs broadcast.  Returns a :class:`Trajectory` whose states are
    time-major, ``(T+1, ..., size)`` with index t holding s_t.  Works with both back-ends and
    keeps the dtype; with torch the states stay differentiable by autograd.

    The names, shapes and dtypes are checked once, at step 1; every step then calls the raw
    kernel.  For a cell whose step Jacobian is made of diag(u)·M and diag(d) terms, the kernel
    is ``factors`` (``_tangent``): the step and the vectors u, d in one pass, kept on the
    trajectory (about as much memory again as the states per u or d — 4 vectors of n per step and
    sample for the GRU, 9 for the LSTM) so that Jacobian actions never recompute the step.  A NumPy
    rollout of at least 256 steps runs all of them in one numba function instead (``_jit_factors``,
    whose docstring has the time a step of both routes; :attr:`Trajectory.rollout_kernel` says
    which ran).
    Torch tensors that autograd does not track (plain CPU tensors; under ``torch.no_grad()`` also
    those that require grad: ``arrays("torch").numpy_views_of``) are rolled out by the NumPy
    kernels on views of their memory and the results are tensors again: torch's per-operation
    cost on vectors made a torch rollout 1.5–2× slower than NumPy's at n = 256 and more at small
    n, and the two agree to round-off.
    """
    if not isinstance(compiled, CompiledCell):
        raise ArgumentError(
            f"rollout() takes a CompiledCell, got {type(compiled).__name__}; use numeric.compile(cell, backend) first"
        )
    xp = arrays(compiled.backend)
    cell = compiled.cell
    inputs = _inputs_sequence(cell, inputs_sequence)
    length = _sequence_length(cell, inputs, steps)
    if not isinstance(initial_states, Mapping):
        raise ArgumentError(
            f"initial_states must be a mapping from state names to arrays, got {type(initial_states).__name__}"
        )
    # names, shapes and dtypes checked once; every step then calls the raw kernel
    values = compiled.arguments_of(initial_states, {k: v[0] for k, v in inputs.items()}, params)
    runner, sequence = compiled, inputs
    views = xp.numpy_views_of([*values, *inputs.values()]) if compiled.backend == "torch" else None
    if views is not None:
        runner = compile_cell(compiled.derivation, "numpy")  # see the docstring: NumPy on the same memory
        values, sequence = views[:len(values)], dict(zip(inputs, views[len(values):]))
    states, factors, kernel = roll(runner, values, sequence, length)
    if runner is not compiled:
        import torch

        states = {name: torch.from_numpy(value) for name, value in states.items()}
        factors = factors and tuple([torch.from_numpy(v) for v in group] for group in factors)
    trajectory = Trajectory(compiled, states, inputs, dict(params or {}))
    trajectory._cache["rollout_kernel"] = kernel
    if factors:
        trajectory._cache["factors"] = factors
    return trajectory


def _inputs_sequence(cell, inputs_sequence) -> dict:
    names = [x.name for x in cell.inputs]
    if inputs_sequence is None:
        if names:
            raise ArgumentError(
                f"cell {cell.name!r} has inputs {names}; pass inputs_sequence={{name: array (T, ..., size)}}"
            )
        return {}
    if not isinstance(inputs_sequence, Mapping):
        raise ArgumentError(
            f"inputs_sequence must be a mapping from input names to arrays, got {type(inputs_sequence).__name__}"
        )
    for name, value in inputs_sequence.items():
        if getattr(value, "ndim", 0) < 2:
            raise ArgumentError(
                f"inputs_sequence[{name!r}] has shape {tuple(getattr(value, 'shape', ()))}; "
                "it needs a leading time axis: (T, ..., size)"
            )
    return dict(inputs_sequence)


def _sequence_length(cell, inputs: dict, steps) -> int:
    lengths = {name: int(value.shape[0]) for name, value in inputs.items()}
    if len(set(lengths.values())) > 1:
        raise ArgumentError(f"inputs_sequence arrays disagree on the time axis T: {lengths}; give every input T steps")
    if lengths:
        length = next(iter(lengths.values()))
        if steps is not None and steps != length:
            raise ArgumentError(
                f"steps={steps!r} but inputs_sequence has T = {length} steps; omit steps or make them agree"
            )
    elif steps is None:
        raise ArgumentError(f"cell {cell.name!r} has no inputs; pass steps=T to say how many steps to roll")
    else:
        length = steps
    check_integer("number of steps T", length, 1, None)
    return length


# ------------------------------------------------------------------------------- trajectory
@dataclass(frozen=True, eq=False, repr=False)
class Trajectory:
    """States of a rolled-out cell and Jacobian products along them (see the module docstring).

    ``states[name]`` is ``(T+1, ..., size)`` (index t = s_t), ``inputs[name]`` is
    ``(T, ..., size)`` (index t−1 = x_t, the input of step t), ``params`` the parameters,
    ``compiled`` the compiled cell.  Build one with :func:`rollout`.
    """

    compiled: CompiledCell
    states: dict
    inputs: dict
    params: dict
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        return (f"Trajectory(cell={self.compiled.cell.name!r}, backend={self.compiled.backend!r}, T={self.steps}, "
                f"batch={self.batch_shape}, states={self.state_sizes})")

    # ------------------------------------------------------------------ shape and access
    @property
    def steps(self) -> int:
        """T, the number of steps."""
        return int(next(iter(self.states.values())).shape[0]) - 1

    @property
    def rollout_kernel(self) -> str | None:
        """The kernel that rolled the trajectory out: ``"numba"``, all steps in one numba function
        (NumPy, float32/64, ≥ ``JIT_MIN_STEPS`` = 256 steps, a cell with stored factors:
        ``numeric._jit_factors``); ``"factors"``, the generated ``factors`` kernel once a step
        (shorter rollouts, torch tensors autograd tracks, other dtypes, a cell the numba writer
        refuses, no numba); ``"step"``, the step kernel (no stored factors: the Chung and Cho GRUs, the
        scalar gate); None for a trajectory built from given states (not by :func:`rollout`)."""
        return self._cache.get("rollout_kernel")

    @property
    def state_sizes(self) -> dict[str, int]:
        """``{state: size}`` in declaration order (the order of the rows of J_t)."""
        return {name: int(value.shape[-1]) for name, value in self.states.items()}

    @property
    def state_size(self) -> int:
        """S, the total state size."""
        return sum(self.state_sizes.values())

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The batch dimensions between the time axis and the state axis."""
        return tuple(next(iter(self.states.values())).shape[1:-1])

    def states_at(self, t: int) -> dict:
        """s_t as ``{state: (..., size)}``, 0 ≤ t ≤ T."""
        check_integer("t", t, 0, self.steps)
        return {name: value[t] for name, value in self.states.items()}

    def inputs_at(self, t: int) -> dict:
        """x_t, the input of step t, as ``{input: (..., size)}``, 1 ≤ t ≤ T."""
        check_integer("t", t, 1, self.steps)
        return {name: value[t - 1] for name, value in self.inputs.items()}

    # ------------------------------------------------------------------ dense Jacobians
    def step_jacobian(self, t: int):
        """J_t = ∂s_t/∂s_{t−1} at (s_{t−1}, x_t), shape ``(..., S, S)``, 1 ≤ t ≤ T."""
        check_integer("t", t, 1, self.steps)
        return self.compiled.state_jacobian(self.states_at(t - 1), self.inputs_at(t), self.params)

    def step_jacobians(self):
        """All J_t, t = 1..T, as one ``(T, ..., S, S)`` array (index t−1 holds J_t), from one
        batched kernel call with time as a batch axis."""
        return self._jacobian_stack(0, self.steps)

    def gate_splits(self) -> tuple:
        """``(A, B)`` stacks ``(T, ..., S, S)`` of the gate split J_t = A_t + B_t at every step
        (A with marked gates frozen, B the gate-induced part; docs/theory.md: “The first-order gate expansion”)."""
        return self.compiled.gate_split(*self.window(0, self.steps), self.params)

    def window(self, k: int, t: int) -> tuple[dict, dict]:
        """The arguments of steps k+1..t with time as a leading batch axis: states
        s_k..s_{t−1} and inputs x_{k+1}..x_t (for one batched kernel call over the steps; an input
        with fewer batch axes than the states gets unit axes after time, so the two broadcast)."""
        self._check_span(t, k)
        axes = len(self.batch_shape) + 2
        return ({n: v[k:t] for n, v in self.states.items()},
                {n: v[k:t].reshape(t - k, *[1] * (axes - v.ndim), *v.shape[1:]) for n, v in self.inputs.items()})

    def _jacobian_stack(self, k: int, t: int):
        """J_{k+1}, ..., J_t as ``(t−k, ..., S, S)``."""
        return self.compiled.state_jacobian(*self.window(k, t), self.params)

    def transport(self, t: int, k: int):
        """Φ(t, k) = J_t ⋯ J_{k+1} (Φ(t, t) = I), shape ``(..., S, S)``, 0 ≤ k ≤ t ≤ T."""
        self._check_span(t, k)
        return prefix_products(self._jacobian_stack(k, t))[-1]

    def transports_from(self, k: int):
        """Φ(t, k) for t = k..T as ``(T−k+1, ..., S, S)`` (index i holds Φ(k+i, k)); one
        left-multiplication sweep, O((T−k)·B·S³)."""
        check_integer("k", k, 0, self.steps)
        return prefix_products(self._jacobian_stack(k, self.steps))

    def transports_to(self, t: int):
        """Φ(t, k) for k = 0..t as ``(t+1, ..., S, S)`` (index k holds Φ(t, k)); one
        right-multiplication sweep, O(t·B·S³)."""
        check_integer("t", t, 0, self.steps)
        return suffix_products(self._jacobian_stack(0, t))

    def transports(self, lags: Sequence[int]) -> dict:
        """``{ℓ: (T+1−ℓ, ..., S, S)}`` whose index k holds Φ(k+ℓ, k), for each lag ℓ in ``lags``
        (0 ≤ ℓ ≤ T).  One batched product per lag up to max ℓ: O(max ℓ · T·B·S³) time."""
        return lag_products(self.step_jacobians(), lags)

    # ------------------------------------------------------------------ Jacobian actions
    def step_apply(self, t: int, block, *, method: str = "auto"):
        """J_t V for a block V ``(..., S, r)``, without forming J_t (``method="action"``, via
        the step's stored Jacobian factors or the cell's jvp) or from the dense J_t
        (``"jacobian"``); ``"auto"`` picks the cheaper."""
        check_integer("t", t, 1, self.steps)
        self._check_block(block, "block")
        return self.stepper(int(block.shape[-1]), method=method)(t, block)

    def step_apply_transpose(self, t: int, block, *, method: str = "auto"):
        """J_tᵀ U for a block U ``(..., S, r)`` (the cell's vjp, or the dense J_t)."""
        check_integer("t", t, 1, self.steps)
        self._check_block(block, "block")
        return self.stepper(int(block.shape[-1]), method=method, transpose=True)(t, block)

    def transport_apply(self, t: int, k: int, block, *, method: str = "auto"):
        """Φ(t, k) V = J_t(⋯(J_{k+1} V)) for a block V ``(..., S, r)``: t − k step actions."""
        self._check_span(t, k)
        self._check_block(block, "block")
        apply = self.stepper(int(block.shape[-1]), method=method)
        block = self._with_batch(block)
        for step in range(k + 1, t + 1):
            block = apply(step, block)
        return block

    def transport_apply_transpose(self, t: int, k: int, block, *, method: str = "auto"):
        """Φ(t, k)ᵀ U = J_{k+1}ᵀ(⋯(J_tᵀ U)) for a block U ``(..., S, r)``: the BPTT adjoint
        δ_j = J_{j+1}ᵀ δ_{j+1} run from δ_t = U down to δ_k (docs/theory.md: “Transports and backpropagation”)."""
        self._check_span(t, k)
        self._check_block(block, "block")
        apply = self.stepper(int(block.shape[-1]), method=method, transpose=True)
        block = self._with_batch(block)
        for step in range(t, k, -1):
            block = apply(step, block)
        return block

    def stepper(self, columns: int, *, method: str = "auto", transpose: bool = False) -> Callable:
        """``apply(t, block)`` = J_t V (J_tᵀ U with ``transpose``) for blocks of ``columns``
        columns in the trajectory's dtype, 1 ≤ t ≤ T, by ``method`` as in :meth:`step_apply`:
        the unchecked form of :meth:`step_apply` for loops over many steps (the method is
        resolved once, here; ``t`` and the block are not checked)."""
        method = self._resolve(method, columns, transpose)
        if method == "jacobian":
            xp = arrays(self.compiled.backend)
            if transpose:
                return lambda t, block: xp.transpose(self.step_jacobian(t)) @ block
            return lambda t, block: self.step_jacobian(t) @ block
        if transpose:
            return self._vjp_action
        return self._factor_action(columns) or self._jvp_action

    def numpy_stepper(self, columns: int, *, method: str = "auto") -> Callable | None:
        """For a torch trajectory whose Jacobian actions run on NumPy views (plain CPU tensors
        and the stored factors, see ``numeric.rollout``): ``apply(t, V)`` = J_t V on NumPy
        blocks, so that a loop of many steps (QR included) stays in NumPy and converts once —
        torch's per-operation cost made its Lyapunov step 2× NumPy's at n = 64.  Else None."""
        if self.compiled.backend != "torch" or self._resolve(method, columns, False) != "action":
            return None
        action = self._factor_action(columns)
        if action is None or not action.numpy_views:
            return None
        return action if isinstance(action, FormedAction) else action.numpy_apply  # the formed one advances runs

    def _factor_action(self, columns: int) -> StructuredAction | FormedAction | None:
        """J_t V on blocks of ``columns`` columns from the step Jacobian's factors: by the formed
        matrix columns (``_tangent_formed``) where NumPy runs the action, the matrices M are
        shared by the batch, and that costs fewer multiply–adds than the stacked products (the
        GRU from 5 columns, the LSTM from 11), else by the stacked products (``_tangent``);
        None for a cell without the factors."""
        action = self._structured_action()
        if action is None or not (self.compiled.backend == "numpy" or action.numpy_views) or any(
                matrix is not None and len(matrix.shape) != 2 for matrix in action.operands[0]):
            return action
        sizes = list(self.state_sizes.values())
        if formed_cost(action.plan, sizes, columns) >= stacked_cost(action.plan, sizes, columns):
            return action
        if "formed" not in self._cache:
            values = self.compiled.arguments_of(self.states_at(0), self.inputs_at(1), self.params)
            self._cache["formed"] = FormedAction(action, values, sizes, *self._cache["factors"],
                                                 self.batch_shape)
        return self._cache["formed"]

    def _structured_action(self) -> StructuredAction | None:
        """J_t V from the step Jacobian's factors (``_tangent``): those the rollout stored, else
        all of them from one kernel call batched over the steps; None for a cell without them."""
        if "action" not in self._cache:
            plan = tangent_plan(self.compiled)
            action = None
            if plan is not None:
                if "factors" not in self._cache:
                    self._cache["factors"] = window_factors(plan, self.compiled, *self.window(0, self.steps),
                                                            self.params)
                values = self.compiled.arguments_of(self.states_at(0), self.inputs_at(1), self.params)
                action = StructuredAction(plan, self.compiled.backend, values, list(self.state_sizes.values()),
                                          *self._cache["factors"])
            self._cache["action"] = action
        return self._cache["action"]

    def _with_batch(self, block):
        """``block`` broadcast against the trajectory's batch shape (so Φ(t, t) V has it too)."""
        xp = arrays(self.compiled.backend)
        leading = xp.broadcast_shapes(self.batch_shape, tuple(block.shape[:-2]))
        return xp.broadcast_to(block, tuple(leading) + tuple(block.shape[-2:]))

    def _resolve(self, method: str, columns: int, transpose: bool) -> str:
        """The method for an S×``columns`` block ("auto": the cheaper one, see the module docstring)."""
        if method not in METHODS:
            raise ArgumentError(f"method={method!r} is not one of {list(METHODS)}")
        if method == "auto":
            return "action" if (16 if transpose else 4) * columns < self.state_size else "jacobian"
        return method

    def _jvp_action(self, t: int, block):
        states, inputs = self._columns_batch(t)
        tangents = {f"d_{name}": value for name, value in self._split_columns(block).items()}
        result = self.compiled.kernel("jvp")(*self.compiled.arguments_of(states, inputs, self.params), **tangents)
        return self._join_columns(dict(zip(self.states, result)), block)

    def _vjp_action(self, t: int, block):
        states, inputs = self._columns_batch(t)
        cotangents = {f"c_{name}": value for name, value in self._split_columns(block).items()}
        result = self.compiled.kernel("vjp")(*self.compiled.arguments_of(states, inputs, self.params), **cotangents)
        return self._join_columns({name: result[name] for name in self.states}, block)

    def _columns_batch(self, t: int) -> tuple[dict, dict]:
        """s_{t−1} and x_t with an axis for the r columns: ``(..., 1, size)``."""
        return ({n: v[t - 1][..., None, :] for n, v in self.states.items()},
                {n: v[t - 1][..., None, :] for n, v in self.inputs.items()})

    def _split_columns(self, block) -> dict:
        """A block ``(..., S, r)`` as per-state column batches ``{state: (..., r, size)}``."""
        rows = arrays(self.compiled.backend).transpose(block)
        pieces, start = {}, 0
        for name, size in self.state_sizes.items():
            pieces[name] = rows[..., start:start + size]
            start += size
        return pieces

    def _join_columns(self, pieces: dict, block):
        """Inverse of :meth:`_split_columns` (states that got no contribution broadcast)."""
        xp = arrays(self.compiled.backend)
        leading = xp.broadcast_shapes(tuple(block.shape[:-2]) + (int(block.shape[-1]),),
                                       *(tuple(p.shape[:-1]) for p in pieces.values()))
        rows = xp.concat([xp.broadcast_to(p, tuple(leading) + (int(p.shape[-1]),)) for p in pieces.values()])
        return xp.transpose(rows)

    # ------------------------------------------------------------------ QR-stabilised growth
    def lyapunov(self, count: int | None = None, burn_in: int = 0, *, frame=None, method: str = "auto"):
        """The ``count`` largest Lyapunov exponents (all S by default), sorted descending,
        shape ``(..., count)``, by the Benettin/QR method (docs/theory.md: “Lyapunov exponents”):

            Q_t R_t = qr(J_t Q_{t−1}),   LE_i ≈ (1/(T − burn_in)) Σ_{t > burn_in} ln|(R_t)_ii|,

        from the starting frame Q_0 of :meth:`starting_frame` (I for the full spectrum).  The
        first ``burn_in`` steps only align the frame.  With ``method="action"`` (and by
        default for ``count`` < S/4) J_t Q uses the step's Jacobian factors (or the jvp) on the
        S×count block and the dense Jacobian kernel is never called.  For the full spectrum Π_i |(R_t)_ii| = |det J_t|
        at every step, so Σ_i LE_i = (1/(T − burn_in)) Σ_{t > burn_in} ln|det J_t| up to
        round-off.  The exponents of :func:`numeric.lyapunov_spectrum`, which this calls."""
        return lyapunov_spectrum(self, count, burn_in=burn_in, frame=frame, method=method).exponents

    def log_singular_values(self, t: int, k: int, count: int | None = None, *, frame=None, method: str = "auto",
                            max_sweeps: int = 16):
        """ln σ_i(Φ(t, k)) for the ``count`` largest singular values (all S by default),
        sorted descending, shape ``(..., count)``, without forming Φ — at T = 1000 the
        singular values themselves over- or underflow, their logarithms do not.

        A forward QR sweep (:func:`qr_log_growth`) from Q_0 (:meth:`starting_frame`) writes
        Φ Q_0 = Q' · diag(e^g) · Ũ with Ũ unit upper triangular and g the log growth; the
        singular values of diag(e^g) Ũ, a row-graded matrix, come from
        :func:`graded_log_singular_values`.  For the full spectrum that is the answer (Q_0 is
        square).  With ``count`` < S the frame must first span the top right singular
        subspace: backward sweeps (Q ← frame of Φᵀ Q', orthogonal iteration on Φᵀ Φ,
        converging at rate (σ_{count+1}/σ_count)² per forward–backward pair) alternate with
        forward sweeps until two successive results agree to 64·ε·(t − k + 1); a RuntimeWarning
        says so if that takes more than ``max_sweeps`` forward sweeps.  The same realignment is
        used if the growth rates along the first sweep were so far out of order that Ũ
        overflowed.  An exactly singular Φ (a zero on the diagonal of some R_j) keeps its
        graded factor: a row that loses its diagonal entry is scaled by its largest entry
        (:func:`qr_log_growth`), so the graded factor stays exact and finite at any t − k, and
        a zero singular value gives ln σ = −inf, with no floating-point warning."""
        self._check_span(t, k)
        frame = self.starting_frame(count, frame)
        count = int(frame.shape[-1])
        check_integer("max_sweeps", max_sweeps, 2, None)
        forward = self.stepper(count, method=method)
        backward = self.stepper(count, method=method, transpose=True)
        xp = arrays(self.compiled.backend)
        previous, change = None, float("inf")
        tolerance = 64 * xp.eps(frame) * (t - k + 1)
        for _ in range(max_sweeps):
            image, growth, scaled = qr_log_growth(forward, range(k + 1, t + 1), frame, keep_product=True)
            values = graded_log_singular_values(xp.transpose(scaled), growth) if xp.all_finite(scaled) else None
            if values is not None and count == self.state_size:
                return values
            if previous is not None and values is not None:
                change = xp.max_abs(values - previous)
                if change <= tolerance:
                    return values
            previous = values
            frame, _ = qr_log_growth(backward, range(t, k, -1), image)
        warnings.warn(
            f"log_singular_values(t={t}, k={k}, count={count}) did not settle in {max_sweeps} sweeps (last change "
            f"{change:.1e}); the top-{count} singular subspace converges slowly — raise max_sweeps or count",
            RuntimeWarning, stacklevel=2,
        )
        return previous if previous is not None else xp.sort_descending(growth)

    def starting_frame(self, count: int | None = None, frame=None):
        """Q_0 for the QR sweeps, ``(..., S, count)`` with orthonormal columns.

        * ``frame`` given (an S×c block): its columns orthonormalised by QR;
        * the full spectrum (``count`` None or S): I — any orthonormal basis gives the same
          spectrum, and I keeps a diagonal J_t exact at every T (docs/theory.md: “Checkable properties”);
        * ``count`` < S: the first ``count`` columns of a fixed random orthogonal matrix
          (QR of a seed-0 Gaussian).  Leading columns of I would be trapped whenever they
          span an invariant subspace (a diagonal J_t keeps e_1, …, e_count forever and never
          finds the top exponents); a generic frame is not."""
        xp = arrays(self.compiled.backend)
        like = next(iter(self.states.values()))
        size = self.state_size
        if frame is not None:
            self._check_block(frame, "frame")
            if count is not None and count != int(frame.shape[-1]):
                raise ArgumentError(f"count={count!r} but frame has {int(frame.shape[-1])} columns; give one of them")
            check_integer("number of frame columns", int(frame.shape[-1]), 1, size)
            return xp.qr(self._with_batch(frame))[0]
        count = size if count is None else check_integer("count", count, 1, size)
        basis = xp.eye(size, like) if count == size else _random_orthogonal(size, count, like)
        return xp.broadcast_to(basis, self.batch_shape + (size, count))

    # ------------------------------------------------------------------ checks
    def _check_span(self, t: int, k: int) -> None:
        check_integer("t", t, 0, self.steps)
        check_integer("k", k, 0, t)

    def _check_block(self, block, what: str) -> None:
        xp = arrays(self.compiled.backend)
        reference = next(iter(self.states.values()))
        if not xp.is_array(block):
            raise ArgumentError(f"{what} is a {type(block).__name__}; pass a {self.compiled.backend} array (..., S, r)")
        if block.dtype != reference.dtype:
            raise ArgumentError(f"{what} has dtype {block.dtype} but the trajectory has {reference.dtype}")
        if block.ndim < 2 or int(block.shape[-2]) != self.state_size:
            raise ArgumentError(
                f"{what} has shape {tuple(block.shape)}; it needs (..., S, r) with S = {self.state_size} "
                f"(states {self.state_sizes}); for one vector v pass v[..., None]"
            )
