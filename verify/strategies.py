"""Hypothesis strategies for gatejac: cells, their values, and the settings profiles.

Strategies (keyword-only options; each returns a Hypothesis strategy):

=====================================  =========================================================
strategy                               draws
=====================================  =========================================================
``cells(catalogue=, random=, ...)``    catalogue cells (every ``symbolic.cells.variants()``
                                       entry) and/or random valid cells (:func:`random_cells`)
``dimensions(cell, min_size=, ...)``   ``{size name: int}`` for every size of the cell
``parameters(cell, sizes=, gain=)``    every parameter, drawn *from a seed* (below)
``states(cell, sizes=, batch=)``       every state, entries in [−1, 1]
``inputs(cell, sizes=, batch=)``       every input, entries in [−1, 1]
``values(cell, sizes=, batch=)``       ``(states, inputs, params)`` with bounded pre-activations
=====================================  =========================================================

``sizes``, ``batch`` and ``gain`` take a value or a strategy of values (``sizes`` is a
mapping such as ``{"n": 4, "m": 3}``; ``dimensions(cell)`` draws one).  Every array is a
NumPy array (``backend="numpy"``) or a torch tensor (``"torch"``) of ``dtype``
(``"float64"`` or ``"float32"``); states and inputs get the leading ``batch`` dimensions.
Values are finite, never subnormal, and exactly representable in ``dtype`` (float32 draws
are float32 numbers, so a float32 kernel and a float64 reference see the same point).

Parameters are drawn as docs/verification.md (“Drawing values”) describes, not entry by entry: Hypothesis draws an integer
seed and a gain g (default ``st.floats(0.5, 1.5)``), and ``numpy.random.default_rng(seed)``
draws, in declaration order,

==============================================  ========================================
parameter                                        value
==============================================  ========================================
trainable matrix; vector read by a reduction      g/√fan_in · N(0, 1) — a weight (fan-in as in
``wᵀv`` (a weight row)                            ``numeric.initialise``: a matrix's columns,
                                                  a weight row's length)
fixed matrix (the WCRNN's residual R)             N(0, 1) rescaled to ‖R‖∞ ~ U(0.2, 0.8):
                                                  ‖R h‖∞ < 1 and spectral radius < 1
other vector (bias, the WCRNN's diagonal λ)       U(−0.5, 0.5) entrywise
scalar with a default in ``numeric.initialise``   default · U(0.8, 1): leak α ∈ (0.64, 0.8),
                                                  Δt ∈ (0.8, 1) and τ ∈ (1, 1.25) so
                                                  α = Δt/τ ∈ (0.64, 1), gate gains ∈ (0.8, 1)
other scalar (WCRNN γ and λ, a scalar bias, ...)  U(0.2, 0.8)
==============================================  ========================================

With states and inputs in [−1, 1], weights of gain ≤ 1.5 keep pre-activations O(1) (docs/theory.md: “Checkable properties”: tanh and σ not saturated).  :func:`values` enforces it: every named intermediate —
and, for a named ``σ(a)`` or ``tanh(a)``, its argument ``a`` recovered by logit / atanh —
stays within ``max_preactivation`` (default 6, docs/verification.md: “Drawing values”, |a| ≲ 6 in float32), and the new
states are finite; parameters are redrawn (``.filter``) otherwise.  :func:`preactivations`
gives those values for any point.

Settings profiles, registered when this module is imported (``load_profile()`` picks one):

==============  ===============================================================================
profile         settings
==============  ===============================================================================
``dev``         50 examples, random seed, example database on: quick local runs that explore
``ci``          100 examples, ``derandomize=True`` (the same examples on every run, so CI is
                reproducible but does not explore), ``print_blob=True``
``thorough``    10 000 examples, random seed, ``print_blob=True``: exploration (see
                ``benchmarks/thorough.py``)
==============  ===============================================================================

All three have ``deadline=None`` (the first example of a cell compiles its kernels) and do not
fail the ``too_slow`` health check (drawing a random cell derives and compiles it).
:func:`load_profile` loads ``HYPOTHESIS_PROFILE`` if it is set, else ``ci`` when ``CI=true``,
else ``dev``; ``tests/conftest.py`` calls it.

Random cells
------------

:func:`random_cells` composes the public cell language of :mod:`symbolic` into random
*valid* cells, so the structured engine can be checked against the dense oracle on gate
designs nobody has written yet.  A drawn cell has

* a state ``h`` of size ``n``, sometimes a second state ``c`` of size ``n`` or ``k``, and
  zero to two inputs ``x``, ``u`` of size ``m``;
* named intermediates ``a1, a2 …`` (``cell.let``) and gates ``g1, g2 …`` (``cell.gate``,
  σ of a vector or of a scalar — a gate shared by all units), reused by later expressions;
* updates of the forms ``e``, ``s + e``, ``(1 − α) s + α e`` with a scalar parameter α,
  and ``(1 − g) ⊙ s + g ⊙ e`` with a gate ``g``;

where every vector expression ``e`` is drawn from the grammar

    e := leaf | f(e) | e + c·e | e ⊙ e | λ·e + c | M @ e | σ·e | σ + e | e / (1 + e²) | e^p
    σ := scalar parameter | scalar named node | eᵀe | f(σ)
    M := Σ λ_i B_i,   B_i ∈ {W, Wᵀ, I} distinct,

with ``leaf`` a state, input, named node or vector parameter of the right size,
f ∈ {tanh, sigmoid, exp, softplus, log(1 + ·²)}, c a small rational, λ a small rational
or ± a scalar parameter (trainable ``gamma*`` or fixed ``alpha*``), p ∈ {2, 3}.  So
``(W1 - W1.T - gamma1*I) @ h`` and ``b1ᵀh`` broadcast as a scalar gate both occur.  Every
function is finite at every real point: the only division is by 1 + v², and the v of
1 + v² (in e / (1 + v²) and in log(1 + v²), whose derivative divides by it) is drawn
without divisions and named nodes, so no fraction nests in a denominator — exact
comparison with the dense oracle stays fast.

Every drawn piece stays in the cell, so the cell validates: parameters are declared only
when an expression first needs them, every expression drawn ends up in an update, a sum
or product that SymPy cancels (``h - h``) is replaced by one with fresh scalar weights,
and states, inputs or named nodes no expression picked are added to an update at the end.
Choices are ordered simplest first, so Hypothesis shrinks towards small cells.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np
import sympy
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gatejac import numeric
from gatejac import symbolic
from gatejac.numeric._init import FIXED_DEFAULTS, _fan_ins
from gatejac.numeric._values import _convert
from gatejac.symbolic import SCALAR, Cell, ShapeError, SpecError, Vec
from gatejac.symbolic._errors import unknown_name
from gatejac.symbolic._functions import sigmoid
from gatejac.symbolic._nodes import MatrixParameter

__all__ = [
    "DTYPES", "GAINS", "MAX_PREACTIVATION", "PROFILES", "cells", "dimensions", "inputs", "load_profile",
    "parameters", "preactivations", "random_cells", "states", "values",
]

_CONSTANTS = (sympy.Integer(1), sympy.Integer(-1), sympy.Rational(1, 2), sympy.Integer(2), sympy.Rational(-3, 2))
_POWERS = (2, 3)
_VECTOR_FORMS = ("leaf", "function", "sum", "product", "scaled", "matvec", "broadcast", "ratio", "power")
_UPDATE_FORMS = ("plain", "residual", "leaky", "gated")


def _log_one_plus_square(v):
    """log(1 + v²): a logarithm whose argument is positive at every real point."""
    return symbolic.log(1 + v**2)


_FUNCTIONS = (symbolic.tanh, symbolic.sigmoid, symbolic.exp, symbolic.softplus, _log_one_plus_square)


class _RandomCell:
    """One random cell under construction; ``draw`` is Hypothesis's draw function."""

    def __init__(self, draw, max_depth: int):
        self.draw = draw
        self.max_depth = max_depth
        self.cell = Cell("random", description="a random cell drawn by verify.strategies.random_cells")
        self.counts: dict[str, int] = {}
        self.pieces: dict[str, Vec] = {}  # states, inputs and named nodes, by name
        self.named_nodes: list[str] = []  # lets and gates, by name
        self.gates: list[str] = []
        self.drawn: set[str] = set()  # the pieces some expression has used
        self.vectors: list[Vec] = []
        self.scalars: list[sympy.Symbol] = []
        self.matrices: list[sympy.MatrixSymbol] = []
        self.sizes: list[sympy.Expr] = []  # sizes a matrix product can map from
        self.plain = False  # drawing a denominator: no division, no named node

    # ------------------------------------------------------------------ choices
    def choose(self, options):
        return self.draw(st.sampled_from(tuple(options)))

    def reuse_or_new(self, existing, make):
        """An existing piece, or a new one from ``make()`` (the last choice, so shrinking
        prefers reusing what is declared)."""
        index = self.draw(st.integers(0, len(existing)))
        return existing[index] if index < len(existing) else make()

    def fresh_name(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}{self.counts[prefix]}"

    # ------------------------------------------------------------------ declarations
    def declare(self, name: str, piece: Vec) -> Vec:
        self.pieces[name] = piece
        if piece.size is not SCALAR and piece.size not in self.sizes:
            self.sizes.append(piece.size)
        return piece

    def use(self, name: str) -> Vec:
        self.drawn.add(name)
        return self.pieces[name]

    def vector_parameter(self, size) -> Vec:
        def make():
            vector = self.cell.parameter(self.fresh_name("b"), size)
            self.vectors.append(vector)
            return vector

        return self.reuse_or_new([v for v in self.vectors if v.size == size], make)

    def scalar_parameter(self) -> sympy.Symbol:
        return self.reuse_or_new(self.scalars, self.new_scalar_parameter)

    def new_scalar_parameter(self, trainable: bool | None = None) -> sympy.Symbol:
        if trainable is None:
            trainable = self.draw(st.booleans())
        scalar = self.cell.parameter(self.fresh_name("gamma" if trainable else "alpha"), trainable=trainable)
        self.scalars.append(scalar)
        return scalar

    def new_matrix(self, rows, cols) -> sympy.MatrixSymbol:
        matrix = self.cell.parameter(self.fresh_name("W"), (rows, cols))
        self.matrices.append(matrix)
        return matrix

    def named(self) -> None:
        """Declare a let or a gate that later draws may reuse."""
        is_gate = self.draw(st.booleans())
        size = self.choose([*self.state_sizes(), SCALAR])
        if is_gate:
            self.new_gate(size)
        else:
            name = self.fresh_name("a")
            self.declare(name, self.cell.let(name, self.expression(size, self.max_depth)))
            self.named_nodes.append(name)

    def new_gate(self, size) -> str:
        """Declare the gate ``σ(e)`` of ``size`` (a scalar size gives a gate shared by all units)."""
        name = self.fresh_name("g")
        self.declare(name, self.cell.gate(name, symbolic.sigmoid(self.expression(size, self.max_depth - 1))))
        self.named_nodes.append(name)
        self.gates.append(name)
        return name

    def state_sizes(self) -> list:
        return list(dict.fromkeys(self.pieces[s.name].size for s in self.cell.states))

    # ------------------------------------------------------------------ expressions
    def expression(self, size, depth: int) -> Vec:
        return self.scalar(depth) if size is SCALAR else self.vector(size, depth)

    def vector(self, size, depth: int) -> Vec:
        """A vector expression of ``size`` whose tree is at most ``depth`` operations deep."""
        forms = [f for f in _VECTOR_FORMS if not (self.plain and f == "ratio")]
        form = "leaf" if depth <= 0 else self.choose(forms)
        return getattr(self, f"_{form}")(size, depth - 1)

    @contextmanager
    def plainly(self):
        """Draw without divisions or named nodes (which may hold divisions), for the v of
        1 + v²: no fraction then nests in a denominator, which keeps the exact comparison
        of the dense oracle fast."""
        outer, self.plain = self.plain, True
        try:
            yield
        finally:
            self.plain = outer

    def function_of(self, argument) -> Vec:
        """f(argument()) for a random elementwise f (the argument of log(1 + v²) drawn plainly)."""
        function = self.choose(_FUNCTIONS)
        if function is not _log_one_plus_square:
            return function(argument())
        with self.plainly():
            return function(argument())

    def scalar(self, depth: int) -> Vec:
        """A scalar expression: a scalar parameter, a scalar named node, a reduction uᵀv, or f(σ)."""
        named = [name for name in self.named_nodes if self.pieces[name].size is SCALAR and not self.plain]
        forms = ["parameter", *(["named"] if named else []), *(["dot", "function"] if depth > 0 else [])]
        form = self.choose(forms)
        if form == "parameter":
            return Vec(self.cell, self.scalar_parameter())
        if form == "named":
            return self.use(self.choose(named))
        if form == "function":
            return self.function_of(lambda: self.scalar(depth - 1))
        size = self.choose(self.sizes)
        return self.vector(size, depth - 1).dot(self.vector(size, depth - 1))

    def _leaf(self, size, depth: int) -> Vec:
        """A state or input, a named node, or a vector parameter of ``size``."""
        leaves = [name for name in self.pieces if name not in self.named_nodes and self.pieces[name].size == size]
        named = [name for name in self.named_nodes if self.pieces[name].size == size and not self.plain]
        kinds = [*(["leaf"] if leaves else []), *(["named"] if named else []), "parameter"]
        kind = self.choose(kinds)
        if kind == "parameter":
            return self.vector_parameter(size)
        return self.use(self.choose(leaves if kind == "leaf" else named))

    def _function(self, size, depth: int) -> Vec:
        return self.function_of(lambda: self.vector(size, depth))

    def _sum(self, size, depth: int) -> Vec:
        u, v = self.vector(size, depth), self.vector(size, depth)
        return self.kept(u + self.choose(_CONSTANTS) * v, u, v)

    def _product(self, size, depth: int) -> Vec:
        u, v = self.vector(size, depth), self.vector(size, depth)
        return self.kept(u * v, u, v)

    def _scaled(self, size, depth: int) -> Vec:
        u = self.vector(size, depth)
        return self.coefficient() * u + self.choose((0, *_CONSTANTS))

    def _matvec(self, size, depth: int) -> Vec:
        operand_size = self.choose(self.sizes)
        return self.matrix(size, operand_size) @ self.vector(operand_size, depth)

    def _broadcast(self, size, depth: int) -> Vec:
        u, gate = self.vector(size, depth), self.scalar(depth)
        return self.kept(gate + u if self.draw(st.booleans()) else gate * u, u, gate)

    def _ratio(self, size, depth: int) -> Vec:
        u = self.vector(size, depth)
        with self.plainly():
            v = self.vector(size, depth)
        return self.kept(u / (1 + v**2), u, v)

    def _power(self, size, depth: int) -> Vec:
        return self.vector(size, depth) ** self.choose(_POWERS)

    def coefficient(self):
        """A small rational, or ± a scalar parameter."""
        if not self.draw(st.booleans()):
            return self.choose(_CONSTANTS)
        return self.choose((1, -1)) * self.scalar_parameter()

    def matrix(self, rows, cols) -> sympy.MatrixExpr:
        """Σ λ_i B_i over 1–3 distinct bases: matrix parameters, transposes, the identity."""
        total, bases = None, []
        for _ in range(self.draw(st.integers(1, 3))):
            candidates = [
                *(m for m in self.matrices if m.shape == (rows, cols)),
                *(m.T for m in self.matrices if m.shape == (cols, rows)),
                *([sympy.Identity(rows)] if rows == cols else []),
            ]
            base = self.reuse_or_new([b for b in candidates if b not in bases], lambda: self.new_matrix(rows, cols))
            bases.append(base)
            term = self.coefficient() * base
            total = term if total is None else total + term
        return total

    def kept(self, result: Vec, *operands: Vec) -> Vec:
        """``result``, unless SymPy cancelled a node the operands hold (``h - h``); then
        ``operands[0] + Σ γ_i operands[i]`` with fresh scalar parameters γ_i, which cannot cancel."""
        needed = set().union(*(o.expr.free_symbols for o in operands))
        if needed <= result.expr.free_symbols:
            return result
        first, *rest = operands
        return first + sum(Vec(self.cell, self.new_scalar_parameter(trainable=True)) * o for o in rest)

    # ------------------------------------------------------------------ updates
    def update_value(self, name: str) -> Vec:
        """``e``, ``s + e``, ``(1 − α) s + α e`` or ``(1 − g) ⊙ s + g ⊙ e`` for the state ``name``."""
        state = self.pieces[name]
        form = self.choose(_UPDATE_FORMS)
        candidate = self.vector(state.size, self.max_depth)
        if form == "plain":
            return candidate
        self.use(name)
        if form == "residual":
            return self.kept(state + candidate, state, candidate)
        rate = Vec(self.cell, self.scalar_parameter()) if form == "leaky" else self.gate_for(state.size)
        return self.kept((1 - rate) * state + rate * candidate, state, candidate, rate)

    def gate_for(self, size) -> Vec:
        """A gate of ``size`` or a scalar gate: an existing one, or a new one."""
        existing = [g for g in self.gates if self.pieces[g].size in (size, SCALAR)]
        return self.use(self.reuse_or_new(existing, lambda: self.new_gate(self.choose((size, SCALAR)))))

    def fold_unused(self, updates: dict[str, Vec]) -> None:
        """Add each state, input or named node that no expression used to an update:
        ``s' + p`` if ``p`` has the state's size (or is a scalar), else ``s' + W p``."""
        first = self.cell.states[0].name
        for name, piece in self.pieces.items():
            if name in self.drawn:
                continue
            target = next((s.name for s in self.cell.states if self.pieces[s.name].size == piece.size), None)
            if piece.size is SCALAR or target is not None:
                target = target or first
                updates[target] = updates[target] + piece
            else:
                updates[first] = updates[first] + self.new_matrix(self.pieces[first].size, piece.size) @ piece



