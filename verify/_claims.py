"""Claims about a cell, and :func:`check_claims`, which verifies each one and names the wrong term.

A *claim* is something a user says about their cell that gatejac can check against the
cell's spec (its :class:`~symbolic.Cell`) and the oracles.  :class:`Claims` (or a plain
dict with the same keys) holds any of three kinds:

``jacobians``   hand-derived Jacobians written in the cell language, ``{jacobian: terms}``.
                ``jacobian`` is a name :func:`verify.check` knows: ``"state"``,
                ``"input"``, ``"parameter:W"``, ``"gate_split:A"``, ``"gate_split:B"``.
                ``terms`` is a list of *labelled terms* ``[(label, term), ...]`` whose sum is
                the claimed block; a Jacobian with several blocks (an LSTM's states ``h``
                and ``c``) takes ``{(new_state, leaf): [(label, term), ...]}``, and blocks
                left out are taken from ``symbolic.derive(cell)`` (the report lists them).
``functions``   ``{jacobian: f}`` with ``f(states, inputs, params) -> array``: the dense
                Jacobian computed by the user's own NumPy code.  Arguments are float64
                NumPy arrays keyed by spec name, states and inputs with a batch dimension
                ``(B, size)``; the result has the layout of the matching
                :class:`numeric.CompiledCell` method, ``(B, rows, columns)`` (matrix
                parameters flattened row-major).
``torch_step``  ``f(states, inputs, params) -> {state: new value}``: the user's own torch
                implementation of the step (float64 tensors, batch ``(B,)``).

A term is a product, read left to right in numerator layout (``J[i, j] = ∂out_i/∂in_j``),
built from the cell's own ``Vec`` and matrix objects with ``@``, ``+``, ``-`` and scalar
multiples (numbers, scalar parameters; put a scalar cell expression on the right,
``identity(h) * (1 - s)``):

==================  =============  =========================================================
helper              shape          meaning
==================  =============  =========================================================
``diag(v)``         k × k          ``diag(v)`` for a vector expression ``v`` of size k
``identity(v)``     k × k          the identity of ``v``'s size
``W``, ``W.T``...   r × c          a matrix expression of the cell's matrix parameters
``outer(u, w)``     k × l          the rank-one ``u wᵀ`` (a scalar gate's term)
``column(u)``       k × 1          ``u`` as a column (∂s'/∂γ for a scalar parameter γ)
``row(w)``          1 × l          ``wᵀ``
``eye_kron(v, r)``  r × (r·l)      ``I_r ⊗ vᵀ`` = ∂(P v)/∂P with P (r × l) flattened row-major
``kron_eye(v, r)``  r × (l·r)      ``vᵀ ⊗ I_r`` = ∂(Pᵀ v)/∂P with P (l × r) flattened row-major
==================  =============  =========================================================

These are the factors of :mod:`symbolic._linear`, so a claim is a structured Jacobian
like the ones ``symbolic.derive`` produces.  Example (the multi-gated leaky cell
``h' = (1 − g) ⊙ h + g ⊙ tanh(a)``, ``g = σ(a_g)``)::

    Claims(jacobians={"state": [
        ("retention", diag(1 - g)),
        ("candidate", diag(g * (1 - tanh(a) ** 2)) @ W_r),
        ("gate",      diag((tanh(a) - h) * g * (1 - g)) @ W_rg),
    ]})

How :func:`check_claims` decides:

* the spec first: ``verify.check(cell)`` — gatejac's own derivation against the oracles;
* labelled terms: the claimed block replaces the derived one in a copy of the derivation
  (``Derivation.replace``), which ``verify.check(..., derivation=...)`` compiles and checks
  against the oracles (``"ad"``, ``"fd"``, ``"taylor"``): that decides pass or fail.  To
  name the wrong term, every claimed and every derived term of a block is rendered on a
  :class:`symbolic.Instance` at the check's sizes (``symbolic.dense_term``) and evaluated
  at the check's first points; each claimed term is matched to a disjoint set of derived
  terms with the same value (subset sums, as many claimed terms matched as possible, at
  the ``"reference"`` tolerance).  A claimed term no set matches is *wrong*; the derived
  terms left over are what the spec has in its place;
* functions: each against the ``"ad"`` oracle (``torch.func`` through the spec's step);
* a torch step: its new states against the spec's step (``"reference"`` tolerance), and
  its state, input and parameter Jacobians — ``torch.func.jacrev`` through the user's step,
  the views of the ``"ad"`` oracle — against gatejac's closed forms (``"ad"`` tolerance).

A user's file for ``gatejac check path/to/file.py:NAME`` defines ``NAME``: a function (or
object) giving a Cell, or a ``(cell, claims)`` pair; :func:`load_target` loads it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy
from sympy.matrices.expressions import MatrixExpr, MatrixSymbol

from gatejac import numeric
from gatejac.symbolic import Cell, Derivation, GatejacError, Instance, Vec, dense_term, derive
from gatejac.symbolic._errors import unknown_name
from gatejac.symbolic._linear import BlockJacobian, Column, Diag, Jacobian, Kron, Mat, Row, Scale, Term
from gatejac.symbolic._nodes import SCALAR

from ._check import _compare, _max_abs, _Outcome, check, jacobian_names
from gatejac.symbolic import term_text
from ._oracles import (
    Arithmetic,
    LeafView,
    Oracles,
    ParameterView,
    make_point,
    oracles_for,
)
from ._report import CheckResult, Report
from ._tolerances import tolerance

ATTRIBUTION_POINTS = 2
"""Points at which claimed and derived terms are evaluated to pair them up."""
MAX_DERIVED_TERMS = 14
"""Largest block (in derived terms) whose 2**terms subset sums are searched."""


class ClaimsError(GatejacError, ValueError):
    """A claim is malformed: an unknown Jacobian, a term of the wrong shape, a bad label,
    a file or name that cannot be loaded.  The message names the piece and what to do."""


# =========================================================================== terms
class Linear:
    """A claimed (part of a) Jacobian: a sum of structured products with a shape.

    Build it with the helpers :func:`diag`, :func:`identity`, :func:`outer`,
    :func:`column`, :func:`row`, :func:`eye_kron`, :func:`kron_eye` and matrix
    expressions, combined by ``@``, ``+``, ``-`` and scalar multiples.
    """

    _op_priority = 30.0  # SymPy's operators defer to Linear's (W @ diag(v), alpha * diag(v))
    __array_ufunc__ = None
    __slots__ = ("terms", "rows", "cols", "cell")

    def __init__(self, terms: tuple[Term, ...], rows, cols, cell: Cell | None):
        self.terms, self.rows, self.cols, self.cell = terms, rows, cols, cell

    # ------------------------------------------------------------------ algebra
    def __matmul__(self, other) -> Linear:
        other = _as_linear(other, "right operand of @", self.cell)
        if not _same_size(self.cols, other.rows):
            raise ClaimsError(f"({self}) @ ({other}): the left factor has {self.cols} columns but the right one "
                              f"has {other.rows} rows")
        terms = tuple(_product(a, b) for a in self.terms for b in other.terms)
        return Linear(terms, self.rows, other.cols, self.cell or other.cell)

    def __rmatmul__(self, other) -> Linear:
        return _as_linear(other, "left operand of @", self.cell) @ self

    def __add__(self, other) -> Linear:
        other = _as_linear(other, "operand of +", self.cell)
        if not (_same_size(self.rows, other.rows) and _same_size(self.cols, other.cols)):
            raise ClaimsError(f"({self}) + ({other}): shapes {self.rows}×{self.cols} and {other.rows}×{other.cols} "
                              "differ")
        return Linear(self.terms + other.terms, self.rows, self.cols, self.cell or other.cell)

    def __radd__(self, other) -> Linear:
        return _as_linear(other, "operand of +", self.cell) + self

    def __sub__(self, other) -> Linear:
        return self + (-_as_linear(other, "operand of -", self.cell))

    def __rsub__(self, other) -> Linear:
        return _as_linear(other, "operand of -", self.cell) + (-self)

    def __neg__(self) -> Linear:
        return self * -1

    def __mul__(self, scalar) -> Linear:
        value = _scalar(scalar, self.cell)
        return Linear(tuple(t.prepend(Scale(value)) for t in self.terms), self.rows, self.cols, self.cell)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return " + ".join(_text(self.cell, t) for t in self.terms) or "0"


def diag(v: Vec) -> Linear:
    """``diag(v)`` for a vector expression ``v`` of the cell (k × k)."""
    _vector(v, "diag")
    return Linear((Term((Diag(v.expr, v.size),)),), v.size, v.size, v.cell)


def identity(v: Vec) -> Linear:
    """The identity matrix of the size of the vector ``v`` (k × k)."""
    _vector(v, "identity")
    return Linear((Term(),), v.size, v.size, v.cell)


def outer(u: Vec, w: Vec) -> Linear:
    """The rank-one matrix ``u wᵀ`` of two vector expressions (k × l)."""
    _vector(u, "outer (left)")
    _vector(w, "outer (right)")
    return Linear((Term((Column(u.expr, u.size), Row(w.expr, w.size))),), u.size, w.size, u.cell)


def column(u: Vec) -> Linear:
    """The vector ``u`` as a column (k × 1), e.g. ∂s'/∂γ for a scalar parameter γ."""
    _vector(u, "column")
    return Linear((Term((Column(u.expr, u.size),)),), u.size, sympy.S.One, u.cell)


