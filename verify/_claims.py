"""Claims about a cell: :class:`Claims`, :func:`check_claims`, and :func:`assert_claims` for pytest.

A *claim* is something a user says about their cell that gatejac can check against the
cell's spec (its :class:`~symbolic.Cell`) and the oracles.  :class:`Claims` (or a plain
dict with the same keys) holds any of three kinds:

``jacobians``   hand-derived Jacobians written in the cell language, ``{jacobian: terms}``
                with ``jacobian`` a name of :mod:`verify._jacobians` (``"state"``,
                ``"input"``, ``"parameter:W"``, ``"gate_split:A"``, ``"gate_split:B"``) and
                ``terms`` a list of labelled terms ``[(label, term), ...]`` whose sum is the
                claimed block (:mod:`verify._claimed_blocks`); terms are built with the
                helpers of :mod:`verify._claimed_terms` (``diag``, ``identity``, ``outer``,
                ``column``, ``row``, ``eye_kron``, ``kron_eye``).  Blocks left out are
                taken from ``symbolic.derive(cell)`` (the report lists them).
``functions``   ``{jacobian: f}``: the dense Jacobian computed by the user's own NumPy code;
``torch_step``  the user's own torch implementation of the step, batched or written for one
                sample, compared as ``verify.compare`` compares one (a wrong forward step
                is said first; both: :mod:`verify._code_claims`).

Example (the multi-gated leaky cell ``h' = (1 − g) ⊙ h + g ⊙ tanh(a)``, ``g = σ(a_g)``)::

    Claims(jacobians={"state": [
        ("retention", diag(1 - g)),
        ("candidate", diag(g * (1 - tanh(a) ** 2)) @ W_r),
        ("gate",      diag((tanh(a) - h) * g * (1 - g)) @ W_rg),
    ]})

How :func:`check_claims` decides:

* the spec first: ``verify.check(cell)`` — gatejac's own derivation against the oracles;
* labelled terms: the claimed block replaces the derived one in a copy of the derivation,
  which ``verify.check(..., derivation=...)`` compiles and checks against the oracles: that
  decides pass or fail; :mod:`verify._claims_attribution` then names the wrong term;
* functions and a torch step as :mod:`verify._code_claims` describes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gatejac.symbolic import Cell, derive, unknown_name

from ._assertions import current_session
from ._check import check
from ._claimed_blocks import claimed_derivation, parse_jacobian_claim
from ._claims_attribution import ATTRIBUTION_POINTS, attribute
from ._claims_report import ClaimResult, ClaimsReport
from ._code_claims import check_function, check_torch_step, function_names
from ._errors import ClaimsError, VerificationError
from ._jacobians import parse_jacobian
from ._oracles import make_point
from ._report import CheckResult, Report
from ._reproduction import claims_call
from ._terms import TermValues


@dataclass(frozen=True)
class Claims:
    """What a user claims about a cell (see the module docstring for each field)."""

    jacobians: Mapping[str, object] = field(default_factory=dict)
    functions: Mapping[str, Callable] = field(default_factory=dict)
    torch_step: Callable | None = None

    @classmethod
    def coerce(cls, value) -> Claims:
        """A :class:`Claims`, a dict with its keys, or ``None`` (no claims) as Claims."""
        if value is None:
            return cls()
        if isinstance(value, Claims):
            return value
        if isinstance(value, Mapping):
            known = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in known:
                    raise unknown_name("claims key", key, known, "(a claims dict takes the fields of verify.Claims)")
            return cls(**value)
        raise ClaimsError(f"claims must be a verify.Claims or a dict with keys jacobians, functions, torch_step; "
                          f"got {type(value).__name__}")


def check_claims(cell: Cell, claims=None, *, backend: str = "numpy", sizes: Mapping[str, int] | None = None,
                 seed: int = 0, points: int = 2, oracles=("ad", "fd", "taylor"), source: str = "") -> ClaimsReport:
    """Verify ``claims`` (a :class:`Claims` or dict) about ``cell`` and return a
    :class:`ClaimsReport` (``.passed``, ``.to_text()``, ``.to_json()``).  ``source`` names
    the file the claims came from (``path/file.py:NAME``, as ``gatejac check`` passes it).

    Example::

        report = verify.check_claims(cell, verify.Claims(jacobians={"state": [...]}))
        print(report.to_text())
    """
    if not isinstance(cell, Cell):
        raise ClaimsError(f"check_claims() takes a symbolic.Cell, got {type(cell).__name__} {cell!r}")
    claims = Claims.coerce(claims)
    derivation = derive(cell)
    parsed = {name: parse_jacobian_claim(cell, derivation, name, value) for name, value in claims.jacobians.items()}
    known = function_names(cell)
    for name, code in claims.functions.items():
        if name not in known:
            raise unknown_name("Jacobian", name, known, "(functions claim these Jacobians)")
        if not callable(code):
            raise ClaimsError(f"functions[{name!r}] = {code!r} is not callable; give f(states, inputs, params)")
    if claims.torch_step is not None and not callable(claims.torch_step):
        raise ClaimsError(f"torch_step = {claims.torch_step!r} is not callable; give f(states, inputs, params)")
    spec = check(cell, backend=backend, sizes=sizes, seed=seed, points=points, oracles=oracles)
    options = dict(backend=backend, sizes=dict(spec.sizes), seed=seed, points=points, oracles=tuple(oracles))
    again = claims_call(cell, source, options)
    results = [_terms_result(cell, derivation, name, blocks, options) for name, blocks in parsed.items()]
    for name, code in claims.functions.items():
        result = check_function(cell, name, code, sizes=spec.sizes, seed=seed, points=points)
        results.append(ClaimResult(f"functions:{name}", "function", _report(cell, [result], spec),
                                   code=getattr(code, "__name__", "")))
    if claims.torch_step is not None:
        step_results, finding = check_torch_step(cell, claims.torch_step, sizes=spec.sizes, seed=seed,
                                                 points=points)
        results.append(ClaimResult("torch_step", "torch_step", _report(cell, step_results, spec, "torch"),
                                   code=getattr(claims.torch_step, "__name__", ""), finding=finding))
    return ClaimsReport(cell.name, spec, results, source, again)


def _terms_result(cell, derivation, name, blocks, options) -> ClaimResult:
    report = check(cell, derivation=claimed_derivation(derivation, blocks), jacobians=[name], **options)
    report.reproduce = ""  # the user passed claims, not this derivation: the ClaimsReport says how to repeat it
    values = TermValues(cell, options["sizes"])
    points = [values.substitution(make_point(cell, options["sizes"], options["seed"], k), 0)
              for k in range(ATTRIBUTION_POINTS)]
    derived = parse_jacobian(cell, name).blocks(derivation)
    attributions = [attribute(b, derived[b.block], values, points) for b in blocks]
    claimed = {b.block for b in blocks}
    return ClaimResult(name, "terms", report, attributions, [k for k in derived.blocks if k not in claimed])


def _report(cell: Cell, results: list[CheckResult], spec: Report, backend: str = "numpy") -> Report:
    """The results of a code claim as a :class:`Report` at the spec's settings (the
    :class:`ClaimsReport` carries the call that repeats it)."""
    return Report(cell.name, results, spec.seed, backend, "float64", dict(spec.sizes), spec.points)


CLAIMS_OPTIONS = ("backend", "sizes", "seed", "points", "oracles")
"""The options of :func:`check_claims` that :func:`assert_claims` takes (and reads from the pytest
session: ``--gatejac-backend`` and ``@pytest.mark.gatejac(...)``)."""


def assert_claims(cell: Cell, claims=None, **options) -> ClaimsReport:
    """Check ``claims`` about ``cell`` as :func:`check_claims` does and return the report; if
    the spec or a claim fails, raise :class:`~verify.VerificationError` (an ``AssertionError``)
    whose message is the report's text and nothing else.  Under pytest the failure shows that
    text, not the report's repr or gatejac's frames.

    ``options`` are those of :func:`check_claims` (:data:`CLAIMS_OPTIONS`); under pytest, the
    ones not given come from ``@pytest.mark.gatejac(...)`` and ``--gatejac-backend``, as for
    :func:`~verify.assert_jacobians`.

    Example::

        def test_my_hand_derivation():
            verify.assert_claims(cell, verify.Claims(torch_step=my_step))
    """
    __tracebackhide__ = True  # pytest: show the test's line, not this helper's
    for option in options:
        if option not in CLAIMS_OPTIONS:
            raise unknown_name("option", option, list(CLAIMS_OPTIONS), "(assert_claims takes check_claims's options)")
    session = current_session()
    defaults = {k: v for k, v in session.options().items() if k in CLAIMS_OPTIONS} if session is not None else {}
    report = check_claims(cell, claims, **{**defaults, **options})
    if not report.passed:
        raise VerificationError(report.to_text())
    return report
