"""The first-order gate expansion of a window of step Jacobians (Livi 2025, arXiv:2508.12121,
appendix; docs/theory.md: “The first-order gate expansion”).

Each step Jacobian splits as J_j = A_j + B_j (the gate split: A_j with the marked gates
frozen, B_j the terms that exist because a gate reads the state).  With a bookkeeping ε the
step factor is M_j(ε) = A_j + ε B_j (ε = 1 the cell, ε = 0 the frozen-gate model) and the
window product over steps 1..T is the polynomial

    F(ε) = M_T(ε) ⋯ M_1(ε) = F(0) + ε L_F(0)[B] + ε² c₂ + O(ε³),
    F(0)      = A_T ⋯ A_1,
    L_F(0)[B] = Σ_i (A_T ⋯ A_{i+1}) B_i (A_{i−1} ⋯ A_1),
    c₂        = Σ_{i<j} (A_T ⋯ A_{j+1}) B_j (A_{j−1} ⋯ A_{i+1}) B_i (A_{i−1} ⋯ A_1).

:func:`expand_window` gets all three by ONE forward recurrence over the window — the product
rule on the first three ε-coefficients of P_j(ε) = M_j(ε) P_{j−1}(ε), P_0 = I:

    P⁰_j = A_j P⁰_{j−1},   P¹_j = A_j P¹_{j−1} + B_j P⁰_{j−1},   P²_j = A_j P²_{j−1} + B_j P¹_{j−1},

five matrix products per step, O(T) in all (the double sum over (i, j) would take O(T²)).

Conventions (``convention=``, one of ``gatejac.symbolic.CONVENTIONS``):

* ``"exact"`` (default) — B_j of ``derive(cell).gate_split()`` (the gate term reads the state
  h_{j−1} the Jacobian is taken at) and the chain-rule order above (later steps on the left);
* ``"author"`` — the public code of the paper: B_j of ``symbolic.author_convention`` (the gate
  term reads the updated state h_j, so A_j + B_j is not the Jacobian) and every product in the
  reversed order F(ε) = M_1(ε) ⋯ M_T(ε) (earlier steps on the left).  The recurrence then
  multiplies on the right: P_j = P_{j−1} M_j.

Factor stacks are always in time order (index j−1 holds step j); the ``convention`` given to
the product functions decides the order of the product.

Dense products cost O(T·S³) per batch element; for an S×k block V, ``block=V`` (or
:func:`expansion_actions`, which never stacks the factors) gives F(0)V, L_F(0)[B]V and c₂V
with O(T·S²·k) arithmetic instead: faster for k up to about 3S/4 (see
:func:`expansion_actions` for the measured crossover).
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

from gatejac.symbolic import CONVENTIONS, author_convention

from ._arrays import arrays_of
from ._compiled import CompiledCell, compile
from ._errors import ArgumentError, check_integer, is_real
from ._trajectory import Trajectory, rollout


class WindowExpansion(NamedTuple):
    """The first three ε-coefficients of F(ε) = F(0) + ε L_F(0)[B] + ε² c₂ + O(ε³): each
    ``(..., S, S)``, or ``(..., S, k)`` when they act on an S×k block."""

    zeroth: object
    first: object
    second: object


# --------------------------------------------------------------------------------- factors
_AUTHOR_KERNELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""CompiledCell → its kernels in the author convention (compiled once per compiled cell)."""


def check_convention(convention) -> str:
    """``convention`` if it is one of ``symbolic.CONVENTIONS``, else an error naming it."""
    if convention not in CONVENTIONS:
        raise ArgumentError(f"convention={convention!r} is not one of {list(CONVENTIONS)}: 'exact' is the "
                            "mathematics (the default), 'author' the paper's public code")
    return convention


