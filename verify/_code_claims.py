"""Claims made in code: a user's NumPy Jacobian functions and a user's own torch step.

``functions``   ``{jacobian: f}`` with ``f(states, inputs, params) -> array``: the dense
                Jacobian computed by the user's own NumPy code.  Arguments are float64
                NumPy arrays keyed by spec name, states and inputs with a batch dimension
                ``(B, size)``; the result has the layout of the matching kernel of
                :class:`numeric.CompiledCell`, ``(B, rows, columns)`` (matrix parameters
                flattened row-major).  Each is compared with the ``"ad"`` oracle
                (``torch.func`` through the spec's step) at the ``"ad"`` tolerance.
``torch_step``  ``f(states, inputs, params) -> {state: new value}``: the user's own torch
                implementation of the step (float64 tensors, batch ``(B,)``).  Its new
                states are compared with the spec's step (``"reference"`` tolerance), and
                its state, input and parameter Jacobians — ``torch.func.jacrev`` through
                the user's step, the views of the ``"ad"`` oracle — with gatejac's closed
                forms (``"ad"`` tolerance).

The user's code never raises through gatejac: an exception, or a result that is not an
array of numbers, fails the comparison at that point with what happened.  Report rows name
the user's code as theirs: ``step (your torch_step)``, ``state (jacrev of your torch_step)``,
``input (your function input_jacobian)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from gatejac import numeric
from gatejac.numeric import to_numpy
from gatejac.symbolic import Cell, Derivation

from ._comparison import compare, comparison_result, failed, max_abs
from ._jacobians import jacobian_names, parse_jacobian
from ._oracles import LeafView, Oracles, make_point, oracles_for, point_views
from ._report import CheckResult
from ._tolerances import tolerance

FUNCTION_KINDS = ("state", "input", "parameter", "gate_split")
"""Jacobians a function may claim: the dense ones (of the gate split only A, the
derivative of the frozen step; B is a difference of two derivatives)."""
STEP_KINDS = ("state", "input", "parameter")
"""Jacobians of a user's torch step compared with the closed forms."""


def function_names(cell: Cell) -> list[str]:
    """The Jacobian names a ``functions`` claim may use for ``cell``."""
    return [name for name in jacobian_names(cell, kinds=FUNCTION_KINDS) if name != "gate_split:B"]


def call(function: Callable, what: str, *arguments):
    """``(function(*arguments), None)``, or ``(None, what happened)`` if the user's code raised."""
    try:
        return function(*arguments), None
    except Exception as exc:  # the user's code: report, never a traceback
        return None, f"{what} raised {type(exc).__name__}: {exc}"


def _as_float64(value, what: str):
    try:
        return np.asarray(to_numpy(value), dtype=np.float64), None
    except (TypeError, ValueError) as exc:
        return None, f"{what} returned {type(value).__name__}, not an array of numbers ({exc})"


def _view(cell: Cell, sizes, name: str):
    return point_views(cell, sizes, {}, {})[parse_jacobian(cell, name).view]


def check_function(cell: Cell, jacobian: str, function: Callable, *, sizes, seed: int, points: int) -> CheckResult:
    """A user's NumPy Jacobian function against the ``"ad"`` oracle."""
    view = _view(cell, sizes, jacobian)
    oracle = oracles_for(cell, sizes)
    name = getattr(function, "__name__", "function")
    outcomes = []
    for k in range(points):
        point = make_point(cell, sizes, seed, k)
        value, error = call(function, f"your {name}(states, inputs, params)", *point.values("numpy", "float64"))
        if error is None:
            value, error = _as_float64(value, f"your {name}")
        if error is not None:
            outcomes.append(failed(k, error))
            continue
        expected = oracle.jacobian("ad", view, point)
        outcomes.append(compare(value, expected, tolerance("ad", "float64", max_abs(expected)), k))
    return comparison_result(cell.name, f"{jacobian} (your function {name})", "ad", "numpy", "float64", seed,
                             (view.row_names(), view.column_names()), outcomes)


def check_torch_step(cell: Cell, step: Callable, *, derivation: Derivation, sizes, seed: int,
                     points: int) -> list[CheckResult]:
    """A user's torch step: its new states against the spec's step, its Jacobians
    (``torch.func.jacrev`` through it) against the derived closed forms."""
    name = getattr(step, "__name__", "torch_step")
    compiled = numeric.compile(derivation, "numpy")
    user = Oracles(cell, sizes, torch_step=lambda states, inputs, params, override: step(states, inputs, params))
    state_names = [s.name for s in cell.states]
    jacobians = [parse_jacobian(cell, j) for j in jacobian_names(cell, kinds=STEP_KINDS)]
    views = point_views(cell, sizes, {}, {})
    outcomes: dict[str, list] = {"step": [], **{j.name: [] for j in jacobians}}
    for k in range(points):
        point = make_point(cell, sizes, seed, k)
        new, error = call(step, f"your {name}(states, inputs, params)", *point.values("torch", "float64"))
        if error is None and not (isinstance(new, Mapping) and set(new) == set(state_names)):
            error = f"your {name} returned {type(new).__name__} {_keys(new)}; return a dict with the keys {state_names}"
        if error is not None:
            for key in outcomes:
                outcomes[key].append(failed(k, error))
            continue
        actual = np.concatenate([_as_float64(new[s], name)[0] for s in state_names], axis=-1)[..., None]
        values = point.values("numpy", "float64")
        spec_new = compiled.step(*values)
        expected = np.concatenate([spec_new[s] for s in state_names], axis=-1)[..., None]
        outcomes["step"].append(compare(actual, expected, tolerance("reference", "float64", max_abs(expected)), k))
        for jacobian in jacobians:
            matrix, error = call(user.jacobian, f"torch.func.jacrev through your {name}", "ad",
                                 views[jacobian.view], point)
            expected = np.asarray(jacobian.kernel(compiled, *values))
            outcomes[jacobian.name].append(
                failed(k, error) if error else
                compare(matrix, expected, tolerance("ad", "float64", max_abs(expected)), k))
    step_names = (LeafView(cell, sizes, "states").row_names(), ["value"])
    results = [comparison_result(cell.name, f"step (your {name})", "spec step", "torch", "float64", seed,
                                 step_names, outcomes["step"])]
    results += [comparison_result(cell.name, f"{j.name} (jacrev of your {name})", "closed form", "torch", "float64",
                                  seed, (views[j.view].row_names(), views[j.view].column_names()), outcomes[j.name])
                for j in jacobians]
    return results


def _keys(value) -> str:
    return f"with keys {sorted(map(str, value))}" if isinstance(value, Mapping) else ""
