"""gatejac's pytest plugin, registered through the ``pytest11`` entry point
``gatejac = "verify._plugin"`` (active in every pytest run once gatejac is installed).

Command-line options
    ``--gatejac-backend=numpy|torch``  backend of ``compiled_cell``, ``gatejac_checker`` and
                                       ``verify.assert_jacobians`` (default ``numpy``)
    ``--gatejac-dtype=float64|float32`` dtype they check (default ``float64``; float32
                                       kernels are compared with the float64 ones)
    ``--gatejac-report=PATH``          write every report produced through the plugin in
                                       this session as one JSON file

Marker
    ``@pytest.mark.gatejac(backend="torch", dtype=..., seed=..., points=..., sizes=...,
    oracles=...)`` — ``verify.check`` options for one test (or class or module), overriding
    the command line for the fixtures and ``verify.assert_jacobians``.

Fixtures
    ``gatejac_backend``, ``gatejac_dtype``  the backend and dtype in force for the test (str)
    ``compiled_cell``    a factory: ``compiled_cell(cell_or_name, **cell_options)`` →
                         ``numeric.compile(cell, backend=gatejac_backend)``; a name is
                         looked up with ``symbolic.cells.get(name, **cell_options)``
    ``gatejac_checker``  ``checker(cell, **check_options)`` → ``verify.check``'s
                         :class:`Report`, with the test's defaults filled in

Helper
    ``verify.assert_jacobians(cell, **check_options)`` (see :mod:`verify._assertions`):
    fails the test with the report's text as the failure output.

Example::

    import pytest, verify

    def test_my_cell_jacobians():
        verify.assert_jacobians(my_cell())

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

from ._assertions import Session, check_in_session, close_session, open_session

BACKENDS = ("numpy", "torch")
DTYPES = ("float64", "float32")
_SESSION = pytest.StashKey[Session]()


# --------------------------------------------------------------------------- options and session
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gatejac", "gatejac Jacobian checks")
    group.addoption("--gatejac-backend", choices=BACKENDS, default="numpy",
                    help="backend of gatejac's compiled_cell, gatejac_checker and assert_jacobians (default numpy)")
    group.addoption("--gatejac-dtype", choices=DTYPES, default="float64",
                    help="dtype gatejac's checks use (default float64)")
    group.addoption("--gatejac-report", metavar="PATH", default=None,
                    help="write every gatejac report of this session to PATH as JSON")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gatejac(**options): verify.check options for this test (backend, dtype, seed, points, sizes, oracles), "
        "overriding --gatejac-backend/--gatejac-dtype",
    )
    session = Session({"backend": config.getoption("gatejac_backend"), "dtype": config.getoption("gatejac_dtype")})
    config.stash[_SESSION] = session
    open_session(session)


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
    from gatejac.symbolic._errors import unknown_name

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
    return check_in_session


# --------------------------------------------------------------------------- failures and the report file
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed gatejac verification shows the report, not a traceback."""
    outcome = yield
    checks = sys.modules.get("gatejac.verify._check")  # not imported: no VerificationError was raised
    if call.excinfo is not None and checks is not None and call.excinfo.errisinstance(checks.VerificationError):
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
