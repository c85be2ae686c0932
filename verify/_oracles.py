"""Reference oracles for a cell's Jacobians, each independent of the derived closed forms.

Every Jacobian gatejac derives is the derivative of one *view* of the cell's step: a
function ``F(v)`` that places a variable array ``v`` into the step's arguments and reads
the new states out (numerator layout, ``J[..., i, j] = ∂F_i/∂v_j``):

==================  =========================================  ==========================
view                v                                          F(v)
==================  =========================================  ==========================
:class:`LeafView`   the states (or the inputs), per sample     the new states
  ``frozen=True``   the states, marked gates held at their     the new states (the A of
                    values at the point                        the gate split)
:class:`ParameterView`  one parameter, flattened row-major     the new states
:class:`TangentView`    a length ``t`` along fixed tangents    the new states at x + t·d
:class:`CotangentView`  every state, input and parameter       ⟨c, new states⟩ (a scalar)
==================  =========================================  ==========================

so ``∂F/∂t`` is the JVP ``J·d`` and ``∂F/∂v`` of the cotangent view is the VJP ``Jᵀc``.
A view only ever *calls* a step; the oracles differentiate it their own way:

* ``"ad"`` — ``torch.func.jacrev`` through the compiled torch step, float64, for every
  view (also the one-column tangent view: torch's forward mode loads decompositions that
  emit ``torch.jit.script`` deprecation warnings into the user's test run);
* ``"fd"`` — central differences of the generated NumPy step in float64,
  ``(F(v + h_j e_j) − F(v − h_j e_j)) / 2h_j`` with ``h_j = 2⁻¹⁷·max(1, |v_j|)``
  (docs/verification.md: “Oracles and tolerances”; the divisor is the exactly represented width);
* ``"complex_step"`` — ``Im F(v + i·h·e_j) / h`` with ``h = 10⁻³⁰`` through the raw NumPy
  step kernel on complex arrays (Squire & Trapp 1998): exact to round-off, valid only when
  every function of the cell is analytic (see :func:`complex_step_obstacle`);
* ``"mp"`` — the cell's update built by SymPy's dense :class:`~symbolic.Instance` (no
  structured engine involved), evaluated by mpmath at 50 significant digits and
  differentiated by central differences at that precision with ``h_j = 10⁻²⁰·max(1, |v_j|)``
  (truncation ~h² = 10⁻⁴⁰, cancellation ~10⁻⁵⁰/h = 10⁻³⁰);
* ``"taylor"`` — :func:`taylor_test`: the log-log slope of
  ``r(ε) = ‖F(x + εd) − F(x) − εJd‖`` at small ε for a kernel's ``J`` and a random unit
  direction ``d``; a correct ``J`` leaves an ``O(ε²)`` remainder (slope ≈ 2), a wrong one an
  ``O(ε)`` remainder (slope ≈ 1).  It needs no step size.

Samples of a batch are independent, so a per-sample (batched) variable is differentiated
for all samples at once: a finite-difference column perturbs entry ``j`` of every sample,
and AD takes the per-sample diagonal of the batched Jacobian.  Every oracle returns the
Jacobian as a float64 array ``(batch, M, N)``; the scalar output of the cotangent view has
batch 1.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy

from gatejac import numeric
from gatejac.symbolic import Cell, Instance, MatVec, sigmoid, sigmoid_prime, softplus

from ._tolerances import taylor_band

FD_STEP = 2.0**-17
"""Relative central-difference step in float64 (docs/verification.md: “Oracles and tolerances”; h ≈ 1e-5 gives ≈ 2e-11)."""
COMPLEX_STEP = 1e-30
"""Imaginary step of complex-step differentiation (no subtraction, so it can be tiny)."""
MP_DIGITS = 50
"""Significant digits of the mpmath reference."""
MP_STEP = "1e-20"
"""Relative central-difference step at ``MP_DIGITS`` digits (a string: exact in mpmath)."""

ORACLES = ("ad", "fd", "taylor", "mp", "complex_step")
"""The oracles ``verify.check`` can use (``oracles=``), as the module docstring describes them."""
BATCH = (2,)
"""Samples per point: independent, so one call checks the batch dimension too."""

_ANALYTIC = (sympy.tanh, sympy.exp, sympy.log, sympy.sin, sympy.cos, sigmoid, sigmoid_prime, softplus)


# --------------------------------------------------------------------------- points
@dataclass(frozen=True)
class Point:
    """One seeded evaluation point: float64 NumPy values (states and inputs with the batch
    dimension), the values of the marked gates there, and its index ``k`` (the values are
    ``numeric.random_values(cell, sizes, batch=(2,), seed=seed + k)``)."""

    index: int
    seed: int
    states: dict
    inputs: dict
    params: dict
    gates: dict

    def values(self, backend: str = "numpy", dtype: str = "float64") -> tuple[dict, dict, dict]:
        """``(states, inputs, params)`` as arrays of ``backend`` in ``dtype``."""
        return tuple(numeric.convert(group, backend, dtype) for group in (self.states, self.inputs, self.params))



def make_point(cell: Cell, sizes: Mapping[str, int], seed: int, index: int, *,
               representable_in: str = "float64") -> Point:
    """The point ``index`` of a check with ``seed``; values are rounded to
    ``representable_in`` (so float32 kernels and float64 references see the same point)."""
    states, inputs, params = numeric.random_values(cell, sizes, batch=BATCH, seed=seed + index)
    states, inputs, params = (
        {k: np.asarray(v, dtype=representable_in).astype(np.float64) for k, v in group.items()}
        for group in (states, inputs, params)
    )
    gates = {}
    if cell.gates:
        named = numeric.compile(cell, "numpy").intermediates(states, inputs, params)
        gates = {g.name: named[g.name] for g in cell.gates}
    return Point(index, seed, states, inputs, params, gates)


def entry_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Names of a value's entries in row-major order: ``W[1,3]``, ``h[2]``, ``alpha``."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)]


# --------------------------------------------------------------------------- evaluations
@dataclass(frozen=True)
class Evaluation:
    """How an oracle evaluates the step: ``asarray`` turns a float64 NumPy array into the
    arrays it computes with, ``xp`` is their array namespace (:func:`numeric.arrays`:
    ``concat`` along the last axis, ``total`` into shape ``(1,)``), and ``step(states,
    inputs, params, override)`` returns ``{state: new value}``."""

    asarray: Callable
    xp: object
    step: Callable


def _raw_step(cell: Cell) -> Callable:
    """The generated NumPy step kernel called positionally, without the checked interface
    (so complex arrays pass, and finite differences do not pay for argument checks)."""
    compiled = numeric.compile(cell, "numpy")
    kernel, order = compiled.kernel("step"), compiled.arguments
    names = [s.name for s in cell.states]

    def step(states, inputs, params, override):
        values = {**states, **inputs, **params}
        return dict(zip(names, kernel(*(values[name] for name in order), _override=override or {})))

    return step


def _numpy_evaluation(cell: Cell, dtype: str) -> Evaluation:
    xp = numeric.arrays("numpy")
    return Evaluation(lambda x: xp.asarray(x, dtype), xp, _raw_step(cell))


def _torch_evaluation(cell: Cell, step: Callable | None) -> Evaluation:
    if step is None:
        compiled = numeric.compile(cell, "torch")
        step = lambda s, i, p, override: compiled.step(s, i, p, override=override)  # noqa: E731
    xp = numeric.arrays("torch")
    return Evaluation(lambda x: xp.asarray(x, "float64"), xp, step)


class _MpStep:
    """The cell's update from SymPy's dense :class:`~symbolic.Instance`, evaluated by mpmath.

    Values are NumPy object arrays of ``mpmath.mpf``; each sample is evaluated on its own
    by a ``sympy.lambdify``-ed function of the instance's scalar symbols (and, with an
    override, of the frozen gates' symbols)."""

    def __init__(self, cell: Cell, sizes: Mapping[str, int]):
        self.cell, self.sizes = cell, dict(sizes)
        self._functions: dict[tuple[str, ...], tuple[Callable, list]] = {}

    def _function(self, frozen: tuple[str, ...]):
        if frozen not in self._functions:
            import mpmath

            instance = Instance(self.cell, self.sizes, frozen=frozen)
            frozen_symbols = [list(sympy.Matrix([instance.node_value(self.cell.piece(g).symbol)])) for g in frozen]
            symbols = instance.all_variables() + [s for group in frozen_symbols for s in group]
            outputs = [entry for state in self.cell.states for entry in instance.update(state.name)]
            special = {
                "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
                "sigmoid_prime": lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2,
                "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
            }
            function = sympy.lambdify(symbols, outputs, modules=[special, "mpmath"])
            self._functions[frozen] = (function, [s.size for s in self.cell.states])
        return self._functions[frozen]

    def __call__(self, states, inputs, params, override):
        frozen = tuple(override or {})
        function, _ = self._function(frozen)
        batch = next(iter(states.values())).shape[:-1]
        order = [s.name for s in self.cell.states]
        results = {name: np.empty(batch + states[name].shape[-1:], dtype=object) for name in order}
        for sample in np.ndindex(*batch):
            arguments = [x for s in self.cell.states for x in states[s.name][sample].ravel()]
            arguments += [x for s in self.cell.inputs for x in inputs[s.name][sample].ravel()]
            arguments += [x for p in self.cell.parameters for x in np.ravel(params[p.name])]
            arguments += [x for g in frozen for x in np.ravel(override[g][sample])]
            flat = function(*arguments)
            offset = 0
            for name in order:
                size = results[name].shape[-1]
                results[name][sample] = flat[offset:offset + size]
                offset += size
        return results


