"""``verify.check``: every Jacobian kernel of a cell against the oracles, as a :class:`Report`.

For each of ``points`` seeded points (``numeric.random_values(cell, sizes, batch=(2,),
seed=seed + k)``: weights of gain 1, so pre-activations stay O(1), far from saturation)
the kernels of ``numeric.compile(derivation or cell, backend)`` are evaluated and compared
with the oracles' derivatives of the matching view of the step (the table of
:mod:`verify._jacobians` says which kernel and which view each Jacobian name means): B of the
gate split against ``∂step/∂s − ∂step_frozen/∂s``, and its Taylor test checks ``A + B`` as the
derivative of the step (J = A + B); ``jvp`` with random unit tangents of every state, input
and parameter; ``vjp`` with random cotangents, against ∂⟨c, step⟩/∂(every leaf).

Each comparison passes when ``|kernel − oracle| ≤ atol·S + rtol·|oracle|`` entrywise, with
``(atol, rtol)`` from :func:`~verify._tolerances.tolerance` for the oracle and ``S =
max(1, max|oracle|)``.  With ``dtype="float32"`` the float64 kernels are checked against
the oracles (dtype ``float64`` rows: the reference must itself be right) and the float32
kernels against the float64 ones (oracle ``"reference"``), at points whose values are
exactly representable in float32.  Tangents, cotangents and Taylor directions come from
``numpy.random.default_rng((seed, k, crc32(name)))``, so they do not depend on which
Jacobians are selected.

With ``backend="torch"`` the dense Jacobians (``state``, ``input``, ``parameter:W``) are the
raw torch kernels on the checked arguments (:meth:`~verify._jacobians.JacobianName.kernel`):
the checked ``state_jacobian`` & co. of plain CPU tensors run the NumPy kernels below
``numeric.TORCH_THROUGH_NUMPY_BELOW``, which would leave the torch kernels unchecked
(docs/verification.md: “Oracles and tolerances”).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

from gatejac import numeric
from gatejac.numeric import DTYPES, to_numpy
from gatejac.symbolic import Cell, Derivation, unknown_name

from ._cells import resolve_cell
from ._comparison import Outcome, compare, comparison_result, max_abs, worst_of
from ._errors import CheckError, VerificationError
from ._jacobians import JacobianName, jacobian_names, parse_jacobian
from ._oracles import ORACLES, Point, View, make_point, oracles_for, point_views, taylor_test
from ._report import CheckResult, Report
from ._reproduction import check_call
from ._sizes import checked_sizes, size_names
from ._terms import EntryExplainer
from ._tolerances import taylor_band, tolerance

DEFAULT_SIZES = {"n": 4, "m": 3}
"""Sizes used when ``sizes`` does not give one; any other size defaults to 3."""


def default_sizes(cell: Cell) -> dict[str, int]:
    """Every size of ``cell`` at its default (:data:`DEFAULT_SIZES`, else 3), as ``verify.check``
    and ``verify.compare`` take them."""
    return {name: DEFAULT_SIZES.get(name, 3) for name in size_names(cell)}


def assert_passed(report: Report) -> None:
    """Raise :class:`VerificationError` with ``report.to_text()`` unless ``report`` passed."""
    __tracebackhide__ = True  # pytest: show the caller's line, not this helper's
    if not isinstance(report, Report):
        raise CheckError(f"assert_passed() takes the Report verify.check returns, got {type(report).__name__}")
    if not report.passed:
        raise VerificationError(report.to_text())


def check(cell: Cell | str, *, backend: str = "numpy", dtype: str = "float64", sizes: Mapping[str, int] | None = None,
          seed: int = 0, points: int = 3, oracles=("ad", "fd", "taylor"), derivation: Derivation | None = None,
          jacobians=None) -> Report:
    """Check every Jacobian kernel of ``cell`` against ``oracles`` and return a :class:`Report`.

    ``cell`` is a :class:`symbolic.Cell` or a catalogue name.  ``derivation`` checks that
    derivation's kernels (e.g. a deliberately broken one from ``Derivation.replace``)
    instead of ``derive(cell)``'s; failures then name the terms that differ from
    ``derive(cell)``.  ``jacobians`` restricts the check to some of
    :func:`~verify.jacobian_names` (default: all).  Oracles: ``"ad"``, ``"fd"``,
    ``"taylor"``, ``"mp"``, ``"complex_step"`` (see :mod:`verify._oracles`).
    ``backend="torch"`` checks the torch kernels themselves, also where the checked dense
    Jacobians of small plain tensors take the NumPy kernels (see the module docstring).

    Example::

        report = verify.check("gru_torch", backend="torch", seed=3)
        print(report.to_text())
        verify.assert_passed(report)
    """
    given = cell
    cell, derivation = _resolve(cell, derivation)
    if backend not in numeric.BACKENDS:
        raise unknown_name("backend", backend, list(numeric.BACKENDS))
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, list(DTYPES))
    _check_count("points", points, minimum=1)
    _check_count("seed", seed, minimum=0)
    sizes = checked_sizes(cell, sizes, where="check(sizes=...)", defaults=default_sizes(cell))
    oracles = _names("oracle", oracles, list(ORACLES), "")
    names = jacobian_names(cell)
    selected = _names("jacobian", names if jacobians is None else jacobians, names, f"(cell {cell.name!r})")
    if not selected or (not oracles and dtype == "float64"):
        raise CheckError("nothing to check: give at least one jacobian and, for float64, one oracle")
    run = _Run(cell, derivation, backend, dtype, sizes, seed, points, oracles, selected)
    options = dict(backend=backend, dtype=dtype, sizes=sizes, seed=seed, points=points, oracles=tuple(oracles))
    if jacobians is not None:
        options["jacobians"] = tuple(selected)
    return Report(cell.name, run.results(), seed, backend, dtype, dict(sizes), points,
                  check_call(given, cell, derivation, options))


# --------------------------------------------------------------------------- arguments
def _resolve(cell, derivation) -> tuple[Cell, Derivation | None]:
    """The validated cell and the explicit derivation (or None)."""
    cell = resolve_cell(cell, "check", CheckError)
    if derivation is None:
        return cell, None
    if not isinstance(derivation, Derivation):
        raise CheckError(f"derivation= takes a symbolic.Derivation (from symbolic.derive or Derivation.replace), "
                         f"got {type(derivation).__name__}")
    if derivation.cell is not cell and derivation.cell.name != cell.name:
        raise CheckError(f"derivation= is a derivation of cell {derivation.cell.name!r}, not of {cell.name!r}; "
                         "pass the cell it was derived from")
    return derivation.cell, derivation


def _check_count(what: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CheckError(f"{what}={value!r}: give an integer ≥ {minimum}")


def _names(kind: str, given, known: list[str], hint: str) -> list[str]:
    """``given`` (one name or several) checked against ``known``, in ``known``'s order."""
    if isinstance(given, str):
        given = [given]
    elif not isinstance(given, (list, tuple, set, frozenset)):
        raise CheckError(f"{kind}s={given!r}: give a name or a list of names from {known}")
    for name in given:
        if name not in known:
            raise unknown_name(kind, name, known, hint)
    return [name for name in known if name in given]


