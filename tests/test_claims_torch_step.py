"""``verify.Claims(torch_step=...)`` through ``verify.compare``'s call machinery: a step written
for one sample is called sample by sample (it used to fail with torch's raw "mat1 and mat2
shapes cannot be multiplied"), a step that cannot be called fails its claim saying how it was
called and what was expected, and a wrong forward step is said first — before the Jacobian
failures that follow from it — with the first diverging intermediate the step returns.

The cells are the user's leaky cell of test_claims_report.py and the Minimal Gated Unit of
examples/wrong_gate/ (whose wrong candidate reads h where the spec has f ⊙ h).
"""

import importlib.util
from pathlib import Path

import pytest
import torch
from test_claims_report import my_leaky, my_step
from test_compare import MGU_SPEC

from gatejac.verify import Claims, check_claims

OPTIONS = dict(points=1, oracles=("ad",))


@pytest.fixture(scope="module")
def leaky():
    return my_leaky()[0]


@pytest.fixture(scope="module")
def mgu():
    return MGU_SPEC.mgu().validate()


def one_sample_step(states, inputs, params):
    """The leaky cell written for one sample: matrix @ vector."""
    h, x = states["h"], inputs["x"]
    return {"h": (1 - params["alpha"]) * h + params["alpha"] * torch.tanh(params["W"] @ h + params["U"] @ x)}


def test_a_step_written_for_one_sample_is_called_sample_by_sample(leaky):
    batched = ({"h": torch.zeros(2, 4)}, {"x": torch.zeros(2, 3)},
               {"W": torch.zeros(4, 4), "U": torch.zeros(4, 3), "alpha": torch.tensor(0.5)})
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # what the issue saw
        one_sample_step(*batched)
    report = check_claims(leaky, Claims(torch_step=one_sample_step), **OPTIONS)
    assert report.passed, report.to_text()
    rows = [r.jacobian for r in report.claims[0].report.results]
    assert rows[0] == "step (your one_sample_step)" and "parameter:W (jacrev of your one_sample_step)" in rows


def test_a_wrong_one_sample_step_is_still_caught(leaky):
    def transposed(states, inputs, params):
        h, x = states["h"], inputs["x"]
        return {"h": (1 - params["alpha"]) * h + params["alpha"] * torch.tanh(params["W"].T @ h + params["U"] @ x)}

    report = check_claims(leaky, Claims(torch_step=transposed), **OPTIONS)
    assert not report.passed
    assert not report.claims[0].report.results[0].passed  # the step row


def test_a_step_that_cannot_be_called_fails_its_claim_saying_what_was_expected(leaky):
    def wrong_shape(states, inputs, params):
        return {"h": inputs["x"]}  # (B, m): not the new state

    report = check_claims(leaky, Claims(torch_step=wrong_shape), **OPTIONS)  # never raises
    text = report.to_text()
    assert not report.passed
    assert "step(states, inputs, params)" in text and "expected (2, 4)" in text and "expected (4,)" in text
    assert "Traceback" not in text
    claim_line = text.splitlines().index("claim 'torch_step' (your wrong_shape): FAILED (1 of 1 checks)")
    assert text.splitlines()[claim_line + 1].startswith("  first: cannot call your wrong_shape")


def mgu_step(states, inputs, params, *, wrong: bool = False):
    h, x = states["h"], inputs["x"]
    f = torch.sigmoid(h @ params["W_f"].T + x @ params["U_f"].T + params["b_f"])
    read = h if wrong else f * h
    h_tilde = torch.tanh(read @ params["W_h"].T + x @ params["U_h"].T + params["b_h"])
    return {"h": (1 - f) * h + f * h_tilde, "f": f, "h_tilde": h_tilde}


def wrong_candidate(states, inputs, params):
    return mgu_step(states, inputs, params, wrong=True)


