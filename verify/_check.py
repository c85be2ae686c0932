"""``verify.check``: every Jacobian kernel of a cell against the oracles, as a :class:`Report`.

For each of ``points`` seeded points (``numeric.random_values(cell, sizes, batch=(2,),
seed=seed + k)``: weights of gain 1, so pre-activations stay O(1), far from saturation)
the kernels of ``numeric.compile(derivation or cell, backend)`` are evaluated and compared:

=================  ==========================================================================
Jacobian           kernel and what the oracles differentiate (views of :mod:`verify._oracles`)
=================  ==========================================================================
``state``          ``state_jacobian`` — the step with respect to the states
``input``          ``input_jacobian`` — the step with respect to the inputs
``parameter:W``    ``parameter_jacobian("W")`` — the step with respect to W, flattened row-major
``gate_split:A``   ``gate_split()[0]`` — the step with every marked gate held at its value
                   (``step(..., override={gate: value})``)
``gate_split:B``   ``gate_split()[1]`` against ``∂step/∂s − ∂step_frozen/∂s``; the Taylor
                   test checks ``A + B`` as the derivative of the step (J = A + B)
``jvp``            ``jvp`` with random unit tangents of every state, input and parameter
``vjp``            ``vjp`` with random cotangents, against ∂⟨c, step⟩/∂(every leaf)
=================  ==========================================================================

Each comparison passes when ``|kernel − oracle| ≤ atol·S + rtol·|oracle|`` entrywise, with
``(atol, rtol)`` from :func:`~verify._tolerances.tolerance` for the oracle and ``S =
max(1, max|oracle|)``.  With ``dtype="float32"`` the float64 kernels are checked against
the oracles (dtype ``float64`` rows: the reference must itself be right) and the float32
kernels against the float64 ones (oracle ``"reference"``), at points whose values are
exactly representable in float32.  Tangents, cotangents and Taylor directions come from
``numpy.random.default_rng((seed, k, crc32(name)))``, so they do not depend on which
Jacobians are selected.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy

from gatejac import numeric
from gatejac.symbolic import Cell, Derivation, GatejacError, Instance, ShapeError, cells, dense_term
from gatejac.symbolic._errors import unknown_name

from ._oracles import (
    ORACLES,
    CotangentView,
    LeafView,
    ParameterView,
    Point,
    TangentView,
    View,
    as_arrays,
    make_point,
    oracles_for,
    taylor_test,
)
from ._report import CheckResult, Report
from ._tolerances import taylor_band, tolerance

DEFAULT_SIZES = {"n": 4, "m": 3}
"""Sizes used when ``sizes`` does not give one; any other size defaults to 3."""
DTYPES = ("float64", "float32")


class CheckError(GatejacError, ValueError):
    """``verify.check`` was called with an invalid option (points, seed, oracles, cell ...)."""


class VerificationError(GatejacError, AssertionError):
    """A check failed; the message is the report's text (``Report.to_text()``)."""


def assert_passed(report: Report) -> None:
    """Raise :class:`VerificationError` with ``report.to_text()`` unless ``report`` passed."""
    if not isinstance(report, Report):
        raise CheckError(f"assert_passed() takes the Report verify.check returns, got {type(report).__name__}")
    if not report.passed:
        raise VerificationError(report.to_text())


def jacobian_names(cell: Cell) -> list[str]:
    """Every Jacobian ``check`` can verify for ``cell``, in report order."""
    names = ["state"] + (["input"] if cell.inputs else []) + [f"parameter:{p.name}" for p in cell.parameters]
    if cell.gates:
        names += ["gate_split:A", "gate_split:B"]
    return names + ["jvp", "vjp"]


