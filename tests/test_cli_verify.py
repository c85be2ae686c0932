"""``gatejac verify`` and ``gatejac check`` (called in-process through ``verify._cli.main``),
and the claims format of ``verify._claims`` that ``gatejac check`` reads."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import sympy

import gatejac.verify._check as checking_module
from gatejac.symbolic import BlockJacobian, Cell, GatejacError, cells, derive, sigmoid, tanh
from gatejac.verify import Claims, check_claims, column, diag, eye_kron, identity, outer
from gatejac.symbolic import term_text
from gatejac.verify._cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- gatejac verify
def test_verify_named_cells_prints_the_table_and_writes_json_and_latex(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "verify", "leaky", "gru_torch")
    assert code == 0
    report = json.loads((tmp_path / "gatejac-report.json").read_text())
    assert report["passed"] is True and [c["cell"] for c in report["cells"]] == ["leaky", "gru_torch"]
    configurations = [f"{c['backend']}/{c['dtype']}" for c in report["configurations"]]
    assert configurations == ["numpy/float64", "numpy/float32", "torch/float64", "torch/float32"]
    # one table row per cell: passed/total per configuration, as counted in the JSON report
    header = next(line for line in out.splitlines() if line.startswith("cell"))
    assert header.split()[1:-1] == configurations
    for cell in report["cells"]:
        row = next(line for line in out.splitlines() if line.startswith(cell["cell"] + " "))
        counts = [f"{len(r['results'])}/{len(r['results'])}" for r in cell["reports"]]
        assert row.split()[1:5] == counts
        assert all(result["status"] == "PASS" for r in cell["reports"] for result in r["results"])
    total = sum(len(r["results"]) for c in report["cells"] for r in c["reports"])
    assert f"all {total} checks passed" in out and report["checks"] == total
    # progress: one line per cell on stderr
    assert re.search(r"\[1/2\] ok +leaky", err) and re.search(r"\[2/2\] ok +gru_torch", err)
    tex = (tmp_path / "gatejac-derivations.tex").read_text()
    assert tex.startswith("\\documentclass") and r"\section{leaky}" in tex and r"\section{gru\_torch}" in tex
    assert "wrote gatejac-report.json" in out and "wrote gatejac-derivations.tex" in out


def test_verify_exits_1_and_prints_the_failed_report_when_a_check_fails(capsys, tmp_path, monkeypatch):
    cell = cells.get("leaky")
    derivation = derive(cell)
    block = derivation.state.blocks["h", "h"]
    dropped = block.terms[0]
    broken = derivation.replace(state=BlockJacobian(derivation.state.rows, derivation.state.cols,
                                                    {("h", "h"): dataclasses.replace(block, terms=block.terms[1:])}))
    real_check = checking_module.check
    monkeypatch.setattr(checking_module, "check", lambda c, **kw: real_check(c, derivation=broken, **kw))
    code, out, err = run(capsys, "verify", "leaky", "--backend", "numpy", "--dtype", "float64", "--points", "1",
                         "--json", tmp_path / "r.json", "--latex", tmp_path / "d.tex")
    assert code == 1
    assert re.search(r"\[1/1\] FAIL leaky", err)
    assert re.search(r"^leaky +\d+/\d+ FAIL", out, re.MULTILINE) and "FAILED:" in out
    assert "gatejac check of cell 'leaky': FAILED" in out and f"missing  {term_text(cell, dropped)}" in out
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False


def test_verify_options_select_backend_dtype_sizes_and_oracles(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", "elman", "--backend", "torch", "--dtype", "float32", "--sizes", "n=3,m=2",
                       "--points", "1", "--seed", "5", "--json", tmp_path / "r.json", "--latex", tmp_path / "d.tex")
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    (only,) = report["cells"][0]["reports"]
    assert (only["backend"], only["dtype"], only["sizes"], only["seed"]) == ("torch", "float32", {"n": 3, "m": 2}, 5)
    # float32 alone: its float64 kernels are also checked against the oracles
    assert {r["oracle"] for r in only["results"]} == {"ad", "fd", "taylor", "reference"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "gru_torc"], "unknown cell 'gru_torc'; did you mean 'gru_torch'"),
        (["verify", "leaky", "--sizes", "k=3"], "unknown size 'k'"),
        (["verify", "leaky", "--oracles", "ad,fdd"], "unknown oracle 'fdd'; did you mean 'fd'"),
        (["verify", "leaky", "--sizes", "n=zero"], "'n=zero' is not SIZE=POSITIVE_INTEGER"),
        (["verify", "leaky", "--points", "0"], "'0' is not an integer ≥ 1"),
        (["verify", "--backend", "jax"], "invalid choice: 'jax'"),
        (["check", "examples/multigate_claims.py"], "give path/to/file.py:NAME"),
        (["check", "no/such/file.py:cell"], "there is no file 'no/such/file.py'"),
        (["check", f"{EXAMPLES / 'multigate_claims.py'}:cel"], "unknown name 'cel'; did you mean 'cell'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["verify", "check", "list", "derive"])
def test_every_subcommand_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: gatejac {command}")


# --------------------------------------------------------------------------- gatejac check on the examples
def test_check_passes_on_the_correct_hand_derivation(capsys, tmp_path):
    code, out, _ = run(capsys, "check", f"{EXAMPLES / 'multigate_claims.py'}:cell", "--json", tmp_path / "c.json")
    assert code == 0, out
    assert "verdict: PASSED" in out and "WRONG" not in out
    written = json.loads((tmp_path / "c.json").read_text())
    assert written["passed"] is True and written["spec"]["passed"] is True
    assert {c["claim"] for c in written["claims"]} >= {"state", "input", "gate_split:B"}


def test_check_names_the_one_wrong_term(capsys, tmp_path):
    code, out, _ = run(capsys, "check", f"{EXAMPLES / 'multigate_wrong_term.py'}:cell", "--json", tmp_path / "c.json")
    assert code == 1
    state = out.split("claim 'state'", 1)[1].split("\nclaim ", 1)[0]
    assert re.findall(r"^    (OK|WRONG) +(\w+)", state, re.MULTILINE) == [
        ("OK", "retention"), ("OK", "candidate"), ("WRONG", "gate")]
    assert "the spec has instead: diag((-h + tanh(a))*sigmoid_prime(" in state
    assert "\nverdict: FAILED — claim 'state' is wrong — wrong term: 'gate'\n" in out
    written = json.loads((tmp_path / "c.json").read_text())
    assert [(c["claim"], c["wrong_terms"]) for c in written["claims"] if not c["passed"]] == [("state", ["gate"])]


def test_check_passes_on_the_torch_step_and_numpy_function_example(capsys):
    code, out, _ = run(capsys, "check", f"{EXAMPLES / 'multigate_torch_step.py'}:cell")
    assert code == 0, out
    assert "claim 'torch_step' (your torch_step): PASSED" in out and "claim 'functions:input'" in out


WRONG_CODE = """
import sys
sys.path.insert(0, {examples!r})
import torch
from multigate_claims import multigate_cell
from multigate_torch_step import torch_step
from gatejac.verify import Claims