def row(w: Vec) -> Linear:
    """The row ``wᵀ`` (1 × l)."""
    _vector(w, "row")
    return Linear((Term((Row(w.expr, w.size),)),), sympy.S.One, w.size, w.cell)


def eye_kron(v: Vec, rows) -> Linear:
    """``I_rows ⊗ vᵀ``: ∂(P v)/∂P for a matrix parameter P (rows × size of v), flattened
    row-major.  ``rows`` is a vector of that size, a size name (``"n"``) or an integer."""
    _vector(v, "eye_kron")
    dim = _dim(v.cell, rows, "eye_kron")
    return Linear((Term((Kron(v.expr, v.size, dim, False),)),), dim, dim * v.size, v.cell)


def kron_eye(v: Vec, rows) -> Linear:
    """``vᵀ ⊗ I_rows``: ∂(Pᵀ v)/∂P for a matrix parameter P (size of v × rows), flattened
    row-major.  ``rows`` is a vector of that size, a size name (``"n"``) or an integer."""
    _vector(v, "kron_eye")
    dim = _dim(v.cell, rows, "kron_eye")
    return Linear((Term((Kron(v.expr, v.size, dim, True),)),), dim, v.size * dim, v.cell)


def _vector(v, helper: str) -> None:
    if not isinstance(v, Vec):
        raise ClaimsError(f"{helper}({v!r}): give a vector expression of the cell (a Vec such as h, g * (1 - g)), "
                          f"not {type(v).__name__}")
    if v.size is SCALAR:
        raise ClaimsError(f"{helper}({v!r}): {v!r} is a scalar; multiply a term by it instead, "
                          "e.g. identity(h) * s")