def _bounded(option: str, value, low: int, high: int | None = None, function: str = "random_cells") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        raise SpecError(f"{function}({option}={value!r}): {option} must be {allowed}")
    return value


def random_cells(*, max_states: int = 2, max_inputs: int = 2, max_named: int = 3, max_depth: int = 3):
    """A Hypothesis strategy for random valid cells (validated, so frozen) of the public cell language.

    ``max_states`` (1 or 2) bounds the states, ``max_inputs`` (0–2) the inputs,
    ``max_named`` the lets and gates declared before the updates, and ``max_depth`` the
    nesting of operations in each expression.  Sizes stay symbolic (``n``, ``k``, ``m``).
    """
    _bounded("max_states", max_states, 1, 2)
    _bounded("max_inputs", max_inputs, 0, 2)
    _bounded("max_named", max_named, 0)
    _bounded("max_depth", max_depth, 0)
    return _random_cells(max_states, max_inputs, max_named, max_depth)


@st.composite
def _random_cells(draw, max_states: int, max_inputs: int, max_named: int, max_depth: int) -> Cell:
    builder = _RandomCell(draw, max_depth)
    cell = builder.cell
    builder.declare("h", cell.state("h", "n"))
    if draw(st.integers(1, max_states)) == 2:
        builder.declare("c", cell.state("c", draw(st.sampled_from(("n", "k")))))
    for name in ("x", "u")[: draw(st.integers(0, max_inputs))]:
        builder.declare(name, cell.input(name, "m"))
    for _ in range(draw(st.integers(0, max_named))):
        builder.named()
    updates = {state.name: builder.update_value(state.name) for state in cell.states}
    builder.fold_unused(updates)
    for name, value in updates.items():
        cell.update(name, value)
    return cell.validate()


