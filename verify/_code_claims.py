"""Claims made in code: a user's NumPy Jacobian functions and a user's own torch step.

``functions``   ``{jacobian: f}`` with ``f(states, inputs, params) -> array``: the dense
                Jacobian computed by the user's own NumPy code.  Arguments are float64
                NumPy arrays keyed by spec name, states and inputs with a batch dimension
                ``(B, size)``; the result has the layout of the matching kernel of
                :class:`numeric.CompiledCell`, ``(B, rows, columns)`` (matrix parameters
                flattened row-major).  Each is compared with the ``"ad"`` oracle
                (``torch.func`` through the spec's step) at the ``"ad"`` tolerance.
``torch_step``  ``f(states, inputs, params) -> {state: new value}``: the user's own torch
                implementation of the step, on float64 tensors keyed by spec name, batched
                ``(B, size)`` or written for one sample ``(size,)`` (gatejac then calls it
                sample by sample).  It is compared as ``verify.compare`` compares an
                implementation (:mod:`verify._compare`, docs/verification.md: “Checking
                your own implementation”): its new states with the spec's step
                (``"reference"`` tolerance) first, then the spec's named intermediates it
                returns in its dict (``{"h": ..., "f": ...}``), then its state, input and
                parameter Jacobians — ``torch.func.jacrev`` through the user's step — with
                gatejac's closed forms (``"ad"`` tolerance), each differing block with the
                spec's term that accounts for it.  What is wrong first (a wrong forward
                step: the Jacobian failures follow from it) heads the claim in the report.

The user's code never raises through gatejac: an exception, or a result that is not an
array of numbers, fails the comparison at that point with what happened; a step that can be
called neither batched nor one sample at a time fails with how gatejac called it and what it
expected.  Report rows name the user's code as theirs: ``step (your torch_step)``
(``step h' (your …)`` for each state of a multi-state cell), ``intermediate f (your …)``,
``state (jacrev of your torch_step)``, ``input (your function input_jacobian)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from gatejac.numeric import to_numpy
from gatejac.symbolic import Cell

from ._compare import run_comparison
from ._compare_call import Implementation, call, name_of
from ._compare_errors import CompareError
from ._comparison import compare, comparison_result, failed, max_abs
from ._jacobians import jacobian_names, parse_jacobian
from ._oracles import make_point, oracles_for, point_views
from ._report import CheckResult
from ._tolerances import tolerance

FUNCTION_KINDS = ("state", "input", "parameter", "gate_split")
"""Jacobians a function may claim: the dense ones (of the gate split only A, the
derivative of the frozen step; B is a difference of two derivatives)."""


def function_names(cell: Cell) -> list[str]:
    """The Jacobian names a ``functions`` claim may use for ``cell``."""
    return [name for name in jacobian_names(cell, kinds=FUNCTION_KINDS) if name != "gate_split:B"]


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


def check_torch_step(cell: Cell, step: Callable, *, sizes, seed: int, points: int) -> tuple[list[CheckResult], str]:
    """A user's torch step through ``verify.compare``'s machinery (:func:`verify._compare.run_comparison`,
    called as ``step(states, inputs, params)``, batched or one sample at a time): its new
    states, the spec's intermediates it returns, and its Jacobians as report rows, and what is
    wrong first (``""`` when it agrees) — a wrong forward step before the Jacobian failures that
    follow from it, the first diverging intermediate, the spec's term that accounts for a
    differing block."""
    name = name_of(step)
    try:
        comparison = run_comparison(cell, Implementation(cell, step, None, keyed=True), sizes, seed=seed,
                                    points=points)
    except CompareError as error:  # called neither batched nor one sample at a time: nothing to differentiate
        row = comparison_result(cell.name, f"step (your {name})", "spec step", "torch", "float64", seed, ([], []),
                                [failed(k, str(error)) for k in range(points)])
        return [row], str(error).splitlines()[0]
    stages = {stage.name: stage for stage in comparison.stages}
    single = len(cell.states) == 1
    labels = {"forward": lambda r: f"step{'' if single else ' ' + r.jacobian} (your {name})",
              "intermediates": lambda r: f"intermediate {r.jacobian} (your {name})",
              "jacobians": lambda r: f"{r.jacobian} (jacrev of your {name})"}
    results = []
    for key, label in labels.items():
        for result in stages[key].results:
            found = [a for a in comparison.attributions if key == "jacobians" and a.jacobian == result.jacobian]
            detail = "; ".join(f"{a.verdict} in d{a.block[0]}'/d{a.block[1]}: {' + '.join(a.terms)}"
                               for a in found if a.terms) or result.detail
            results.append(dataclasses.replace(result, jacobian=label(result),
                                               oracle="closed form" if key == "jacobians" else "spec step",
                                               detail=detail, term=found[0].terms[0] if found and found[0].terms
                                               else result.term))
    return results, "" if comparison.passed else comparison.verdict().removeprefix("verdict: FAILED — ")
