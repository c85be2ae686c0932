"""Structured terms evaluated at a point, and which terms make up one entry of a Jacobian.

A structured term (``diag(u) · M · diag(v) …`` of :mod:`symbolic`) is rendered as a dense
SymPy matrix on a :class:`symbolic.Instance` at the check's sizes
(:func:`symbolic.dense_term`, the dense oracle's own rendering) and evaluated exactly at a
point's float64 values (30 significant digits, then rounded to float64).  No compiled
kernel is involved, so a term's value is independent of the code under test.

* :class:`TermValues` evaluates terms at the points of a check; ``verify.check`` and the
  claims (:mod:`verify._claims_attribution`) both evaluate terms through it;
* :class:`EntryExplainer` names the terms that make up the worst entry (i, j) of a failed
  Jacobian, comparing the checked derivation with ``derive(cell)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy

from gatejac import numeric
from gatejac.symbolic import Cell, Derivation, Instance, Jacobian, Term, dense_term, term_text

from ._jacobians import JacobianName
from ._oracles import Point

DIGITS = 30
"""Significant digits of the exact evaluation (float64 values are exact at this precision)."""


class TermValues:
    """Structured terms of ``cell`` at concrete ``sizes``, evaluated at points."""

    def __init__(self, cell: Cell, sizes: Mapping[str, int]):
        self.cell = cell
        self.instance = Instance(cell, dict(sizes))
        self.shapes = numeric.shapes(cell, sizes)

    def substitution(self, point: Point, sample: int) -> dict:
        """``{instance symbol: value}`` for sample ``sample`` of ``point`` (parameters are shared)."""
        values = {}
        for group, batched in ((point.states, True), (point.inputs, True), (point.params, False)):
            for name, value in group.items():
                flat = np.ravel(value[sample] if batched else value)
                values.update(zip(self.instance.variables(name), (sympy.Float(float(x), DIGITS) for x in flat)))
        return values

    def _rows(self, block: Jacobian) -> int:
        return self.instance.size(block.rows) or 1

    def block(self, terms: tuple[Term, ...], block: Jacobian, *substitutions: dict) -> np.ndarray:
        """The float64 matrices of ``sum(terms)``, a block shaped like ``block``, at each of
        ``substitutions`` (rendered once): shape ``(len(substitutions), rows, columns)``."""
        rows = self._rows(block)
        matrix = sympy.zeros(rows, int(sympy.sympify(block.cols).xreplace(self.instance.dims)))
        for term in terms:
            matrix += dense_term(self.instance, term, rows)
        return np.array([np.array(matrix.xreplace(values).evalf(DIGITS), dtype=np.float64)
                         for values in substitutions]).reshape(len(substitutions), *matrix.shape)

    def entry(self, term: Term, block: Jacobian, i: int, j: int, values: dict) -> float:
        """Entry ``(i, j)`` of ``term`` at ``values`` (NaN where it is not a real number)."""
        value = sympy.sympify(dense_term(self.instance, term, self._rows(block))[i, j]).xreplace(values).evalf(DIGITS)
        return float(value) if value.is_real and value.is_finite else float("nan")

    def slices(self, names) -> dict[str, slice]:
        """``{leaf: its entries}`` in the concatenation of the flattened leaves ``names`` (the
        rows or columns of a Jacobian)."""
        found, start = {}, 0
        for name in names:
            size = int(np.prod(self.shapes[name], dtype=int))
            found[name], start = slice(start, start + size), start + size
        return found

    def locate(self, names, index: int) -> tuple[str, int]:
        """The leaf among ``names`` (concatenated, flattened) holding entry ``index``, and the
        index within it."""
        for name, entries in self.slices(names).items():
            if index < entries.stop:
                return name, index - entries.start
        raise IndexError(index)


class EntryExplainer:
    """Names the structured terms that make up one entry of a Jacobian.

    Each term's contribution to entry (i, j) is evaluated by :class:`TermValues` at the
    point of the failure, for the checked derivation and, when that was given explicitly,
    for ``derive(cell)``.  Terms equal in both (by structure, or by value at the entry)
    cancel; what remains is ``wrong`` (only in the checked Jacobian) or ``missing`` (only
    in ``derive(cell)``).  When nothing remains every contributing term is ``present``.
    Largest contribution first.
    """

    def __init__(self, cell: Cell, sizes: Mapping[str, int], derivation: Derivation | None):
        self.cell = cell
        self.reference = numeric.compile(cell, "numpy").derivation  # cached: the fd oracle compiles it too
        self.checked = derivation if derivation is not None else self.reference
        self.values = TermValues(cell, sizes)

    def explain(self, jacobian: JacobianName, point: Point,
                entry: tuple[int, int, int]) -> tuple[tuple[str, str, float], ...]:
        """``(role, term text, value at the entry)`` for the terms of ``entry = (sample, i, j)``."""
        if not jacobian.structured:  # actions: no single block to attribute an entry to
            return ()
        checked_blocks = jacobian.blocks(self.checked)
        sample, i, j = entry
        row, local_i = self.values.locate(checked_blocks.rows, i)
        col, local_j = self.values.locate(checked_blocks.cols, j)
        values = self.values.substitution(point, sample)
        checked = self._contributions(checked_blocks[row, col], local_i, local_j, values)
        if self.checked is self.reference:
            return _present(checked)
        reference = self._contributions(jacobian.blocks(self.reference)[row, col], local_i, local_j, values)
        wrong, missing = _unmatched(checked, reference)
        suspects = [("wrong", t, v) for t, v in wrong] + [("missing", t, v) for t, v in missing]
        suspects = [s for s in suspects if s[2] != 0.0]
        return tuple(sorted(suspects, key=lambda s: (s[0] != "wrong", -abs(s[2])))) if suspects else _present(checked)

    def _contributions(self, block: Jacobian, i: int, j: int, values: dict) -> list[tuple[Term, str, float]]:
        """``(term, text, value at entry (i, j))`` for every term of ``block``."""
        return [(term, term_text(self.cell, term), self.values.entry(term, block, i, j, values))
                for term in block.terms]


def _present(contributions) -> tuple[tuple[str, str, float], ...]:
    nonzero = [("present", text, value) for _, text, value in contributions if value != 0.0]
    return tuple(sorted(nonzero, key=lambda c: -abs(c[2])))


def _unmatched(checked, reference):
    """Pairs equal terms (structurally, then by value at the entry) and returns the
    ``(text, value)`` of the checked terms and of the reference terms left over."""
    checked, reference = list(checked), list(reference)
    for same in (lambda a, b: a[0] == b[0], lambda a, b: abs(a[2] - b[2]) <= 1e-12 * (1 + abs(b[2]))):
        for item in list(checked):
            match = next((r for r in reference if same(item, r)), None)
            if match is not None:
                checked.remove(item)
                reference.remove(match)
    return [(t, v) for _, t, v in checked], [(t, v) for _, t, v in reference]
