"""``verify.assert_claims`` under pytest: a failing claim fails the test with the report's text
only — no repr of the report, no frames of gatejac — and a passing one returns the report."""

import os
import re
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules when they finish (gatejac's classes would
# exist twice): import gatejac here first; the project runs torch.func, which cannot be
# imported twice, so it runs in a subprocess.
import gatejac.verify  # noqa: F401

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

PROJECT = """
import pytest

from gatejac import verify
from gatejac.symbolic import tanh
from gatejac.verify import Claims, diag, identity
from test_claims_report import my_leaky


def test_a_wrong_hand_derivation():
    cell, p = my_leaky()
    claims = Claims(jacobians={"state": [("leak", (1 - p["alpha"]) * identity(p["h"])),
                                         ("candidate", diag(p["alpha"] * (1 - tanh(p["a"]) ** 2)) @ p["W"].T)]})
    verify.assert_claims(cell, claims, points=1, oracles=("ad",))


@pytest.mark.gatejac(seed=3, points=1, oracles=("ad",))
def test_marked_options():
    cell, p = my_leaky()
    verify.assert_claims(cell, Claims(jacobians={"state": [("leak", (1 - p["alpha"]) * identity(p["h"]))]}))


def test_a_right_hand_derivation():
    cell, p = my_leaky()
    claims = Claims(jacobians={"state": [("leak", (1 - p["alpha"]) * identity(p["h"])),
                                         ("candidate", diag(p["alpha"] * (1 - tanh(p["a"]) ** 2)) @ p["W"])]})
    assert verify.assert_claims(cell, claims, points=1, oracles=("ad",)).passed
"""


def _failure(result) -> str:
    """The failure section of the wrong test in a pytester run's output."""
    out = result.stdout.str()
    return out.split("_ test_a_wrong_hand_derivation _", 1)[1].split("_ test_marked_options _", 1)[0]


REPORT_LINES = [
    "gatejac check of cell 'my_leaky'",
    "claim 'state' (your hand-derived terms): FAILED",
    "WRONG  candidate  diag(alpha*(1 - tanh(a)**2)) @ (W.T)",
    "verdict: FAILED — claim 'state' is wrong — wrong term: 'candidate'",
    "verify.check_claims(cell, claims, backend='numpy', sizes={'n': 4, 'm': 3}, seed=0, points=1, oracles=('ad',))",
]


def _text_only(failure: str) -> None:
    for line in REPORT_LINES:
        assert line in failure, line
    assert "ClaimsReport(" not in failure and "Report(cell=" not in failure, "the report's repr"
    assert "_claims.py" not in failure and "raise VerificationError" not in failure, "gatejac's frames"
    assert "test_claims_project.py:" in failure, "where the test failed"


@pytest.mark.parametrize("plugin", ["with the plugin", "without the plugin"])
def test_a_failing_claim_fails_the_test_with_the_report_text_only(pytester, monkeypatch, plugin):
    pytester.makepyfile(test_claims_project=PROJECT)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    options = ["-p", "no:cacheprovider"] + (["-p", "no:gatejac"] if plugin == "without the plugin" else [])
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=1, failed=2)
    failure = _failure(result)
    _text_only(failure)
    if plugin == "with the plugin":  # the marker's options, as for assert_jacobians
        marked = result.stdout.str().split("_ test_marked_options _", 1)[1]
        assert "verify.check_claims(cell, claims, backend='numpy', sizes={'n': 4, 'm': 3}, seed=3, points=1, " \
               "oracles=('ad',))" in marked
    if plugin == "without the plugin":  # pytest's own traceback: the exception under its public name
        assert re.search(r"^E +gatejac\.verify\.VerificationError: gatejac check of cell 'my_leaky'$", failure, re.M)
        assert 'verify.assert_claims(cell, claims, points=1, oracles=("ad",))' in failure
