"""One point of a sweep: its settings (the sweep's fixed settings and the grid's values there)
and its seed, turned on demand into a cell, its parameters, its compiled kernels and a
trajectory.

Settings a point understands (any other key is an error naming the known ones):

===================  ==========  ==============================================================
key                  default     meaning
===================  ==========  ==============================================================
``cell``             (required)  a catalogue name (``gatejac list``)
a cell option        the cell's  e.g. ``residual="nonlinear"``, ``residual_matrix="diagonal"``
``n``, ``m``, …      n=64, m=1   the cell's sizes
``scheme``           gaussian    ``numeric.initialise``'s scheme (N(0, g²/fan-in) weights, 0 biases)
``gain``             1.0         its gain g for every weight
``gain_<P>``         1.0         a further factor on matrix parameter P: ``gain_W_h=1.5`` is σ_h = 1.5
                                 (with ``gain=1``) for the Chung GRU of Can, Krishnamurthy & Schwab 2020
a parameter name     drawn       its value: a number fills a vector or scalar parameter (a gate
                                 bias ``b_z=-2``, a gate gain ``alpha_z=4``, the coupling
                                 ``gamma=0.01``, a residual eigenvalue ``lam=0.99``) and times the
                                 identity for a square matrix (``R=0.9`` is R = 0.9 I); arrays are
                                 taken as they are
``steps``            500         T of the trajectory quantities
``burn_in``          100         steps left out of their averages
``input_scale``      0.0         inputs x_t ~ N(0, input_scale²) (0: the autonomous network)
``state_scale``      0.5         initial state s_0 ~ N(0, state_scale²)
===================  ==========  ==============================================================

Every random draw is seeded by the point's seed: the parameters as ``numeric.initialise(...,
seed=seed)`` draws them, s_0 and the inputs from NumPy streams seeded by (seed, 1) and (seed, 2).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from gatejac import numeric
from gatejac.symbolic import SCALAR, MatrixParameter, unknown_name
from gatejac.symbolic import cells as catalogue

from ._sweep_errors import SweepError

GENERAL = {"cell": None, "scheme": "gaussian", "gain": 1.0, "steps": 500, "burn_in": 100, "input_scale": 0.0,
           "state_scale": 0.5}
"""Settings every point understands, with their defaults (``cell`` has none)."""

SIZES = {"n": 64, "m": 1}
"""Default sizes of the catalogue cells."""


@functools.lru_cache(maxsize=64)
def _cell(name: str, options: tuple):
    """The catalogue cell ``name`` with ``options`` (one object per worker, so its kernels are
    compiled once)."""
    return catalogue.get(name, **dict(options))


class Point:
    """The settings (a mapping) and the seed of one point; the cell, parameters, kernels and
    trajectory are built when first asked for (a quantity that needs none of them costs nothing)."""

    def __init__(self, settings: Mapping, seed: int, known: tuple = ()):
        self.settings = dict(settings)
        self.seed = int(seed)
        self.known = tuple(known)  # settings the quantity reads beyond those of the table above

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"Point({shown}; seed={self.seed})"

    def get(self, key: str):
        """A general setting (``steps``, ``burn_in``, …) or its default."""
        return self.settings.get(key, GENERAL[key])

    @functools.cached_property
    def cell(self):
        """The catalogue cell with this point's options (sizes stay symbolic)."""
        name = self.settings.get("cell")
        if name is None:
            raise SweepError(f"{self!r} names no cell; set one, e.g. cell='gru_chung' (--set cell=gru_chung)")
        options = tuple(sorted((k, v) for k, v in self.settings.items()
                               if k in catalogue.option_names(name) and k not in SIZES))
        cell = _cell(name, options)
        self._check_keys(cell)
        return cell

    @functools.cached_property
    def sizes(self) -> dict:
        return {d.name: int(self.settings.get(d.name, SIZES.get(d.name, 1))) for d in self.cell.dims}

    @functools.cached_property
    def params(self) -> dict:
        """``numeric.initialise`` at this point's scheme, gain and seed, with the point's values
        for named parameters and the ``gain_<P>`` factors applied."""
        pieces = {p.name: p for p in self.cell.parameters}
        overrides = {name: self._value(pieces[name], value) for name, value in self.settings.items() if name in pieces}
        params = numeric.initialise(self.cell, self.sizes, scheme=self.get("scheme"), gain=self.get("gain"),
                                    seed=self.seed, overrides=overrides)
        for key, factor in self.settings.items():
            if key.startswith("gain_"):
                params[key[5:]] = params[key[5:]] * float(factor)
        return params

    @functools.cached_property
    def compiled(self):
        return numeric.compile(self.cell)

    def zero_state(self) -> tuple[dict, dict]:
        """``(states, inputs)`` all zero: where the zero fixed point sits when there is one."""
        return ({s.name: np.zeros(self.sizes[str(s.size)]) for s in self.cell.states},
                {x.name: np.zeros(self.sizes[str(x.size)]) for x in self.cell.inputs})

    @functools.cached_property
    def trajectory(self):
        """``numeric.rollout`` over ``steps`` steps from s_0 ~ N(0, state_scale²) with inputs
        x_t ~ N(0, input_scale²), both seeded by the point's seed."""
        steps = int(self.get("steps"))
        states_rng, inputs_rng = (np.random.default_rng([self.seed, k]) for k in (1, 2))
        states = {s.name: self.get("state_scale") * states_rng.standard_normal(self.sizes[str(s.size)])
                  for s in self.cell.states}
        inputs = {x.name: self.get("input_scale") * inputs_rng.standard_normal((steps, self.sizes[str(x.size)]))
                  for x in self.cell.inputs}
        return numeric.rollout(self.compiled, states, inputs or None, self.params, steps=None if inputs else steps)

    def _value(self, piece, value):
        """A setting's value for parameter ``piece``: a number fills it (times I for a square matrix)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return value
        if isinstance(piece, MatrixParameter):
            rows, cols = (self.sizes[str(d)] if str(d) in self.sizes else int(d) for d in piece.shape)
            if rows != cols:
                raise SweepError(f"{piece.name}={value!r}: a number stands for value·I, but {piece.name} is "
                                 f"{rows}×{cols}; pass an array")
            return value * np.eye(rows)
        if piece.size is SCALAR:
            return float(value)
        return np.full(self.sizes[str(piece.size)], float(value))

    def _check_keys(self, cell) -> None:
        matrices = [p.name for p in cell.parameters if isinstance(p, MatrixParameter)]
        known = [*GENERAL, *self.known, *catalogue.option_names(cell.name), *(d.name for d in cell.dims),
                 *(p.name for p in cell.parameters), *(f"gain_{name}" for name in matrices)]
        for key in self.settings:
            if key not in known:
                raise unknown_name("setting", key, known, f"(cell {cell.name!r}; see gatejac sweep --help)")
