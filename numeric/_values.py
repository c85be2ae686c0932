"""Concrete shapes of a cell's pieces, and seeded random values for them.

``shapes(cell, {"n": 4, "m": 3})`` gives every state, input and parameter its shape
(states and inputs without batch dimensions).  ``random_values`` draws a complete,
well-scaled set of values: states and inputs ~ N(0, 1)·scale, matrices
~ N(0, gain²/cols) (so pre-activations stay O(gain)), vectors ~ N(0, 1)·0.5, scalars
~ U(0.2, 0.8) (a valid leak / coupling / gain).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy

from gatejac.symbolic import SCALAR, Cell, MatrixParameter, ShapeError

from ._arrays import check_backend, check_dtype, convert
from ._errors import check_size


def shapes(cell: Cell, sizes: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` for every state, input and parameter at the given sizes.

    This is where every numeric function checks sizes: each must be a positive integer (a
    float with an integral value such as 3.0 counts as one); a bool, a fraction, zero, a
    negative number or a non-number raises an :class:`ArgumentError` naming the size."""
    if not isinstance(sizes, Mapping):
        raise ShapeError(f"sizes must be a mapping from size names to integers, e.g. {{'n': 4}}; got {sizes!r}")
    missing = [d.name for d in cell.dims if d.name not in sizes]
    if missing:
        raise ShapeError(f"cell {cell.name!r} needs integer sizes for {missing}; got {dict(sizes)}")
    concrete = {d: check_size(d.name, sizes[d.name]) for d in cell.dims}
    result = {}
    for piece in (*cell.states, *cell.inputs, *cell.parameters):
        dims = piece.shape if isinstance(piece, MatrixParameter) else (() if piece.size is SCALAR else (piece.size,))
        result[piece.name] = tuple(int(sympy.sympify(d).xreplace(concrete)) for d in dims)
    return result


def random_values(cell: Cell, sizes: Mapping[str, int], *, batch: tuple[int, ...] = (), seed: int = 0,
                  gain: float = 1.0, scale: float = 0.5, backend: str = "numpy", dtype: str = "float64"):
    """Seeded ``(states, inputs, params)`` for ``cell`` as NumPy arrays or torch tensors."""
    check_backend(backend)
    check_dtype(dtype)
    rng = np.random.default_rng(seed)
    shape_of = shapes(cell, sizes)
    states = {s.name: scale * rng.standard_normal(tuple(batch) + shape_of[s.name]) for s in cell.states}
    inputs = {x.name: scale * rng.standard_normal(tuple(batch) + shape_of[x.name]) for x in cell.inputs}
    params = {}
    for p in cell.parameters:
        shape = shape_of[p.name]
        if len(shape) == 2:
            params[p.name] = gain / np.sqrt(shape[1]) * rng.standard_normal(shape)
        elif len(shape) == 1:
            params[p.name] = 0.5 * rng.standard_normal(shape)
        else:
            params[p.name] = np.asarray(rng.uniform(0.2, 0.8))
    return tuple(convert(group, backend, dtype) for group in (states, inputs, params))