def check(cell: Cell | str, *, backend: str = "numpy", dtype: str = "float64", sizes: Mapping[str, int] | None = None,
          seed: int = 0, points: int = 3, oracles=("ad", "fd", "taylor"), derivation: Derivation | None = None,
          jacobians=None) -> Report:
    """Check every Jacobian kernel of ``cell`` against ``oracles`` and return a :class:`Report`.

    ``cell`` is a :class:`symbolic.Cell` or a catalogue name.  ``derivation`` checks that
    derivation's kernels (e.g. a deliberately broken one from ``Derivation.replace``)
    instead of ``derive(cell)``'s; failures then name the terms that differ from
    ``derive(cell)``.  ``jacobians`` restricts the check to some of
    :func:`jacobian_names` (default: all).  Oracles: ``"ad"``, ``"fd"``, ``"taylor"``,
    ``"mp"``, ``"complex_step"`` (see :mod:`verify._oracles`).

    Example::

        report = verify.check("gru_torch", backend="torch", seed=3)
        print(report.to_text())
        verify.assert_passed(report)
    """
    cell, derivation, call = _resolve(cell, derivation)
    if backend not in numeric.BACKENDS:
        raise unknown_name("backend", backend, list(numeric.BACKENDS))
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, list(DTYPES))
    _check_count("points", points, minimum=1)
    _check_count("seed", seed, minimum=0)
    sizes = _sizes(cell, sizes)
    oracles = _names("oracle", oracles, list(ORACLES), "")
    selected = _names("jacobian", jacobian_names(cell) if jacobians is None else jacobians, jacobian_names(cell),
                      f"(cell {cell.name!r})")
    if not selected or (not oracles and dtype == "float64"):
        raise CheckError("nothing to check: give at least one jacobian and, for float64, one oracle")
    run = _Run(cell, derivation, backend, dtype, sizes, seed, points, oracles, selected)
    results = run.results()
    return Report(cell.name, results, seed, backend, dtype, dict(sizes), points,
                  _reproduction(call, cell, derivation, backend, dtype, sizes, seed, points, oracles, selected,
                                jacobians is not None))


# --------------------------------------------------------------------------- arguments
def _resolve(cell, derivation) -> tuple[Cell, Derivation | None, str | None]:
    """The validated cell, the explicit derivation (or None), and the catalogue call if the
    cell was given by name."""
    call = None
    if isinstance(cell, str):
        call, cell = f"symbolic.cells.get({cell!r})", cells.get(cell)
    if not isinstance(cell, Cell):
        raise CheckError(f"check() takes a symbolic.Cell or a catalogue name (see symbolic.cells.names()), "
                         f"got {type(cell).__name__} {cell!r}")
    cell = cell.validate()
    if derivation is None:
        return cell, None, call
    if not isinstance(derivation, Derivation):
        raise CheckError(f"derivation= takes a symbolic.Derivation (from symbolic.derive or Derivation.replace), "
                         f"got {type(derivation).__name__}")
    if derivation.cell is not cell and derivation.cell.name != cell.name:
        raise CheckError(f"derivation= is a derivation of cell {derivation.cell.name!r}, not of {cell.name!r}; "
                         "pass the cell it was derived from")
    return derivation.cell, derivation, call


def _check_count(what: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CheckError(f"{what}={value!r}: give an integer ≥ {minimum}")


def _sizes(cell: Cell, sizes) -> dict[str, int]:
    order = list(DEFAULT_SIZES)
    dims = sorted((d.name for d in cell.dims), key=lambda d: order.index(d) if d in order else len(order))
    chosen = {d: DEFAULT_SIZES.get(d, 3) for d in dims}
    if sizes is None:
        return chosen
    if not isinstance(sizes, Mapping):
        raise ShapeError(f"sizes={sizes!r}: give a mapping from size names to integers, e.g. {chosen}")
    for name, value in sizes.items():
        if name not in dims:
            raise unknown_name("size", name, dims, f"(cell {cell.name!r} has sizes {dims})")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"sizes[{name!r}] = {value!r}: a size must be a positive integer")
        chosen[name] = int(value)
    return chosen


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
@dataclass(frozen=True)
class _Outcome:
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