def _dim(cell: Cell, rows, helper: str):
    if isinstance(rows, Vec):
        _vector(rows, f"{helper} rows")
        return rows.size
    if isinstance(rows, int) and not isinstance(rows, bool) and rows > 0:
        return sympy.Integer(rows)
    names = {d.name: d for d in cell.dims}
    if isinstance(rows, str) and rows in names:
        return names[rows]
    raise unknown_name("size", rows, list(names), f"({helper}: give a size name of cell {cell.name!r}, a vector of "
                                                   "that size, or a positive integer)")


def _same_size(a, b) -> bool:
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def _product(left: Term, right: Term) -> Term:
    """``left · right`` with :meth:`Term.prepend`'s merging (scalars to the front)."""
    result = right
    for factor in reversed(left.factors):
        result = result.prepend(factor)
    return result


def _scalar(value, cell: Cell | None) -> sympy.Expr:
    if isinstance(value, Vec):
        if value.size is not SCALAR:
            raise ClaimsError(f"a term times the vector {value!r}: multiply by diag({value!r}) with @ instead")
        return value.expr
    if isinstance(value, (Linear, MatrixExpr)):
        raise ClaimsError(f"a term times {value!r}: use @ for a matrix product")
    try:
        expr = sympy.sympify(value, strict=True)
    except (sympy.SympifyError, TypeError):
        raise ClaimsError(f"a term times {value!r} of type {type(value).__name__}: only numbers, scalar parameters "
                          "and scalar cell expressions scale a term") from None
    if cell is not None:
        cell.as_expr(expr, "scalar multiple of a claimed term")
    return expr


def _as_linear(value, what: str, cell: Cell | None) -> Linear:
    if isinstance(value, Linear):
        return value
    if isinstance(value, MatrixExpr):
        rows, cols = value.shape
        return Linear((Term((Mat(value),)),), rows, cols, cell)
    if isinstance(value, Vec):
        raise ClaimsError(f"{what}: {value!r} is a vector; a term is a matrix — write diag({value!r}), "
                          f"column({value!r}) or outer(u, w)")
    raise ClaimsError(f"{what}: {value!r} of type {type(value).__name__} is not a claimed term; build terms with "
                      "diag, identity, outer, column, row, eye_kron, kron_eye and the cell's matrices")


def _text(cell: Cell | None, term: Term) -> str:
    if cell is None:
        return repr(term.factors)
    return term_text(cell, term)


# =========================================================================== claims
@dataclass(frozen=True)
class Claims:
    """What a user claims about a cell (see the module docstring for each field)."""

    jacobians: Mapping[str, object] = field(default_factory=dict)
    functions: Mapping[str, Callable] = field(default_factory=dict)
    torch_step: Callable | None = None

    @classmethod
    def coerce(cls, value) -> Claims:
        """A :class:`Claims`, a dict with its keys, or ``None`` (no claims) as Claims."""
        if value is None:
            return cls()
        if isinstance(value, Claims):
            return value
        if isinstance(value, Mapping):
            known = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in known:
                    raise unknown_name("claims key", key, known, "(a claims dict takes the fields of verify.Claims)")
            return cls(**value)
        raise ClaimsError(f"claims must be a verify.Claims or a dict with keys jacobians, functions, torch_step; "
                          f"got {type(value).__name__}")


@dataclass(frozen=True)
class LabelledTerm:
    """One labelled term of a claimed block: the user's label, the structured terms of
    its expression, and their text."""

    label: str
    terms: tuple[Term, ...]
    text: str


@dataclass(frozen=True)
class ClaimedBlock:
    """The labelled terms claimed for one block ``(new_state, leaf)`` of a Jacobian."""

    jacobian: str
    block: tuple[str, str]
    labelled: tuple[LabelledTerm, ...]

    def jacobian_block(self, derived: Jacobian, gates: frozenset[str]) -> Jacobian:
        """The claimed block as a :class:`Jacobian` (terms marked as passing through
        ``gates`` for a claimed B of the gate split)."""
        terms = tuple(dataclasses.replace(t, gates=gates) for lt in self.labelled for t in lt.terms)
        return dataclasses.replace(derived, terms=terms)