# ====================================================================== cells
def cells(*, catalogue=True, random: bool = True, **random_options):
    """A Hypothesis strategy for catalogue cells and/or random valid cells (validated, so frozen).

    ``catalogue`` is ``True`` (every ``(name, options)`` pair of ``symbolic.cells.variants()``),
    ``False`` (none) or catalogue names (only their variants, e.g. ``catalogue=["gru_torch"]``).
    ``random=True`` also draws :func:`random_cells` with ``random_options`` (``max_states``,
    ``max_inputs``, ``max_named``, ``max_depth``).  Catalogue cells are built once and shared;
    Hypothesis shrinks towards the first catalogue variant, then towards random cells.

    Example::

        @given(cells(random=False))
        def test_something(cell): ...
    """
    choices = _catalogue_choices(catalogue)
    if not isinstance(random, bool):
        raise SpecError(f"cells(random={random!r}): random must be True or False")
    if random_options and not random:
        raise SpecError(f"cells(random=False, {', '.join(random_options)}=...): "
                        "options of random cells need random=True")
    parts = [st.sampled_from(choices).map(_catalogue_cell)] if choices else []
    if random:
        parts.append(random_cells(**random_options))
    if not parts:
        raise SpecError("cells() with no catalogue cells and random=False draws nothing: "
                        "allow the catalogue, random cells or both")
    return st.one_of(parts)


