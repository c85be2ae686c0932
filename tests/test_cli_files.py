"""The command line on a user's own cells (``path/to/file.py:NAME`` for ``derive``, ``verify``
and ``mutations``, as for ``check``), ``derive --latex/--pdf``, and why ``mutations`` did not
make a mutation."""

import json

import pytest

from gatejac.symbolic import derivation_text, derive
from gatejac.verify import mutations
from gatejac.verify._cli import main

MGU = '''
from gatejac.symbolic import Cell, sigmoid, tanh


def mgu():
    """A minimal gated unit: one forget gate f."""
    cell = Cell("mgu")
    h, x = cell.state("h", "n"), cell.input("x", "m")
    W_f, U_f = cell.parameter("W_f", ("n", "n")), cell.parameter("U_f", ("n", "m"))
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "m"))
    f = cell.gate("f", sigmoid(W_f @ h + U_f @ x))
    candidate = cell.let("candidate", tanh(W @ (f * h) + U @ x))
    cell.update(h, (1 - f) * h + f * candidate)
    return cell
'''


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mgu_file(tmp_path):
    path = tmp_path / "mycells.py"
    path.write_text(MGU)
    return path


def _mgu(path):
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["mgu"]()


def test_derive_reads_a_cell_from_a_file(capsys, mgu_file):
    code, out, err = run(capsys, "derive", f"{mgu_file}:mgu")
    assert code == 0 and err == ""
    assert out == derivation_text(derive(_mgu(mgu_file))) + "\n"


def test_derive_refuses_catalogue_options_for_a_file_cell(capsys, mgu_file):
    code, out, err = run(capsys, "derive", f"{mgu_file}:mgu", "-o", "n=3")
    assert code == 2 and out == ""
    assert "--option n=3 applies to catalogue cells, not to" in err and "Traceback" not in err


@pytest.mark.parametrize(("target", "message"), [
    ("mycells.py:mgv", "unknown name 'mgv'; did you mean 'mgu'"),
    ("mycells.py", "give path/to/file.py:NAME"),
    ("nothere.py:mgu", "there is no file 'nothere.py'"),
])
def test_a_bad_file_target_is_a_usage_error(capsys, mgu_file, monkeypatch, target, message):
    monkeypatch.chdir(mgu_file.parent)
    for command in ("derive", "verify", "mutations"):
        code, out, err = run(capsys, command, target)
        assert code == 2 and message in err and "Traceback" not in err, (command, err)


def test_verify_checks_a_cell_from_a_file(capsys, mgu_file, tmp_path):
    report = tmp_path / "r.json"
    code, out, err = run(capsys, "verify", f"{mgu_file}:mgu", "leaky", "--backend", "numpy", "--dtype", "float64",
                         "--points", "1", "--json", report, "--latex", tmp_path / "d.tex")
    assert code == 0, out + err
    written = json.loads(report.read_text())
    assert [c["cell"] for c in written["cells"]] == ["mgu", "leaky"] and written["passed"] is True
    assert "[1/2] ok   mgu" in err
    assert r"\section{mgu}" in (tmp_path / "d.tex").read_text()


def test_mutations_runs_on_a_file_cell_and_says_why_mutations_were_not_made(capsys, mgu_file):
    code, out, err = run(capsys, "mutations", f"{mgu_file}:mgu")
    assert code == 0, out
    skipped = mutations(derive(_mgu(mgu_file))).skipped
    assert skipped  # the cell has terms a mutation cannot change (diagonal terms are their own transpose)
    section = out.split("not made (a no-op, or not applicable to the term):\n", 1)[1].split("\n\n", 1)[0]
    lines = section.splitlines()
    reasons = {(s.kind, s.reason) for s in skipped}
    assert len(lines) == len(reasons)
    for kind, reason in reasons:
        times = sum((s.kind, s.reason) == (kind, reason) for s in skipped)
        assert any(line.split()[:3] == ["mgu", kind, f"×{times}"] and line.endswith(reason) for line in lines), (kind, reason, lines)
    assert out.strip().endswith("mutations caught (100.0%)")


def test_derive_writes_latex_and_pdf_only_where_asked(capsys, tmp_path, mgu_file):
    tex = tmp_path / "out" / "mgu.tex"
    tex.parent.mkdir()
    code, out, _ = run(capsys, "derive", f"{mgu_file}:mgu", "--latex", tex)
    assert code == 0 and f"wrote {tex}" in out
    assert r"\section{mgu}" in tex.read_text() and sorted(p.name for p in tex.parent.iterdir()) == ["mgu.tex"]


@pytest.mark.latex
def test_derive_pdf_writes_the_compiled_document_and_nothing_else(capsys, tmp_path):
    pdf = tmp_path / "gru.pdf"
    code, out, _ = run(capsys, "derive", "gru_torch", "--pdf", pdf)
    assert code == 0 and f"wrote {pdf}" in out
    assert pdf.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["gru.pdf"]  # no .aux/.log/.toc beside it