def parse_jacobian_claim(cell: Cell, derivation: Derivation, jacobian: str, value) -> list[ClaimedBlock]:
    """The claimed blocks of one ``jacobians`` entry, checked against ``derivation``'s shapes."""
    known = [j for j in jacobian_names(cell) if j not in ("jvp", "vjp")]
    if jacobian not in known:
        raise unknown_name("Jacobian", jacobian, known, f"(cell {cell.name!r}; claims take these names)")
    blocks = derivation.jacobian(jacobian)
    if isinstance(value, Mapping):
        items = list(value.items())
    elif len(blocks.blocks) == 1:
        items = [(next(iter(blocks.blocks)), value)]
    else:
        keys = ", ".join(map(repr, blocks.blocks))
        raise ClaimsError(f"claim {jacobian!r}: cell {cell.name!r} has blocks {keys}; give a dict "
                          "{(new_state, leaf): [(label, term), ...]} for the blocks you claim")
    claimed = []
    for key, terms in items:
        if key not in blocks.blocks:
            raise unknown_name("block", key, [str(k) for k in blocks.blocks], f"(claim {jacobian!r})")
        claimed.append(ClaimedBlock(jacobian, key, _labelled_terms(cell, jacobian, blocks.blocks[key], terms)))
    return claimed


def _labelled_terms(cell: Cell, jacobian: str, block: Jacobian, items) -> tuple[LabelledTerm, ...]:
    where = f"claim {jacobian!r}, block d{block.out}'/d{block.wrt}"
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ClaimsError(f"{where}: give a list of (label, term) pairs, got {type(items).__name__}")
    labelled, labels = [], set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0]):
            raise ClaimsError(f"{where}: {item!r} is not a (label, term) pair with a non-empty string label")
        label, value = item
        if label in labels:
            raise ClaimsError(f"{where}: the label {label!r} is used twice; give each term its own label")
        labels.add(label)
        linear = _as_linear(value, f"{where}, term {label!r}", cell)
        _check_belongs(cell, linear, f"{where}, term {label!r}")
        rows, cols = block.rows if block.rows is not None else sympy.S.One, block.cols
        if not (_same_size(linear.rows, rows) and _same_size(linear.cols, cols)):
            raise ClaimsError(f"{where}, term {label!r} = {linear}: its shape is {linear.rows}×{linear.cols} but the "
                              f"block is {rows}×{cols}")
        labelled.append(LabelledTerm(label, linear.terms, repr(Linear(linear.terms, rows, cols, cell))))
    return tuple(labelled)


def _check_belongs(cell: Cell, linear: Linear, where: str) -> None:
    if linear.cell is not None and linear.cell is not cell:
        raise ClaimsError(f"{where}: the term is built from cell {linear.cell.name!r}, not {cell.name!r}")
    matrices = {p.symbol: p for p in cell.parameters if isinstance(getattr(p, "symbol", None), MatrixSymbol)}
    for term in linear.terms:
        for factor in term.factors:
            if isinstance(factor, Mat):
                for symbol in factor.matrix.free_symbols:
                    if isinstance(symbol, MatrixSymbol) and symbol not in matrices:
                        raise unknown_name("matrix parameter", symbol.name, [s.name for s in matrices],
                                           f"({where}; cell {cell.name!r})")
            else:
                value = factor.value
                cell.as_expr(value, where)


def claimed_derivation(derivation: Derivation, blocks: list[ClaimedBlock]) -> Derivation:
    """A copy of ``derivation`` with the claimed blocks in place of the derived ones."""
    jacobian = blocks[0].jacobian
    cell = derivation.cell
    if jacobian.startswith("gate_split:"):
        split = derivation.gate_split()
        claimed, other = (split.A, split.B) if jacobian.endswith("A") else (split.B, split.A)
        gates = frozenset(g.name for g in cell.gates) if jacobian.endswith("B") else frozenset()
        replaced = {b.block: b.jacobian_block(claimed[b.block], gates) for b in blocks}
        state = {key: dataclasses.replace(block, terms=replaced.get(key, claimed[key]).terms + other[key].terms)
                 for key, block in derivation.state.blocks.items()}
        return derivation.replace(state=BlockJacobian(derivation.state.rows, derivation.state.cols, state))
    original = derivation.jacobian(jacobian)
    replaced = {**original.blocks, **{b.block: b.jacobian_block(original[b.block], frozenset()) for b in blocks}}
    new = BlockJacobian(original.rows, original.cols, replaced)
    if jacobian == "state":
        return derivation.replace(state=new)
    if jacobian == "input":
        return derivation.replace(input=new)
    return derivation.replace(parameters={jacobian.split(":", 1)[1]: new})


# =========================================================================== attribution
@dataclass(frozen=True)
class TermVerdict:
    """A claimed term's verdict: ``"ok"`` (equal to the sum of the derived terms in
    ``matches``), ``"wrong"`` (equal to no set of derived terms), ``"regrouped"`` (no set
    matches it, but the block's sum agrees: the terms split the derivation differently)
    or ``"unchecked"`` (the block is too large to pair terms)."""

    label: str
    text: str
    status: str
    matches: tuple[str, ...] = ()


