"""Random valid cells of the public cell language, for Hypothesis (:func:`random_cells`).

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

from contextlib import contextmanager

import sympy
from hypothesis import strategies as st

from gatejac import symbolic
from gatejac.symbolic import SCALAR, Cell, SpecError, Vec

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



def bounded(option: str, value, low: int, high: int | None = None, function: str = "random_cells") -> int:
    """``value`` if it is an integer from ``low`` to ``high``, else a :class:`~symbolic.SpecError`
    naming ``function(option=value)``."""
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
    bounded("max_states", max_states, 1, 2)
    bounded("max_inputs", max_inputs, 0, 2)
    bounded("max_named", max_named, 0)
    bounded("max_depth", max_depth, 0)
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