def _mp_evaluation(cell: Cell, sizes: Mapping[str, int]) -> Evaluation:
    import mpmath

    to_mpf = np.frompyfunc(lambda x: mpmath.mpf(float(x)), 1, 1)
    return Evaluation(lambda x: np.asarray(to_mpf(np.asarray(x, dtype=np.float64)), dtype=object),
                      numeric.arrays("numpy"), _MpStep(cell, sizes))


# --------------------------------------------------------------------------- views
class View:
    """``F(v)``: one view of the cell's step (see the module docstring).

    ``batched`` views have the sample batch as the leading dimension of ``v``;
    ``frozen`` views hold every marked gate at its value at the point."""

    name = "view"
    batched = False
    frozen = False

    def __init__(self, cell: Cell, sizes: Mapping[str, int]):
        self.cell = cell
        self.shapes = numeric.shapes(cell, sizes)

    # -- subclasses define these three
    def initial(self, point: Point) -> np.ndarray:
        raise NotImplementedError

    def place(self, point: Point, v, evaluation: Evaluation) -> tuple[dict, dict, dict]:
        raise NotImplementedError

    def column_names(self) -> list[str]:
        raise NotImplementedError

    # -- shared
    def base(self, point: Point, evaluation: Evaluation) -> tuple[dict, dict, dict]:
        return tuple({k: evaluation.asarray(x) for k, x in group.items()}
                     for group in (point.states, point.inputs, point.params))

    def read(self, new_states: dict, point: Point, evaluation: Evaluation):
        return evaluation.xp.concat([new_states[s.name] for s in self.cell.states])

    def row_names(self) -> list[str]:
        return [name for s in self.cell.states for name in entry_names(s.name, self.shapes[s.name])]

    def output(self, point: Point, v, evaluation: Evaluation):
        """``F(v)`` computed by ``evaluation``."""
        states, inputs, params = self.place(point, v, evaluation)
        override = {g: evaluation.asarray(x) for g, x in point.gates.items()} if self.frozen else None
        return self.read(evaluation.step(states, inputs, params, override), point, evaluation)


