"""The README's Python examples run as written, and its claims about them hold."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

pytest_plugins = ["pytester"]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_first_two_examples_run_and_the_gate_term_is_the_whole_of_b(capsys):
    namespace: dict = {}
    for block in _python_blocks()[:2]:  # "A cell in ten lines": derive, then compile and check
        exec(compile(block, str(README), "exec"), namespace)
    derivation, report = namespace["d"], namespace["report"]
    assert len(derivation.state) == 3 and len(derivation.gate_split().B) == 1
    assert report.passed and tuple(namespace["J"].shape) == (32, 64, 64)
    assert "PASSED" in capsys.readouterr().out


def test_the_pytest_example_runs_verbatim_as_a_users_test_file(pytester):
    """The README's pytest example (every ``python`` block that defines a test), as a user's test
    file: it must import what it uses and pass under the installed plugin."""
    (example,) = [block for block in _python_blocks() if "def test_" in block]
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    tests = example.count("def test_")
    result.assert_outcomes(passed=tests)


def test_the_expansion_example_runs_and_its_slope_is_two(capsys):
    (block,) = [block for block in _python_blocks() if "truncation_study" in block]
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    study = namespace["study"]
    assert tuple(namespace["A"].shape) == (100, 64, 64) and abs(float(study.slope) - 2) < 0.05
    assert "lambda_j" in capsys.readouterr().out


def test_the_compare_example_runs_and_the_lstm_cell_agrees_with_the_spec(capsys):
    (block,) = [block for block in _python_blocks() if 'verify.compare("lstm_torch"' in block]
    exec(compile(block, str(README), "exec"), {})
    printed = capsys.readouterr().out
    assert "against cell 'lstm_torch': PASSED" in printed and "FAIL" not in printed