_VIEW_OF = {"gate_split:A": "frozen", "gate_split:B": "state"}
"""The view whose derivative a Jacobian is (the others are named after their view)."""


class _Run:
    """One call of :func:`check`: evaluates every point, then aggregates per (Jacobian, oracle)."""

    def __init__(self, cell, derivation, backend, dtype, sizes, seed, points, oracles, selected):
        self.cell, self.derivation, self.backend, self.dtype = cell, derivation, backend, dtype
        self.sizes, self.seed, self.points, self.oracles, self.selected = sizes, seed, points, oracles, selected
        self.compiled = numeric.compile(derivation if derivation is not None else cell, backend)
        self.oracle = oracles_for(cell, sizes)
        self.outcomes: dict[tuple[str, str, str], list[_Outcome]] = {}
        self.points_by_index: dict[int, Point] = {}
        self.views: dict[tuple[int, str], View] = {}
        self._explainer = None

    def results(self) -> list[CheckResult]:
        skipped = {name: self.oracle.skip_reason(name) for name in self.oracles}
        for k in range(self.points):
            self._run_point(k, [o for o in self.oracles if skipped[o] is None])
        results = []
        for name in self.selected:
            for oracle in self.oracles:
                if skipped[oracle] is not None:
                    results.append(self._skipped(name, oracle, skipped[oracle]))
                else:
                    results.append(self._result(name, oracle, "float64"))
            if self.dtype != "float64":
                results.append(self._result(name, "reference", self.dtype))
        return results

    # ------------------------------------------------------------------ one point
    def _run_point(self, k: int, oracles: list[str]) -> None:
        point = make_point(self.cell, self.sizes, self.seed, k, representable_in=self.dtype)
        self.points_by_index[k] = point
        tangents = self._random(k, "jvp", {**point.states, **point.inputs, **point.params}, unit=True)
        cotangents = self._random(k, "vjp", point.states)
        views = self._point_views(tangents, cotangents)
        kernels = _Kernels(self.compiled, point, tangents, cotangents)
        references: dict[tuple[str, str], np.ndarray] = {}

        def reference(oracle: str, view_key: str) -> np.ndarray:
            if (oracle, view_key) not in references:
                references[oracle, view_key] = self.oracle.jacobian(oracle, views[view_key], point)
            return references[oracle, view_key]

        for name in self.selected:
            view = self.views[k, name] = views[_VIEW_OF.get(name, name)]
            actual = kernels.matrix(name, "float64")
            for oracle in oracles:
                if oracle == "taylor":
                    tested = actual + kernels.matrix("gate_split:A", "float64") if name == "gate_split:B" else actual
                    outcome = self._taylor(k, name, view, point, tested)
                else:
                    expected = reference(oracle, _VIEW_OF.get(name, name))
                    if name == "gate_split:B":
                        expected = expected - reference(oracle, "frozen")
                    outcome = _compare(actual, expected, tolerance(oracle, "float64", _max_abs(expected)), k)
                self.outcomes.setdefault((name, oracle, "float64"), []).append(outcome)
            if self.dtype != "float64":
                outcome = _compare(kernels.matrix(name, self.dtype), actual,
                                   tolerance("reference", self.dtype, _max_abs(actual)), k)
                self.outcomes.setdefault((name, "reference", self.dtype), []).append(outcome)

    def _point_views(self, tangents: dict, cotangents: dict) -> dict[str, View]:
        cell, sizes = self.cell, self.sizes
        views = {"state": LeafView(cell, sizes, "states"), "frozen": LeafView(cell, sizes, "states", frozen=True),
                 "input": LeafView(cell, sizes, "inputs"), "jvp": TangentView(cell, sizes, tangents),
                 "vjp": CotangentView(cell, sizes, cotangents)}
        views.update({f"parameter:{p.name}": ParameterView(cell, sizes, p.name) for p in cell.parameters})
        return views

    def _random(self, k: int, name: str, like: dict, unit: bool = False) -> dict:
        rng = np.random.default_rng((self.seed, k, zlib.crc32(name.encode())))
        values = {key: rng.standard_normal(np.shape(value)) for key, value in like.items()}
        if unit:
            norm = np.sqrt(sum(float(np.sum(v**2)) for v in values.values()))
            values = {key: v / norm for key, v in values.items()}
        return {key: np.asarray(v, dtype=self.dtype).astype(np.float64) for key, v in values.items()}

    def _taylor(self, k, name, view, point, matrix) -> _Outcome:
        v = view.initial(point)
        direction = self._random(k, f"taylor {name}", {"d": v}, unit=True)["d"]
        outcome = taylor_test(lambda w: self.oracle.evaluate(view, point, w), v, matrix, direction,
                              row_names=view.row_names())
        score = 0.0 if outcome.slope is None else 2.0 - outcome.slope
        return _Outcome(outcome.passed, score, k, detail=outcome.detail, slope=outcome.slope)

    # ------------------------------------------------------------------ aggregation
    def _result(self, name: str, oracle: str, dtype: str) -> CheckResult:
        outcomes = self.outcomes[name, oracle, dtype]
        worst = max(outcomes, key=lambda o: (not o.passed, o.score))
        passed = all(o.passed for o in outcomes)
        row = column = term = None
        contributions = ()
        detail = worst.detail
        if worst.worst is not None:
            view = self.views[worst.point, name]
            sample, i, j = worst.worst
            row, column = view.row_names()[i], view.column_names()[j]
            if not passed:
                contributions = self._explain(name, worst.point, worst.worst)
                term = contributions[0][1] if contributions else None
        if oracle == "taylor":
            band = taylor_band("float64")
            slopes = ", ".join("at round-off" if o.slope is None else f"{o.slope:.3f}" for o in outcomes)
            summary = f"slope{'s' if len(outcomes) > 1 else ''} {slopes} (pass: ≥ {band.low}; ≈ 1 means J is wrong)"
            if name == "gate_split:B":
                summary += "; tests A + B as the derivative of the step"
            detail = summary if passed else f"{summary}\npoint {worst.point}: {worst.detail}"
        return CheckResult(self.cell.name, name, oracle, self.backend, dtype, passed, worst.max_error, worst.tolerance,
                           worst.worst, worst.actual, worst.expected, term, self.seed, worst.point, detail,
                           row=row, column=column, slope=worst.slope, contributions=contributions)

    def _skipped(self, name: str, oracle: str, reason: str) -> CheckResult:
        return CheckResult(self.cell.name, name, oracle, self.backend, "float64", True, None, None, None, None, None,
                           None, self.seed, None, f"skipped: {reason}", skipped=True)

    def _explain(self, name: str, k: int, entry: tuple[int, int, int]):
        if self._explainer is None:
            self._explainer = _TermExplainer(self.cell, self.sizes, self.derivation)
        return self._explainer.explain(name, self.points_by_index[k], entry)


