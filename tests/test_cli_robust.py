"""The command line under an interrupt, a closed pipe, and output paths that cannot be written:
one line and exit 130 on Ctrl-C, silence on a closed pipe, every output path checked before
any work, every file written atomically (a temporary file in its directory, then renamed)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gatejac.verify._check as checking_module
from gatejac.verify._cli import main

GATEJAC = [sys.executable, "-m", "gatejac"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- Ctrl-C and closed pipes
def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    process = subprocess.Popen([*GATEJAC, "verify", "--json", tmp_path / "r.json", "--latex", tmp_path / "d.tex"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = process.stderr.readline()  # the first cell's progress line: checks are running
        assert first.startswith("[ 1/"), first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "gatejac: interrupted\n"
    assert "Traceback" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no report, no half-written or temporary file


def test_the_interrupt_handler_is_in_place_before_anything_heavy_is_imported():
    """Ctrl-C while SymPy, NumPy or torch load (the first second of every command) is handled
    too: the module with the handler imports none of them."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, gatejac.verify._cli; "
                             "print(sorted({'sympy', 'numpy', 'torch'} & set(sys.modules)))"],
                            capture_output=True, text=True, timeout=60, cwd=Path(sys.executable).anchor)
    assert loaded.stdout == "[]\n", loaded.stderr


def test_a_closed_pipe_ends_the_output_silently():
    """``gatejac list | head -1``: the reader goes away before gatejac writes."""
    process = subprocess.Popen([*GATEJAC, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before gatejac has imported anything, let alone printed
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err and err == ""
    assert process.returncode == 141


def test_list_through_head_prints_the_first_line_only():
    shell = subprocess.run(f"{sys.executable} -m gatejac list | head -1", shell=True, capture_output=True, text=True,
                           timeout=60)
    assert shell.stdout.split()[0] == "elman" and shell.stdout.count("\n") == 1
    assert shell.stderr == ""


# --------------------------------------------------------------------------- output paths
@pytest.fixture
def no_checks(monkeypatch):
    """Fail the test if ``verify.check`` is called at all."""
    def refuse(*args, **kwargs):
        raise AssertionError("a check ran before the output paths were checked")

    monkeypatch.setattr(checking_module, "check", refuse)


@pytest.mark.parametrize("which", ["--json", "--latex"])
def test_an_unwritable_verify_output_is_reported_before_any_check(capsys, tmp_path, no_checks, which):
    paths = {"--json": tmp_path / "r.json", "--latex": tmp_path / "d.tex"}
    paths[which] = tmp_path / "no" / "such" / "dir" / "x"
    code, out, err = run(capsys, "verify", "leaky", *(str(a) for pair in paths.items() for a in pair))
    assert code == 2 and out == ""
    assert f"cannot write the {'JSON report' if which == '--json' else 'LaTeX appendix'} to" in err
    assert "No such file or directory" in err and "nothing was run" in err and "Traceback" not in err


def test_a_directory_as_output_is_reported_before_any_check(capsys, tmp_path, no_checks):
    code, _, err = run(capsys, "verify", "leaky", "--json", tmp_path, "--latex", tmp_path / "d.tex")
    assert code == 2 and "it is a directory; give a file name" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_a_read_only_directory_is_reported_before_any_check(capsys, tmp_path, no_checks):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run(capsys, "check", "examples/multigate_claims.py:cell", "--json", locked / "c.json")
    assert code == 2 and "Permission denied" in err


def test_an_unwritable_check_output_is_reported_before_loading_the_file(capsys, tmp_path):
    target = tmp_path / "never_loaded.py"
    target.write_text("raise SystemExit('the file was loaded')\n")
    code, _, err = run(capsys, "check", f"{target}:cell", "--json", tmp_path / "missing" / "c.json")
    assert code == 2 and "cannot write the JSON report to" in err


def test_reports_are_written_to_a_temporary_file_in_the_same_directory_then_renamed(capsys, tmp_path, monkeypatch):
    report = tmp_path / "r.json"
    report.write_text("old")
    renames = []
    real_replace = os.replace

    def replace(source, target):
        renames.append((Path(source), Path(target), Path(source).read_text()[:1]))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    code, out, _ = run(capsys, "verify", "elman", "--backend", "numpy", "--dtype", "float64", "--points", "1",
                       "--json", report, "--latex", tmp_path / "d.tex")
    assert code == 0
    assert [(target.name, first) for _, target, first in renames] == [("r.json", "{"), ("d.tex", "\\")]
    for source, target, _ in renames:
        assert source.parent == target.parent and source.name != target.name
    assert json.loads(report.read_text())["passed"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tex", "r.json"]  # no temporary file left
    assert report.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(capsys, tmp_path, monkeypatch):
    report = tmp_path / "r.json"
    report.write_text("old")

    def replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run(capsys, "verify", "elman", "--backend", "numpy", "--dtype", "float64", "--points", "1",
                       "--json", report, "--latex", tmp_path / "d.tex")
    assert code == 1
    assert f"gatejac: error: cannot write the JSON report '{report}': No space left on device" in err
    assert report.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_version_in_process(capsys):
    import gatejac

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"gatejac {gatejac.__version__}\n"

