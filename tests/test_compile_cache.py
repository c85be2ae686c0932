"""The compile cache: keyed on ``Cell.fingerprint``, bounded to ``CACHE_SIZE`` entries
(least recently used dropped first).  It once kept every cell ever compiled (30 throw-away
cells, 30 entries) and keyed on private interning state that changed when a cell was derived.
"""

from __future__ import annotations

import sympy

from gatejac import numeric
from gatejac.numeric import _compiled
from gatejac.symbolic import Cell, cells, derive, tanh


def _throw_away_cell(k: int) -> Cell:
    """A small cell of its own structure: the leak constant differs from cell to cell."""
    cell = Cell(f"throw_away_{k}")
    h = cell.state("h", "n")
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, sympy.Rational(k + 1, k + 2) * h + tanh(W @ h))
    return cell


def test_a_thousand_throw_away_cells_keep_the_cache_within_its_bound():
    assert _compiled.CACHE_SIZE < 1000, "the test needs more cells than the bound"
    kept = numeric.compile(cells.get("gru_torch"))
    for k in range(1000):
        numeric.compile(_throw_away_cell(k))
        assert len(_compiled._CACHE) <= _compiled.CACHE_SIZE
        if k % 50 == 0:
            assert numeric.compile(cells.get("gru_torch")) is kept  # recently used: kept
    assert len(_compiled._CACHE) == _compiled.CACHE_SIZE
    assert numeric.compile(cells.get("gru_torch")) is kept
    assert numeric.compile(_throw_away_cell(999)) is numeric.compile(_throw_away_cell(999))


def test_a_second_compile_of_the_same_cell_is_a_cache_hit_after_derivation():
    cell = cells.get("wcrnn", residual_matrix="homogeneous")
    first = numeric.compile(cell, "numpy")
    fingerprint = cell.fingerprint
    derive(cell)
    assert cell.fingerprint == fingerprint
    assert numeric.compile(cell, "numpy") is first
    assert numeric.compile(cells.get("wcrnn", residual_matrix="homogeneous"), "numpy") is first


def test_backends_and_explicit_derivations_have_entries_of_their_own():
    cell = cells.get("elman")
    derivation = derive(cell)
    by_derivation = numeric.compile(derivation, "numpy")
    assert numeric.compile(derivation, "numpy") is by_derivation
    assert numeric.compile(cell, "numpy") is not by_derivation
    assert numeric.compile(cell, "numpy").backend == "numpy"
    assert numeric.compile(cell, "torch").backend == "torch"


def test_the_least_recently_used_entry_is_dropped_first(monkeypatch):
    monkeypatch.setattr(_compiled, "_CACHE", _compiled._Cache(2))
    a, b, c = (_throw_away_cell(k) for k in range(3))
    first_a = numeric.compile(a)
    numeric.compile(b)
    assert numeric.compile(a) is first_a  # a is now the most recent
    numeric.compile(c)  # drops b
    assert numeric.compile(a) is first_a
    assert len(_compiled._CACHE) == 2