class _Kernels:
    """The kernel matrices under test at one point, float64 ``(batch, M, N)``, cached."""

    def __init__(self, compiled, point: Point, tangents: dict, cotangents: dict):
        self.compiled, self.point, self.tangents, self.cotangents = compiled, point, tangents, cotangents
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def matrix(self, name: str, dtype: str) -> np.ndarray:
        if (name, dtype) not in self._cache:
            self._cache[name, dtype] = _to_numpy(self._evaluate(name, dtype))
        return self._cache[name, dtype]

    def _evaluate(self, name, dtype):
        compiled, backend = self.compiled, self.compiled.backend
        values = self.point.values(backend, dtype)
        cell = compiled.cell
        if name == "state":
            return compiled.state_jacobian(*values)
        if name == "input":
            return compiled.input_jacobian(*values)
        if name.startswith("parameter:"):
            return compiled.parameter_jacobian(name.split(":", 1)[1], *values)
        if name.startswith("gate_split:"):
            return compiled.gate_split(*values)["AB".index(name[-1])]
        if name == "jvp":
            out = compiled.jvp(*values, tangents=as_arrays(self.tangents, backend, dtype))
            return _concat([_to_numpy(out[s.name]) for s in cell.states])[..., None]
        out = compiled.vjp(*values, cotangents=as_arrays(self.cotangents, backend, dtype))
        leaves = (*cell.states, *cell.inputs, *cell.parameters)
        return np.concatenate([np.ravel(_to_numpy(out[p.name])) for p in leaves])[None, None]


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _concat(parts):
    return np.concatenate(parts, axis=-1)


