"""One entrywise comparison of a Jacobian with its reference, and the aggregate over points.

An entry passes when ``|actual − expected| ≤ atol·S + rtol·|expected|`` with the
:class:`~verify._tolerances.Tolerance` of the oracle (docs/verification.md: “Oracles and
tolerances”).  The *worst* entry is the one with the largest error-to-bound ratio;
non-finite values count as infinitely wrong.  Over several points, the worst outcome
(failed first, then by ratio) describes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._report import CheckResult


@dataclass(frozen=True)
class Outcome:
    """One comparison (or Taylor test) at one point; ``score`` orders outcomes, worst last."""

    passed: bool
    score: float
    point: int
    max_error: float | None = None
    tolerance: float | None = None
    worst: tuple[int, int, int] | None = None
    actual: float | None = None
    expected: float | None = None
    detail: str = ""
    slope: float | None = None


def max_abs(array: np.ndarray) -> float:
    """The largest finite magnitude of ``array`` (0 when it has none): the scale S of a tolerance."""
    finite = array[np.isfinite(array)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def compare(actual: np.ndarray, expected: np.ndarray, tol, point: int) -> Outcome:
    """Entrywise ``|actual − expected| ≤ tol.bound(|expected|)`` at point ``point``."""
    if actual.shape != expected.shape:
        return Outcome(False, np.inf, point, detail=f"kernel shape {actual.shape} but oracle shape {expected.shape}")
    error = np.abs(actual - expected)
    bound = tol.bound(np.abs(expected))
    ratio = np.where(np.isfinite(error), error / bound, np.inf)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
    detail = "" if np.all(np.isfinite(expected)) else "the oracle gave non-finite values"
    return Outcome(bool(np.all(ratio <= 1.0)), float(ratio[worst]), point, float(error[worst]), float(bound[worst]),
                   worst, float(actual[worst]), float(expected[worst]), detail)


def failed(point: int, detail: str) -> Outcome:
    """The outcome at ``point`` when there was nothing to compare (the user's code raised)."""
    return Outcome(False, np.inf, point, detail=detail)


def worst_of(outcomes: list[Outcome]) -> Outcome:
    """The outcome that describes a result: a failed one first, then the largest score."""
    return max(outcomes, key=lambda o: (not o.passed, o.score))


def comparison_result(cell: str, jacobian: str, oracle: str, backend: str, dtype: str, seed: int,
                      names: tuple[list[str], list[str]], outcomes: list[Outcome], **extra) -> CheckResult:
    """The :class:`CheckResult` of per-point outcomes; ``names`` gives the ``(row names,
    column names)`` of the compared matrices, ``extra`` further fields (``detail``, ``term``...)."""
    worst = worst_of(outcomes)
    row = column = None
    if worst.worst is not None:
        _, i, j = worst.worst
        row, column = names[0][i], names[1][j]
    fields = dict(detail=worst.detail, row=row, column=column, slope=worst.slope, term=None) | extra
    term = fields.pop("term")
    return CheckResult(cell, jacobian, oracle, backend, dtype, all(o.passed for o in outcomes), worst.max_error,
                       worst.tolerance, worst.worst, worst.actual, worst.expected, term, seed, worst.point, **fields)
