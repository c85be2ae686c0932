"""``verify.design_report`` and ``gatejac report``: the files are written atomically and are
self-contained, the sections follow the cell's features, the equations are MathML (never raw
TeX), a wrong implementation fails the report, and the command line's exit codes, errors and
progress lines.  The real-browser checks are in tests/test_report_browser.py."""

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gatejac import numeric, verify
from gatejac.symbolic import Cell, cells, sigmoid, tanh
from gatejac.verify._cli import main
from gatejac.verify._design_report_analyses import initial_network, spectrum_section
from gatejac.verify._design_report_html import mathml

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n": 4, "m": 2}
"""Analysis sizes that keep each report to seconds."""
TEX = re.compile(r"\\[A-Za-z]+|\$\$")


def visible_text(page: str) -> str:
    """The text a reader sees: tags, the style sheet and data URIs removed."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def gru(tmp_path_factory):
    out = tmp_path_factory.mktemp("gru")
    report = verify.design_report("gru_torch", implementation=torch.nn.GRUCell(3, 4), out=out, sizes=SMALL,
                                  progress=False)
    return report, out


@pytest.fixture(scope="module")
def elman(tmp_path_factory):
    out = tmp_path_factory.mktemp("elman")
    return verify.design_report("elman", out=out, sizes=SMALL, progress=False), out


# ---------------------------------------------------------------------- files
def test_the_three_files_are_written_and_nothing_else(gru):
    report, out = gru
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    record = json.loads((out / "report.json").read_text())
    assert record["cell"] == "gru_torch" and record["passed"] is True
    assert [s["key"] for s in record["sections"]] == report.keys
    assert "## Oracles — PASS" in (out / "report.md").read_text()


def test_the_page_is_self_contained(gru):
    page = (gru[1] / "report.html").read_text()
    assert "http" not in page and "//" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<style>" in page and "<link" not in page and "<script" not in page


def test_equations_and_jacobians_are_mathml_and_no_tex_is_visible(gru):
    page = (gru[1] / "report.html").read_text()
    assert page.count("<math") >= 10 and "<mtable>" in page
    assert TEX.search(visible_text(page)) is None
    markdown = (gru[1] / "report.md").read_text()
    assert "\\frac{\\partial h'}{\\partial h}" in markdown  # the Markdown keeps the LaTeX, in $$ blocks


def test_mathml_refuses_tex_it_would_leave_visible():
    assert "<mfrac>" in mathml(r"\frac{a}{b}")
    with pytest.raises(verify.ReportError, match="would show the TeX"):
        mathml(r"\notacommand x")


def test_aligned_rows_become_table_rows_and_nested_matrices_stay_whole():
    markup = mathml("\\begin{aligned}\na &= \\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix} \\\\\n&\\quad + b\n"
                    "\\end{aligned}")
    assert markup.count("<mtr>") == 2 + 2  # two aligned rows, the matrix's two rows inside the first
    assert markup.index("<mtable>") < markup.index("<mtd") and "&amp;" not in visible_text(markup)


def test_a_failed_write_leaves_the_old_report_whole(gru, tmp_path, monkeypatch):
    report = gru[0]
    report.write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(self):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(type(report), "to_json", broken)
    with pytest.raises(RuntimeError):
        report.write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no file half-written, no temporaries


def test_an_output_path_that_is_a_file_is_refused_before_any_work(gru, tmp_path, monkeypatch):
    blocker = tmp_path / "report"
    blocker.write_text("not a directory")
    with pytest.raises(verify.ReportError, match="is a file; give a directory"):
        gru[0].write(blocker)

    def no_work(*args, **kwargs):
        raise AssertionError("the checks ran before the output was checked")

    monkeypatch.setattr("gatejac.verify._design_report.check", no_work)
    with pytest.raises(verify.ReportError, match="is a file"):
        verify.design_report("elman", out=blocker, progress=False)


# ---------------------------------------------------------------------- sections
ANALYSES = ["spectrum", "lyapunov", "learning_rate", "slow_modes"]


def test_a_gated_cell_has_the_gate_split_and_the_expansion(gru):
    keys = gru[0].keys
    assert keys[:4] == ["equations", "jacobians", "gate_split", "gate_expansion"]
    assert {"oracles", "implementation", "mutations", "expansion", *ANALYSES} <= set(keys)
    for key in ("spectrum", "lyapunov", "learning_rate", "expansion", "slow_modes"):
        section = gru[0].section(key)
        assert section.figure[:8] == b"\x89PNG\r\n\x1a\n" and section.sentence.endswith(".")
        assert section.sentence.count(". ") == 0  # one sentence


def test_a_gateless_cell_has_no_gate_split_and_no_expansion(elman):
    keys = elman[0].keys
    assert not {"gate_split", "gate_expansion", "expansion", "implementation"} & set(keys)
    assert set(ANALYSES) <= set(keys)


def test_the_spectrum_is_the_one_of_the_state_jacobian_at_zero(elman):
    cell = cells.get("elman")
    sizes = {"n": 4, "m": 2}
    params = numeric.initialise(cell, sizes, scheme="gaussian", seed=0)
    jacobian = numeric.compile(cell).state_jacobian({"h": np.zeros(4)}, {"x": np.zeros(2)}, params)
    expected = np.max(np.abs(np.linalg.eigvals(np.asarray(jacobian))))
    assert elman[0].section("spectrum").data["spectral_radius"] == pytest.approx(expected, rel=1e-12)


def test_a_cell_with_a_prediction_shows_its_disk():
    """gru_chung at the zero fixed point: the eigenvalues lie in the disk of numeric.zero_fixed_point_disk."""
    network = initial_network(cells.get("gru_chung"), {"n": 48, "m": 2}, seed=0)
    section = spectrum_section(network)
    disk = section.data["disk"]
    assert disk["radius"] > 0 and "predicted disk" in section.sentence
    assert section.data["farthest_from_centre"] <= 1.3 * disk["radius"]  # finite-n edge, well inside 2× the radius


def test_a_cell_that_cannot_be_initialised_says_why_instead_of_analyses():
    report = verify.design_report("wcrnn", sizes={"n": 4, "m": 2}, progress=False)
    assert "analyses" in report.keys and not set(ANALYSES) & set(report.keys)
    assert "cannot be initialised" in report.section("analyses").sentence


def test_a_wrong_implementation_fails_the_report(tmp_path):
    """The comparison section catches a deliberately broken implementation: tanh → sigmoid."""
    cell = Cell("tiny", description="a one-gate cell for the test")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W, U, b = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m")), cell.parameter("b", "n")
    g = cell.gate("g", sigmoid(W @ h + U @ x + b))
    cell.update(h, g * h + (1 - g) * tanh(U @ x))

    def step(correct):
        def function(x, h, params):
            g = torch.sigmoid(h @ params["W"].T + x @ params["U"].T + params["b"])
            return g * h + (1 - g) * (torch.tanh if correct else torch.sigmoid)(x @ params["U"].T)
        return function

    good = verify.design_report(cell.validate(), implementation=step(True), sizes=SMALL, progress=False)
    bad = verify.design_report(cell.validate(), implementation=step(False), sizes=SMALL, progress=False)
    assert good.passed and good.section("implementation").passed
    assert not bad.passed and bad.section("implementation").passed is False
    assert "FAIL" in bad.to_html()
    assert "departs from the spec: the forward step is wrong" in bad.section("implementation").sentence


def test_a_cell_that_is_not_one_is_refused():
    with pytest.raises(verify.ReportError, match="takes a symbolic.Cell"):
        verify.design_report(42)


# ---------------------------------------------------------------------- command line
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_writes_the_report_and_shows_progress(capsys, tmp_path):
    cell_file = ROOT / "examples" / "minimal_rnn" / "cell.py"
    code, out, err = run(capsys, "report", f"{cell_file}:cell", "--out", str(tmp_path), "--sizes", "n=4,m=2")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.md"]
    assert "PASS  Oracles:" in out and "wrote" in out
    lines = [line for line in err.splitlines() if line.startswith("report minimal_rnn")]
    assert re.search(r"\b9/9\b", lines[-1])  # lines, not a redrawn bar, on a pipe
    assert "mutations …" in err and "learning rate …" in err  # each long step is named while it runs


@pytest.mark.parametrize("target, message", [
    ("no/such/file.py:cell", "no/such/file.py"),
    (f"{ROOT}/examples/minimal_rnn/cell.py:no_such_name", "no_such_name"),
    ("no_such_cell", "no_such_cell"),
])
def test_a_bad_cell_is_a_usage_error_naming_it(capsys, tmp_path, target, message):
    code, out, err = run(capsys, "report", target, "--out", str(tmp_path / "r"))
    assert code == 2 and "gatejac: error:" in err and message in err
    assert not (tmp_path / "r").exists()


def test_a_bad_implementation_is_a_usage_error_before_any_work(capsys, tmp_path):
    """UGRNN's class is built, but its parameters are not gru_torch's: the mapping fails first."""
    code, _, err = run(capsys, "report", "gru_torch", "--impl", f"{ROOT}/examples/ugrnn/module.py:UGRNN", "--out",
                       str(tmp_path / "r"), "--sizes", "n=4,m=2")
    assert code == 2 and "cannot map" in err and "UGRNN" in err and not (tmp_path / "r").exists()
    assert "oracles" not in err  # no stage ran


def test_the_wrong_gate_example_fails_and_its_report_names_the_intermediate_term_and_parameter(capsys, tmp_path):
    """examples/wrong_gate: the MGU module whose candidate reads h where the spec says f ⊙ h."""
    folder = ROOT / "examples" / "wrong_gate"
    code, out, err = run(capsys, "report", f"{folder}/mgu.py:cell", "--impl", f"{folder}/mgu_torch.py:wrong",
                         "--out", str(tmp_path), "--sizes", "n=4,m=2", "--quiet")
    assert code == 1 and err == ""
    line = next(line for line in out.splitlines() if line.startswith("FAIL  Implementation:"))
    assert "first diverging intermediate is h_tilde" in line and "parameter W_h" in line and "wrong term" in line
    page = (tmp_path / "report.html").read_text()
    assert '<span class="verdict fail">FAIL</span>' in page and "first diverging intermediate is h_tilde" in page
