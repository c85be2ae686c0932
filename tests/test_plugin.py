"""gatejac's pytest plugin (``verify._plugin``, entry point ``pytest11: gatejac``), exercised
in throwaway projects with ``pytester``: fixtures, options, the marker, assert_jacobians
and the JSON report."""

import json

import pytest

# pytester's in-process runs restore sys.modules when they finish, so a module first imported
# inside one is imported afresh afterwards (gatejac's classes would exist twice, and NumPy's and
# torch's C extensions cannot load twice at all).  The plugin itself imports none of them (see
# test_plugin_startup.py), so import the checks, and with them NumPy and the kernels, here
# first; the sample project, whose checks run torch.func, runs in a subprocess.
import gatejac.verify._check  # noqa: F401
from gatejac.symbolic import cells, derive
from gatejac.symbolic import term_text

pytest_plugins = ["pytester"]

GATE_TERM_FREE_STATE = """
import dataclasses

from gatejac import symbolic
from gatejac.symbolic import BlockJacobian


def without_gate_term(cell):
    '''The derivation of ``cell`` with the state-Jacobian term through the gate dropped.'''
    derivation = symbolic.derive(cell)
    block = derivation.state.blocks[("h", "h")]
    kept = tuple(t for t in block.terms if not t.gates)
    blocks = {("h", "h"): dataclasses.replace(block, terms=kept)}
    return derivation.replace(state=BlockJacobian(derivation.state.rows, derivation.state.cols, blocks))
"""

SAMPLE_TESTS = """
import pytest

from gatejac import symbolic
from gatejac import verify
from helpers import without_gate_term


def test_options_reach_the_fixtures(gatejac_backend, gatejac_dtype, compiled_cell):
    assert (gatejac_backend, gatejac_dtype) == ("torch", "float32")
    assert compiled_cell("leaky", bias=False).backend == "torch"


@pytest.mark.gatejac(backend="numpy", dtype="float64", points=1)
def test_the_marker_overrides_the_options(gatejac_backend, gatejac_dtype, compiled_cell, gatejac_checker):
    assert (gatejac_backend, gatejac_dtype) == ("numpy", "float64")
    assert compiled_cell(symbolic.cells.get("leaky")).backend == "numpy"
    report = gatejac_checker("leaky", jacobians=["state"])
    assert report.passed and (report.backend, report.dtype, report.points) == ("numpy", "float64", 1)


def test_assert_jacobians_passes_on_a_catalogue_cell():
    report = verify.assert_jacobians("multi_gate", jacobians=["state", "input"], points=1)
    assert report.passed and (report.backend, report.dtype) == ("torch", "float32")


def test_assert_jacobians_fails_on_a_broken_derivation():
    cell = symbolic.cells.get("multi_gate")
    verify.assert_jacobians(cell, derivation=without_gate_term(cell), jacobians=["state"], points=1)
"""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(helpers=GATE_TERM_FREE_STATE, test_sample=SAMPLE_TESTS)
    return pytester


def test_fixtures_options_marker_and_assert_jacobians_in_a_sample_project(project, tmp_path):
    report_path = tmp_path / "reports.json"
    result = project.runpytest_subprocess("--gatejac-backend=torch", "--gatejac-dtype=float32",
                                          f"--gatejac-report={report_path}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    assert "gatejac: backend torch, dtype float32" in result.stdout.str()

    # the failure output is the report: which Jacobian, the worst entry, and the missing term
    failure = result.stdout.str().split("test_assert_jacobians_fails_on_a_broken_derivation", 1)[1]
    cell = cells.get("multi_gate")
    dropped = [t for t in derive(cell).state.blocks["h", "h"].terms if t.gates]
    assert len(dropped) == 1
    assert "gatejac verification failed at test_sample.py:" in failure
    assert "gatejac check of cell 'multi_gate': FAILED" in failure
    assert "state     ad" in failure and "worst entry" in failure
    assert f"missing  {term_text(cell, dropped[0])}" in failure
    assert "Traceback" not in failure and "_check.py" not in failure

    # --gatejac-report: every report made through the fixtures and the helper, with its test
    written = json.loads(report_path.read_text())
    assert f"gatejac: wrote {written['count']} reports to {report_path}" in result.stdout.str()
    by_test = {entry["test"].split("::")[1]: entry for entry in written["reports"]}
    assert written["count"] == 3 and written["passed"] is False
    assert set(by_test) == {"test_the_marker_overrides_the_options",
                            "test_assert_jacobians_passes_on_a_catalogue_cell",
                            "test_assert_jacobians_fails_on_a_broken_derivation"}
    assert by_test["test_the_marker_overrides_the_options"]["backend"] == "numpy"
    assert by_test["test_assert_jacobians_passes_on_a_catalogue_cell"]["dtype"] == "float32"
    broken = by_test["test_assert_jacobians_fails_on_a_broken_derivation"]
    assert broken["passed"] is False and broken["cell"] == "multi_gate"
    assert {r["jacobian"] for r in broken["results"] if r["status"] == "FAIL"} == {"state"}


def test_defaults_without_options_are_numpy_float64(pytester):
    pytester.makepyfile("""
        def test_defaults(gatejac_backend, gatejac_dtype, compiled_cell):
            assert (gatejac_backend, gatejac_dtype) == ("numpy", "float64")
            assert compiled_cell("elman").backend == "numpy"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "gatejac: wrote" not in result.stdout.str()


def test_the_plugin_is_registered_by_its_entry_point_name(pytester):
    markers = pytester.runpytest("--markers")
    assert "@pytest.mark.gatejac(**options)" in markers.stdout.str()
    disabled = pytester.runpytest("-p", "no:gatejac", "--gatejac-backend=torch")
    assert disabled.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --gatejac-backend=torch" in disabled.stderr.str()


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('@pytest.mark.gatejac(backnd="torch")', "unknown gatejac marker option 'backnd'; did you mean 'backend'"),
        ('@pytest.mark.gatejac("torch")', "takes keyword options only"),
    ],
)
def test_a_bad_marker_is_a_clear_error(pytester, marker, message):
    pytester.makepyfile(f"""
        import pytest

        {marker}
        def test_marked(gatejac_backend):
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert message in result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK


def test_an_unknown_backend_option_is_rejected(pytester):
    result = pytester.runpytest("--gatejac-backend=jax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gatejac-backend=jax: unknown backend 'jax'; choose one of numpy, torch" in result.stderr.str()
