"""``verify.check`` and its :class:`Report`: the catalogue passes on both back-ends and in
float32, reports say where and why a Jacobian is wrong and how to repeat the check, and
bad arguments raise clear gatejac errors."""

from __future__ import annotations

import dataclasses
import json
import re
import types

import pytest
import sympy

from gatejac import symbolic
from gatejac.numeric import ArgumentError
from gatejac.symbolic import Cell, GatejacError, Kron, ShapeError, UnknownNameError, cells, derive, tanh
from gatejac.verify import CheckError, VerificationError, assert_passed, check, jacobian_names
from gatejac.symbolic import term_text  # the printer the report names terms with
from gatejac.verify._report import CheckResult, Report


def _flip_parameter_term(cell, parameter: str):
    """``derive(cell)`` with the sign of the (only) term of ∂h'/∂parameter flipped."""
    derivation = derive(cell)
    blocks = derivation.parameter(parameter)
    block = blocks["h", parameter]
    (term,) = block.terms
    flipped = term.prepend(symbolic.Scale(-1))
    replaced = dataclasses.replace(blocks, blocks={("h", parameter): dataclasses.replace(block, terms=(flipped,))})
    return derivation.replace(parameters={parameter: replaced}), flipped


# --------------------------------------------------------------------------- the catalogue passes
CONFIGURATIONS = {
    "numpy-float64": dict(backend="numpy", dtype="float64"),
    "torch-float64": dict(backend="torch", dtype="float64"),
    "numpy-float32": dict(backend="numpy", dtype="float32", oracles=("ad",)),
    "torch-float32": dict(backend="torch", dtype="float32", oracles=()),
}


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
@pytest.mark.parametrize("name", cells.names())
def test_every_catalogue_cell_passes(name, configuration):
    options = CONFIGURATIONS[configuration]
    report = check(name, points=1, seed=3, **options)
    assert report.passed, report.to_text()
    oracles = options.get("oracles", ("ad", "fd", "taylor"))
    per_jacobian = len(oracles) + (options["dtype"] == "float32")
    assert len(report.results) == per_jacobian * len(jacobian_names(cells.get(name)))


def test_every_catalogue_variant_passes():
    for name, options in cells.variants():
        if options:
            report = check(cells.get(name, **options), points=1, oracles=("ad", "taylor"))
            assert report.passed, report.to_text()


def test_float32_rows_compare_against_float64_kernels_which_are_checked_too():
    derivation, _ = _flip_parameter_term(cells.get("leaky"), "b")
    report = check("leaky", derivation=derivation, dtype="float32", oracles=("ad",), jacobians=("parameter:b",))
    by_oracle = {r.oracle: r for r in report.results}
    assert set(by_oracle) == {"ad", "reference"}
    assert by_oracle["reference"].dtype == "float32" and by_oracle["reference"].passed  # same wrong formula
    assert by_oracle["ad"].dtype == "float64" and not by_oracle["ad"].passed  # but the reference is checked


def test_jacobian_names_cover_state_input_parameters_gate_split_and_actions():
    assert jacobian_names(cells.get("scalar_gate")) == [
        "state", "input", "parameter:w_rg", "parameter:w_ig", "parameter:b_g", "parameter:W_r", "parameter:W_i",
        "parameter:b", "gate_split:A", "gate_split:B", "jvp", "vjp"]
    assert "gate_split:A" not in jacobian_names(cells.get("leaky"))


def test_default_sizes_are_only_the_dimensions_the_cell_has():
    autonomous = Cell("autonomous")
    h = autonomous.state("h", "n")
    autonomous.update(h, tanh(autonomous.parameter("W", ("n", "n")) @ h))
    assert check(autonomous, points=1, oracles=("ad",)).sizes == {"n": 4}
    assert check("leaky", points=1, oracles=("ad",), jacobians="state").sizes == {"n": 4, "m": 3}
    assert check("leaky", points=1, oracles=("ad",), jacobians="state", sizes={"n": 2}).sizes == {"n": 2, "m": 3}