class LeafView(View):
    """The states (``group="states"``) or the inputs (``"inputs"``) of every sample."""

    batched = True

    def __init__(self, cell, sizes, group: str, *, frozen: bool = False):
        super().__init__(cell, sizes)
        self.group, self.frozen = group, frozen
        self.leaves = [leaf.name for leaf in (cell.states if group == "states" else cell.inputs)]
        self.name = group + (" (gates frozen)" if frozen else "")

    def initial(self, point):
        values = point.states if self.group == "states" else point.inputs
        return np.concatenate([values[name] for name in self.leaves], axis=-1)

    def place(self, point, v, evaluation):
        states, inputs, params = self.base(point, evaluation)
        target = states if self.group == "states" else inputs
        offset = 0
        for name in self.leaves:
            size = self.shapes[name][0]
            target[name] = v[..., offset:offset + size]
            offset += size
        return states, inputs, params

    def column_names(self):
        return [e for name in self.leaves for e in entry_names(name, self.shapes[name])]


class ParameterView(View):
    """One parameter, flattened row-major (as ``torch.flatten`` does)."""

    def __init__(self, cell, sizes, parameter: str):
        super().__init__(cell, sizes)
        self.parameter = parameter
        self.name = f"parameter {parameter}"

    def initial(self, point):
        return np.ravel(point.params[self.parameter]).copy()

    def place(self, point, v, evaluation):
        states, inputs, params = self.base(point, evaluation)
        params[self.parameter] = v.reshape(self.shapes[self.parameter])
        return states, inputs, params

    def column_names(self):
        return entry_names(self.parameter, self.shapes[self.parameter])


