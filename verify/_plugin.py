"""gatejac's pytest plugin, registered through the ``pytest11`` entry point
``gatejac = "gatejac.verify._plugin"`` (active in every pytest run once gatejac is installed;
``-p no:gatejac`` turns it off).

Loading it costs nothing measurable: it imports pytest and the standard library only.
SymPy, NumPy, torch and gatejac's kernels and oracles load when a test first uses a gatejac
fixture, the ``gatejac`` marker or a ``--gatejac-*`` option — or imports ``gatejac.verify``'s
functions itself.

Command-line options:

* ``--gatejac-backend=numpy|torch``: backend of ``compiled_cell``, ``gatejac_checker``,
  ``gatejac_claims`` and ``verify.assert_jacobians`` (default ``numpy``);
* ``--gatejac-dtype=float64|float32``: dtype they check (default ``float64``; float32
  kernels are compared with the float64 ones);
* ``--gatejac-report=PATH``: write every report produced through the plugin in this
  session as one JSON file.

Marker: ``@pytest.mark.gatejac(backend="torch", dtype=..., seed=..., points=..., sizes=...,
oracles=...)`` — ``verify.check`` options for one test (or class or module), overriding the
command line for the fixtures and ``verify.assert_jacobians``.

Fixtures:

* ``gatejac_backend``, ``gatejac_dtype``: the backend and dtype in force for the test (str);
* ``compiled_cell``: a factory, ``compiled_cell(cell_or_name, **cell_options)`` →
  ``numeric.compile(cell, backend=gatejac_backend)``; a name is looked up with
  ``symbolic.cells.get(name, **cell_options)``;
* ``gatejac_checker``: ``checker(cell, **check_options)`` → ``verify.check``'s
  :class:`Report`, with the test's defaults filled in;
* ``gatejac_claims``: ``gatejac_claims(cell, claims, **options)`` → ``verify.assert_claims``
  with the test's defaults (backend, seed, points, sizes, oracles) filled in: the test fails
  with the claims report's text only.

Example:

    import pytest
    from gatejac import verify

    def test_my_cell_jacobians():
        verify.assert_jacobians(my_cell())

    def test_my_hand_derivation(gatejac_claims):
        gatejac_claims(my_cell(), verify.Claims(torch_step=my_step))

    @pytest.mark.gatejac(backend="torch")
    def test_compiled(compiled_cell, gatejac_checker):
        assert compiled_cell("gru_torch").backend == "torch"
        assert gatejac_checker("gru_torch", jacobians=["state"]).passed
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import pytest

from ._assertions import Session, close_session, open_session

_SESSION = pytest.StashKey[Session]()
_OPTIONS = {"backend": ("numpy", "BACKENDS"), "dtype": ("float64", "DTYPES")}
"""``--gatejac-<name>``: its default, and the tuple of ``gatejac.numeric`` it must be in."""


# --------------------------------------------------------------------------- options and session
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gatejac", "gatejac Jacobian checks")
    group.addoption("--gatejac-backend", default="numpy", metavar="NAME",
                    help="backend of gatejac's fixtures and assert_jacobians: numpy or torch (default numpy)")
    group.addoption("--gatejac-dtype", default="float64", metavar="NAME",
                    help="dtype gatejac's checks use: float64 or float32 (default float64)")
    group.addoption("--gatejac-report", metavar="PATH", default=None,
                    help="write every gatejac report of this session to PATH as JSON")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gatejac(**options): verify.check options for this test (backend, dtype, seed, points, sizes, oracles), "
        "overriding --gatejac-backend/--gatejac-dtype",
    )
    session = Session({name: _option(config, name) for name in _OPTIONS})
    config.stash[_SESSION] = session
    open_session(session)


def _option(config: pytest.Config, name: str) -> str:
    """``--gatejac-<name>``, checked against ``gatejac.numeric``'s names when it is given."""
    value = config.getoption(f"gatejac_{name}")
    default, names = _OPTIONS[name]
    if value != default:
        from gatejac import numeric  # only when the option is used

        allowed = getattr(numeric, names)
        if value not in allowed:
            raise pytest.UsageError(f"--gatejac-{name}={value}: unknown {name} {value!r}; "
                                    f"choose one of {', '.join(allowed)}")
    return value


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        close_session(session)