# --------------------------------------------------------------------------- one check
class _Run:
    """One call of :func:`check`: evaluates every point, then aggregates per (Jacobian, oracle)."""

    def __init__(self, cell, derivation, backend, dtype, sizes, seed, points, oracles, selected):
        self.cell, self.derivation, self.backend, self.dtype = cell, derivation, backend, dtype
        self.sizes, self.seed, self.points, self.oracles = sizes, seed, points, oracles
        self.selected = [parse_jacobian(cell, name) for name in selected]
        self.compiled = numeric.compile(derivation if derivation is not None else cell, backend)
        self.oracle = oracles_for(cell, sizes)
        self.outcomes: dict[tuple[str, str, str], list[Outcome]] = {}
        self.points_by_index: dict[int, Point] = {}
        self.views: dict[tuple[int, str], View] = {}
        self._explainer = None

    def results(self) -> list[CheckResult]:
        skipped = {name: self.oracle.skip_reason(name) for name in self.oracles}
        for k in range(self.points):
            self._run_point(k, [o for o in self.oracles if skipped[o] is None])
        results = []
        for jacobian in self.selected:
            for oracle in self.oracles:
                if skipped[oracle] is not None:
                    results.append(self._skipped(jacobian.name, oracle, skipped[oracle]))
                else:
                    results.append(self._result(jacobian, oracle, "float64"))
            if self.dtype != "float64":
                results.append(self._result(jacobian, "reference", self.dtype))
        return results

    # ------------------------------------------------------------------ one point
    def _run_point(self, k: int, oracles: list[str]) -> None:
        point = make_point(self.cell, self.sizes, self.seed, k, representable_in=self.dtype)
        self.points_by_index[k] = point
        tangents = self._random(k, "jvp", {**point.states, **point.inputs, **point.params}, unit=True)
        cotangents = self._random(k, "vjp", point.states)
        views = point_views(self.cell, self.sizes, tangents, cotangents)
        kernels = _Kernels(self.compiled, point, tangents, cotangents)
        references: dict[tuple[str, str], np.ndarray] = {}

        def reference(oracle: str, view_key: str) -> np.ndarray:
            if (oracle, view_key) not in references:
                references[oracle, view_key] = self.oracle.jacobian(oracle, views[view_key], point)
            return references[oracle, view_key]

        for jacobian in self.selected:
            name = jacobian.name
            view = self.views[k, name] = views[jacobian.view]
            actual = kernels.matrix(jacobian, "float64")
            for oracle in oracles:
                if oracle == "taylor":
                    tested = actual
                    if jacobian.minus is not None:  # B: the Taylor test checks A + B, the step's derivative
                        tested = actual + kernels.matrix(parse_jacobian(self.cell, "gate_split:A"), "float64")
                    outcome = self._taylor(k, name, view, point, tested)
                else:
                    expected = reference(oracle, jacobian.view)
                    if jacobian.minus is not None:
                        expected = expected - reference(oracle, jacobian.minus)
                    outcome = compare(actual, expected, tolerance(oracle, "float64", max_abs(expected)), k)
                self.outcomes.setdefault((name, oracle, "float64"), []).append(outcome)
            if self.dtype != "float64":
                outcome = compare(kernels.matrix(jacobian, self.dtype), actual,
                                  tolerance("reference", self.dtype, max_abs(actual)), k)
                self.outcomes.setdefault((name, "reference", self.dtype), []).append(outcome)

    def _random(self, k: int, name: str, like: dict, unit: bool = False) -> dict:
        rng = np.random.default_rng((self.seed, k, zlib.crc32(name.encode())))
        values = {key: rng.standard_normal(np.shape(value)) for key, value in like.items()}
        if unit:
            norm = np.sqrt(sum(float(np.sum(v**2)) for v in values.values()))
            values = {key: v / norm for key, v in values.items()}
        return {key: np.asarray(v, dtype=self.dtype).astype(np.float64) for key, v in values.items()}

    def _taylor(self, k, name, view, point, matrix) -> Outcome:
        v = view.initial(point)
        direction = self._random(k, f"taylor {name}", {"d": v}, unit=True)["d"]
        outcome = taylor_test(lambda w: self.oracle.evaluate(view, point, w), v, matrix, direction,
                              row_names=view.row_names())
        score = 0.0 if outcome.slope is None else 2.0 - outcome.slope
        return Outcome(outcome.passed, score, k, detail=outcome.detail, slope=outcome.slope)

    # ------------------------------------------------------------------ aggregation
    def _result(self, jacobian: JacobianName, oracle: str, dtype: str) -> CheckResult:
        name = jacobian.name
        outcomes = self.outcomes[name, oracle, dtype]
        worst = worst_of(outcomes)
        view = self.views[worst.point, name]
        extra = {}
        if worst.worst is not None and not worst.passed:
            contributions = self._explain(jacobian, worst.point, worst.worst)
            extra = {"contributions": contributions, "term": contributions[0][1] if contributions else None}
        if oracle == "taylor":
            band = taylor_band("float64")
            slopes = ", ".join("at round-off" if o.slope is None else f"{o.slope:.3f}" for o in outcomes)
            summary = f"slope{'s' if len(outcomes) > 1 else ''} {slopes} (pass: ≥ {band.low}; ≈ 1 means J is wrong)"
            if jacobian.minus is not None:
                summary += "; tests A + B as the derivative of the step"
            passed = all(o.passed for o in outcomes)
            extra["detail"] = summary if passed else f"{summary}\npoint {worst.point}: {worst.detail}"
        return comparison_result(self.cell.name, name, oracle, self.backend, dtype, self.seed,
                                 (view.row_names(), view.column_names()), outcomes, **extra)

    def _skipped(self, name: str, oracle: str, reason: str) -> CheckResult:
        return CheckResult(self.cell.name, name, oracle, self.backend, "float64", True, None, None, None, None, None,
                           None, self.seed, None, f"skipped: {reason}", skipped=True)

    def _explain(self, jacobian: JacobianName, k: int, entry: tuple[int, int, int]):
        if self._explainer is None:
            self._explainer = EntryExplainer(self.cell, self.sizes, self.derivation)
        return self._explainer.explain(jacobian, self.points_by_index[k], entry)


