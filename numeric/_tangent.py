"""The structured tangent action: J_t V from the step Jacobian's diagonal factors, stored
while the trajectory is rolled out, so that no Jacobian action recomputes the step.

Every state block of a catalogue cell's step Jacobian is a sum of diagonal-times-matrix terms
(docs/theory.md: “Lyapunov exponents”):

    ∂s'_i/∂s_j = Σ_a diag(u_{ija}) M_{ija} + diag(d_{ij}),

with M a fixed matrix (a weight, its transpose, a sum of them) and u, d vectors that depend on
the step's states and inputs — the form in which Can, Krishnamurthy & Schwab 2020
(arXiv:2002.00025) write the GRU's and LSTM's state-to-state Jacobians.  One generated kernel,
``factors``, evaluates the step and every u and d in one pass with shared subexpressions
(the same ``sympy.cse`` as the other kernels); the rollout calls it instead of ``step`` and
keeps the factors.  For an S×k frame V with row blocks V_j the action is then

    (J_t V)_i = Σ_j [ Σ_a u_{ija}(t) ⊙ (M_{ija} V_j) + d_{ij}(t) ⊙ V_j ],

where the products of each column block are one matrix product with the distinct matrices
stacked, P_j = [M_{j1}; M_{j2}; …] V_j — 3n×n·n×k for the GRU, 4n×n·n×k for the LSTM, the
FLOPs of a Jacobian–vector product and nothing else: the gates and pre-activations are not
recomputed.  A cell whose Jacobian has any other term (diag(u)·M·diag(v), as where the Chung and
Cho GRUs' reset gate multiplies the state inside the product, or a rank-one term) has no such form (:func:`tangent_plan` returns None) and keeps the cell's jvp kernel.

Torch tensors that autograd does not track (plain CPU tensors, ``arrays("torch").numpy_views_of``)
are multiplied through NumPy views of the same memory: torch's MKL runs these (3n×n)·(n×k)
products 1.75× slower than NumPy's OpenBLAS on the AMD EPYC this was measured on (0.54 against
0.31 ms at n = 256, k = 32, one thread), and the result is the same arithmetic.  (The rollout
does the same for its steps: see ``numeric.rollout``.)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ._arrays import arrays, to_numpy
from ._codegen import _Coefficients, _dense_plan, _indent, _Module
from ._compiled import compile_source
from ._printer import print_array


@dataclass(frozen=True)
class _Term:
    """One diag(u)·M term of block (row, col): coefficient ``coefficient`` of the kernel's
    list, product ``product`` of column block ``col``'s stacked products."""

    row: int
    col: int
    coefficient: int
    product: int


@dataclass(frozen=True)
class TangentPlan:
    """The generated ``factors`` and ``matrices`` kernels of one compiled cell and how their
    results combine (see the module docstring).

    * ``factors(<args>)`` → ``(new_states, coefficients, diagonals)``: the step and the
      vectors u (one list) and d (one list, an entry may be the number 1);
    * ``matrices(<args>)`` → the distinct matrices M of each column block, column block by
      column block (``stacks[j]`` of them for block j);
    * ``terms``: the u terms, in the order of the kernel's list (``terms[k].coefficient`` is k);
      ``diagonals``: ``(row, col, index)`` of the d terms, likewise in order (index k at k);
    * ``sources``: the derivation's terms (``symbolic.Term``) the u, then the d, come from, in
      the kernel's order (the numba rollout of ``_jit_factors`` writes the same values)."""

    source: str
    factors: object
    matrices: object
    sizes: tuple
    stacks: tuple
    terms: tuple
    diagonals: tuple
    sources: tuple


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tangent_plan(compiled) -> TangentPlan | None:
    """The structured tangent kernels of ``compiled`` (a :class:`CompiledCell`), or None when
    its state Jacobian has a term that is not diag(u)·M or diag(d); generated once per
    compiled cell."""
    if compiled not in _PLANS:
        _PLANS[compiled] = _generate(compiled)
    return _PLANS[compiled]


def _generate(compiled) -> TangentPlan | None:
    module = _Module(compiled.derivation)
    cell = module.cell
    coefficients = _Coefficients(module)
    news = [coefficients.ref(cell.updates[s.name]) for s in cell.states]
    unbatched = [not any(module.batched(sym) for sym in module.expr(cell.updates[s.name]).free_symbols)
                 for s in cell.states]
    codes, diagonal_codes, matrix_codes = [], [], []
    terms, diagonals, stacks, sources = [], [], [], ([], [])
    for col, leaf in enumerate(cell.states):
        distinct: list[str] = []
        for row, state in enumerate(cell.states):
            for term in compiled.derivation.state[(state.name, leaf.name)].terms:
                plan = _dense_plan(module, coefficients, term)
                if plan[0] == "diag":
                    diagonals.append((row, col, len(diagonal_codes)))
                    diagonal_codes.append(plan[1])
                    sources[1].append(term)
                    continue
                if plan[0] != "rows":
                    return None
                if plan[2] not in distinct:
                    distinct.append(plan[2])
                terms.append(_Term(row, col, len(codes), distinct.index(plan[2])))
                codes.append(plan[1])
                sources[0].append(term)
        matrix_codes.extend(distinct)
        stacks.append(len(distinct))
    states = [f"_B.expand({code}, _batch)" if flat else code for code, flat in zip(news, unbatched)]
    body = [f"return ({', '.join(states)},), [{', '.join(codes)}], [{', '.join(diagonal_codes)}]"]
    arguments = ", ".join(module.args)
    factors = [f"def factors({arguments}):"] + _indent(module.prologue() + coefficients.emit(body))
    matrices = [f"def matrices({arguments}):"] + _indent(module.prologue() + [f"return [{', '.join(matrix_codes)}]"])
    source = "\n".join(factors) + "\n\n\n" + "\n".join(matrices) + "\n"
    namespace = {"_B": arrays(compiled.backend)}
    exec(compile_source(source, f"{cell.name} (tangent)"), namespace)  # noqa: S102 - our own generated code
    sizes = tuple(print_array(s.size) for s in cell.states)
    return TangentPlan(source, namespace["factors"], namespace["matrices"], sizes, tuple(stacks), tuple(terms),
                       tuple(diagonals), (*sources[0], *sources[1]))