class TangentView(View):
    """``t ↦ step(x + t·d)`` for tangents ``d`` of every state, input and parameter; its
    derivative (one column) is the JVP ``J·d``."""

    name = "tangent"

    def __init__(self, cell, sizes, tangents: Mapping[str, np.ndarray]):
        super().__init__(cell, sizes)
        self.tangents = dict(tangents)

    def initial(self, point):
        return np.zeros(1)

    def place(self, point, v, evaluation):
        groups = self.base(point, evaluation)
        for group in groups:
            for name in group:
                group[name] = group[name] + v[0] * evaluation.asarray(self.tangents[name])
        return groups

    def column_names(self):
        return ["t"]


class CotangentView(View):
    """``v ↦ ⟨c, step(v)⟩`` with ``v`` every state and input (per sample) and every
    parameter, flattened in that order; its derivative (one row) is the VJP ``Jᵀc``."""

    name = "cotangent"

    def __init__(self, cell, sizes, cotangents: Mapping[str, np.ndarray]):
        super().__init__(cell, sizes)
        self.cotangents = dict(cotangents)
        self.leaves = [p.name for p in (*cell.states, *cell.inputs, *cell.parameters)]

    def _values(self, point):
        return {**point.states, **point.inputs, **point.params}

    def initial(self, point):
        values = self._values(point)
        return np.concatenate([np.ravel(values[name]) for name in self.leaves])

    def place(self, point, v, evaluation):
        shapes = {name: np.shape(value) for name, value in self._values(point).items()}
        groups = self.base(point, evaluation)
        offset = 0
        for name in self.leaves:
            group = next(g for g in groups if name in g)
            size = int(np.prod(shapes[name], dtype=int))
            group[name] = v[offset:offset + size].reshape(shapes[name])
            offset += size
        return groups

    def read(self, new_states, point, evaluation):
        outputs = super().read(new_states, point, evaluation)
        cotangent = np.concatenate([self.cotangents[s.name] for s in self.cell.states], axis=-1)
        return evaluation.xp.total(evaluation.asarray(cotangent) * outputs)

    def row_names(self):
        return ["<c, s'>"]

    def column_names(self):
        names = []
        for piece in (*self.cell.states, *self.cell.inputs):
            for sample in np.ndindex(*BATCH):
                label = f" (sample {','.join(map(str, sample))})"
                names += [e + label for e in entry_names(piece.name, self.shapes[piece.name])]
        for p in self.cell.parameters:
            names += entry_names(p.name, self.shapes[p.name])
        return names


def point_views(cell: Cell, sizes: Mapping[str, int], tangents: Mapping, cotangents: Mapping) -> dict[str, View]:
    """Every view of the step at one point, by the keys of ``JacobianName.view``
    (:mod:`verify._jacobians`): ``"state"``, ``"frozen"``, ``"input"``, ``"parameter:W"``,
    ``"jvp"`` (along ``tangents``) and ``"vjp"`` (against ``cotangents``)."""
    views = {"state": LeafView(cell, sizes, "states"), "frozen": LeafView(cell, sizes, "states", frozen=True),
             "input": LeafView(cell, sizes, "inputs"), "jvp": TangentView(cell, sizes, tangents),
             "vjp": CotangentView(cell, sizes, cotangents)}
    views.update({f"parameter:{p.name}": ParameterView(cell, sizes, p.name) for p in cell.parameters})
    return views


# --------------------------------------------------------------------------- differentiation
def _as_batched(jacobian: np.ndarray) -> np.ndarray:
    """``(batch, M, N)``: a scalar view's ``(1, N)`` gets batch 1."""
    return jacobian[None] if jacobian.ndim == 2 else jacobian


def central_differences(function: Callable, v, steps) -> np.ndarray:
    """Columns ``(F(v + h_j e_j) − F(v − h_j e_j)) / w_j`` stacked on the last axis, with
    ``w_j`` the exactly represented width ``(v_j + h_j) − (v_j − h_j)``.  ``v`` and
    ``steps`` share one array kind (float64 or mpmath object arrays)."""
    columns = []
    for j in range(v.shape[-1]):
        plus, minus = v.copy(), v.copy()
        plus[..., j] = plus[..., j] + steps[..., j]
        minus[..., j] = minus[..., j] - steps[..., j]
        width = plus[..., j:j + 1] - minus[..., j:j + 1]
        columns.append((function(plus) - function(minus)) / width)
    return np.stack(columns, axis=-1)