@dataclass(frozen=True)
class BlockAttribution:
    """Term-by-term comparison of one claimed block with the derived one."""

    jacobian: str
    block: tuple[str, str]
    verdicts: tuple[TermVerdict, ...]
    instead: tuple[str, ...] = ()
    note: str = ""

    @property
    def wrong(self) -> list[str]:
        return [v.label for v in self.verdicts if v.status == "wrong"]

    def to_dict(self) -> dict:
        return {"jacobian": self.jacobian, "block": list(self.block), "wrong": self.wrong,
                "terms": [dataclasses.asdict(v) for v in self.verdicts], "instead": list(self.instead),
                "note": self.note}


class _TermValues:
    """Terms rendered on a :class:`symbolic.Instance` and evaluated at seeded points:
    one flat float64 vector per term (every entry at every point)."""

    def __init__(self, cell: Cell, sizes: Mapping[str, int], seed: int):
        self.instance = Instance(cell, dict(sizes))
        self.points = []
        for k in range(ATTRIBUTION_POINTS):
            states, inputs, params = numeric.random_values(cell, sizes, seed=seed + k)
            values = {}
            for name, value in {**states, **inputs, **params}.items():
                values.update(zip(self.instance.variables(name), (sympy.Float(float(x), 30) for x in np.ravel(value))))
            self.points.append(values)

    def vector(self, terms: tuple[Term, ...], block: Jacobian) -> np.ndarray:
        rows = self.instance.size(block.rows) or 1
        matrix = sympy.zeros(rows, int(sympy.sympify(block.cols).xreplace(self.instance.dims)))
        for term in terms:
            matrix += dense_term(self.instance, term, rows)
        return np.concatenate([np.array(matrix.xreplace(values).evalf(20), dtype=np.float64).ravel()
                               for values in self.points])


def attribute(claimed: ClaimedBlock, derived: Jacobian, values: _TermValues, cell: Cell) -> BlockAttribution:
    """Pair the claimed terms of a block with the derived ones (see the module docstring)."""
    derived_terms = derived.terms
    if len(derived_terms) > MAX_DERIVED_TERMS:
        return BlockAttribution(claimed.jacobian, claimed.block,
                                tuple(TermVerdict(lt.label, lt.text, "unchecked") for lt in claimed.labelled),
                                note=f"the block has {len(derived_terms)} derived terms; term-by-term pairing "
                                     f"searches at most {MAX_DERIVED_TERMS}")
    claimed_vectors = [values.vector(lt.terms, derived) for lt in claimed.labelled]
    derived_vectors = [values.vector((t,), derived) for t in derived_terms]
    total = values.vector(derived_terms, derived)
    tol = tolerance("reference", "float64", _max_abs(total))
    sum_holds = _close(np.sum(claimed_vectors, axis=0) if claimed_vectors else np.zeros_like(total), total, tol)
    masks = _assignment(claimed_vectors, derived_vectors, tol)
    texts = [_text(cell, t) for t in derived_terms]
    verdicts, used = [], 0
    for lt, mask in zip(claimed.labelled, masks):
        if mask is None:
            verdicts.append(TermVerdict(lt.label, lt.text, "regrouped" if sum_holds else "wrong"))
        else:
            used |= mask
            verdicts.append(TermVerdict(lt.label, lt.text, "ok", tuple(t for j, t in enumerate(texts) if mask >> j & 1)))
    if sum_holds:
        note = "" if all(v.status == "ok" for v in verdicts) else \
            "the block's sum agrees; the regrouped terms split the derivation differently"
        return BlockAttribution(claimed.jacobian, claimed.block, tuple(verdicts), note=note)
    instead = tuple(t for j, t in enumerate(texts) if not used >> j & 1)
    note = "" if any(v.status == "wrong" for v in verdicts) else "every claimed term is right, but terms are missing"
    return BlockAttribution(claimed.jacobian, claimed.block, tuple(verdicts), instead, note)


def _close(a: np.ndarray, b: np.ndarray, tol) -> bool:
    return bool(np.all(np.abs(a - b) <= tol.bound(np.abs(b))))


def _assignment(claimed: list[np.ndarray], derived: list[np.ndarray], tol) -> list[int | None]:
    """For each claimed vector, a bit mask of derived vectors summing to it, masks
    disjoint, as many claimed vectors matched as possible (then as many derived covered)."""
    count = len(derived)
    sums = np.zeros((1 << count, claimed[0].size if claimed else 0))
    for mask in range(1, 1 << count):
        low = mask & -mask
        sums[mask] = sums[mask ^ low] + derived[low.bit_length() - 1]
    candidates = [[int(m) for m in np.flatnonzero(np.all(np.abs(sums - c) <= tol.bound(np.abs(c)), axis=1))]
                  for c in claimed]
    best: tuple[tuple[int, int], list[int | None]] = ((-1, -1), [])

    def search(k: int, used: int, chosen: list[int | None]) -> None:
        nonlocal best
        if k == len(claimed):
            score = (sum(m is not None for m in chosen), bin(used).count("1"))
            if score > best[0]:
                best = (score, list(chosen))
            return
        for mask in candidates[k]:
            if not mask & used:
                search(k + 1, used | mask, chosen + [mask])
        search(k + 1, used, chosen + [None])

    search(0, 0, [])
    return best[1]


