"""The pytest plugin costs a user's test run nothing until they use it: loading it imports no
heavy module (SymPy, NumPy, torch, numba, mpmath, gatejac's kernels or oracles), and a run
that checks Jacobians through gatejac shows no deprecation warning from gatejac's use of
``torch.func``.  Every run is a fresh interpreter: ``sys.modules`` of this one has them all."""

import json
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

HEAVY = ["sympy", "numpy", "torch", "numba", "mpmath", "hypothesis", "gatejac.symbolic", "gatejac.numeric",
         "gatejac.verify._check", "gatejac.verify._oracles", "gatejac.verify._claims"]


def _fresh(code: str, cwd) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object as its last line."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_plugin_imports_nothing_heavy(tmp_path):
    found = _fresh(f"""
        import json, sys
        import gatejac.verify._plugin
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """, tmp_path)
    assert found == []


def test_a_pytest_run_that_does_not_use_gatejac_imports_nothing_heavy(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    found = _fresh(f"""
        import json, sys
        import pytest

        class Probe:
            def pytest_sessionfinish(self, session):
                self.loaded = session.config.pluginmanager.hasplugin("gatejac")

        probe = Probe()
        # every other installed plugin off (hypothesis's, zarr's, ...): they may import NumPy themselves
        from importlib.metadata import entry_points
        others = [a for e in entry_points(group="pytest11") if e.name != "gatejac" for a in ("-p", f"no:{{e.name}}")]
        code = pytest.main(["-q", "-p", "no:cacheprovider", *others, "."], plugins=[probe])
        print(json.dumps({{"code": int(code), "plugin": probe.loaded,
                           "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """, tmp_path)
    assert found == {"code": 0, "plugin": True, "heavy": []}


def test_using_a_gatejac_fixture_loads_what_it_needs(tmp_path):
    """The counterpart: the lazy imports do happen when a fixture asks for them."""
    (tmp_path / "test_fixture.py").write_text(
        "def test_compiled(compiled_cell):\n    assert compiled_cell('elman').backend == 'numpy'\n")
    found = _fresh(f"""
        import json, sys
        import pytest

        code = pytest.main(["-q", "-p", "no:cacheprovider", "."])
        print(json.dumps({{"code": int(code), "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """, tmp_path)
    assert found["code"] == 0 and {"sympy", "numpy", "gatejac.numeric"} <= set(found["heavy"])


def test_a_bad_option_value_is_a_usage_error_naming_the_choices(pytester):
    result = pytester.runpytest("--gatejac-dtype=float16")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gatejac-dtype=float16: unknown dtype 'float16'; choose one of float64, float32" in result.stderr.str()


USER_TESTS = """
from gatejac import verify


def test_every_jacobian_of_a_gated_cell(gatejac_checker):
    # the default oracles include torch.func's, through every view (the jvp view too)
    assert gatejac_checker("gru_torch", points=1).passed
    verify.assert_jacobians("leaky", backend="torch", points=1)
"""


def test_no_deprecation_warning_from_gatejac_reaches_the_user(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::DeprecationWarning")
    result.assert_outcomes(passed=1)
    assert "warnings summary" not in result.stdout.str(), result.stdout.str()
