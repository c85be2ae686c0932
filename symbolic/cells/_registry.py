"""The catalogue: names, option variants and the lookup ``get(name, **options)``.

Each entry pairs a builder with the option sets that exercise every option value
(``variants``); the conformance tests and the documentation run over all of them, so a
new cell is tested as soon as it is registered here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .._cell import Cell
from .._errors import unknown_name
from ._gated import multi_gate, scalar_gate
from ._gru import gru_cho, gru_chung, gru_gain, gru_torch
from ._leaky import elman, leaky, leaky_dt
from ._lstm import lstm_gain, lstm_torch
from ._options import not_one_of
from ._wcrnn import RESIDUAL_MATRICES, wcrnn


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., Cell]
    variants: tuple[dict, ...] = ({},)


_NO_BIAS = ({}, {"bias": False})

_CATALOGUE: dict[str, _Entry] = {
    "leaky": _Entry(leaky, _NO_BIAS),
    "leaky_dt": _Entry(leaky_dt, _NO_BIAS),
    "elman": _Entry(elman, _NO_BIAS),
    "scalar_gate": _Entry(scalar_gate, _NO_BIAS),
    "multi_gate": _Entry(multi_gate, _NO_BIAS),
    "gru_chung": _Entry(gru_chung),
    "gru_cho": _Entry(gru_cho),
    "gru_torch": _Entry(gru_torch, _NO_BIAS),
    "gru_gain": _Entry(gru_gain),
    "lstm_torch": _Entry(lstm_torch, _NO_BIAS),
    "lstm_gain": _Entry(lstm_gain),
    "wcrnn": _Entry(
        wcrnn,
        (
            {},
            *({"residual_matrix": r} for r in RESIDUAL_MATRICES[1:]),
            *({"residual": "nonlinear", "residual_matrix": r} for r in RESIDUAL_MATRICES),
            {"bias": False},
        ),
    ),
}


def names() -> list[str]:
    """The catalogue's cell names, sorted."""
    return sorted(_CATALOGUE)


def _entry(name: str) -> _Entry:
    if name not in _CATALOGUE:
        raise unknown_name("cell", name, names(), "List them with symbolic.cells.names().")
    return _CATALOGUE[name]


def option_names(name: str) -> tuple[str, ...]:
    """The keyword options ``get(name, ...)`` accepts (the sizes ``n``, ``m`` included)."""
    return tuple(inspect.signature(_entry(name).builder).parameters)


def get(name: str, **options) -> Cell:
    """Build the catalogue cell ``name`` (validated and frozen) with keyword ``options``,
    e.g. ``get("wcrnn", n=8, residual="nonlinear")``.  See each cell's own function
    (``symbolic.cells.<name>``) for its equations, convention and options."""
    entry = _entry(name)
    valid = option_names(name)
    for key in options:
        if key not in valid:
            raise not_one_of("option", key, valid, f"Cell {name!r} takes these keyword options.")
    return entry.builder(**options)


def variants() -> list[tuple[str, dict]]:
    """Every ``(name, options)`` pair that exercises the catalogue's option values, the
    defaults first for each name."""
    return [(name, dict(opts)) for name in names() for opts in _CATALOGUE[name].variants]
