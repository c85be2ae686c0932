"""Hypothesis strategies for a cell's values: :func:`parameters`, :func:`states`, :func:`inputs`,
:func:`values`, and :func:`preactivations` to inspect a point.

Options follow Hypothesis's conventions: keyword-only, and values, never strategies —
``sizes`` is a mapping such as ``{"n": 4, "m": 3}``, ``batch`` a tuple of integers, the gain
is drawn from ``[min_gain, max_gain]`` (equal bounds fix it).  To vary the sizes, draw them
first: ``dimensions(cell).flatmap(lambda sizes: values(cell, sizes=sizes))`` or ``st.data()``.
Every array is a NumPy array (``backend="numpy"``) or a torch tensor (``"torch"``) of
``dtype`` (``"float64"`` or ``"float32"``, :data:`numeric.DTYPES`); states and inputs get
the leading ``batch`` dimensions.  Values are finite, never subnormal, and exactly
representable in ``dtype`` (float32 draws are float32 numbers, so a float32 kernel and a
float64 reference see the same point).

Parameters are drawn as docs/verification.md (“Drawing values”) describes, not entry by
entry: Hypothesis draws an integer seed and a gain g in ``[min_gain, max_gain]`` (default
[0.5, 1.5]), and ``numpy.random.default_rng(seed)`` draws, in declaration order,

==============================================  ========================================
parameter                                        value
==============================================  ========================================
trainable matrix; vector read by a reduction      g/√fan_in · N(0, 1) — a weight (fan-in as
``wᵀv`` (a weight row)                            :func:`numeric.fan_ins` counts it: a
                                                  matrix's columns, a weight row's length)
fixed matrix (the WCRNN's residual R)             N(0, 1) rescaled to ‖R‖∞ ~ U(0.2, 0.8):
                                                  ‖R h‖∞ < 1 and spectral radius < 1
other vector (bias, the WCRNN's diagonal λ)       U(−0.5, 0.5) entrywise
scalar with a ``default`` in the cell's spec      default · U(0.8, 1): leak α ∈ (0.64, 0.8),
                                                  Δt ∈ (0.8, 1) and τ ∈ (1, 1.25) so
                                                  α = Δt/τ ∈ (0.64, 1), gate gains ∈ (0.8, 1)
other scalar (WCRNN γ and λ, a scalar bias, ...)  U(0.2, 0.8)
==============================================  ========================================

With states and inputs in [−1, 1], weights of gain ≤ 1.5 keep pre-activations O(1)
(docs/theory.md: “Checkable properties”: tanh and σ not saturated).  :func:`values`
enforces it: every named intermediate — and, for a named ``σ(a)`` or ``tanh(a)``, its
argument ``a`` recovered by logit / atanh — stays within ``max_preactivation`` (default 6,
docs/verification.md: “Drawing values”, |a| ≲ 6 in float32), and the new states are finite;
parameters are redrawn (``.filter``) otherwise.  :func:`preactivations` gives those values
for any point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import sympy
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gatejac import numeric
from gatejac.numeric import DTYPES, to_numpy
from gatejac.symbolic import Cell, MatrixParameter, ShapeError, SpecError, sigmoid, unknown_name

from ._sizes import checked_sizes

MIN_GAIN = 0.5
"""Default lower end of the gain g of the weights, g/√fan_in · N(0, 1)."""
MAX_GAIN = 1.5
"""Default upper end of the gain g of the weights, g/√fan_in · N(0, 1)."""
STATE_BOUND = 1.0
"""States are drawn entrywise in [−STATE_BOUND, STATE_BOUND]."""
INPUT_BOUND = 1.0
"""Inputs are drawn entrywise in [−INPUT_BOUND, INPUT_BOUND]."""
BIAS_BOUND = 0.5
SCALAR_RANGE = (0.2, 0.8)
DEFAULT_FACTORS = (0.8, 1.0)
"""A scalar with a default d in the cell's spec is drawn as d · U(0.8, 1)."""
MAX_PREACTIVATION = 6.0
"""Bound on named intermediates and on the arguments of named σ / tanh (docs/verification.md:
“Drawing values”, |a| ≲ 6)."""
_WIDTH = {"float64": 64, "float32": 32}
_INVERSES = {sigmoid: lambda v: np.log(v) - np.log1p(-v), sympy.tanh: np.arctanh}
"""The argument ``a`` of a named ``σ(a)`` (logit) or ``tanh(a)`` (atanh) from its value."""