def _max_abs(array: np.ndarray) -> float:
    finite = array[np.isfinite(array)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def _compare(actual: np.ndarray, expected: np.ndarray, tol, k: int) -> _Outcome:
    """Entrywise ``|actual − expected| ≤ tol.bound(|expected|)``; the worst entry is the one
    with the largest error-to-bound ratio (non-finite values count as infinitely wrong)."""
    if actual.shape != expected.shape:
        return _Outcome(False, np.inf, k, detail=f"kernel shape {actual.shape} but oracle shape {expected.shape}")
    error = np.abs(actual - expected)
    bound = tol.bound(np.abs(expected))
    ratio = np.where(np.isfinite(error), error / bound, np.inf)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
    detail = "" if np.all(np.isfinite(expected)) else "the oracle gave non-finite values"
    return _Outcome(bool(np.all(ratio <= 1.0)), float(ratio[worst]), k, float(error[worst]), float(bound[worst]),
                    worst, float(actual[worst]), float(expected[worst]), detail)


# --------------------------------------------------------------------------- which term
class _TermExplainer:
    """Names the structured terms that make up one entry of a Jacobian.

    Each term's contribution to entry (i, j) is evaluated exactly as the dense oracle
    renders it — :func:`symbolic.dense_term` on a :class:`symbolic.Instance` at the check's
    sizes, with the point's float64 values substituted — for the checked derivation and,
    when that was given explicitly, for ``derive(cell)``.  Terms equal in both (by
    structure, or by value at the entry) cancel; what remains is ``wrong`` (only in the
    checked Jacobian) or ``missing`` (only in ``derive(cell)``).  When nothing remains
    every contributing term is listed as ``present``.  Largest contribution first.
    """

    def __init__(self, cell: Cell, sizes: dict, derivation: Derivation | None):
        self.cell, self.sizes = cell, sizes
        self.reference = numeric.compile(cell, "numpy").derivation  # cached: the fd oracle compiles it too
        self.checked = derivation if derivation is not None else self.reference
        self.instance = Instance(cell, sizes)
        self.shapes = numeric.shapes(cell, sizes)

    def explain(self, name: str, point: Point, entry: tuple[int, int, int]) -> tuple[tuple[str, str, float], ...]:
        if name in ("jvp", "vjp"):  # actions: no single block to attribute an entry to
            return ()
        checked_blocks = self.checked.jacobian(name)
        sample, i, j = entry
        row, local_i = self._locate(checked_blocks.rows, i)
        col, local_j = self._locate(checked_blocks.cols, j)
        values = self._values(point, sample)
        checked = self._contributions(checked_blocks[row, col], local_i, local_j, values)
        if self.checked is self.reference:
            return _present(checked)
        reference = self._contributions(self.reference.jacobian(name)[row, col], local_i, local_j, values)
        wrong, missing = _unmatched(checked, reference)
        suspects = [("wrong", t, v) for t, v in wrong] + [("missing", t, v) for t, v in missing]
        suspects = [s for s in suspects if s[2] != 0.0]
        return tuple(sorted(suspects, key=lambda s: (s[0] != "wrong", -abs(s[2])))) if suspects else _present(checked)

    def _locate(self, names, index: int) -> tuple[str, int]:
        for name in names:
            size = int(np.prod(self.shapes[name], dtype=int))
            if index < size:
                return name, index
            index -= size
        raise IndexError(index)

    def _values(self, point: Point, sample: int) -> dict:
        values = {}
        for group, batched in ((point.states, True), (point.inputs, True), (point.params, False)):
            for name, value in group.items():
                flat = np.ravel(value[sample] if batched else value)
                values.update(zip(self.instance.variables(name), (sympy.Float(float(x)) for x in flat)))
        return values

    def _contributions(self, block, i, j, values) -> list[tuple[object, str, float]]:
        """``(term, text, value at entry (i, j))`` for every term of ``block``."""
        from gatejac.symbolic import term_text

        rows = self.instance.size(block.rows) or 1
        result = []
        for term in block.terms:
            entry = sympy.sympify(dense_term(self.instance, term, rows)[i, j])
            result.append((term, term_text(self.cell, term), _real(entry.xreplace(values).evalf(30))))
        return result


def _real(value: sympy.Expr) -> float:
    """The float value of an evaluated entry (NaN where it is not a real number)."""
    return float(value) if value.is_real and value.is_finite else float("nan")


def _present(contributions) -> tuple[tuple[str, str, float], ...]:
    nonzero = [("present", text, value) for _, text, value in contributions if value != 0.0]
    return tuple(sorted(nonzero, key=lambda c: -abs(c[2])))


def _unmatched(checked, reference):
    """Pairs equal terms (structurally, then by value at the entry) and returns the
    ``(text, value)`` of the checked terms and of the reference terms left over."""
    checked, reference = list(checked), list(reference)
    for same in (lambda a, b: a[0] == b[0], lambda a, b: abs(a[2] - b[2]) <= 1e-12 * (1 + abs(b[2]))):
        for item in list(checked):
            match = next((r for r in reference if same(item, r)), None)
            if match is not None:
                checked.remove(item)
                reference.remove(match)
    return [(t, v) for _, t, v in checked], [(t, v) for _, t, v in reference]


# --------------------------------------------------------------------------- reproduction
def _reproduction(call, cell, derivation, backend, dtype, sizes, seed, points, oracles, selected, restricted) -> str:
    """The Python call (and shell command, for catalogue cells) that repeats this check."""
    options = None if call is not None else _catalogue_options(cell)
    if call is None and options is not None:
        call = f"symbolic.cells.get({cell.name!r}{''.join(f', {k}={v!r}' for k, v in options.items())})"
    arguments = [call or "cell", f"backend={backend!r}", f"dtype={dtype!r}", f"sizes={sizes!r}", f"seed={seed}",
                 f"points={points}", f"oracles={tuple(oracles)!r}"]
    if restricted:
        arguments.append(f"jacobians={tuple(selected)!r}")
    if derivation is not None:
        arguments.append("derivation=derivation")
    lines = [f"python: from gatejac import symbolic, verify; print(verify.check({', '.join(arguments)}).to_text())"]
    if call is None:
        lines.append(f"        with cell = your cell {cell.name!r}")
    if derivation is not None:
        lines.append("        with derivation = the derivation you passed to verify.check")
    elif call is not None:
        flags = "".join(f" -o {k}={v}" for k, v in (options or {}).items())
        flags += "" if backend == "numpy" else f" --backend {backend}"
        flags += "" if dtype == "float64" else f" --dtype {dtype}"
        lines.append(f"shell:  gatejac verify {cell.name}{flags} --seed {seed}")
    return "\n".join(lines)


def _catalogue_options(cell: Cell) -> dict | None:
    """The catalogue options that rebuild ``cell`` exactly, or None if it is not one."""
    from gatejac.numeric._compiled import _structure_key

    if cell.name not in cells.names():
        return None
    key = _structure_key(cell)
    for name, options in cells.variants():
        if name == cell.name and _structure_key(cells.get(name, **options)) == key:
            return options
    return None
