"""``gatejac reproduce expansion`` (verify._reproduce_expansion): the paper's appendix check
(Livi 2025, arXiv:2508.12121) run with ``--quick`` (4 seeds at the paper's settings), its
summary, its per-seed files and their reuse after an interruption; the shared machinery of
verify._reproduce and the progress bar of verify._progress."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from reproduce_runs import (assert_bad_options_are_errors, assert_jobs_change_no_number, assert_wrote_every_file,
                            quick_run, run_cli, summary_of)

import gatejac
from gatejac import verify
from gatejac.verify import _figures, _reproduce_expansion
from gatejac.verify._progress import Progress
from gatejac.verify._reproduce import SeedStore, iqr_outliers, quartiles, random_stream
from gatejac.verify._reproduce_expansion import PAPER, QUICK_SEEDS, sinusoidal_inputs, summarise

GATES = ("scalar_gate", "multi_gate")
CONVENTIONS = ("exact", "author")
FIGURES = ("truncation_error.png", "normalised_remainder.png", "gate_norms.png", "ratio_histogram.png")



@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``gatejac reproduce expansion --quick`` run: (exit code, stdout, stderr, directory,
    the figure objects it rendered by file order)."""
    return quick_run(tmp_path_factory.mktemp("expansion"), _figures, "expansion", FIGURES, "--jobs", "2")


@pytest.fixture(scope="module")
def summary(quick):
    return summary_of(quick)


# ---------------------------------------------------------------------- the command
def test_quick_run_exits_0_prints_the_table_and_writes_every_file(quick):
    assert_wrote_every_file(quick, FIGURES)
    _, out, err, directory, _ = quick
    assert sorted(p.name for p in (directory / "seeds").iterdir()) == sorted(
        f"{gate}-{convention}-seed{seed:02d}.json" for gate in GATES for convention in CONVENTIONS
        for seed in range(QUICK_SEEDS))
    header = next(line for line in out.splitlines() if line.startswith("gate "))
    assert "slope median" in header and "max|A+B-J_ad|" in header
    rows = [line.split()[:2] for line in out.splitlines() if line.split()[:1] in (["scalar_gate"], ["multi_gate"])]
    assert rows == [[gate, convention] for gate in GATES for convention in CONVENTIONS]
    assert "8 computed, 0 reused" in out
    progress = [line for line in err.splitlines() if line.startswith("reproduce expansion")]
    assert len(progress) == len(GATES) * QUICK_SEEDS  # not a terminal: one line per finished (gate, seed)
    # two workers finish in either order: every (gate, seed) once, the count reaching the total
    assert progress[-1].startswith(f"reproduce expansion  {len(progress)}/{len(progress)}  ")
    finished = sorted(" ".join(line.split()[3:6]) for line in progress)
    assert finished == sorted(f"{gate} seed {seed}" for gate in GATES for seed in range(QUICK_SEEDS))


def test_two_worker_processes_give_the_numbers_of_one_bit_for_bit(quick):
    assert_jobs_change_no_number(quick, "expansion")


