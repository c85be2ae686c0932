"""The ``gatejac`` command line, called in-process through ``verify._cli.main``."""

import re

import pytest

import gatejac.symbolic.cells as catalogue
from gatejac.symbolic import derive
from gatejac.symbolic import derivation_text
from gatejac.verify._cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_every_catalogue_cell_with_its_description(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == catalogue.names()
    for line, name in zip(lines, catalogue.names()):
        assert line.split(None, 1)[1] == catalogue.get(name).description.strip().splitlines()[0]


def test_derive_prints_every_block_with_one_term_per_line(capsys):
    code, out, err = run(capsys, "derive", "lstm_torch")
    assert code == 0 and err == ""
    derivation = derive(catalogue.get("lstm_torch"))
    lines = out.splitlines()
    for (state, wrt), block in derivation.state.blocks.items():
        start = lines.index(f"  d{state}'/d{wrt} =") + 1
        terms = lines[start : start + len(block.terms)]
        assert terms[0].startswith("        ") and all(line.startswith("      + ") for line in terms[1:])
        assert not lines[start + len(block.terms)].startswith("      + ")  # no more terms than the block has
    for name in derivation.parameters:
        assert f"dh'/d{name} =" in out and f"dc'/d{name} =" in out
    assert "gate split" in out and "diag(" in out and "kron(I_n, (h)^T)" in out
    assert "_mv" not in out and "_dot" not in out


def test_derive_passes_cell_options(capsys):
    code, out, _ = run(capsys, "derive", "wcrnn", "--option", "residual=nonlinear", "-o", "n=4")
    assert code == 0
    assert out == derivation_text(derive(catalogue.get("wcrnn", residual="nonlinear", n=4))) + "\n"
    assert out != derivation_text(derive(catalogue.get("wcrnn"))) + "\n"


def test_derive_writes_a_standalone_latex_file(capsys, tmp_path):
    target = tmp_path / "gru.tex"
    code, out, _ = run(capsys, "derive", "gru_torch", "--latex", str(target))
    assert code == 0 and f"wrote {target}" in out
    tex = target.read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert r"\frac{\partial h'}{\partial h}" in tex


@pytest.mark.latex
def test_the_written_latex_file_compiles(capsys, tmp_path):
    from gatejac.symbolic._latex import compile_latex

    target = tmp_path / "scalar_gate.tex"
    assert run(capsys, "derive", "scalar_gate", "--latex", str(target))[0] == 0
    assert compile_latex(target).exists()


def test_an_unwritable_latex_file_is_a_usage_error_found_before_the_derivation(capsys, tmp_path):
    code, out, err = run(capsys, "derive", "elman", "--latex", str(tmp_path / "missing" / "x.tex"))
    assert code == 2 and out == ""  # nothing derived, nothing printed
    assert "gatejac: error: cannot write the LaTeX file to" in err and "No such file or directory" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["derive", "lstm_torhc"], r"unknown cell 'lstm_torhc'; did you mean 'lstm_torch'"),
        (["derive", "wcrnn", "-o", "residual=nonlinar"], r"did you mean 'nonlinear'"),
        (["derive", "wcrnn", "-o", "resdual=linear"], r"unknown option 'resdual'; did you mean 'residual'"),
        (["derive", "elman", "-o", "n"], r"'n' is not KEY=VALUE"),
        (["derive"], r"the following arguments are required: CELL"),
        (["frobnicate"], r"invalid choice: 'frobnicate'"),
        ([], r"the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"], ["derive", "--help"]])
def test_help_everywhere(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.startswith("usage: gatejac")