def _catalogue_choices(catalogue) -> list[tuple[str, tuple]]:
    """``(name, sorted option items)`` for the catalogue variants ``catalogue`` selects."""
    variants = [(name, tuple(sorted(options.items()))) for name, options in symbolic.cells.variants()]
    if isinstance(catalogue, bool):
        return variants if catalogue else []
    names = [catalogue] if isinstance(catalogue, str) else catalogue
    if not isinstance(names, (list, tuple, set, frozenset)):
        raise SpecError(f"cells(catalogue={catalogue!r}): give True, False or a list of catalogue names "
                        f"from symbolic.cells.names()")
    for name in names:
        if name not in symbolic.cells.names():
            raise unknown_name("cell", name, symbolic.cells.names(),
                               "(passed to verify.strategies.cells(catalogue=...))")
    return [variant for variant in variants if variant[0] in names]


@functools.lru_cache(maxsize=None)
def _catalogue_cell(choice: tuple[str, tuple]) -> Cell:
    name, options = choice
    return symbolic.cells.get(name, **dict(options))


def dimensions(cell: Cell, *, min_size: int = 2, max_size: int = 6):
    """A Hypothesis strategy for ``{size name: int}`` covering every size of ``cell``
    (``n``, ``m``, ``k`` …), each from ``min_size`` to ``max_size``."""
    cell = _checked_cell(cell, "dimensions")
    _bounded("min_size", min_size, 1, function="dimensions")
    _bounded("max_size", max_size, min_size, function="dimensions")
    return st.fixed_dictionaries({name: st.integers(min_size, max_size) for name in _size_names(cell)})