# --------------------------------------------------------------------------- failure reports
@pytest.fixture(scope="module")
def failing():
    """A leaky cell whose ∂h'/∂W has the wrong sign: the report and the flipped term."""
    cell = cells.get("leaky")
    derivation, flipped = _flip_parameter_term(cell, "W")
    report = check(cell, derivation=derivation, seed=4, points=2, jacobians=("state", "parameter:W"))
    return cell, derivation, flipped, report


def test_a_failure_names_the_jacobian_entry_values_and_term(failing):
    cell, derivation, flipped, report = failing
    assert not report.passed
    assert [(r.jacobian, r.oracle) for r in report.failures] == [
        ("parameter:W", "ad"), ("parameter:W", "fd"), ("parameter:W", "taylor")]
    ad = report.failures[0]
    sample, i, j = ad.worst
    n = report.sizes["n"]
    assert (ad.row, ad.column) == (f"h[{i}]", f"W[{j // n},{j % n}]")  # row-major flattening
    assert ad.max_error == pytest.approx(abs(ad.actual - ad.expected)) and ad.max_error > ad.tolerance
    assert ad.actual == pytest.approx(-ad.expected)  # the whole entry comes from the flipped term
    assert ad.term == term_text(cell, flipped)
    assert isinstance(flipped.factors[-1], Kron)


def test_report_text_has_a_table_row_per_check_and_a_block_per_failure(failing):
    cell, derivation, flipped, report = failing
    text = report.to_text()
    assert text.startswith("gatejac check of cell 'leaky': FAILED (3 of 6 checks)")
    for result in report.results:
        assert re.search(rf"^{re.escape(result.jacobian)}\s+{result.oracle}\s+float64\s+{result.status}", text, re.M)
    ad = report.failures[0]
    for fragment in (f"{ad.row}", f"{ad.column}", f"{ad.actual:.17g}", f"{ad.expected:.17g}",
                     term_text(cell, flipped), "wrong", "seed=4", "slope"):
        assert fragment in text, fragment
    assert "verify.check(symbolic.cells.get('leaky')" in text and "derivation=derivation" in text


def test_report_json_round_trips_every_result(failing):
    report = failing[3]
    data = json.loads(report.to_json())
    assert data["passed"] is False and data["failures"] == 3 and data["checks"] == len(report.results)
    assert data["seed"] == 4 and data["sizes"] == {"n": 4, "m": 3} and data["hypothesis_blob"] is None
    first = data["results"][report.results.index(report.failures[0])]
    assert first["status"] == "FAIL" and first["worst"] == list(report.failures[0].worst)
    assert first["term"] == report.failures[0].term
    assert [c[0] for c in first["contributions"]] == [c[0] for c in report.failures[0].contributions]


def test_assert_passed_raises_the_report_text(failing):
    report = failing[3]
    with pytest.raises(VerificationError) as raised:
        assert_passed(report)
    assert str(raised.value) == report.to_text()
    assert isinstance(raised.value, AssertionError) and isinstance(raised.value, GatejacError)
    assert_passed(check("elman", points=1, oracles=("ad",)))  # a passing report does not raise


def test_the_values_of_a_failure_stand_in_one_column():
    """Kernel, oracle and error values start in one column, whatever the oracle's name's length
    and the values' signs (the morning's report shifted them by a long oracle name or a minus)."""
    cell = cells.get("leaky")
    derivation, _ = _flip_parameter_term(cell, "W")
    report = check(cell, derivation=derivation, points=1, oracles=("complex_step",), jacobians=("parameter:W",))
    lines = report.to_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.lstrip().startswith("worst entry"))
    kernel, oracle, error = lines[start + 1:start + 4]
    assert oracle.split()[0] == "complex_step" and kernel.split()[0] == "kernel" and error.split()[0] == "error"
    assert len({re.search(r"\d", line).start() for line in (kernel, oracle, error)}) == 1, \
        "\n".join((kernel, oracle, error))