def transposed_gate_step(states, inputs, params):
    h, x = states["h"], inputs["x"]
    g = torch.sigmoid(h @ params["W_rg"] + x @ params["W_ig"].T + params["b_g"])  # W_rg not transposed
    a = h @ params["W_r"].T + x @ params["W_i"].T + params["b"]
    return {{"h": (1 - g) * h + g * torch.tanh(a)}}


def unfinished(states, inputs, params):
    raise NotImplementedError("to do")


def cell():
    return multigate_cell()[0], Claims(functions={{"state": unfinished}}, torch_step=transposed_gate_step)


def correct():
    return multigate_cell()[0], {{"torch_step": torch_step}}
"""


def test_check_fails_on_a_wrong_torch_step_and_a_raising_function(capsys, tmp_path):
    path = tmp_path / "wrong_code.py"
    path.write_text(WRONG_CODE.format(examples=str(EXAMPLES)))
    code, out, _ = run(capsys, "check", f"{path}:cell", "--points", "1")
    assert code == 1
    assert "unfinished(states, inputs, params) raised NotImplementedError: to do" in out
    assert re.search(r"step \(your transposed_gate_step\) +spec step +float64 +FAIL", out)
    assert re.search(r"parameter:W_rg \(jacrev of your transposed_gate_step\) +closed form +float64 +FAIL", out)
    assert "Traceback" not in out
    code, out, _ = run(capsys, "check", f"{path}:correct", "--points", "1")
    assert code == 0, out


# --------------------------------------------------------------------------- the claims format
@pytest.fixture(scope="module")
def multigate():
    """The cell of examples/multigate_claims.py, built here in the cell language."""
    cell = Cell("claims_multigate")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W_rg, W_ig = cell.parameter("W_rg", ("n", "n")), cell.parameter("W_ig", ("n", "m"))
    W_r, W_i = cell.parameter("W_r", ("n", "n")), cell.parameter("W_i", ("n", "m"))
    g = cell.gate("g", sigmoid(W_rg @ h + W_ig @ x))
    a = cell.let("a", W_r @ h + W_i @ x)
    cell.update(h, (1 - g) * h + g * tanh(a))
    cell.validate()
    return cell, dict(h=h, x=x, g=g, a=a, W_rg=W_rg, W_ig=W_ig, W_r=W_r, W_i=W_i)


def test_terms_may_group_the_derivation_differently(multigate):
    cell, p = multigate
    gate = (tanh(p["a"]) - p["h"]) * p["g"] * (1 - p["g"])
    claims = Claims(jacobians={"state": [
        ("leak and candidate", diag(1 - p["g"]) + diag(p["g"] * (1 - tanh(p["a"]) ** 2)) @ p["W_r"]),
        ("gate", diag(gate) @ p["W_rg"]),
    ]})
    report = check_claims(cell, claims, points=1)
    assert report.passed, report.to_text()
    (attribution,) = report.claims[0].attributions
    assert [(v.label, v.status, len(v.matches)) for v in attribution.verdicts] == [
        ("leak and candidate", "ok", 2), ("gate", "ok", 1)]


def test_a_missing_term_is_named_as_missing_not_wrong(multigate):
    cell, p = multigate
    claims = Claims(jacobians={"input": [("candidate", diag(p["g"] * (1 - tanh(p["a"]) ** 2)) @ p["W_i"])]})
    report = check_claims(cell, claims, points=1)
    assert not report.passed
    (attribution,) = report.claims[0].attributions
    assert attribution.wrong == [] and len(attribution.instead) == 1 and "(W_ig)" in attribution.instead[0]
    assert "missing from the claim: " + attribution.instead[0] in report.to_text()


def test_scalar_multiples_identity_and_a_scalar_parameter_column():
    cell = Cell("claims_leaky")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U, alpha = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("alpha")
    a = cell.let("a", W @ h + U @ x)
    cell.update(h, (1 - alpha) * h + alpha * tanh(a))
    claims = Claims(jacobians={
        "state": [("leak", (1 - alpha) * identity(h)), ("candidate", diag(alpha * (1 - tanh(a) ** 2)) @ W)],
        "parameter:alpha": [("leak", column(tanh(a) - h))],
        "parameter:W": [("candidate", diag(alpha * (1 - tanh(a) ** 2)) @ eye_kron(h, "n"))],
    })
    report = check_claims(cell, claims, points=1)
    assert report.passed, report.to_text()
    assert [v.status for c in report.claims for a in c.attributions for v in a.verdicts] == ["ok"] * 4


def _other_cell_vector():
    """A vector of another (unfrozen) cell."""
    return Cell("other").state("h", "n")


MALFORMED = [
    ("unknown jacobian", lambda c, p: {"jacobians": {"stat": [("t", diag(p["h"]))]}},
     r"unknown Jacobian 'stat'; did you mean 'state'"),
    ("not a pair", lambda c, p: {"jacobians": {"state": [diag(p["h"])]}}, r"is not a \(label, term\) pair"),
    ("duplicate label", lambda c, p: {"jacobians": {"state": [("t", diag(p["h"])), ("t", diag(p["g"]))]}},
     r"the label 't' is used twice"),
    ("wrong shape", lambda c, p: {"jacobians": {"input": [("t", diag(p["h"]))]}},
     r"its shape is n×n but the block is n×m"),
    ("unknown block", lambda c, p: {"jacobians": {"state": {("h", "x"): [("t", diag(p["h"]))]}}},
     r"unknown block \('h', 'x'\)"),
    ("vector as term", lambda c, p: {"jacobians": {"state": [("t", p["h"])]}},
     r"is a vector; a term is a matrix — write diag"),
    ("foreign matrix", lambda c, p: {"jacobians": {"state": [("t", sympy.MatrixSymbol("V", p["h"].size, p["h"].size))]}},
     r"unknown matrix parameter 'V'"),
    ("other cell", lambda c, p: {"jacobians": {"state": [("t", diag(_other_cell_vector()))]}},
     r"the term is built from cell 'other'"),
    ("size mismatch in @", lambda c, p: diag(p["g"]) @ p["W_i"] @ outer(p["h"], p["h"]),
     r"the left factor has m columns but the right one has n rows"),
    ("diag of a scalar", lambda c, p: (lambda v: diag(v.dot(v)))(_other_cell_vector()),
     r"is a scalar; multiply a term by it instead"),
    ("unknown size name", lambda c, p: eye_kron(p["h"], "k"), r"unknown size 'k'"),
    ("unknown claims key", lambda c, p: {"jacobian": {}}, r"unknown claims key 'jacobian'; did you mean 'jacobians'"),
    ("function not callable", lambda c, p: {"functions": {"state": 3}}, r"functions\['state'\] = 3 is not callable"),
    ("unknown function jacobian", lambda c, p: {"functions": {"inputs": len}},
     r"unknown Jacobian 'inputs'; did you mean 'input'"),
]


@pytest.mark.parametrize(("build", "message"), [pytest.param(b, m, id=name) for name, b, m in MALFORMED])
def test_malformed_claims_raise_a_clear_error(multigate, build, message):
    cell, pieces = multigate
    with pytest.raises(GatejacError, match=message):
        check_claims(cell, build(cell, pieces), points=1)


def test_mutations_command_reports_the_catch_rate(capsys):
    assert main(["mutations", "leaky", "scalar_gate"]) == 0
    out = capsys.readouterr().out
    assert "leaky" in out and "updated_state_in_gate" in out
    assert out.strip().endswith("mutations caught (100.0%)")


def test_mutations_command_rejects_an_unknown_cell(capsys):
    assert main(["mutations", "lekay"]) == 2
    assert "did you mean 'leaky'" in capsys.readouterr().err
