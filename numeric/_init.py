"""Parameter initialisers: seeded values for every parameter of a cell, as the papers and
PyTorch draw them.

``initialise(cell, sizes, scheme=..., gain=g)`` returns ``{name: array}`` for *all* the
cell's parameters, ready for ``numeric.compile(cell).step(states, inputs, params)``.

Trainable parameters are drawn by the scheme.  A trainable matrix, or a vector read through a
scalar reduction ``wᵀv`` (a weight row such as ``w_rg`` of ``scalar_gate``), is a *weight*
with fan-in = the number of entries it multiplies (a matrix's columns, a weight row's length);
every other trainable vector or scalar is a *bias*.

==============  ===============================  ==============  ===================================
scheme          weights                          biases          source
==============  ===============================  ==============  ===================================
``"torch"``     U(−g/√n, g/√n), n = hidden size  U(−g/√n, g/√n)  ``torch.nn.RNNCell`` / ``GRUCell`` /
                                                                 ``LSTMCell`` (docs/theory.md: “The catalogue”)
``"gaussian"``  N(0, g²/fan_in)                  0               gating theory (docs/theory.md: “The catalogue”)
``"normal"``    N(0, g²), the same for all       0               Livi's appendix check (docs/theory.md: “The first-order gate expansion”)
==============  ===============================  ==============  ===================================

* ``"torch"``: the hidden size n is the size of the cell's states (the LSTM's h and c share
  it); PyTorch's recurrent cells draw every weight and bias from U(−1/√hidden_size,
  1/√hidden_size), whatever the matrix's own fan-in.  With g = 1 this is exactly torch's
  default (docs/theory.md: “The catalogue”).
* ``"gaussian"``: the random-network ensemble W ~ N(0, σ²/N) of Can, Krishnamurthy & Schwab
  (docs/theory.md: “The catalogue”) with σ = g and N the fan-in; biases (gate offsets) start at 0.
* ``"normal"``: i.i.d. N(0, g²) for every weight regardless of size, so ``gain`` *is* the
  standard deviation; Livi's appendix check (docs/theory.md: “The first-order gate expansion”) is ``scheme="normal", gain=0.2``
  on the bias-free cells.

``gain`` g > 0 scales the spread in every scheme (g = 1: the library's own default).

A parameter declared with a ``default`` (``cell.parameter(name, default=...)``; the catalogue
declares them, e.g. leaky's leak α = 0.8, the unit gate gains of ``gru_gain`` / ``lstm_gain``,
leaky_dt's Δt = 1 and initial τ = 1.25) starts at that value, broadcast to its shape; the
parameter's ``note`` says why.  Fixed parameters (``trainable=False``) are never random: one
without a default must be given in ``overrides``, otherwise an :class:`ArgumentError` names it
and repeats its ``note`` (the WCRNN's residual matrix or eigenvalue λ and its coupling γ:
docs/theory.md: “Initialisation”).

``overrides={name: value}`` sets any parameter (trainable or fixed).  Values may be numbers,
NumPy arrays, torch tensors or SymPy matrices — so the residual matrix of the WCRNN comes
straight from the SymPy builders::

    from gatejac.symbolic import cells
    R = cells.residual_rotational(0.99, [2 * sympy.pi / 28, sympy.pi / 7])   # 4×4, |eig| = 0.99
    params = initialise("wcrnn", {"n": 4, "m": 3}, overrides={"R": R, "gamma": 0.05})

Seeding: every parameter draws from its own NumPy stream seeded by ``(seed, name)``, so the
same seed gives the same values and a parameter's values do not change when other
parameters are added, removed or overridden (``elman`` with and without bias share W and U).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np
import sympy

from gatejac.symbolic import Cell, Dot, MatrixParameter, cells, unknown_name

from ._arrays import check_backend, check_dtype, convert, to_numpy
from ._errors import ArgumentError, check_integer, is_real
from ._values import shapes

SCHEMES = ("gaussian", "normal", "torch")
"""The values of ``scheme=`` of :func:`initialise` (the table of the module docstring; docs/theory.md:
“Initialisation”)."""

def initialise(cell: Cell | str, sizes: Mapping[str, int], *, scheme: str = "torch", gain: float = 1.0,
               seed: int = 0, backend: str = "numpy", dtype: str = "float64",
               overrides: Mapping | None = None) -> dict:
    """Seeded values ``{name: array}`` for every parameter of ``cell`` (a Cell or a catalogue
    name) at ``sizes`` (e.g. ``{"n": 64, "m": 3}``); see the module docstring for the schemes,
    the defaults of fixed parameters and ``overrides``.  Arrays are NumPy or torch
    (``backend``) in ``dtype``; scalars have shape ``()``."""
    cell = cells.get(cell) if isinstance(cell, str) else cell
    if not isinstance(cell, Cell):
        raise ArgumentError(f"initialise() takes a symbolic.Cell or a catalogue name, got {type(cell).__name__}")
    _check_options(scheme, gain, seed, backend, dtype)
    shape_of = shapes(cell, sizes)
    overrides = _checked_overrides(cell, shape_of, overrides or {})
    fan_in = fan_ins(cell, shape_of)
    hidden = _hidden_size(cell, shape_of) if scheme == "torch" else None
    _check_fixed_given(cell, overrides)
    values = {}
    for p in cell.parameters:
        if p.name in overrides:
            values[p.name] = overrides[p.name]
        elif p.default is not None:
            values[p.name] = np.full(shape_of[p.name], float(p.default))
        else:
            rng = np.random.default_rng([seed, zlib.crc32(p.name.encode())])
            values[p.name] = _draw(scheme, gain, rng, shape_of[p.name], fan_in.get(p.name), hidden)
    return convert(values, backend, dtype)


def _check_options(scheme, gain, seed, backend, dtype) -> None:
    if scheme not in SCHEMES:
        raise unknown_name("initialisation scheme", scheme, list(SCHEMES), "(see gatejac.numeric.initialise for what each draws)")
    if not is_real(gain) or not math.isfinite(gain) or gain <= 0:
        raise ArgumentError(f"gain={gain!r} must be a finite number > 0 (it scales the spread of the weights)")
    check_integer("seed", seed, 0, None)
    check_backend(backend)
    check_dtype(dtype)


def _check_fixed_given(cell: Cell, overrides: Mapping) -> None:
    """Every fixed parameter has a default or an override, otherwise an error naming them all."""
    missing = [p.name for p in cell.parameters
               if not p.trainable and p.name not in overrides and p.default is None]
    if missing:
        notes = {p.name: p.note or "its value" for p in cell.parameters}
        wanted = "; ".join(f"{name}: {notes[name]}" for name in missing)
        raise ArgumentError(
            f"fixed (trainable=False) parameter(s) {', '.join(map(repr, missing))} of cell {cell.name!r} have no "
            f"default initial value; pass them as overrides={{name: value}} ({wanted})"
        )


def _draw(scheme: str, gain: float, rng, shape: tuple, fan_in: int | None, hidden: int | None) -> np.ndarray:
    """One trainable parameter: a weight if it has a ``fan_in``, otherwise a bias."""
    if scheme == "torch":
        bound = gain / math.sqrt(hidden)
        return rng.uniform(-bound, bound, shape)
    if fan_in is None:  # a bias or gate offset starts at zero
        return np.zeros(shape)
    std = gain / math.sqrt(fan_in) if scheme == "gaussian" else gain
    return std * rng.standard_normal(shape)


def _hidden_size(cell: Cell, shape_of: dict) -> int:
    """The common size of the states: the n of the "torch" scheme."""
    sizes = {shape_of[s.name][0] for s in cell.states}
    if len(sizes) != 1:
        raise ArgumentError(
            f"scheme 'torch' draws from U(-1/sqrt(n), 1/sqrt(n)) with n the hidden size, but the states of "
            f"cell {cell.name!r} have different sizes {sorted(sizes)}; use scheme 'gaussian' or 'normal'"
        )
    return sizes.pop()


def fan_ins(cell: Cell, shape_of: Mapping[str, tuple]) -> dict[str, int]:
    """``{weight: fan-in}`` at the shapes ``shape_of`` (from :func:`shapes`): a matrix's column
    count, and the length of a vector read by a scalar reduction ``wᵀv`` (a weight row).
    Other trainable parameters are biases."""
    rows = _dot_operands(cell)
    return {p.name: shape_of[p.name][-1] for p in cell.parameters
            if isinstance(p, MatrixParameter) or p.name in rows}


def _dot_operands(cell: Cell) -> set[str]:
    """Names of vector parameters that appear in an operand of a scalar reduction ``uᵀv``."""
    found, seen = set(), set()
    pending = list(cell.updates.values())
    while pending:
        for symbol in pending.pop().free_symbols:
            if symbol in seen:
                continue
            seen.add(symbol)
            node = cell.node(symbol)
            if isinstance(node, Dot):
                found |= {cell.node(s).name for s in (node.left.free_symbols | node.right.free_symbols)
                          if getattr(cell.node(s), "role", None) == "parameter" and cell.node(s).size is not None}
            pending.extend(cell.children(node))
    return found


def _checked_overrides(cell: Cell, shape_of: dict, overrides: Mapping) -> dict:
    """Overrides as float64 NumPy arrays of the parameter's shape, or a clear error."""
    if not isinstance(overrides, Mapping):
        raise ArgumentError(f"overrides must be a mapping from parameter names to values, got {type(overrides).__name__}")
    names = [p.name for p in cell.parameters]
    checked = {}
    for name, value in overrides.items():
        if name not in names:
            raise unknown_name("parameter", name, names, f"(cell {cell.name!r}; passed in overrides)")
        array = _as_float_array(value, name)
        if array.shape != shape_of[name]:
            raise ArgumentError(
                f"overrides[{name!r}] has shape {array.shape} but parameter {name!r} of cell {cell.name!r} "
                f"has shape {shape_of[name]} at these sizes"
            )
        if not np.all(np.isfinite(array)):
            raise ArgumentError(f"overrides[{name!r}] contains non-finite values (nan or inf)")
        checked[name] = array
    return checked


def _as_float_array(value, name: str) -> np.ndarray:
    if isinstance(value, sympy.MatrixBase):
        value = value.evalf()
    try:
        return np.array(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ArgumentError(
            f"overrides[{name!r}]={value!r} is not a real number or array ({error}); pass a float, a NumPy "
            "array, a torch tensor or a SymPy matrix of numbers"
        ) from None
