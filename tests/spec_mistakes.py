"""What the bad-specification tables (``tests/test_errors_declarations.py``,
``tests/test_errors_expressions.py``) share: the cells their mistakes start from and the check
every row passes — the ``GatejacError`` subclass named, a message matching the row's regex,
raised from ``gatejac.symbolic._errors``, in the cell's language rather than gatejac's class
names."""

from __future__ import annotations

import re

import pytest

from gatejac.symbolic import Cell, GatejacError, tanh

# class names of gatejac's internals and its generated node names (``_mv3``, ``_dot0``)
INTERNAL = re.compile(r"\bVec\(|\bLeaf\b|\bMatVec\b|\bMatrixParameter\b|\bNamed\b|\bNodeSymbol\b|\b_(mv|dot)\d")


def new_cell(name: str = "c"):
    """A fresh cell with a state ``h`` of size n and an input ``x`` of size m."""
    cell = Cell(name)
    return cell, cell.state("h", "n"), cell.input("x", "m")


def complete_cell():
    """A valid cell with a matrix ``W_h``, a vector ``w``, a scalar ``a`` and the input ``x``."""
    cell, h, x = new_cell()
    W = cell.parameter("W_h", ("n", "n"))
    w = cell.parameter("w", "n")
    a = cell.parameter("a")
    cell.update(h, tanh(W @ h + a * (w @ h) + x.dot(x)))
    return cell, h, x


def each_mistake(table: list):
    """The parametrization of a test over ``table``'s rows ``(build, error, message)``, each
    named by its ``build`` function."""
    return pytest.mark.parametrize(("build", "error", "message"),
                                   [pytest.param(*row, id=row[0].__name__) for row in table])


def assert_clear_error(build, error, message) -> None:
    """``build()`` raises ``error`` (a ``GatejacError``) with a message matching ``message``."""
    with pytest.raises(error, match=message) as raised:
        build()
    assert isinstance(raised.value, GatejacError)
    assert type(raised.value).__module__ == "gatejac.symbolic._errors"
    assert not INTERNAL.search(str(raised.value)), "messages speak the cell's language, not gatejac's class names"