def _size_names(cell: Cell) -> list[str]:
    return sorted(d.name for d in cell.dims)


# ====================================================================== values
DTYPES = ("float64", "float32")
GAINS = st.floats(0.5, 1.5)
"""Default gain g of the weights, g/√fan_in · N(0, 1)."""
STATE_BOUND = 1.0
INPUT_BOUND = 1.0
BIAS_BOUND = 0.5
SCALAR_RANGE = (0.2, 0.8)
DEFAULT_FACTORS = (0.8, 1.0)
"""A scalar with a default d in ``numeric.initialise`` is drawn as d · U(0.8, 1)."""
MAX_PREACTIVATION = 6.0
"""Bound on named intermediates and on the arguments of named σ / tanh (docs/verification.md: “Drawing values”, |a| ≲ 6)."""
_WIDTH = {"float64": 64, "float32": 32}
_INVERSES = {sigmoid: lambda v: np.log(v) - np.log1p(-v), sympy.tanh: np.arctanh}
"""The argument ``a`` of a named ``σ(a)`` (logit) or ``tanh(a)`` (atanh) from its value."""


def parameters(cell: Cell, *, sizes, gain=GAINS, dtype: str = "float64", backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: value}`` of every parameter of ``cell``.

    Draws an integer seed and a gain (``gain``: a number > 0 or a strategy of them), then
    ``numpy.random.default_rng(seed)`` draws every parameter as the module docstring's table
    says: weights g/√fan_in · N(0, 1), a fixed residual matrix with ‖R‖∞ < 1, biases in
    [−0.5, 0.5], scalars in valid ranges.  Shrinking moves the seed and the gain, never single
    entries.  Values are exactly representable in ``dtype`` and never subnormal.
    """
    cell = _checked_cell(cell, "parameters")
    sizes, gain = _sizes(cell, sizes, "parameters"), _gains(gain)
    _check_array_options(dtype, backend)
    return _parameters(cell, sizes, gain, dtype).map(lambda group: _convert(group, backend, dtype))


def states(cell: Cell, *, sizes, batch=(), dtype: str = "float64", backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: array}`` of every state, shape ``batch + (size,)``,
    entries in [−1, 1] (finite, not subnormal, of ``dtype``'s width)."""
    return _leaf_strategy(cell, "states", STATE_BOUND, sizes, batch, dtype, backend)