def complex_step_differences(function: Callable, v: np.ndarray, step: float = COMPLEX_STEP) -> np.ndarray:
    """Columns ``Im F(v + i·h·e_j) / h`` stacked on the last axis (``v`` complex)."""
    columns = []
    for j in range(v.shape[-1]):
        shifted = v.copy()
        shifted[..., j] += 1j * step
        columns.append(function(shifted).imag / step)
    return np.stack(columns, axis=-1)


def complex_step_obstacle(cell: Cell) -> str | None:
    """Why complex-step differentiation is not valid for ``cell`` (a function that is not
    analytic, such as ``Abs``), or ``None`` if every function of its step is analytic."""
    expressions = [*cell.updates.values(), *(n.expr for n in cell.named)]
    seen: set = set()
    while expressions:
        expr = sympy.sympify(expressions.pop())
        for function in expr.atoms(sympy.Function):
            if not isinstance(function, _ANALYTIC):
                return (f"{type(function).__name__} in {cell.text(function)} is not analytic, so "
                        "Im F(x + ih)/h is not the derivative")
        for symbol in expr.free_symbols - seen:
            seen.add(symbol)
            node = cell.node(symbol)
            expressions += cell.children(node)
            if isinstance(node, MatVec):
                expressions += [term.coeff for term in node.terms]
    return None


@dataclass(frozen=True)
class TaylorOutcome:
    """Result of :func:`taylor_test`: the fitted slope (``None`` when fewer than
    ``fit_points`` remainders stand above round-off), whether it passed, and an account."""

    slope: float | None
    passed: bool
    epsilons: tuple[float, ...]
    remainders: tuple[float, ...]
    fitted: tuple[bool, ...]
    worst_row: tuple[int, ...] | None
    detail: str


def taylor_test(function: Callable, v: np.ndarray, matrix: np.ndarray, direction: np.ndarray, *,
                row_names: list[str] | None = None) -> TaylorOutcome:
    """The Taylor test of ``matrix`` as the Jacobian of ``function`` at ``v`` along ``direction``.

    ``r(ε) = ‖F(v + εd) − F(v) − ε·J·d‖`` over the grid of :func:`~verify._tolerances.taylor_band`;
    the least-squares slope of ``log r`` against ``log ε`` over the smallest ε whose remainder
    stands above the round-off floor must reach the band's lower limit (≈ 2 for the right
    ``J``, ≈ 1 for a wrong one).  If too few stand above the floor, ``J·d`` agrees with the
    derivative to round-off along ``d`` (for instance ``F`` is linear in ``v``) and the test
    passes.  ``worst_row`` is the output entry with the largest remainder at the smallest
    fitted ε (where a wrong ``J`` dominates).
    """
    band = taylor_band("float64")
    y0 = function(v)
    jd = np.einsum("...mn,...n->...m", matrix, direction).reshape(y0.shape)
    scale = max(1.0, float(np.linalg.norm(y0)))
    eps = np.finfo(np.float64).eps
    residuals = [function(v + e * direction) - y0 - e * jd for e in band.epsilons]
    remainders = tuple(float(np.linalg.norm(r)) for r in residuals)
    floors = [band.floor_factor * eps * (scale + e * float(np.linalg.norm(jd))) for e in band.epsilons]
    above = [k for k, (r, f) in enumerate(zip(remainders, floors)) if r > f]
    tail = above[-band.fit_points:]
    fitted = tuple(k in tail for k in range(len(remainders)))
    grid = f"ε = {band.epsilons[0]:.0e} … {band.epsilons[-1]:.0e}"
    if len(tail) < band.fit_points:
        return TaylorOutcome(None, True, band.epsilons, remainders, fitted, None,
                             f"remainder at round-off for {len(remainders) - len(above)} of {len(remainders)} steps "
                             f"({grid}): J·d matches F along d (F is linear there)")
    slope = float(np.polyfit(np.log([band.epsilons[k] for k in tail]), np.log([remainders[k] for k in tail]), 1)[0])
    last = residuals[tail[-1]]
    worst_row = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(last)), last.shape))
    where = ""
    if row_names is not None:
        sample = f" (sample {worst_row[0]})" if last.ndim > 1 else ""
        where = f"; largest remainder in {row_names[worst_row[-1]]}{sample}"
    # r(ε) ≤ ε·|J·d − F'·d| + O(ε²): the smallest fitted step bounds the first-order error of J·d
    implied = remainders[tail[-1]] / (band.epsilons[tail[-1]] * max(1.0, float(np.linalg.norm(jd))))
    passed = band.passes(slope) or implied <= band.first_order_tolerance
    verdict = "" if passed else f" (≈ 1 means J·d is wrong to first order; implied relative error {implied:.1e})"
    steps = ", ".join(f"{band.epsilons[k]:.1e}" for k in tail)
    remainders_text = ", ".join(f"{remainders[k]:.2e}" for k in tail)
    return TaylorOutcome(slope, passed, band.epsilons, remainders, fitted, worst_row,
                         f"slope {slope:.3f} < {band.low}{verdict}: remainders {remainders_text} at ε = {steps}{where}"
                         if not passed else f"slope {slope:.3f} at ε = {steps}, first-order error ≤ {implied:.1e}{where}")