def expansion_factors(source, convention: str = "exact", *, window: tuple[int, int] | None = None,
                      initial_states=None, inputs_sequence=None, params=None, steps: int | None = None) -> tuple:
    """``(A, B)``: the gate split stacks ``(T_w, ..., S, S)`` of a window (index j−1 holds
    step k+j of the window ``(k, t)``), in ``convention``.

    ``source`` is a :class:`Trajectory` — or a :class:`CompiledCell`, rolled out first from
    ``initial_states``, ``inputs_sequence`` and ``params`` (``steps`` for a cell without
    inputs; see :func:`rollout`).  ``window=(k, t)`` takes steps k+1..t (default: all).
    In the ``"author"`` convention B_j reads the updated state (A_j is the same); pass the
    same convention to :func:`expand_window` and the other product functions.  A cell that
    marks no gates (leaky, Elman, WCRNN) has A_j = J_j and B_j = 0.
    """
    convention = check_convention(convention)
    trajectory = _trajectory(source, initial_states, inputs_sequence, params, steps)
    k, t = _window(trajectory, window)
    compiled = trajectory.compiled
    states = {name: value[k:t] for name, value in trajectory.states.items()}
    inputs = {name: value[k:t] for name, value in trajectory.inputs.items()}
    if not compiled.cell.gates:
        jacobians = compiled.state_jacobian(states, inputs, trajectory.params)
        return jacobians, jacobians * 0
    return _kernels(compiled, convention).gate_split(states, inputs, trajectory.params)


def _trajectory(source, initial_states, inputs_sequence, params, steps) -> Trajectory:
    given = {"initial_states": initial_states, "inputs_sequence": inputs_sequence, "params": params, "steps": steps}
    if isinstance(source, Trajectory):
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise ArgumentError(f"expansion_factors() got a Trajectory and {', '.join(extra)}; the trajectory "
                                "already holds its states, inputs and parameters — drop them")
        return source
    if isinstance(source, CompiledCell):
        if initial_states is None:
            raise ArgumentError("expansion_factors(compiled, ...) needs initial_states={state: array} (and "
                                "inputs_sequence, params) to roll the cell out; or pass a numeric.rollout(...)")
        return rollout(source, initial_states, inputs_sequence, params, steps=steps)
    raise ArgumentError(f"expansion_factors() takes a numeric.Trajectory or a CompiledCell, got "
                        f"{type(source).__name__}; use numeric.rollout(numeric.compile(cell), h0, inputs, params)")


def _window(trajectory: Trajectory, window) -> tuple[int, int]:
    if window is None:
        return 0, trajectory.steps
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ArgumentError(f"window={window!r} must be a pair (k, t): the steps k+1..t, 0 ≤ k < t ≤ T")
    t = check_integer("window end t", window[1], 1, trajectory.steps)
    k = check_integer("window start k", window[0], 0, t - 1)
    return k, t


def _kernels(compiled: CompiledCell, convention: str) -> CompiledCell:
    """``compiled`` in ``convention`` (the author kernels compiled once per compiled cell)."""
    derivation = compiled.derivation
    if convention == "exact":
        if derivation.convention != "exact":
            raise ArgumentError(f"convention='exact' was asked of a cell compiled in the "
                                f"{derivation.convention!r} convention; compile derive(cell) instead")
        return compiled
    if derivation.convention == convention:
        return compiled
    if compiled not in _AUTHOR_KERNELS:
        _AUTHOR_KERNELS[compiled] = compile(author_convention(derivation), compiled.backend)
    return _AUTHOR_KERNELS[compiled]


