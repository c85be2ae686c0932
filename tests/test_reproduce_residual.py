"""``gatejac reproduce residual-lyapunov`` (verify._reproduce_residual): the WCRNN's Lyapunov
spectrum against ln|eig R| (Dubinin & Effenberger 2024, arXiv:2307.14823) run with ``--quick``
(N = 20, T = 2000, 2 seeds); each check of the summary shown to catch a deliberately broken
input."""

from __future__ import annotations


import numpy as np
import pytest
from reproduce_runs import (assert_bad_options_are_errors, assert_wrote_every_file, quick_run_counting_clusters,
                            summary_of)

import gatejac
from gatejac import numeric, verify
from gatejac.verify import _reproduce_residual as residual
from gatejac.verify._sweep_points import Point

FIGURES = ("exponents_vs_residual.png", "deviation_vs_gamma.png", "criticality.png")
CLUSTERS: list = []
"""The local clusters the quick run started."""


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return quick_run_counting_clusters(tmp_path_factory.mktemp("residual"), residual, "residual-lyapunov", FIGURES,
                                       CLUSTERS)


@pytest.fixture(scope="module")
def summary(quick):
    return summary_of(quick)


# ---------------------------------------------------------------------- the command
def test_quick_run_exits_0_prints_the_tables_and_writes_every_file(quick):
    assert_wrote_every_file(quick, FIGURES)
    _, out, err, directory, _ = quick
    assert sorted(p.name for p in (directory / "seeds").iterdir()) == sorted(
        f"{kind}-seed{seed:02d}.json" for kind in residual.KINDS for seed in range(residual.QUICK_SEEDS))
    assert {p.name.split("-")[0] for p in (directory / "sweeps").iterdir()} == {
        "spectrum_deviation", "homogeneous_largest_exponent"}
    assert len(CLUSTERS) == 1  # both grids on one cluster
    assert "gamma=0 error" in out and "LE_max median" in out
    assert "FAILED" not in out and "MISMATCH" not in out
    assert sum(line.startswith("reproduce residual-lyapunov") for line in err.splitlines()) == 6


def test_summary_has_the_settings_the_version_and_every_check_passes(summary):
    assert summary["gatejac"] == gatejac.__version__
    settings = summary["settings"]
    assert (settings["units"], settings["steps"], settings["seeds"]) == (20, 2000, residual.QUICK_SEEDS)
    assert settings["gammas"] == [0.005, 0.01, 0.02, 0.04]
    assert summary["checks"] == {"gamma0_exact": True, "order_gamma": True, "criticality_labels": True}


def test_exponents_at_gamma_0_are_the_log_moduli_to_1e_10(summary):
    """γ = 0: J_t = R, and QR of R Q with these R gives |R_ii| = |λ_i| at every step, so the
    only error is round-off in a sum of T logs (≈ T·ε/T per step ≈ 1e-15), far below 1e-10."""
    for kind in residual.KINDS:
        assert summary["gamma0"][kind]["max_error"] <= 1e-10
        assert summary["gamma0"][kind]["max_finite_time_error"] <= 1e-10


def test_deviation_decreases_as_gamma_halves_with_ratios_between_1_3_and_3(summary):
    for kind in residual.CHECKED_KINDS:
        result = summary["order_gamma"][kind]
        medians = [d["median"] for d in result["deviation"]]
        assert medians == sorted(medians) and medians[0] > 1e-4, kind
        assert all(1.3 <= r <= 3 for r in result["successive_ratios"]), (kind, result["successive_ratios"])


def test_criticality_labels_follow_lambda(summary):
    records = summary["criticality"]
    assert {r["expected"] for r in records} == {"subcritical", "critical", "supercritical"}
    for r in records:
        assert set(r["labels"]) == {r["expected"]}, r
        assert r["resolved"]


def test_figures_have_the_axes_a_reader_needs(quick):
    figures = quick[4]
    scatter = figures["exponents_vs_residual.png"]
    assert [a.get_title().split(":")[0] for a in scatter.axes] == [f"{k} residual" for k in residual.KINDS]
    assert [a.get_title().endswith("|λ_i(R)| equal") for a in scatter.axes] == [True, True, False]
    assert all("LE_i" in a.get_ylabel() and "lambda_i(R)" in a.get_xlabel() for a in scatter.axes)
    deviation = figures["deviation_vs_gamma.png"].axes[0]
    assert deviation.get_xscale() == deviation.get_yscale() == "log"
    assert any("slope 1" in t.get_text() for t in deviation.get_legend().get_texts())
    criticality = figures["criticality.png"]
    assert len(criticality.axes) == 2 and all("LE_{max}" in a.get_ylabel() for a in criticality.axes)


# ---------------------------------------------------------------------- the sweep quantities
def test_the_sweep_quantity_is_round_off_at_gamma_0_and_order_gamma_beyond():
    settings = residual.QUICK.to_dict()
    exact = Point({**settings, "residual_kind": "heterogeneous", "gamma": 0.0}, 1)
    coupled = Point({**settings, "residual_kind": "heterogeneous", "gamma": 0.01}, 1)
    assert residual.spectrum_deviation(exact) <= 1e-10
    assert 1e-4 < residual.spectrum_deviation(coupled) < 0.05


# ---------------------------------------------------------------------- each check catches a broken input
def test_gamma0_error_catches_a_residual_whose_exponents_are_not_its_log_moduli():
    """The comparison is against ln|eig R| of the R that was simulated: swapping in another
    seed's heterogeneous R (other λ_i) must show up as an O(0.1) error."""
    path, _ = residual.trajectory("heterogeneous", 0.0, 0, residual.QUICK)
    exponents = numeric.to_numpy(numeric.lyapunov_spectrum(path, burn_in=200).exponents)
    other = residual.residual_matrix("heterogeneous", residual.QUICK, 1)
    assert np.max(np.abs(exponents - residual.log_moduli(other))) > 1e-3


def test_order_gamma_check_catches_a_flat_or_quadratic_deviation():
    gammas = (0.005, 0.01, 0.02, 0.04)
    linear = np.array(gammas)[:, None] * [0.9, 1.1]
    assert residual.deviation_statistics(linear, gammas)["ratios_in_range"]
    flat = np.full((4, 2), 1e-3)
    assert not residual.deviation_statistics(flat, gammas)["monotone"]
    quadratic = np.array(gammas)[:, None] ** 2 * [1.0, 1.0]
    assert not residual.deviation_statistics(quadratic, gammas)["ratios_in_range"]


def test_criticality_check_catches_a_wrong_label():
    moduli, gammas = (0.9, 1.0, 1.1), (0.01,)
    largest = np.log(np.array(moduli))[:, None, None] * np.ones((3, 1, 2))
    margins = np.full((3, 1, 2), 0.02)
    assert all(r["agree"] for r in residual.criticality_statistics(largest, margins, moduli, gammas))
    shifted = largest + 0.2  # a sub-critical network reported growing
    assert not all(r["agree"] for r in residual.criticality_statistics(shifted, margins, moduli, gammas))


def test_bad_options_are_errors_naming_the_option(tmp_path):
    assert_bad_options_are_errors(tmp_path, "residual-lyapunov", residual.reproduce_residual, convention=False)
    with pytest.raises(verify.ReproduceError, match="seeds=-1"):
        residual.reproduce_residual(tmp_path, seeds=-1)