def parameters(cell: Cell, *, sizes: Mapping[str, int], min_gain: float = MIN_GAIN, max_gain: float = MAX_GAIN,
               dtype: str = "float64", backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: value}`` of every parameter of ``cell``.

    Draws an integer seed and a gain in ``[min_gain, max_gain]``, then
    ``numpy.random.default_rng(seed)`` draws every parameter as the module docstring's table
    says: weights g/√fan_in · N(0, 1), a fixed residual matrix with ‖R‖∞ < 1, biases in
    [−0.5, 0.5], scalars in valid ranges.  Shrinking moves the seed and the gain, never single
    entries.  Values are exactly representable in ``dtype`` and never subnormal.
    """
    cell = checked_cell(cell, "parameters")
    sizes, gains = _sizes(cell, sizes, "parameters"), _gains(min_gain, max_gain, "parameters")
    _check_array_options(dtype, backend)
    return _parameters(cell, sizes, gains, dtype).map(lambda group: numeric.convert(group, backend, dtype))


def states(cell: Cell, *, sizes: Mapping[str, int], batch: tuple[int, ...] = (), dtype: str = "float64",
           backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: array}`` of every state, shape ``batch + (size,)``,
    entries in [−1, 1] (finite, not subnormal, of ``dtype``'s width)."""
    return _leaf_strategy(cell, "states", STATE_BOUND, sizes, batch, dtype, backend)


