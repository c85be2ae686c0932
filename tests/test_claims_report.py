"""The text of ``verify.check_claims``'s report: it says what was checked in the user's terms,
labels the user's code as theirs, aligns its columns, and its reproduction names what was
passed."""

from __future__ import annotations

import re

import pytest
import torch

from gatejac.symbolic import Cell, tanh
from gatejac.verify import Claims, check_claims, diag, identity


def my_leaky():
    """A user's leaky cell h' = (1 − α) h + α tanh(W h + U x) and its pieces (also the cell of
    the throwaway project of ``test_claims_assert.py``)."""
    cell = Cell("my_leaky")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U, alpha = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("alpha")
    a = cell.let("a", W @ h + U @ x)
    cell.update(h, (1 - alpha) * h + alpha * tanh(a))
    return cell.validate(), dict(h=h, W=W, a=a, alpha=alpha)


@pytest.fixture(scope="module")
def leaky():
    return my_leaky()


def my_step(states, inputs, params):
    h, x = states["h"], inputs["x"]
    a = h @ params["W"].T + x @ params["U"].T
    return {"h": (1 - params["alpha"]) * h + params["alpha"] * torch.tanh(a)}


def _claimed_state(pieces, wrong: bool) -> Claims:
    W = pieces["W"].T if wrong else pieces["W"]
    return Claims(jacobians={"state": [
        ("leak", (1 - pieces["alpha"]) * identity(pieces["h"])),
        ("candidate", diag(pieces["alpha"] * (1 - tanh(pieces["a"]) ** 2)) @ W)]})


def test_without_claims_the_verdict_says_nothing_was_claimed(leaky):
    cell, _ = leaky
    text = check_claims(cell, None, points=1, oracles=("ad",)).to_text()
    assert text.splitlines()[-1] == "verdict: PASSED — the spec's derivation holds; nothing was claimed"
    assert "all 0" not in text


def test_the_verdict_names_the_claims_that_hold(leaky):
    cell, pieces = leaky
    claims = Claims(jacobians=_claimed_state(pieces, wrong=False).jacobians, torch_step=my_step)
    text = check_claims(cell, claims, points=1, oracles=("ad",)).to_text()
    assert text.splitlines()[-1] == \
        "verdict: PASSED — the spec's derivation and your 2 claims ('state', 'torch_step') hold"


def test_the_users_torch_step_is_labelled_as_theirs(leaky):
    cell, _ = leaky
    text = check_claims(cell, {"torch_step": my_step}, points=1, oracles=("ad",)).to_text()
    assert "claim 'torch_step' (your my_step): PASSED" in text
    assert re.search(r"^  \| step \(your my_step\) +spec step +float64 +PASS", text, re.M)
    assert re.search(r"^  \| parameter:W \(jacrev of your my_step\) +closed form +float64 +PASS", text, re.M)


def test_the_attribution_columns_are_aligned(leaky):
    cell, pieces = leaky
    text = check_claims(cell, _claimed_state(pieces, wrong=True), points=1, oracles=("ad",)).to_text()
    rows = [line for line in text.splitlines() if re.match(r"^    (OK|WRONG) ", line)]
    assert len(rows) == 2
    assert len({row.index("leak" if "leak" in row else "candidate") for row in rows}) == 1, rows
    assert len({row.index("(1 - alpha)" if "leak" in row else "diag(") for row in rows}) == 1, rows


def test_a_failed_report_names_the_call_that_repeats_it(leaky):
    cell, pieces = leaky
    report = check_claims(cell, _claimed_state(pieces, wrong=True), points=1, oracles=("ad",))
    text = report.to_text()
    assert not report.passed
    assert report.reproduce == (
        "python: from gatejac import verify; print(verify.check_claims(cell, claims, backend='numpy', "
        "sizes={'n': 4, 'm': 3}, seed=0, points=1, oracles=('ad',)).to_text())\n"
        "        with cell = your cell 'my_leaky' and claims = the claims you passed")
    assert text.endswith("reproduce:\n  " + report.reproduce.replace("\n", "\n  "))
    assert "derivation=derivation" not in text, "the user passed claims, not a derivation"
    from_file = check_claims(cell, _claimed_state(pieces, wrong=True), points=1, oracles=("ad",),
                             source="mine.py:cell")
    assert from_file.reproduce == \
        "shell:  gatejac check mine.py:cell --backend numpy --sizes n=4,m=3 --seed 0 --points 1"


def test_assert_claims_names_a_misspelt_option(leaky):
    from gatejac.symbolic import UnknownNameError
    from gatejac.verify import assert_claims

    cell, pieces = leaky
    with pytest.raises(UnknownNameError, match=r"unknown option 'point'; did you mean 'points'"):
        assert_claims(cell, _claimed_state(pieces, wrong=False), point=1)
