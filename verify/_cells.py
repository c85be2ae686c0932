"""The cell a ``verify`` function is given: a :class:`symbolic.Cell`, or a catalogue name.

``verify.check``, ``verify.mutation_suite``, ``verify.compare`` and ``verify.design_report``
take either; :func:`resolve_cell` turns it into the validated cell, or raises the caller's own
error class naming the call and what it got.
"""

from __future__ import annotations

from gatejac.symbolic import Cell, GatejacError, cells


def resolve_cell(cell, caller: str, error: type[GatejacError]) -> Cell:
    """The validated cell ``cell`` names: ``cell`` itself if it is a :class:`symbolic.Cell`,
    ``symbolic.cells.get(cell)`` if it is a string (an unknown name is an error naming the close
    matches), else ``error`` saying that ``caller()`` takes a cell or a catalogue name."""
    if isinstance(cell, str):
        cell = cells.get(cell)
    if not isinstance(cell, Cell):
        raise error(f"{caller}() takes a symbolic.Cell or a catalogue name, got {type(cell).__name__} {cell!r} "
                    "(the names: symbolic.cells.names())")
    return cell.validate()