def pytest_report_header(config: pytest.Config) -> str:
    defaults = config.stash[_SESSION].defaults
    return f"gatejac: backend {defaults['backend']}, dtype {defaults['dtype']}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[_SESSION].start_test(item.nodeid, _marker_options(item))


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item):
    yield
    item.config.stash[_SESSION].end_test()


def _marker_options(item: pytest.Item) -> dict:
    marker = item.get_closest_marker("gatejac")
    if marker is None:
        return {}
    from gatejac.symbolic import unknown_name

    from ._check import check

    allowed = [name for name, p in inspect.signature(check).parameters.items() if p.kind is p.KEYWORD_ONLY]
    if marker.args:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.gatejac takes keyword options only "
                                f"({', '.join(allowed)}), got {marker.args!r}")
    for key in marker.kwargs:
        if key not in allowed:
            raise unknown_name("gatejac marker option", key, allowed, f"({item.nodeid})")
    return dict(marker.kwargs)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def gatejac_backend(request: pytest.FixtureRequest) -> str:
    """The backend in force for this test: the marker's, else ``--gatejac-backend``."""
    return request.config.stash[_SESSION].options()["backend"]


@pytest.fixture
def gatejac_dtype(request: pytest.FixtureRequest) -> str:
    """The dtype in force for this test: the marker's, else ``--gatejac-dtype``."""
    return request.config.stash[_SESSION].options()["dtype"]


@pytest.fixture
def compiled_cell(gatejac_backend: str):
    """A factory ``compiled_cell(cell_or_name, **cell_options)`` → ``numeric.compile(cell,
    backend=gatejac_backend)``."""
    from gatejac import numeric
    from gatejac.symbolic import cells

    def compile_cell(cell, **cell_options):
        if isinstance(cell, str):
            cell = cells.get(cell, **cell_options)
        return numeric.compile(cell, backend=gatejac_backend)

    return compile_cell


@pytest.fixture
def gatejac_checker():
    """``checker(cell, **check_options)`` → ``verify.check``'s Report, with this test's
    defaults (marker, command line) filled in and recorded for ``--gatejac-report``."""
    from ._assertions import check_in_session

    return check_in_session


@pytest.fixture
def gatejac_claims():
    """``gatejac_claims(cell, claims, **options)`` → ``verify.assert_claims(cell, claims,
    **options)`` with the options it takes (backend, seed, points, sizes, oracles) filled in
    from this test's marker and the command line.  A failed claim fails the test with the
    claims report's text only."""
    from gatejac.verify import assert_claims

    return assert_claims  # it reads this test's marker and the command line itself


# --------------------------------------------------------------------------- failures and the report file
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed gatejac verification shows the report, not a traceback."""
    outcome = yield
    errors = sys.modules.get(f"{__package__}._errors")  # not imported: no VerificationError was raised
    if call.excinfo is not None and errors is not None and call.excinfo.errisinstance(errors.VerificationError):
        report = outcome.get_result()
        here = [entry for entry in call.excinfo.traceback if Path(entry.path) == Path(item.path)]
        where = f"{item.path.name}:{here[-1].lineno + 1}" if here else item.nodeid
        report.longrepr = f"gatejac verification failed at {where}\n\n{call.excinfo.value}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("gatejac_report")
    if path is None:
        return
    reports = session.config.stash[_SESSION].reports
    payload = {
        "tool": "gatejac pytest plugin",
        "passed": all(report.passed for _, report in reports),
        "count": len(reports),
        "reports": [{"test": test, **report.to_dict()} for test, report in reports],
    }
    Path(path).write_text(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    path = config.getoption("gatejac_report")
    if path is not None:
        count = len(config.stash[_SESSION].reports)
        terminalreporter.write_line(f"gatejac: wrote {count} report{'s' if count != 1 else ''} to {path}")