def window_factors(plan: TangentPlan, compiled, states: dict, inputs: dict, params: dict) -> tuple[list, list]:
    """The factors of all the steps of a window (states and inputs with time as the leading
    batch axis, ``Trajectory.window``) from one batched ``factors`` call, as
    the rollout stores them (``_roll._Record``)."""
    xp = arrays(compiled.backend)
    values = compiled.arguments_of(states, inputs, params)
    _, coefficients, diagonals = plan.factors(*values)
    like = values[0]
    steps = int(like.shape[0])

    def timed(value):  # a factor that depends on no state or input has no time axis: (size,) or (1,)
        value = xp.scalar(value, like)
        return value if len(value.shape) > 1 else xp.broadcast_to(value, (steps, *tuple(value.shape)))

    return [timed(c) for c in coefficients], [timed(d) for d in diagonals]


class StructuredAction:
    """``action(t, V)`` = J_t V from the factors of step t (see the module docstring), with the
    stacked matrices of ``values`` (the kernel arguments) formed once.

    ``sizes`` are the state sizes (the row blocks of J); ``coefficients`` and ``diagonals``
    the factor stacks ``(T, ..., size)`` the rollout stores.  On the torch back-end, plain CPU tensors
    are multiplied through NumPy views of the same memory (``numpy_views``)."""

    def __init__(self, plan: TangentPlan, backend: str, values: list, sizes: list[int], coefficients: list,
                 diagonals: list):
        self.plan = plan
        self.xp = arrays(backend)
        matrices = plan.matrices(*values)
        self.offsets = np.cumsum([0, *sizes]).tolist()
        stacked, self.rows, start = [], [], 0
        for count in plan.stacks:  # kept transposed, [M_1ᵀ M_2ᵀ …]: Vᵀ Mᵀ is the faster product (see _apply)
            group = matrices[start:start + count]
            start += count
            stacked.append(self.xp.concat([self.xp.transpose(m) for m in group]) if group else None)
            self.rows.append(np.cumsum([0, *(int(m.shape[-2]) for m in group)]).tolist())
        self.operands = (stacked, coefficients, diagonals)
        self.numpy_views = backend == "torch" and self.xp.numpy_views([*matrices, *coefficients, *diagonals])
        if self.numpy_views:  # the same memory, seen by NumPy
            self.numpy_operands = tuple([None if v is None else to_numpy(v) for v in group] for group in self.operands)

    def __call__(self, t: int, block):
        """J_t V for the block V ``(..., S, k)``, 1 ≤ t ≤ T."""
        views = self.xp.numpy_views_of([block]) if self.numpy_views else None
        if views is not None:
            import torch

            return torch.from_numpy(self.numpy_apply(t, views[0]))
        return self._apply(self.xp, t - 1, block, *self.operands)

    def numpy_apply(self, t: int, block):
        """J_t V for a NumPy block, with the NumPy views of a torch action's operands."""
        return self._apply(arrays("numpy"), t - 1, block, *self.numpy_operands)

    def _apply(self, xp, index: int, block, stacked: list, coefficients: list, diagonals: list):
        """J V computed transposed, (J V)ᵀ = Σ (V_jᵀ Mᵀ) diag(u) + V_jᵀ diag(d): the (k×n)·(n×R)
        product runs 13% faster than (R×n)·(n×k) in OpenBLAS for k ≪ n (1.16 against 1.33 ms,
        n = 256, R = 768, k = 32, interleaved), and the result is a transposed view."""
        offsets = self.offsets
        rows = xp.transpose(block)
        pieces = [rows[..., offsets[j]:offsets[j + 1]] for j in range(len(offsets) - 1)]
        products = [None if matrix is None else piece @ matrix for matrix, piece in zip(stacked, pieces)]
        result = [None] * len(pieces)
        for term in self.plan.terms:
            span = self.rows[term.col]
            product = products[term.col][..., span[term.product]:span[term.product + 1]]
            value = coefficients[term.coefficient][index][..., None, :] * product
            result[term.row] = value if result[term.row] is None else _add(result[term.row], value)
        for row, col, position in self.plan.diagonals:
            value = diagonals[position][index][..., None, :] * pieces[col]
            result[row] = value if result[row] is None else _add(result[row], value)
        result = [0 * piece if value is None else value for value, piece in zip(result, pieces)]
        return xp.transpose(result[0] if len(result) == 1 else xp.concat(result))


def _add(total, value):
    """``total + value``, in place when the two have one shape (``total`` is always a fresh
    array here)."""
    if total.shape == value.shape:
        total += value
        return total
    return total + value