def test_summary_has_the_settings_the_version_and_every_statistic(summary):
    assert summary["gatejac"] == gatejac.__version__
    settings = summary["settings"]
    assert (settings["steps"], settings["state_size"], settings["input_size"]) == (100, 64, 3)
    assert settings["weight_std"] == 0.2 and settings["bias"] is False and settings["dtype"] == "float64"
    assert settings["epsilons"] == [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
    assert settings["seeds"] == QUICK_SEEDS and settings["conventions"] == list(CONVENTIONS)
    assert set(summary["results"]) == set(GATES)
    for gate in GATES:
        assert set(summary["results"][gate]) == set(CONVENTIONS)
        for result in summary["results"][gate].values():
            assert {"median", "q25", "q75", "iqr"} <= set(result["slope"])
            assert {"median", "p90", "p99", "max"} == set(result["r_j"])
            assert 0 < result["r_j"]["median"] <= result["r_j"]["p90"] <= result["r_j"]["p99"] <= result["r_j"]["max"]
            for key in ("C2_plateau", "c2_frobenius", "E_trunc_at_1"):
                assert result[key]["median"] > 0
            assert result["kept"] + len(result["dropped_seeds"]) == QUICK_SEEDS
            assert result["remainder_bound_holds"] is True


def test_slope_medians_are_two_for_both_gates_under_both_conventions(summary):
    for gate in GATES:
        for convention in CONVENTIONS:
            assert 1.95 <= summary["results"][gate][convention]["slope"]["median"] <= 2.05, (gate, convention)


def test_C2_plateau_is_the_norm_of_c2(summary):
    """|C₂(1e-4) − ‖c₂‖_F| ≤ 1e-3 ‖c₂‖_F for every kept seed (the paper's observation: 1.5e-4)."""
    for gate in GATES:
        for convention in CONVENTIONS:
            plateau = summary["results"][gate][convention]["C2_plateau"]
            assert plateau["epsilon"] == 1e-4
            assert plateau["max_relative_gap_to_c2_frobenius"] <= 1e-3, (gate, convention)


def test_exact_A_plus_B_is_the_autograd_jacobian_and_the_authors_is_not(summary):
    """The exact convention's A + B agrees with torch.func.jacrev to round-off: both are
    float64 evaluations of the same derivative of entries of size ≤ max|J| (≈ 2 here), so
    their gap is a few ulps of that, far below the issue's 1e-12.  The author convention's
    gate term reads h_j instead of h_{j−1}: an O(‖B_j‖) error, at least 1e-3."""
    for gate in GATES:
        exact = summary["results"][gate]["exact"]
        author = summary["results"][gate]["author"]
        assert exact["max_abs_error_vs_autograd"] <= 1e-12, gate
        assert author["max_abs_error_vs_autograd"] >= 1e-3, gate


def test_figures_have_the_axes_a_reader_needs(quick):
    figures = quick[4]
    assert set(figures) == set(FIGURES)
    truncation = figures["truncation_error.png"]
    assert len(truncation.axes) == 2  # both conventions side by side
    for axis in truncation.axes:
        assert axis.get_xscale() == axis.get_yscale() == "log"
        assert "varepsilon" in axis.get_xlabel() and "E_{\\mathrm{trunc}}" in axis.get_ylabel()
        assert any("slope 2" in text.get_text() for text in axis.get_legend().get_texts())
    assert [a.get_title().split(":")[0] for a in truncation.axes] == ["exact convention", "author convention"]
    norms = figures["gate_norms.png"]
    assert len(norms.axes) == 8  # 2 gates × 2 conventions, each with its twin axis for r_j
    assert sum("r_j" in a.get_ylabel() for a in norms.axes) == 4
    histogram = figures["ratio_histogram.png"]
    assert all("r_j" in a.get_xlabel() and a.get_ylabel().startswith("count") for a in histogram.axes)
    for figure in figures.values():
        assert figure.get_suptitle() and "T = 100 steps" in figure.get_suptitle()


# ---------------------------------------------------------------------- interruption and reuse
def test_an_interrupted_run_keeps_its_finished_seeds_and_the_rerun_reuses_them(tmp_path, monkeypatch):
    compute = _reproduce_expansion.seed_results
    calls = []

    def interrupted(gate, seed, conventions):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append((gate, seed))
        return compute(gate, seed, conventions)

    monkeypatch.setattr(_reproduce_expansion, "seed_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify.reproduce_expansion(tmp_path / "run", seeds=2, convention="exact", progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "seeds").iterdir()) == [
        "scalar_gate-exact-seed00.json", "scalar_gate-exact-seed01.json"]
    assert not (tmp_path / "run" / "summary.json").exists()

    calls.clear()
    monkeypatch.setattr(_reproduce_expansion, "seed_results", lambda *a: calls.append(a[:2]) or compute(*a))
    with contextlib.redirect_stdout(io.StringIO()):
        resumed = verify.reproduce_expansion(tmp_path / "run", seeds=2, convention="exact", progress=False)
        fresh = verify.reproduce_expansion(tmp_path / "fresh", seeds=2, convention="exact", progress=False)
    assert calls[:2] == [("multi_gate", 0), ("multi_gate", 1)]  # only what the interruption left undone
    assert (resumed.reused, resumed.computed) == (2, 2) and (fresh.reused, fresh.computed) == (0, 4)
    assert resumed.summary == fresh.summary
    assert list(resumed.summary["results"]["scalar_gate"]) == ["exact"]


def test_ctrl_c_on_the_command_line_exits_130_and_says_how_to_resume(tmp_path, monkeypatch):
    def interrupted(gate, seed, conventions):
        raise KeyboardInterrupt

    monkeypatch.setattr(_reproduce_expansion, "seed_results", interrupted)
    code, _, err = run_cli("reproduce", "expansion", "--quick", "--jobs", "1", "--out", str(tmp_path))
    assert code == 130
    assert err.splitlines()[-2:] == [f"gatejac: the finished seeds are kept in {tmp_path / 'seeds'}; run the same "
                                     "command again to resume", "gatejac: interrupted"]


def test_stored_results_at_other_settings_or_unreadable_are_not_reused(tmp_path):
    store = SeedStore(tmp_path, {"steps": 100, "results_format": 1})
    (tmp_path / "seeds").mkdir()
    store.save("multi_gate-exact", 3, {"slope": 2.0})
    assert store.load("multi_gate-exact", 3) == {"slope": 2.0}
    assert SeedStore(tmp_path, {"steps": 100, "results_format": 2}).load("multi_gate-exact", 3) is None
    assert SeedStore(tmp_path, {"steps": 50, "results_format": 1}).load("multi_gate-exact", 3) is None
    store.path("multi_gate-exact", 3).write_text('{"settings": {"steps": 1')  # a truncated file
    assert store.load("multi_gate-exact", 3) is None
    assert store.load("multi_gate-exact", 4) is None


# ---------------------------------------------------------------------- settings and statistics
def test_inputs_are_the_papers_noisy_sinusoids():
    """u_{t,k} = sin(f_k s_t + φ_k) + 0.05 ξ_{t,k}, s_t = linspace(0, 12, 100), f = linspace(0.03,
    0.09, 3), φ then ξ drawn from the seed's "inputs" stream."""
    u = sinusoidal_inputs(PAPER, seed=5)
    assert u.shape == (100, 1, 3)
    stream = random_stream(5, "inputs")
    phases, noise = stream.standard_normal(3), stream.standard_normal((100, 3))
    s = np.linspace(0.0, 12.0, 100)[:, None]
    expected = np.sin(np.array([0.03, 0.06, 0.09]) * s + phases) + 0.05 * noise
    assert np.allclose(u[:, 0], expected, rtol=0, atol=4 * np.finfo(float).eps)
    assert not np.allclose(u, sinusoidal_inputs(PAPER, seed=6))


def test_tukey_rule_drops_the_outlier_and_non_finite_values():
    values = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 10.0, np.nan])
    assert iqr_outliers(values).tolist() == [False] * 5 + [True, True]
    assert not iqr_outliers(np.ones(5)).any()
    assert quartiles([1.0, 2.0, 3.0, np.inf])["median"] == 2.0