# =========================================================================== code claims
class _UserStepOracles(Oracles):
    """The ``"ad"`` oracle's views differentiated through the user's torch step instead of
    the spec's (``torch.func.jacrev``, float64)."""

    def __init__(self, cell: Cell, sizes: Mapping[str, int], step: Callable):
        super().__init__(cell, sizes)
        spec = super().arithmetic("torch")
        self._user = Arithmetic(spec.asarray, spec.concat, spec.total,
                                lambda states, inputs, params, override: step(states, inputs, params))

    def arithmetic(self, kind: str) -> Arithmetic:
        return self._user if kind == "torch" else super().arithmetic(kind)


def _views(cell: Cell, sizes: Mapping[str, int], jacobian: str):
    if jacobian in ("state", "input"):
        return LeafView(cell, sizes, jacobian + "s")
    if jacobian.startswith("parameter:"):
        return ParameterView(cell, sizes, jacobian.split(":", 1)[1])
    return LeafView(cell, sizes, "states", frozen=True)


def _comparison(cell: Cell, jacobian: str, oracle: str, backend: str, seed: int, names, outcomes) -> CheckResult:
    """A :class:`CheckResult` from per-point ``_compare`` outcomes; ``names`` gives the
    ``(row names, column names)`` of the compared matrices."""
    worst = max(outcomes, key=lambda o: (not o.passed, o.score))
    row = column = None
    if worst.worst is not None:
        _, i, j = worst.worst
        row, column = names[0][i], names[1][j]
    return CheckResult(cell.name, jacobian, oracle, backend, "float64", all(o.passed for o in outcomes),
                       worst.max_error, worst.tolerance, worst.worst, worst.actual, worst.expected, None, seed,
                       worst.point, worst.detail, row=row, column=column)


def _names(view) -> tuple[list[str], list[str]]:
    return view.row_names(), view.column_names()


def _failed(k: int, detail: str) -> _Outcome:
    """The outcome at point ``k`` when the user's code raised or returned something unusable."""
    return _Outcome(False, np.inf, k, detail=detail)


def _call(function: Callable, what: str, *arguments):
    try:
        return function(*arguments), None
    except Exception as exc:  # the user's code: report, never a traceback
        return None, f"{what} raised {type(exc).__name__}: {exc}"


def _as_float64(value, what: str):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=np.float64), None
    except (TypeError, ValueError) as exc:
        return None, f"{what} returned {type(value).__name__}, not an array of numbers ({exc})"


def check_function(cell: Cell, jacobian: str, function: Callable, *, sizes, seed: int, points: int) -> CheckResult:
    """A user's NumPy Jacobian function against the ``"ad"`` oracle."""
    view = _views(cell, sizes, jacobian)
    oracle = oracles_for(cell, sizes)
    name = getattr(function, "__name__", "function")
    outcomes = []
    for k in range(points):
        point = make_point(cell, sizes, seed, k)
        value, error = _call(function, f"{name}(states, inputs, params)", *point.values("numpy", "float64"))
        if error is None:
            value, error = _as_float64(value, name)
        if error is not None:
            outcomes.append(_failed(k, error))
            continue
        expected = oracle.jacobian("ad", view, point)
        outcomes.append(_compare(value, expected, tolerance("ad", "float64", _max_abs(expected)), k))
    return _comparison(cell, f"{jacobian} (function {name})", "ad", "numpy", seed, _names(view), outcomes)


def check_torch_step(cell: Cell, step: Callable, *, derivation: Derivation, sizes, seed: int,
                     points: int) -> list[CheckResult]:
    """A user's torch step: its new states against the spec's step, its Jacobians
    (``torch.func.jacrev`` through it) against the derived closed forms."""
    name = getattr(step, "__name__", "torch_step")
    compiled = numeric.compile(derivation, "numpy")
    user = _UserStepOracles(cell, sizes, step)
    state_names = [s.name for s in cell.states]
    jacobians = ["state"] + (["input"] if cell.inputs else []) + [f"parameter:{p.name}" for p in cell.parameters]
    outcomes: dict[str, list] = {"step": [], **{j: [] for j in jacobians}}
    for k in range(points):
        point = make_point(cell, sizes, seed, k)
        new, error = _call(step, f"{name}(states, inputs, params)", *point.values("torch", "float64"))
        if error is None and not (isinstance(new, Mapping) and set(new) == set(state_names)):
            error = f"{name} returned {type(new).__name__} {_keys(new)}; return a dict with the keys {state_names}"
        if error is not None:
            for key in outcomes:
                outcomes[key].append(_failed(k, error))
            continue
        actual = np.concatenate([_as_float64(new[s], name)[0] for s in state_names], axis=-1)[..., None]
        spec_new = compiled.step(*point.values("numpy", "float64"))
        expected = np.concatenate([spec_new[s] for s in state_names], axis=-1)[..., None]
        outcomes["step"].append(_compare(actual, expected, tolerance("reference", "float64", _max_abs(expected)), k))
        kernels = _closed_forms(compiled, point)
        for jacobian in jacobians:
            matrix, error = _call(user.jacobian, f"torch.func.jacrev through {name}", "ad",
                                  _views(cell, sizes, jacobian), point)
            expected = kernels(jacobian)
            outcomes[jacobian].append(_failed(k, error) if error else
                                      _compare(matrix, expected, tolerance("ad", "float64", _max_abs(expected)), k))
    step_names = (LeafView(cell, sizes, "states").row_names(), ["value"])
    results = [_comparison(cell, f"step ({name})", "spec step", "torch", seed, step_names, outcomes["step"])]
    results += [_comparison(cell, f"{j} (jacrev of {name})", "closed form", "torch", seed,
                            _names(_views(cell, sizes, j)), outcomes[j]) for j in jacobians]
    return results