def test_a_hypothesis_blob_set_by_the_caller_is_reported(failing):
    report = dataclasses.replace(failing[3], hypothesis_blob="AXicY2BgAAAABAAB")
    assert "AXicY2BgAAAABAAB" in report.to_text()
    assert json.loads(report.to_json())["hypothesis_blob"] == "AXicY2BgAAAABAAB"


def test_the_reproduction_call_repeats_the_check():
    cell = cells.get("wcrnn", residual="nonlinear", residual_matrix="diagonal")
    report = check(cell, seed=9, points=1, oracles=("ad", "fd"), jacobians=("state", "vjp"))
    python_line = report.reproduce.splitlines()[0]
    assert "symbolic.cells.get('wcrnn', residual='nonlinear', residual_matrix='diagonal')" in python_line
    call = python_line.split("print(", 1)[1].rsplit(".to_text())", 1)[0]
    namespace = {"symbolic": symbolic, "verify": types.SimpleNamespace(check=check)}
    repeated = eval(call, namespace)  # noqa: S307 - the call the report printed
    assert [(r.jacobian, r.oracle, r.max_error) for r in repeated.results] == [
        (r.jacobian, r.oracle, r.max_error) for r in report.results]
    assert "shell:" not in report.reproduce, "gatejac verify cannot restrict the Jacobians"
    whole = check(cell, seed=9, points=1, oracles=("ad", "fd")).reproduce
    assert ("gatejac verify wcrnn -o residual=nonlinear -o residual_matrix=diagonal --backend numpy --dtype float64 "
            "--sizes n=4,m=3 --seed 9 --points 1 --oracles ad,fd") in whole


def test_the_reproduction_names_a_derived_catalogue_variant_by_its_call():
    """A catalogue variant passed as a cell object — derived first or not — is named by its
    catalogue call with its options, not as "your cell" (the morning's key changed on derive)."""
    cell = cells.get("wcrnn", residual_matrix="homogeneous")
    derive(cell)
    report = check(cell, points=1, oracles=("ad",), jacobians=("state",))
    assert "verify.check(symbolic.cells.get('wcrnn', residual_matrix='homogeneous'), " in report.reproduce
    assert "your cell" not in report.reproduce


def test_the_reproduction_names_a_users_cell_and_derivation_as_theirs():
    cell = cells.get("leaky")
    report = check(cell, derivation=derive(cell), points=1, oracles=("ad",), jacobians=("state",))
    assert report.reproduce.splitlines()[1:] == [
        "        with derivation = the derivation you passed to verify.check"]
    own = Cell("own")
    h = own.state("h", "n")
    own.update(h, tanh(own.parameter("W", ("n", "n")) @ h))
    assert "with cell = your cell 'own'" in check(own, points=1, oracles=("ad",)).reproduce


def test_skipped_results_pass_and_say_why():
    result = CheckResult("c", "state", "complex_step", "numpy", "float64", True, None, None, None, None, None, None,
                         0, None, "skipped: Abs is not analytic", skipped=True)
    report = Report("c", [result], seed=0, sizes={"n": 4})
    assert report.passed and result.status == "SKIP"
    assert re.search(r"^state\s+complex_step\s+float64\s+SKIP.*Abs is not analytic", report.to_text(), re.M)


def test_non_finite_values_serialise_as_strict_json():
    result = CheckResult("c", "state", "ad", "numpy", "float64", False, float("nan"), 1e-12, (0, 0, 0),
                         float("inf"), 1.0, None, 0, 0)
    data = json.loads(Report("c", [result], seed=0).to_json())
    assert data["results"][0]["max_error"] == "nan" and data["results"][0]["actual"] == "inf"


# --------------------------------------------------------------------------- errors
def _other_cell_derivation():
    return derive(cells.get("elman"))