# ------------------------------------------------------------------------------ products
def check_factors(A, B, convention) -> str:
    """Errors naming the argument unless ``A`` and ``B`` are stacks ``(T, ..., S, S)`` of one
    kind, shape and floating dtype; returns the checked convention."""
    convention = check_convention(convention)
    for name, value in (("A", A), ("B", B)):
        if not arrays_of(value).is_array(value):
            raise ArgumentError(f"{name} is a {type(value).__name__}; pass a NumPy array or torch tensor "
                                "(T, ..., S, S), e.g. from numeric.expansion_factors")
        if value.ndim < 3 or value.shape[-1] != value.shape[-2] or value.shape[0] < 1:
            raise ArgumentError(f"{name} has shape {tuple(value.shape)}; it needs (T, ..., S, S) with T ≥ 1 "
                                "steps of square S×S factors")
    if type(A) is not type(B) or tuple(A.shape) != tuple(B.shape) or A.dtype != B.dtype:
        raise ArgumentError(f"A {type(A).__name__}{tuple(A.shape)} {A.dtype} and B {type(B).__name__}"
                            f"{tuple(B.shape)} {B.dtype} must be the same kind of array, shape and dtype")
    if str(A.dtype).removeprefix("torch.") not in ("float64", "float32"):
        raise ArgumentError(f"A and B have dtype {A.dtype}; use float64 (or float32)")
    return convention


def _order(length: int, convention: str) -> range:
    """Steps (0-based) in the order a left-multiplying sweep takes them."""
    return range(length) if convention == "exact" else range(length - 1, -1, -1)


def expand_window(A, B, convention: str = "exact", *, block=None) -> WindowExpansion:
    """F(0), L_F(0)[B] and c₂ of the window product (module docstring) by one forward
    recurrence over the T steps: 5 matrix products per step, O(T·S³) per batch element.

    ``A``, ``B``: stacks ``(T, ..., S, S)`` (step j at index j−1; batch dimensions broadcast).
    In the ``"author"`` convention the product is M_1 ⋯ M_T and the recurrence multiplies on
    the right.  ``block=V`` ``(..., S, k)`` gives F(0)V, L_F(0)[B]V, c₂V instead, by left
    actions V ← M_j V taken from the rightmost factor outwards: O(T·S²·k), no S×S product.
    """
    convention = check_factors(A, B, convention)
    xp = arrays_of(A)
    if block is not None:
        return _apply_recurrence(A, B, _checked_block(A, block), convention)
    eye = xp.broadcast_to(xp.eye(A.shape[-1], A), tuple(A.shape[1:]))
    zero = eye * 0
    p0, p1, p2 = eye, zero, zero
    if convention == "exact":
        for a, b in zip(A, B):
            p0, p1, p2 = a @ p0, a @ p1 + b @ p0, a @ p2 + b @ p1
    else:  # P_j = P_{j−1} M_j: earlier steps on the left
        for a, b in zip(A, B):
            p0, p1, p2 = p0 @ a, p1 @ a + p0 @ b, p2 @ a + p1 @ b
    return WindowExpansion(p0, p1, p2)


def _checked_block(A, block):
    if not arrays_of(A).is_array(block) or type(block) is not type(A) or block.dtype != A.dtype:
        raise ArgumentError(f"block is a {type(block).__name__} {getattr(block, 'dtype', '')}; pass an array of "
                            f"the factors' kind and dtype ({type(A).__name__}, {A.dtype}) shaped (..., S, k)")
    if block.ndim < 2 or block.shape[-2] != A.shape[-1]:
        raise ArgumentError(f"block has shape {tuple(block.shape)}; it needs (..., S, k) with S = {A.shape[-1]}; "
                            "for one vector v pass v[..., None]")
    return block


def _apply_recurrence(A, B, block, convention: str, state: WindowExpansion | None = None) -> WindowExpansion:
    """The block recurrence V⁰ ← A V⁰, V¹ ← A V¹ + B V⁰, V² ← A V² + B V¹ over the factors
    in sweep order (from ``state``, or from (V, 0, 0))."""
    v0, v1, v2 = state if state is not None else (block, block * 0, block * 0)
    for j in _order(A.shape[0], convention):
        a, b = A[j], B[j]
        v0, v1, v2 = a @ v0, a @ v1 + b @ v0, a @ v2 + b @ v1
    return WindowExpansion(v0, v1, v2)