def test_a_wrong_forward_step_is_said_first_with_the_first_diverging_intermediate(mgu):
    report = check_claims(mgu, Claims(torch_step=wrong_candidate), **OPTIONS)
    assert not report.passed
    rows = {r.jacobian: r.passed for r in report.claims[0].report.results}
    assert rows["intermediate f (your wrong_candidate)"] and not rows["intermediate h_tilde (your wrong_candidate)"]
    lines = report.to_text().splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("claim 'torch_step' (your wrong_candidate)"))
    first = lines[header + 1]
    assert first.startswith("  first: the forward step is wrong in h' — the Jacobian failures follow from it")
    assert "the first diverging intermediate is h_tilde" in first
    assert "wrong term (structure)" in first and "parameter W_h" in first
    verdict = next(line for line in lines if line.startswith("verdict:"))
    assert verdict.startswith("verdict: FAILED — claim 'torch_step' is wrong — the forward step is wrong in h'")


def test_a_right_step_with_a_detached_gate_is_not_called_a_wrong_step(mgu):
    def detached(states, inputs, params):
        h, x = states["h"], inputs["x"]
        f = torch.sigmoid(h @ params["W_f"].T + x @ params["U_f"].T + params["b_f"]).detach()
        h_tilde = torch.tanh((f * h) @ params["W_h"].T + x @ params["U_h"].T + params["b_h"])
        return {"h": (1 - f) * h + f * h_tilde}

    report = check_claims(mgu, Claims(torch_step=detached), **OPTIONS)
    claim = report.claims[0]
    assert not claim.passed and claim.report.results[0].passed  # the step agrees
    assert claim.finding.startswith("the step agrees, its derivative does not")
    assert "forward step is wrong" not in report.to_text()


def test_the_right_steps_pass_and_say_nothing_first(leaky, mgu):
    for cell, step in ((leaky, my_step), (mgu, mgu_step)):
        report = check_claims(cell, Claims(torch_step=step), **OPTIONS)
        assert report.passed, report.to_text()
        assert report.claims[0].finding == "" and "first:" not in report.to_text()


def test_a_transposed_gate_weight_is_named_by_its_parameter_not_by_a_dense_state_term():
    """The state block's dense terms fill the same entries and cannot single one out; the
    verdict names the block of the gate's own weight, whose one term differs in structure."""
    path = Path(__file__).resolve().parents[1] / "examples" / "multigate_claims.py"
    spec = importlib.util.spec_from_file_location("multigate_claims_torch_step", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    def untransposed_gate(states, inputs, params):
        h, x = states["h"], inputs["x"]
        g = torch.sigmoid(h @ params["W_rg"] + x @ params["W_ig"].T + params["b_g"])  # W_rg not transposed
        a = h @ params["W_r"].T + x @ params["W_i"].T + params["b"]
        return {"h": (1 - g) * h + g * torch.tanh(a)}

    cell = example.multigate_cell()[0]
    finding = check_claims(cell, Claims(torch_step=untransposed_gate), **OPTIONS).claims[0].finding
    assert "wrong term (structure)" in finding and finding.endswith("of dh'/dW_rg, parameter W_rg")


def lstm_step(states, inputs, params, *, old_cell: bool = False):
    """torch's LSTM cell (gates i, f, g, o) on the spec's parameters, keyed by spec name."""
    h, c, x = states["h"], states["c"], inputs["x"]
    pre = {k: x @ params[f"W_i{k}"].T + params[f"b_i{k}"] + h @ params[f"W_h{k}"].T + params[f"b_h{k}"]
           for k in "ifgo"}
    i, f, o = (torch.sigmoid(pre[k]) for k in "ifo")
    g = torch.tanh(pre["g"])
    c_new = f * c + i * g
    return {"h": o * torch.tanh(c if old_cell else c_new), "c": c_new}


def test_a_two_state_step_has_a_row_per_state_and_its_slip_in_one_state_is_said_first():
    from gatejac.symbolic import cells

    cell = cells.get("lstm_torch")
    right = check_claims(cell, Claims(torch_step=lstm_step), **OPTIONS)
    assert right.passed, right.to_text()
    rows = [r.jacobian for r in right.claims[0].report.results]
    assert rows[:2] == ["step h' (your lstm_step)", "step c' (your lstm_step)"]

    def slip(states, inputs, params):
        return lstm_step(states, inputs, params, old_cell=True)

    wrong = check_claims(cell, Claims(torch_step=slip), **OPTIONS).claims[0]
    assert [r.passed for r in wrong.report.results[:2]] == [False, True]
    assert wrong.finding.startswith("the forward step is wrong in h' (c' agrees)")