def inputs(cell: Cell, *, sizes, batch=(), dtype: str = "float64", backend: str = "numpy"):
    """A Hypothesis strategy for ``{name: array}`` of every input, shape ``batch + (size,)``,
    entries in [−1, 1] (finite, not subnormal, of ``dtype``'s width)."""
    return _leaf_strategy(cell, "inputs", INPUT_BOUND, sizes, batch, dtype, backend)


def values(cell: Cell, *, sizes, batch=(), dtype: str = "float64", backend: str = "numpy", gain=GAINS,
           max_preactivation: float = MAX_PREACTIVATION):
    """A Hypothesis strategy for ``(states, inputs, params)`` of ``cell`` at one point, drawn
    as :func:`states`, :func:`inputs` and :func:`parameters` draw them (with one size map and
    one batch shape), where every value of :func:`preactivations` lies within
    ``±max_preactivation`` and the new states are finite — parameters are redrawn otherwise.

    Example::

        @given(values(cell, sizes={"n": 4, "m": 3}, batch=(2,)))
        def test_step(point):
            states, inputs, params = point
    """
    cell = _checked_cell(cell, "values")
    sizes, batch, gain = _sizes(cell, sizes, "values"), _batches(batch), _gains(gain)
    _check_array_options(dtype, backend)
    if isinstance(max_preactivation, bool) or not isinstance(max_preactivation, (int, float)) \
            or not max_preactivation > 0:
        raise SpecError(f"values(max_preactivation={max_preactivation!r}): give a number > 0, e.g. 6")
    point = _values(cell, sizes, batch, gain, dtype, float(max_preactivation))
    return point.map(lambda groups: tuple(_convert(group, backend, dtype) for group in groups))