def _keys(value) -> str:
    return f"with keys {sorted(map(str, value))}" if isinstance(value, Mapping) else ""


def _closed_forms(compiled, point) -> Callable[[str], np.ndarray]:
    values = point.values("numpy", "float64")

    def kernel(jacobian: str) -> np.ndarray:
        if jacobian == "state":
            return np.asarray(compiled.state_jacobian(*values))
        if jacobian == "input":
            return np.asarray(compiled.input_jacobian(*values))
        return np.asarray(compiled.parameter_jacobian(jacobian.split(":", 1)[1], *values))

    return kernel


# =========================================================================== the report
@dataclass
class ClaimResult:
    """One claim: its name and kind (``"terms"``, ``"function"``, ``"torch_step"``), the
    check :class:`Report` that decides it, and for labelled terms the attribution."""

    name: str
    kind: str
    report: Report
    attributions: list[BlockAttribution] = field(default_factory=list)
    unclaimed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def wrong_terms(self) -> list[str]:
        return [label for a in self.attributions for label in a.wrong]

    def to_dict(self) -> dict:
        return {"claim": self.name, "kind": self.kind, "passed": self.passed, "wrong_terms": self.wrong_terms,
                "attributions": [a.to_dict() for a in self.attributions],
                "unclaimed_blocks": [list(b) for b in self.unclaimed], "report": self.report.to_dict()}