ERRORS = [
    (dict(oracles=("adx",)), UnknownNameError, r"unknown oracle 'adx'; did you mean 'ad'"),
    (dict(oracles=()), CheckError, r"nothing to check.*one oracle"),
    (dict(oracles=5), CheckError, r"oracles=5: give a name or a list of names from \['ad', 'fd'"),
    (dict(jacobians=("stat",)), UnknownNameError, r"unknown jacobian 'stat'; did you mean 'state'"),
    (dict(jacobians=("parameter:Wx",)), UnknownNameError, r"did you mean 'parameter:W'"),
    (dict(jacobians=("gate_split:A",)), UnknownNameError, r"unknown jacobian 'gate_split:A'.*cell 'leaky'"),
    (dict(backend="jax"), UnknownNameError, r"unknown backend 'jax'.*numpy, torch"),
    (dict(dtype="float16"), UnknownNameError, r"unknown dtype 'float16'.*float32, float64"),
    (dict(sizes={"n": 0}), ArgumentError, r"size n=0 must be a positive integer"),
    (dict(sizes={"n": 2.5}), ArgumentError, r"size n=2.5 must be a positive integer"),
    (dict(sizes={"n": True}), ArgumentError, r"size n=True must be a positive integer"),
    (dict(sizes={"k": 3}), UnknownNameError, r"unknown size 'k'.*has sizes \['n', 'm'\]"),
    (dict(sizes="n=4"), ShapeError, r"check\(sizes=...\): sizes='n=4'; give a mapping"),
    (dict(points=0), CheckError, r"points=0: give an integer ≥ 1"),
    (dict(seed=-1), CheckError, r"seed=-1: give an integer ≥ 0"),
    (dict(derivation="derive(leaky)"), CheckError, r"derivation= takes a symbolic.Derivation"),
    (dict(derivation=_other_cell_derivation), CheckError, r"derivation of cell 'elman', not of 'leaky'"),
]


@pytest.mark.parametrize("options, error, match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_arguments_raise_clear_errors(options, error, match):
    options = {k: v() if callable(v) else v for k, v in options.items()}
    with pytest.raises(error, match=match):
        check("leaky", **options)


@pytest.mark.parametrize("cell, error, match", [
    ("gru_torhc", UnknownNameError, r"unknown cell 'gru_torhc'; did you mean 'gru_torch'"),
    (42, CheckError, r"takes a symbolic.Cell or a catalogue name.*got int 42"),
])
def test_bad_cells_raise_clear_errors(cell, error, match):
    with pytest.raises(error, match=match):
        check(cell)


def test_assert_passed_needs_a_report():
    with pytest.raises(CheckError, match="assert_passed.. takes the Report verify.check returns, got str"):
        assert_passed("PASSED")


def test_an_input_jacobian_is_unknown_for_a_cell_without_inputs():
    cell = Cell("autonomous")
    h = cell.state("h", "n")
    cell.update(h, tanh(cell.parameter("W", ("n", "n")) @ h) + sympy.Rational(1, 2) * h)
    known = r"Known jacobians: jvp, parameter:W, state, vjp"
    with pytest.raises(UnknownNameError, match=rf"unknown jacobian 'input'.*{known}"):
        check(cell, jacobians=("input",))


def test_the_shell_line_of_a_float32_check_runs_as_written(tmp_path):
    """A float32 check runs no float64 oracle: its shell line must say so (``--oracles ''``),
    not end in a bare ``--oracles`` that the command line rejects."""
    import shlex
    import subprocess
    import sys

    report = check("elman", dtype="float32", oracles=(), points=1)
    (line,) = [l for l in report.reproduce.splitlines() if l.strip().startswith("shell:")]
    argv = shlex.split(line.split("shell:", 1)[1])[1:]  # drop the program name
    result = subprocess.run([sys.executable, "-m", "gatejac", *argv, "--json", str(tmp_path / "r.json"),
                             "--latex", str(tmp_path / "d.tex")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "all 7 checks passed" in result.stdout