def preactivations(cell: Cell, states, inputs, params) -> dict[str, np.ndarray]:
    """``{name: array}`` for every named intermediate of ``cell`` at a point, evaluated in
    float64 by the compiled NumPy kernels: the value itself, or for a named ``σ(a)`` or
    ``tanh(a)`` its argument ``a`` (logit / atanh of the value; ±inf where it saturated)."""
    as_float64 = [{name: _float64(value) for name, value in group.items()} for group in (states, inputs, params)]
    named = numeric.compile(cell, "numpy").intermediates(*as_float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {node.name: _INVERSES.get(node.expr.func, np.asarray)(np.asarray(named[node.name]))
                for node in cell.named}


@st.composite
def _parameters(draw, cell: Cell, sizes, gain, dtype: str) -> dict[str, np.ndarray]:
    sizes, gain = draw(sizes), draw(gain)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape_of = numeric.shapes(cell, sizes)
    fan_in = _fan_ins(cell, shape_of)  # weights' fan-in, as numeric.initialise counts it
    return {p.name: _representable(_draw_parameter(cell, p, shape_of[p.name], fan_in.get(p.name), gain, rng), dtype)
            for p in cell.parameters}


def _draw_parameter(cell: Cell, parameter, shape: tuple, fan_in: int | None, gain: float, rng) -> np.ndarray:
    """One parameter's value (the table of the module docstring)."""
    if isinstance(parameter, MatrixParameter) and not parameter.trainable:
        matrix = rng.standard_normal(shape)
        return rng.uniform(*SCALAR_RANGE) * matrix / np.max(np.sum(np.abs(matrix), axis=1))
    if fan_in is not None:
        return gain / math.sqrt(fan_in) * rng.standard_normal(shape)
    if shape:
        return rng.uniform(-BIAS_BOUND, BIAS_BOUND, shape)
    default = FIXED_DEFAULTS.get((cell.name, parameter.name))
    if default is not None:
        return np.asarray(default[0] * rng.uniform(*DEFAULT_FACTORS))
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
    return {leaf.name: draw(_bounded_arrays(tuple(batch) + shape_of[leaf.name], bound, dtype)) for leaf in leaves}


def _leaf_strategy(cell, group: str, bound: float, sizes, batch, dtype, backend):
    cell = _checked_cell(cell, group)
    sizes, batch = _sizes(cell, sizes, group), _batches(batch)
    _check_array_options(dtype, backend)
    leaves = cell.states if group == "states" else cell.inputs

    @st.composite
    def leaf_values(draw):
        shape_of = numeric.shapes(cell, draw(sizes))
        return _convert(_draw_leaves(draw, leaves, shape_of, draw(batch), bound, dtype), backend, dtype)

    return leaf_values()


@st.composite
def _values(draw, cell: Cell, sizes, batch, gain, dtype: str, bound: float):
    sizes, batch = draw(sizes), draw(batch)
    shape_of = numeric.shapes(cell, sizes)
    state_values = _draw_leaves(draw, cell.states, shape_of, batch, STATE_BOUND, dtype)
    input_values = _draw_leaves(draw, cell.inputs, shape_of, batch, INPUT_BOUND, dtype)
    params = draw(_parameters(cell, st.just(sizes), gain, dtype).filter(
        lambda p: _within_bounds(cell, state_values, input_values, p, bound)))
    return state_values, input_values, params


def _within_bounds(cell: Cell, states: dict, inputs: dict, params: dict, bound: float) -> bool:
    """The new states are finite and every :func:`preactivations` value is within ±bound."""
    with np.errstate(all="ignore"):
        new = numeric.compile(cell, "numpy").step(states, inputs, params)
        if not all(np.all(np.isfinite(value)) for value in new.values()):
            return False
        return all(np.all(np.abs(value) <= bound) for value in preactivations(cell, states, inputs, params).values())


def _float64(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


# ---------------------------------------------------------------------- option checks
def _checked_cell(cell, function: str) -> Cell:
    if not isinstance(cell, Cell):
        raise SpecError(f"{function}() takes a symbolic.Cell, got {type(cell).__name__} {cell!r}; "
                        "build one with symbolic.Cell or symbolic.cells.get(name)")
    return cell.validate()


def _sizes(cell: Cell, sizes, function: str):
    """``sizes`` as a strategy: a strategy as given, or a checked mapping as ``st.just``."""
    if isinstance(sizes, st.SearchStrategy):
        return sizes
    names = _size_names(cell)
    if not isinstance(sizes, Mapping):
        raise ShapeError(f"{function}(sizes={sizes!r}): give a mapping such as {dict.fromkeys(names, 3)} "
                         "or a strategy of them, e.g. verify.strategies.dimensions(cell)")
    for name, value in sizes.items():
        if name not in names:
            raise unknown_name("size", name, names, f"(cell {cell.name!r}; passed to {function}(sizes=...))")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"{function}(sizes={dict(sizes)!r}): size {name}={value!r} must be a positive integer")
    numeric.shapes(cell, sizes)  # every size given
    return st.just({name: int(value) for name, value in sizes.items()})


def _batches(batch):
    if isinstance(batch, st.SearchStrategy):
        return batch
    if not isinstance(batch, (tuple, list)) or any(
            isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0 for b in batch):
        raise ShapeError(f"batch={batch!r}: give a tuple of non-negative integers such as (4,) or () "
                         "(or a strategy of them)")
    return st.just(tuple(int(b) for b in batch))


def _gains(gain):
    if isinstance(gain, st.SearchStrategy):
        return gain
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain <= 0:
        raise SpecError(f"gain={gain!r}: give a finite number > 0 (weights are gain/sqrt(fan_in) * N(0, 1)) "
                        "or a strategy of them, e.g. st.floats(0.5, 1.5)")
    return st.just(float(gain))


def _check_array_options(dtype, backend) -> None:
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, list(DTYPES), "(pass the dtype's name as a string)")
    if backend not in numeric.BACKENDS:
        raise unknown_name("backend", backend, list(numeric.BACKENDS))


# ====================================================================== settings profiles
PROFILES = ("dev", "ci", "thorough")
# Parent: Hypothesis's own "default" profile, not the settings loaded now (under CI=true
# Hypothesis has already loaded its built-in derandomised "ci" profile, which dev and
# thorough must not inherit).
_COMMON = {"parent": settings.get_profile("default"), "deadline": None,
           "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=50, **_COMMON)
settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=10_000, print_blob=True, **_COMMON)


def load_profile(environ: Mapping[str, str] | None = None) -> str:
    """Load and return the Hypothesis profile for this run: ``HYPOTHESIS_PROFILE`` if set,
    else ``"ci"`` when ``CI=true``, else ``"dev"`` (``environ`` defaults to ``os.environ``)."""
    environ = os.environ if environ is None else environ
    name = environ.get("HYPOTHESIS_PROFILE") or ("ci" if environ.get("CI", "").lower() == "true" else "dev")
    if name not in PROFILES:
        raise unknown_name("Hypothesis profile", name, list(PROFILES),
                           "(set by the environment variable HYPOTHESIS_PROFILE; see verify.strategies)")
    settings.load_profile(name)
    return name