# --------------------------------------------------------------------------- the oracles of one cell
class Oracles:
    """The oracles for one cell at concrete sizes (their evaluations are built on first use).

    ``torch_step(states, inputs, params, override)`` replaces the compiled torch step that
    the ``"ad"`` oracle differentiates (a user's own step, :mod:`verify._code_claims`).

    ``jacobian(oracle, view, point)`` → the oracle's float64 ``(batch, M, N)`` Jacobian of
    the view; ``evaluate(view, point, v)`` → ``F(v)`` by the float64 NumPy step.
    """

    def __init__(self, cell: Cell, sizes: Mapping[str, int], *, torch_step: Callable | None = None):
        self.cell, self.sizes, self._torch_step = cell, dict(sizes), torch_step
        self._evaluations: dict[str, Evaluation] = {}

    def evaluation(self, kind: str) -> Evaluation:
        if kind not in self._evaluations:
            builders = {"numpy": lambda: _numpy_evaluation(self.cell, "float64"),
                        "complex": lambda: _numpy_evaluation(self.cell, "complex128"),
                        "torch": lambda: _torch_evaluation(self.cell, self._torch_step),
                        "mp": lambda: _mp_evaluation(self.cell, self.sizes)}
            self._evaluations[kind] = builders[kind]()
        return self._evaluations[kind]

    def skip_reason(self, oracle: str) -> str | None:
        """Why ``oracle`` cannot check this cell, or ``None``."""
        return complex_step_obstacle(self.cell) if oracle == "complex_step" else None

    def evaluate(self, view: View, point: Point, v: np.ndarray) -> np.ndarray:
        return view.output(point, v, self.evaluation("numpy"))

    def jacobian(self, oracle: str, view: View, point: Point) -> np.ndarray:
        compute = {"ad": self._ad, "fd": self._fd, "complex_step": self._complex_step, "mp": self._mp}[oracle]
        return _as_batched(compute(view, point))

    def _ad(self, view, point):
        import torch

        evaluation = self.evaluation("torch")
        v = torch.as_tensor(view.initial(point))
        function = lambda w: view.output(point, w, evaluation)  # noqa: E731
        jacobian = torch.func.jacrev(function)(v).detach().numpy()
        return np.einsum("bmbn->bmn", jacobian) if view.batched else jacobian

    def _fd(self, view, point):
        v = view.initial(point)
        return central_differences(lambda w: self.evaluate(view, point, w), v, FD_STEP * np.maximum(1.0, np.abs(v)))

    def _complex_step(self, view, point):
        evaluation = self.evaluation("complex")
        v = evaluation.asarray(view.initial(point))
        return complex_step_differences(lambda w: view.output(point, w, evaluation), v)

    def _mp(self, view, point):
        import mpmath

        evaluation = self.evaluation("mp")
        v0 = view.initial(point)
        with mpmath.workdps(MP_DIGITS):
            v = evaluation.asarray(v0)
            steps = evaluation.asarray(np.maximum(1.0, np.abs(v0))) * mpmath.mpf(MP_STEP)
            jacobian = central_differences(lambda w: view.output(point, w, evaluation), v, steps)
        return np.vectorize(float, otypes=[np.float64])(jacobian)


_ORACLES_BY_CELL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def oracles_for(cell: Cell, sizes: Mapping[str, int]) -> Oracles:
    """The (cached) :class:`Oracles` of a validated cell at ``sizes``."""
    per_cell = _ORACLES_BY_CELL.setdefault(cell, {})
    key = tuple(sorted(sizes.items()))
    if key not in per_cell:
        per_cell[key] = Oracles(cell, sizes)
    return per_cell[key]