def expansion_actions(trajectory: Trajectory, block, convention: str = "exact", *,
                      window: tuple[int, int] | None = None, chunk: int = 64) -> WindowExpansion:
    """F(0)V, L_F(0)[B]V and c₂V for an S×k block V ``(..., S, k)`` of a trajectory window,
    never holding the T×S×S factor stacks: A_j, B_j are formed ``chunk`` steps at a time
    (one batched kernel call per chunk, O(chunk·S²) memory) and applied to the block
    (O(S²·k) per step instead of the dense recurrence's O(S³)).

    Crossover, measured by benchmarks/expansion.py (NumPy, float64, one sequence, the
    multi-gate cell at the paper's settings, both routes from the trajectory, factor
    formation included; a 2-core machine shared with other jobs, medians of 3): the ratio
    time(actions)/time(dense recurrence, then @ V) was 0.39 / 0.58 / 0.69 / 0.92 / 1.08 at
    T = 100, S = 64 for k = 1 / 8 / 32 / 48 / 64; 0.11 / 0.48 / 0.54 / 0.71 / 1.02 at T = 100,
    S = 256 for k = 1 / 64 / 128 / 192 / 256; 0.06 / 0.39 / 0.67 / 0.85 / 0.86 at T = 1000,
    S = 256.  So the actions win for k up to about 3S/4 and break even at k = S; at S = 256 and
    k ≤ S/8 they are 3–16 times faster (at S = 64 forming the factors dominates both routes
    and the gain stays below 2.6×).  They also never hold the T×S×S stacks (1 GB for A and B
    at T = 1000, S = 256, batch 1, float64; here O(chunk·S²)).
    """
    convention = check_convention(convention)
    if not isinstance(trajectory, Trajectory):
        raise ArgumentError(f"expansion_actions() takes a numeric.Trajectory, got {type(trajectory).__name__}")
    check_integer("chunk", chunk, 1, None)
    k, t = _window(trajectory, window)
    starts = list(range(k, t, chunk))
    if convention != "exact":
        starts.reverse()
    state = None
    for start in starts:
        A, B = expansion_factors(trajectory, convention, window=(start, min(start + chunk, t)))
        if state is None:  # the block, broadcast against the trajectory's batch
            xp, block = arrays_of(A), _checked_block(A, block)
            batch = xp.broadcast_shapes(tuple(A.shape[1:-2]), tuple(block.shape[:-2]))
            block = xp.broadcast_to(block, tuple(batch) + tuple(block.shape[-2:]))
        state = _apply_recurrence(A, B, block, convention, state)
    return state


def window_products(A, B, eps, convention: str = "exact"):
    """F(ε) = Π_j (A_j + ε B_j) by direct products, for every ε of the 1-D sequence ``eps``
    (any reals, e.g. ±η for a central difference): ``(E, ..., S, S)``, index e for eps[e].
    Chain order M_T ⋯ M_1 (``"exact"``) or M_1 ⋯ M_T (``"author"``); T products of the
    E·batch stacked matrices, O(T·E·S³) per batch element."""
    convention = check_factors(A, B, convention)
    xp = arrays_of(A)
    values = _eps_values(eps)
    grid = xp.reshape(xp.asarray(values, str(A.dtype).removeprefix("torch.")),
                      (len(values),) + (1,) * (A.ndim - 1))
    product = xp.broadcast_to(xp.eye(A.shape[-1], A), (len(values),) + tuple(A.shape[1:]))
    for j in range(A.shape[0]):
        factor = A[j] + grid * B[j]
        product = factor @ product if convention == "exact" else product @ factor
    return product


def _eps_values(eps) -> list[float]:
    """``eps`` as a non-empty list of finite floats (a 1-D sequence or array)."""
    values = list(arrays_of(eps).to_numpy(eps).reshape(-1)) if not isinstance(eps, (list, tuple)) else list(eps)
    if not values or not all(is_real(v) and abs(float(v)) < float("inf") for v in values):
        raise ArgumentError(f"eps={eps!r} must be a non-empty 1-D sequence of finite real numbers")
    if arrays_of(eps).is_array(eps) and eps.ndim != 1:
        raise ArgumentError(f"eps has shape {tuple(eps.shape)}; pass a 1-D sequence of ε values")
    return [float(v) for v in values]
