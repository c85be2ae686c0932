"""Hypothesis strategies for gatejac: cells, their values, and the settings profiles.

Strategies (keyword-only options, given as values — never as strategies, as Hypothesis's
API guide asks; each returns a Hypothesis strategy):

| strategy | draws |
|---|---|
| ``cells(catalogue=, random=, ...)`` | catalogue cells (``symbolic.cells.variants()``) and/or random valid cells |
| ``random_cells(max_states=, ...)`` | random valid cells of the public cell language |
| ``dimensions(cell, min_size=, max_size=)`` | ``{size name: int}`` for every size of the cell |
| ``parameters(cell, sizes=, min_gain=, …)`` | every parameter, drawn *from a seed* |
| ``states(cell, sizes=, batch=)`` | every state, entries in [−1, 1] |
| ``inputs(cell, sizes=, batch=)`` | every input, entries in [−1, 1] |
| ``values(cell, sizes=, batch=)`` | ``(states, inputs, params)`` with bounded pre-activations |

``sizes`` is a mapping such as ``{"n": 4, "m": 3}`` and ``batch`` a tuple; to vary them,
draw them first (``dimensions(cell).flatmap(lambda sizes: values(cell, sizes=sizes))``).
How values are drawn: :mod:`verify._drawn_values`; the random-cell grammar:
:mod:`verify._random_cells`; the settings profiles ``gatejac-dev``, ``gatejac-ci`` and
``gatejac-thorough`` and :func:`load_profile`: :mod:`verify._profiles`.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from gatejac import symbolic
from gatejac.numeric import DTYPES
from gatejac.symbolic import Cell, SpecError, unknown_name

from ._drawn_values import (
    INPUT_BOUND,
    MAX_GAIN,
    MAX_PREACTIVATION,
    MIN_GAIN,
    STATE_BOUND,
    checked_cell,
    inputs,
    parameters,
    preactivations,
    states,
    values,
)
from ._profiles import PROFILES, load_profile
from ._random_cells import bounded, random_cells
from ._sizes import size_names

__all__ = [
    "DTYPES", "INPUT_BOUND", "MAX_GAIN", "MAX_PREACTIVATION", "MIN_GAIN", "PROFILES", "STATE_BOUND", "cells",
    "dimensions", "inputs", "load_profile", "parameters", "preactivations", "random_cells", "states", "values",
]


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
    cell = checked_cell(cell, "dimensions")
    bounded("min_size", min_size, 1, function="dimensions")
    bounded("max_size", max_size, min_size, function="dimensions")
    return st.fixed_dictionaries({name: st.integers(min_size, max_size) for name in size_names(cell)})
