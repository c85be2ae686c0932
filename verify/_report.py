"""The result of ``verify.check``: one :class:`CheckResult` per (Jacobian, oracle), gathered
in a :class:`Report` that prints as a table (``to_text``) or serialises (``to_dict``,
``to_json``).

A comparison result describes the entry that came closest to (or went furthest past) its
tolerance over every point and sample: its index ``worst = (sample, i, j)`` and names
(``row="h[2]'"``, ``column="W[1,3]"``), the kernel's value (``actual``), the oracle's
(``expected``), ``max_error = |actual − expected|`` there and ``tolerance`` — the bound
``atol·S + rtol·|expected|`` of :mod:`verify._tolerances` at that entry.  A failed result
also names the structured terms of the Jacobian that make up that entry
(``contributions``: ``(role, term, value)`` with role ``"wrong"`` — in the checked
Jacobian but not in ``derive(cell)`` —, ``"missing"`` — derived by gatejac, absent from
the checked Jacobian —, or ``"present"``), and ``term`` is the first of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckResult:
    """One Jacobian of one cell against one oracle (aggregated over every point)."""

    cell: str
    jacobian: str
    oracle: str
    backend: str
    dtype: str
    passed: bool
    max_error: float | None
    tolerance: float | None
    worst: tuple[int, int, int] | None
    actual: float | None
    expected: float | None
    term: str | None
    seed: int
    point: int | None
    detail: str = ""
    skipped: bool = False
    row: str | None = None
    column: str | None = None
    slope: float | None = None
    contributions: tuple[tuple[str, str, float], ...] = ()

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        return {key: _json_value(value) for key, value in asdict(self).items()} | {"status": self.status}


@dataclass
class Report:
    """Everything ``verify.check`` found for one cell.

    ``passed`` is true when every result passed (skipped oracles do not fail a check);
    ``reproduce`` is the Python call (and, for catalogue cells, the command) that repeats
    the check; ``hypothesis_blob`` is set by Hypothesis-driven callers
    (``@reproduce_failure``) and is ``None`` otherwise.
    """

    cell: str
    results: list[CheckResult]
    seed: int
    backend: str = "numpy"
    dtype: str = "float64"
    sizes: dict = field(default_factory=dict)
    points: int = 1
    reproduce: str = ""
    hypothesis_blob: str | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        return {
            "cell": self.cell, "passed": self.passed, "backend": self.backend, "dtype": self.dtype,
            "sizes": dict(self.sizes), "seed": self.seed, "points": self.points,
            "checks": len(self.results), "failures": len(self.failures),
            "reproduce": self.reproduce, "hypothesis_blob": self.hypothesis_blob,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (non-finite numbers become the strings ``"nan"``, ``"inf"``)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    # ------------------------------------------------------------------ text
    def to_text(self) -> str:
        """A summary table, then for every failure where it is, why, and how to repeat it."""
        checks = len(self.results)
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} of {checks} checks)"
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        lines = [
            f"gatejac check of cell {self.cell!r}: {verdict}",
            f"backend {self.backend}, dtype {self.dtype}, sizes {sizes}, seed {self.seed}, "
            f"{self.points} point{'s' if self.points != 1 else ''}",
            "",
            *self.table(),
        ]
        for number, failure in enumerate(self.failures, 1):
            lines += ["", *_failure_text(number, failure)]
        if not self.passed and self.reproduce:
            lines += ["", "reproduce:", *(f"  {line}" for line in self.reproduce.splitlines())]
        if self.hypothesis_blob:
            lines += ["", f"Hypothesis: @reproduce_failure blob {self.hypothesis_blob}"]
        return "\n".join(lines)

    def table(self) -> list[str]:
        """The summary table, one line per result, columns aligned."""
        header = ("jacobian", "oracle", "dtype", "result", "error", "tolerance", "detail")
        rows = [(r.jacobian, r.oracle, r.dtype, r.status, _number(r.max_error), _number(r.tolerance),
                 r.detail.split("\n")[0]) for r in self.results]
        widths = [max(len(row[k]) for row in (header, *rows)) for k in range(len(header) - 1)]
        return [("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]).rstrip()
                for row in (header, *rows)]


def _failure_text(number: int, result: CheckResult) -> list[str]:
    where = "" if result.point is None else (
        f", point {result.point} (values: numeric.random_values(..., seed={result.seed + result.point}))")
    lines = [f"{number}. {result.jacobian} vs {result.oracle} ({result.backend}, {result.dtype}){where}"]
    if result.worst is None:
        return lines + [f"   {line}" for line in result.detail.splitlines()]
    sample, i, j = result.worst
    width = max(len("kernel"), len(result.oracle), len("error"))
    lines += [
        f"   worst entry: sample {sample}, row {i} ({result.row}), column {j} ({result.column})",
        f"   {'kernel':<{width}}  {_value(result.actual)}",
        f"   {result.oracle:<{width}}  {_value(result.expected)}",
        f"   {'error':<{width}}  {_number(result.max_error, ' ')} > tolerance {_number(result.tolerance)}",
    ]
    if result.detail:
        lines.append(f"   {result.detail}")
    if result.contributions:
        width = max(len(text) for _, text, _ in result.contributions)
        lines.append("   structured terms at this entry (evaluated on symbolic.Instance at the same point):")
        lines += [f"     {role:<8} {text:<{width}}  = {value:+.6g}" for role, text, value in result.contributions]
        roles = {role for role, _, _ in result.contributions}
        if "wrong" in roles:
            lines.append("     (wrong: in the checked Jacobian but not in symbolic.derive(cell))")
        if "missing" in roles:
            lines.append("     (missing: derived by symbolic.derive(cell), absent from the checked Jacobian)")
    return lines


def _number(value: float | None, sign: str = "") -> str:
    """``1.2e-03`` (``sign=" "``: a space where a minus would be, so columns of values align)."""
    return "-" if value is None else f"{value:{sign}.1e}"


def _value(value: float | None) -> str:
    """Every digit of a float64, a space where a minus would be (so columns of values align)."""
    return "-" if value is None else f"{value: .17g}"


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value