class _Kernels:
    """The kernel matrices under test at one point, float64 ``(batch, M, N)``, cached."""

    def __init__(self, compiled, point: Point, tangents: dict, cotangents: dict):
        self.compiled, self.point, self.tangents, self.cotangents = compiled, point, tangents, cotangents
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def matrix(self, jacobian: JacobianName, dtype: str) -> np.ndarray:
        if (jacobian.name, dtype) not in self._cache:
            self._cache[jacobian.name, dtype] = np.asarray(to_numpy(self._evaluate(jacobian, dtype)), dtype=np.float64)
        return self._cache[jacobian.name, dtype]

    def _evaluate(self, jacobian: JacobianName, dtype: str):
        compiled, backend = self.compiled, self.compiled.backend
        values = self.point.values(backend, dtype)
        cell = compiled.cell
        if jacobian.structured:
            return jacobian.kernel(compiled, *values)
        if jacobian.kind == "jvp":
            out = compiled.jvp(*values, tangents=numeric.convert(self.tangents, backend, dtype))
            return np.concatenate([to_numpy(out[s.name]) for s in cell.states], axis=-1)[..., None]
        out = compiled.vjp(*values, cotangents=numeric.convert(self.cotangents, backend, dtype))
        leaves = (*cell.states, *cell.inputs, *cell.parameters)
        return np.concatenate([np.ravel(to_numpy(out[p.name])) for p in leaves])[None, None]