def test_a_seed_with_an_outlying_truncation_error_is_dropped_from_the_statistics():
    base = _reproduce_expansion.seed_results("multi_gate", 0, ("exact",))["exact"]
    records = [dict(base, E_trunc_at_1=base["E_trunc_at_1"] * (1 + 0.01 * k)) for k in range(5)]
    records[3] = dict(base, E_trunc_at_1=base["E_trunc_at_1"] * 50, slope=1.0)
    records[1] = dict(base, slope=float("nan"))  # the slope guard failed: not a finite slope
    stats = summarise(records)
    assert stats["dropped_seeds"] == [1, 3] and stats["kept"] == 3
    assert stats["slope"]["median"] == base["slope"]  # the dropped seed's slope 1.0 does not enter


# ---------------------------------------------------------------------- errors
def test_bad_options_are_errors_naming_the_option(tmp_path):
    assert_bad_options_are_errors(tmp_path, "expansion", verify.reproduce_expansion, jobs=True)
    code, _, err = run_cli("reproduce", "nothing")
    assert code == 2 and "invalid choice" in err


# ---------------------------------------------------------------------- progress bar
def test_progress_writes_one_line_per_update_without_a_terminal():
    stream = io.StringIO()
    with Progress(3, "job", stream=stream) as bar:
        bar.skip(1, "a (reused)")
        bar.advance("b")
        bar.advance("c")
    lines = stream.getvalue().splitlines()
    assert [line.split("  (")[0] for line in lines] == ["job  1/3  a (reused)", "job  2/3  b", "job  3/3  c"]
    assert "\r" not in stream.getvalue()


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with Progress(4, "job", stream=stream) as bar:
        bar.advance("one")
        bar.advance("two")
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[##########----------] 2/4  two" in text and "left" in text
    quiet = io.StringIO()
    Progress(2, "job", stream=quiet, enabled=False).advance()
    assert quiet.getvalue() == ""