def inputs(cell: Cell, *, sizes: Mapping[str, int], batch: tuple[int, ...] = (), dtype: str = "float64",
           backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: array}`` of every input, shape ``batch + (size,)``,
    entries in [−1, 1] (finite, not subnormal, of ``dtype``'s width)."""
    return _leaf_strategy(cell, "inputs", INPUT_BOUND, sizes, batch, dtype, backend)


def values(cell: Cell, *, sizes: Mapping[str, int], batch: tuple[int, ...] = (), dtype: str = "float64",
           backend: str = "numpy", min_gain: float = MIN_GAIN, max_gain: float = MAX_GAIN,
           max_preactivation: float = MAX_PREACTIVATION):
    """A Hypothesis strategy for ``(states, inputs, params)`` of ``cell`` at one point, drawn
    as :func:`states`, :func:`inputs` and :func:`parameters` draw them, where every value of
    :func:`preactivations` lies within ``±max_preactivation`` and the new states are finite —
    parameters are redrawn otherwise.

    Example::

        @given(values(cell, sizes={"n": 4, "m": 3}, batch=(2,)))
        def test_step(point):
            states, inputs, params = point
    """
    cell = checked_cell(cell, "values")
    sizes, batch = _sizes(cell, sizes, "values"), _batch(batch, "values")
    gains = _gains(min_gain, max_gain, "values")
    _check_array_options(dtype, backend)
    if isinstance(max_preactivation, bool) or not isinstance(max_preactivation, (int, float)) \
            or not max_preactivation > 0:
        raise SpecError(f"values(max_preactivation={max_preactivation!r}): give a number > 0, e.g. 6")
    point = _values(cell, sizes, batch, gains, dtype, float(max_preactivation))
    return point.map(lambda groups: tuple(numeric.convert(group, backend, dtype) for group in groups))


def preactivations(cell: Cell, states, inputs, params) -> dict[str, np.ndarray]:
    """``{name: array}`` for every named intermediate of ``cell`` at a point, evaluated in
    float64 by the compiled NumPy kernels: the value itself, or for a named ``σ(a)`` or
    ``tanh(a)`` its argument ``a`` (logit / atanh of the value; ±inf where it saturated)."""
    as_float64 = [numeric.convert(group, "numpy", "float64") for group in (states, inputs, params)]
    named = numeric.compile(cell, "numpy").intermediates(*as_float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {node.name: _INVERSES.get(node.expr.func, np.asarray)(np.asarray(named[node.name]))
                for node in cell.named}


# ---------------------------------------------------------------------- drawing
@st.composite
def _parameters(draw, cell: Cell, sizes: dict, gains, dtype: str) -> dict[str, np.ndarray]:
    gain = draw(gains)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape_of = numeric.shapes(cell, sizes)
    fan_in = numeric.fan_ins(cell, shape_of)
    return {p.name: _representable(_draw_parameter(p, shape_of[p.name], fan_in.get(p.name), gain, rng), dtype)
            for p in cell.parameters}


def _draw_parameter(parameter, shape: tuple, fan_in: int | None, gain: float, rng) -> np.ndarray:
    """One parameter's value (the table of the module docstring)."""
    if isinstance(parameter, MatrixParameter) and not parameter.trainable:
        matrix = rng.standard_normal(shape)
        return rng.uniform(*SCALAR_RANGE) * matrix / np.max(np.sum(np.abs(matrix), axis=1))
    if fan_in is not None:
        return gain / math.sqrt(fan_in) * rng.standard_normal(shape)
    if shape:
        return rng.uniform(-BIAS_BOUND, BIAS_BOUND, shape)
    if parameter.default is not None:
        return np.asarray(parameter.default * rng.uniform(*DEFAULT_FACTORS))
    return np.asarray(rng.uniform(*SCALAR_RANGE))


def _representable(value, dtype: str) -> np.ndarray:
    """``value`` rounded to ``dtype`` (as float64), subnormals flushed to zero."""
    rounded = np.asarray(value, dtype=dtype)
    rounded = np.where(np.abs(rounded) < np.finfo(dtype).tiny, 0.0, rounded)
    return rounded.astype(np.float64)


def _bounded_arrays(shape: tuple, bound: float, dtype: str):
    elements = st.floats(-bound, bound, width=_WIDTH[dtype], allow_subnormal=False)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements).map(lambda a: a.astype(np.float64))


def _draw_leaves(draw, leaves, shape_of: dict, batch: tuple, bound: float, dtype: str) -> dict[str, np.ndarray]:
    return {leaf.name: draw(_bounded_arrays(batch + shape_of[leaf.name], bound, dtype)) for leaf in leaves}


def _leaf_strategy(cell, group: str, bound: float, sizes, batch, dtype, backend):
    cell = checked_cell(cell, group)
    shape_of = numeric.shapes(cell, _sizes(cell, sizes, group))
    batch = _batch(batch, group)
    _check_array_options(dtype, backend)
    leaves = cell.states if group == "states" else cell.inputs

    @st.composite
    def leaf_values(draw):
        return numeric.convert(_draw_leaves(draw, leaves, shape_of, batch, bound, dtype), backend, dtype)

    return leaf_values()


@st.composite
def _values(draw, cell: Cell, sizes: dict, batch: tuple, gains, dtype: str, bound: float):
    shape_of = numeric.shapes(cell, sizes)
    state_values = _draw_leaves(draw, cell.states, shape_of, batch, STATE_BOUND, dtype)
    input_values = _draw_leaves(draw, cell.inputs, shape_of, batch, INPUT_BOUND, dtype)
    params = draw(_parameters(cell, sizes, gains, dtype).filter(
        lambda p: _within_bounds(cell, state_values, input_values, p, bound)))
    return state_values, input_values, params


def _within_bounds(cell: Cell, states: dict, inputs: dict, params: dict, bound: float) -> bool:
    """The new states are finite and every :func:`preactivations` value is within ±bound."""
    with np.errstate(all="ignore"):
        new = numeric.compile(cell, "numpy").step(states, inputs, params)
        if not all(np.all(np.isfinite(to_numpy(value))) for value in new.values()):
            return False
        return all(np.all(np.abs(value) <= bound) for value in preactivations(cell, states, inputs, params).values())


# ---------------------------------------------------------------------- option checks
def checked_cell(cell, function: str) -> Cell:
    """``cell`` validated, or a :class:`~symbolic.SpecError` naming ``function``."""
    if not isinstance(cell, Cell):
        raise SpecError(f"{function}() takes a symbolic.Cell, got {type(cell).__name__} {cell!r}; "
                        "build one with symbolic.Cell or symbolic.cells.get(name)")
    return cell.validate()


def _sizes(cell: Cell, sizes, function: str) -> dict[str, int]:
    hint = " (to draw sizes, draw them first: dimensions(cell).flatmap(...))" \
        if isinstance(sizes, st.SearchStrategy) else ""
    return checked_sizes(cell, sizes, where=f"{function}(sizes=...)", hint=hint)


def _batch(batch, function: str) -> tuple[int, ...]:
    if not isinstance(batch, (tuple, list)) or any(
            isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0 for b in batch):
        raise ShapeError(f"{function}(batch={batch!r}): give a tuple of non-negative integers such as (4,) or ()")
    return tuple(int(b) for b in batch)


def _gains(min_gain, max_gain, function: str):
    """The strategy of gains in ``[min_gain, max_gain]``."""
    for option, gain in (("min_gain", min_gain), ("max_gain", max_gain)):
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain <= 0:
            raise SpecError(f"{function}({option}={gain!r}): give a finite number > 0 "
                            "(weights are gain/sqrt(fan_in) * N(0, 1))")
    if min_gain > max_gain:
        raise SpecError(f"{function}(min_gain={min_gain!r}, max_gain={max_gain!r}): min_gain must not exceed max_gain")
    return st.floats(float(min_gain), float(max_gain))


def _check_array_options(dtype, backend) -> None:
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, list(DTYPES), "(pass the dtype's name as a string)")
    if backend not in numeric.BACKENDS:
        raise unknown_name("backend", backend, list(numeric.BACKENDS))