@dataclass
class ClaimsReport:
    """The spec's own check and one :class:`ClaimResult` per claim."""

    cell: str
    spec: Report
    claims: list[ClaimResult]
    source: str = ""

    @property
    def passed(self) -> bool:
        return self.spec.passed and all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        return {"cell": self.cell, "source": self.source, "passed": self.passed, "spec": self.spec.to_dict(),
                "claims": [c.to_dict() for c in self.claims]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def to_text(self) -> str:
        failed = [c for c in self.claims if not c.passed]
        lines = [f"gatejac check of cell {self.cell!r}" + (f" from {self.source}" if self.source else ""), "",
                 f"spec: symbolic.derive({self.cell!r}) against the oracles: {_verdict(self.spec)}"]
        if not self.spec.passed:
            lines += _indented(self.spec.to_text())
        if not self.claims:
            lines.append("no claims given: return (cell, verify.Claims(...)) to check your own Jacobians")
        for claim in self.claims:
            lines += ["", f"claim {claim.name!r} ({_KIND_TEXT[claim.kind]}): {_verdict(claim.report)}"]
            for attribution in claim.attributions:
                lines += _attribution_text(attribution)
            if claim.unclaimed:
                blocks = ", ".join(f"d{o}'/d{w}" for o, w in claim.unclaimed)
                lines.append(f"  not claimed (taken from symbolic.derive): {blocks}")
            lines += _indented(claim.report.to_text() if not claim.passed else _table_only(claim.report))
        lines += ["", self._verdict_line(failed)]
        return "\n".join(lines)

    def _verdict_line(self, failed: list[ClaimResult]) -> str:
        if self.passed:
            return f"verdict: PASSED — the spec and all {len(self.claims)} claims hold"
        parts = [] if self.spec.passed else ["the spec's derivation disagrees with the oracles"]
        for claim in failed:
            wrong = claim.wrong_terms
            parts.append(f"claim {claim.name!r} is wrong" + (
                f" — wrong term{'s' if len(wrong) > 1 else ''}: {', '.join(map(repr, wrong))}" if wrong else ""))
        return "verdict: FAILED — " + "; ".join(parts)


_KIND_TEXT = {"terms": "hand-derived terms", "function": "Jacobian function", "torch_step": "torch step"}


def _verdict(report: Report) -> str:
    count = len(report.results)
    return "PASSED" if report.passed else f"FAILED ({len(report.failures)} of {count} checks)"


def _indented(text: str) -> list[str]:
    return [f"  | {line}".rstrip() for line in text.splitlines()]


def _table_only(report: Report) -> str:
    return "\n".join(report.to_text().splitlines()[3:])


def _attribution_text(attribution: BlockAttribution) -> list[str]:
    out, wrt = attribution.block
    lines = [f"  block d{out}'/d{wrt}, term by term:"]
    width = max(len(v.label) for v in attribution.verdicts) if attribution.verdicts else 0
    for verdict in attribution.verdicts:
        lines.append(f"    {verdict.status.upper():<9} {verdict.label:<{width}}  {verdict.text}")
        if verdict.matches and verdict.matches != (verdict.text,):
            lines.append(f"    {'':<9} {'':<{width}}  = {' + '.join(verdict.matches)}")
    if attribution.instead:
        lead = "the spec has instead" if attribution.wrong else "missing from the claim"
        lines.append(f"    {lead}: {' + '.join(attribution.instead)}")
    if attribution.note:
        lines.append(f"    ({attribution.note})")
    return lines


# =========================================================================== entry points
def check_claims(cell: Cell, claims=None, *, backend: str = "numpy", sizes: Mapping[str, int] | None = None,
                 seed: int = 0, points: int = 2, oracles=("ad", "fd", "taylor"), source: str = "") -> ClaimsReport:
    """Verify ``claims`` (a :class:`Claims` or dict) about ``cell`` and return a
    :class:`ClaimsReport` (``.passed``, ``.to_text()``, ``.to_json()``).

    Example::

        report = verify.check_claims(cell, verify.Claims(jacobians={"state": [...]}))
        print(report.to_text())
    """
    if not isinstance(cell, Cell):
        raise ClaimsError(f"check_claims() takes a symbolic.Cell, got {type(cell).__name__} {cell!r}")
    claims = Claims.coerce(claims)
    derivation = derive(cell)
    parsed = {name: parse_jacobian_claim(cell, derivation, name, value) for name, value in claims.jacobians.items()}
    known = [j for j in jacobian_names(cell) if j not in ("jvp", "vjp", "gate_split:B")]
    for name, function in claims.functions.items():
        if name not in known:
            raise unknown_name("Jacobian", name, known, "(functions claim these Jacobians)")
        if not callable(function):
            raise ClaimsError(f"functions[{name!r}] = {function!r} is not callable; give f(states, inputs, params)")
    if claims.torch_step is not None and not callable(claims.torch_step):
        raise ClaimsError(f"torch_step = {claims.torch_step!r} is not callable; give f(states, inputs, params)")
    options = dict(backend=backend, sizes=sizes, seed=seed, points=points, oracles=oracles)
    spec = check(cell, **options)
    sizes = dict(spec.sizes)
    results = [_terms_result(cell, derivation, name, blocks, options, sizes, seed)
               for name, blocks in parsed.items()]
    for name, function in claims.functions.items():
        result = check_function(cell, name, function, sizes=sizes, seed=seed, points=points)
        results.append(ClaimResult(f"functions:{name}", "function", _report(cell, [result], spec, source)))
    if claims.torch_step is not None:
        step_results = check_torch_step(cell, claims.torch_step, derivation=derivation, sizes=sizes, seed=seed,
                                        points=points)
        results.append(ClaimResult("torch_step", "torch_step", _report(cell, step_results, spec, source, "torch")))
    return ClaimsReport(cell.name, spec, results, source)


def _terms_result(cell, derivation, name, blocks, options, sizes, seed) -> ClaimResult:
    report = check(cell, derivation=claimed_derivation(derivation, blocks), jacobians=[name], **options)
    values = _TermValues(cell, sizes, seed)
    derived = derivation.jacobian(name)
    attributions = [attribute(b, derived[b.block], values, cell) for b in blocks]
    claimed = {b.block for b in blocks}
    return ClaimResult(name, "terms", report, attributions, [k for k in derived.blocks if k not in claimed])


def _report(cell: Cell, results: list[CheckResult], spec: Report, source: str, backend: str = "numpy") -> Report:
    """The results of a code claim as a :class:`Report`, with the command that repeats them."""
    sizes = ",".join(f"{k}={v}" for k, v in spec.sizes.items())
    again = f"shell:  gatejac check {source} --seed {spec.seed} --points {spec.points} --sizes {sizes}" if source else \
        "python: verify.check_claims(cell, claims, ...) with the same seed, points and sizes"
    return Report(cell.name, results, spec.seed, backend, "float64", dict(spec.sizes), spec.points, again)


def load_target(target: str) -> tuple[Cell, Claims, str]:
    """Load ``path/to/file.py:NAME``: import the file (its directory on ``sys.path`` while
    it loads, as Python does for a script), take ``NAME``, call it if it is a function, and
    return ``(cell, claims, description)``."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name.isidentifier():
        raise ClaimsError(f"{target!r}: give path/to/file.py:NAME, NAME a function or object of that file "
                          "(e.g. examples/multigate_claims.py:cell)")
    path = Path(path_text)
    if not path.is_file():
        raise ClaimsError(f"{target!r}: there is no file {str(path)!r}")
    module = _import_file(path)
    public = [n for n, v in vars(module).items() if not n.startswith("_") and not inspect.ismodule(v)]
    if name not in vars(module):
        raise unknown_name("name", name, public, f"(in {path})")
    value = getattr(module, name)
    if callable(value) and not isinstance(value, Cell):
        value, error = _call(value, f"{name}()")
        if error is not None:
            raise ClaimsError(f"{target}: {error}")
    cell, claims = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
    if not isinstance(cell, Cell):
        raise ClaimsError(f"{target}: {name} gave {type(value).__name__}; it must give a symbolic.Cell or a "
                          "(cell, claims) pair")
    return cell.validate(), Claims.coerce(claims), f"{path}:{name}"


def _import_file(path: Path):
    module_name = f"gatejac_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ClaimsError(f"cannot import {str(path)!r}: it is not a Python file")
    module = importlib.util.module_from_spec(spec)
    directory = str(path.resolve().parent)
    sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except GatejacError:
        raise
    except Exception as exc:  # the user's file: report, never a traceback
        raise ClaimsError(f"cannot import {str(path)!r}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(directory)
    return module
