"""The sizes of a cell as ``verify.check`` and the strategies take them.

``sizes`` maps size names of the cell to positive integers, e.g. ``{"n": 4, "m": 3}``.  A name
the cell does not have is an error naming the close matches (a typo would otherwise be
ignored); each value is checked where every numeric function checks sizes,
:func:`numeric.shapes` (a bool, a fraction, zero or a negative number is an error naming the
size).
"""

from __future__ import annotations

from collections.abc import Mapping

from gatejac import numeric
from gatejac.symbolic import Cell, ShapeError, unknown_name

FIRST = ("n", "m")
"""Size names listed first (the state size, then the input size)."""


def size_names(cell: Cell) -> list[str]:
    """The size names of ``cell``: ``n``, ``m`` first, then the others in alphabetical order."""
    return sorted((d.name for d in cell.dims), key=lambda d: (FIRST.index(d) if d in FIRST else len(FIRST), d))


def checked_sizes(cell: Cell, sizes, *, where: str, defaults: Mapping[str, int] | None = None,
                  hint: str = "") -> dict[str, int]:
    """``sizes`` (over ``defaults``, if given) checked against ``cell``, as ``{name: int}``
    in :func:`size_names` order.  ``where`` names the call (``"check(sizes=...)"``), ``hint``
    is added to the error for a value that is not a mapping."""
    names = size_names(cell)
    chosen = {name: defaults[name] for name in names if name in defaults} if defaults is not None else {}
    if sizes is None and defaults is not None:
        sizes = {}
    if not isinstance(sizes, Mapping):
        example = chosen or dict.fromkeys(names, 3)
        raise ShapeError(f"{where}: sizes={sizes!r}; give a mapping from size names to integers, e.g. {example}{hint}")
    for name in sizes:
        if name not in names:
            raise unknown_name("size", name, names, f"(cell {cell.name!r} has sizes {names}; passed to {where})")
    chosen.update(sizes)
    numeric.shapes(cell, chosen)  # each a positive integer, and every size given
    return {name: int(chosen[name]) for name in names}
