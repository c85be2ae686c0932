"""The ``gatejac_claims`` fixture (``verify.assert_claims`` with the test's defaults), in a
throwaway project run by ``pytester`` in a subprocess (its checks run torch.func)."""

pytest_plugins = ["pytester"]

CLAIMS_TESTS = '''
import pytest

from gatejac import verify
from gatejac.symbolic import Cell, tanh


def leaky():
    cell = Cell("my_leaky")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U, alpha = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("alpha")
    a = cell.let("a", W @ h + U @ x)
    cell.update(h, (1 - alpha) * h + alpha * tanh(a))
    return cell, h, a, W, alpha


def state_claim(candidate_slope):
    cell, h, a, W, alpha = leaky()
    leak = ("leak", (1 - alpha) * verify.identity(h))
    return cell, verify.Claims(jacobians={"state": [leak, ("candidate", verify.diag(candidate_slope(a, alpha)) @ W)]})


def test_a_right_claim_passes_with_the_options_of_the_run(gatejac_claims):
    report = gatejac_claims(*state_claim(lambda a, alpha: alpha * (1 - tanh(a) ** 2)))
    assert report.passed
    assert (report.spec.backend, report.spec.points) == ("torch", 2)


@pytest.mark.gatejac(points=1, seed=3)
def test_the_marker_reaches_the_claims(gatejac_claims):
    report = gatejac_claims(*state_claim(lambda a, alpha: alpha * (1 - tanh(a) ** 2)))
    assert (report.spec.backend, report.spec.points, report.spec.seed) == ("torch", 1, 3)


def test_a_wrong_claim_fails_with_the_report_text(gatejac_claims):
    gatejac_claims(*state_claim(lambda a, alpha: 1 - tanh(a) ** 2), points=1)  # alpha forgotten
'''


def test_gatejac_claims_fills_in_the_run_options_and_fails_with_the_report_only(pytester):
    pytester.makepyfile(test_claims=CLAIMS_TESTS)
    result = pytester.runpytest_subprocess("--gatejac-backend=torch", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    failure = result.stdout.str().split("test_a_wrong_claim_fails_with_the_report_text", 1)[1]
    line = next(k for k, text in enumerate(CLAIMS_TESTS.strip().splitlines(), 1) if "alpha forgotten" in text)
    assert f"gatejac verification failed at test_claims.py:{line}\n" in failure
    assert "gatejac check of cell 'my_leaky'" in failure and "claim 'state'" in failure
    assert "WRONG" in failure and "candidate" in failure
    assert "Traceback" not in failure and "ClaimsReport(" not in failure and "verify/_claims" not in failure
    assert "def gatejac_claims" not in failure and "assert_claims_in_test" not in failure
