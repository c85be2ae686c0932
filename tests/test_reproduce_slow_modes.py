"""``gatejac reproduce slow-modes`` (verify._reproduce_slow_modes): GRU and LSTM Jacobian spectra
against the random-matrix predictions of Can, Krishnamurthy & Schwab 2020 (arXiv:2002.00025),
run with ``--quick`` (N = 200, 2 seeds, a 6 × 5 phase diagram at N = 100); each check of the
summary shown to catch a deliberately broken input."""

from __future__ import annotations


import numpy as np
import pytest
from reproduce_runs import (assert_bad_options_are_errors, assert_wrote_every_file, quick_run_counting_clusters,
                            run_cli, summary_of)

import gatejac
from gatejac.verify import _reproduce_slow_modes as slow
from gatejac.verify import _sweep_cluster

FIGURES = ("spectra_zero_fixed_point.png", "spectra_heterogeneous.png", "spectra_fixed_points.png", "slow_modes.png",
           "phase_diagram.png", "phase_diagram_exponent.png")
CLUSTERS: list = []
"""The local clusters the quick run started (one per sweep engine start)."""


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``gatejac reproduce slow-modes --quick`` run: (exit code, stdout, stderr, directory,
    the figure objects by file name); the local clusters it starts are counted in CLUSTERS."""
    return quick_run_counting_clusters(tmp_path_factory.mktemp("slow-modes"), slow, "slow-modes", FIGURES, CLUSTERS)


@pytest.fixture(scope="module")
def summary(quick):
    return summary_of(quick)


# ---------------------------------------------------------------------- the command
def test_quick_run_exits_0_prints_the_tables_and_writes_every_file(quick):
    assert_wrote_every_file(quick, FIGURES)
    _, out, err, directory, _ = quick
    assert sorted(p.name for p in (directory / "seeds").iterdir()) == sorted(
        f"{part}-seed{seed:02d}.json" for part in slow.PARTS for seed in range(slow.QUICK_SEEDS))
    assert len(list((directory / "sweeps").glob("spectral_radius-*.zarr"))) == 1
    assert len(list((directory / "sweeps").glob("largest_exponent-*.zarr"))) == 1
    assert len(CLUSTERS) == 1  # both phase diagrams on one cluster
    assert "centre meas/pred" in out and "slow-mode fraction" in out and "threshold r*sigma_h = 1" in out
    assert "FAILED" not in out
    progress = [line for line in err.splitlines() if line.startswith("reproduce slow-modes")]
    assert len(progress) == len(slow.PARTS) * slow.QUICK_SEEDS
    assert any(line.startswith("sweep spectral_radius") for line in err.splitlines())
    assert any(line.startswith("sweep largest_exponent") for line in err.splitlines())
    assert "largest exponent (ln per step)" in out


def test_summary_has_the_settings_the_version_and_every_check_passes(summary):
    assert summary["gatejac"] == gatejac.__version__
    assert summary["settings"]["units"] == 200 and summary["settings"]["seeds"] == slow.QUICK_SEEDS
    assert summary["settings"]["quick"] is True and "N = 200" in summary["sizes"]
    assert summary["checks"] == {"disk_centres": True, "disk_radii": True, "slow_fraction_is_closed_fraction": True,
                                 "fixed_points_independent_of_update_gate": True, "threshold": True,
                                 "exponent_below_threshold": True}


def test_disk_centres_and_radii_are_the_predictions(summary):
    """Centre 1 − z̄ within 0.01 (every seed) and radius z̄ r̄ σ (GRUs) or ō ī σ (LSTM) within
    10 % at N = 200 (median seed; the worst within the Ginibre edge's expected overshoot
    √(ln(N/2π)/4N) ≈ 6.6 % plus three Gumbel scales 3/√(4N ln(N/2π)) ≈ 5.7 %: 12 %); the
    predictions themselves recomputed here from the biases."""
    sigma = summary["settings"]["sigma"]
    assert len(summary["disks"]) == 9
    for row in summary["disks"]:
        z = 1 / (1 + np.exp(-row["value"] * slow.GATES[row["cell"]][1]))  # the Chung-form update gate
        radius = 0.25 * sigma if row["cell"] == "lstm_torch" else z * 0.5 * sigma
        assert row["predicted_centre"] == pytest.approx(1 - z, abs=1e-12)
        assert row["predicted_radius"] == pytest.approx(radius, rel=1e-12)
        assert row["max_centre_error"] <= 0.01, row
        assert row["median_relative_radius_error"] <= 0.10, row
        assert row["max_relative_radius_error"] <= 0.12, row


def test_slow_mode_fraction_is_the_closed_gate_fraction(summary):
    closed = [row["closed_fraction"]["median"] for row in summary["heterogeneous"]]
    assert closed == sorted(closed) and closed[-1] > 0.4  # lower update biases close more gates
    for row in summary["heterogeneous"]:
        assert row["median_gap"] <= 0.03, row
        assert abs(row["rightmost_real"]["median"] - row["predicted_rightmost_real"]["median"]) <= 0.01


def test_found_fixed_points_do_not_move_with_the_update_gate_and_the_threshold_holds(summary):
    assert summary["fixed_points"]["max_point_residual"] <= 1e-10
    threshold = summary["threshold"]
    assert threshold["stable_below"] == threshold["points_below"] > 0
    assert threshold["unstable_above"] == threshold["points_above"] > 0


def test_largest_exponent_is_log_radius_below_the_threshold_and_not_negative_beyond(summary):
    """Below r̄σ_h = 0.9 every trajectory contracts (λ_max < 0) at the rate of the zero fixed
    point, ln ρ(J₀); beyond 1.1 the zero fixed point is unstable and no trajectory contracts
    at a comparable rate (λ_max ≥ −0.1, where ln ρ(J₀) below is ≤ ln 0.95 ≈ −0.05 and mostly far
    lower)."""
    exponent, phase = summary["exponent"], summary["phase_diagram"]
    assert exponent["contracting_below"] == exponent["points_below"] > 0
    assert exponent["max_gap_to_log_radius_below"] <= slow.EXPONENT_TOLERANCE
    assert exponent["points_above"] > 0 and exponent["min_above"] >= -0.1
    assert np.shape(phase["largest_exponent_median"]) == (len(phase["sigma_h"]), len(phase["b_r"]))
    assert np.shape(phase["spectral_radius_median"]) == np.shape(phase["largest_exponent_median"])


def test_figures_have_the_axes_a_reader_needs(quick):
    figures = quick[4]
    assert set(figures) == set(FIGURES)
    disks = figures["spectra_zero_fixed_point.png"]
    assert len(disks.axes) == 9
    assert all(a.get_xlabel() == r"Re $\lambda$" and a.get_ylabel() == r"Im $\lambda$" for a in disks.axes)
    assert [a.get_title().split(",")[0] for a in disks.axes[::3]] == ["gru_chung", "gru_torch", "lstm_torch"]
    slow_axis = figures["slow_modes.png"].axes[0]
    assert "z_i < 0.05" in slow_axis.get_xlabel() and "|\\lambda - 1| < 0.05" in slow_axis.get_ylabel()
    phase = figures["phase_diagram.png"]
    assert "sigma_h" in phase.axes[0].get_xlabel() and "b_r" in phase.axes[0].get_ylabel()
    assert "rho(J_0)" in phase.axes[1].get_ylabel()  # the colour bar
    exponent = figures["phase_diagram_exponent.png"]
    assert "sigma_h" in exponent.axes[0].get_xlabel() and "b_r" in exponent.axes[0].get_ylabel()
    assert "natural log per step" in exponent.axes[1].get_ylabel()
    assert any("threshold" in text.get_text() for text in exponent.axes[0].get_legend().get_texts())


# ---------------------------------------------------------------------- resume
def test_a_rerun_reuses_every_seed_and_sweep_point(quick, summary, monkeypatch):
    monkeypatch.setattr(_sweep_cluster, "_local_cluster", lambda *a: pytest.fail("a cluster for stored points"))
    code, out, err = run_cli("reproduce", "slow-modes", "--quick", "--out", str(quick[3]))
    assert code == 0, err
    assert "0 computed, 6 reused" in out
    assert any("stored in" in line for line in err.splitlines() if line.startswith("sweep spectral_radius"))
    again = summary_of(quick)
    assert (again["disks"], again["threshold"]) == (summary["disks"], summary["threshold"])


# ---------------------------------------------------------------------- each check catches a broken input
def _disk_records(shift: float = 0.0, scale: float = 1.0):
    settings = slow.QUICK
    records = [slow.disk_case("gru_chung", b, 0, settings) for b in settings.update_biases]
    for r in records:
        radius = r["radius"] * scale
        r.update(centre=r["centre"] + shift, radius=radius, radius_error=radius / r["predicted_radius"] - 1)
    return records + [dict(r, cell=name) for name in ("gru_torch", "lstm_torch") for r in records]


def test_disk_check_catches_a_moved_centre_and_a_wrong_radius():
    good = slow.disk_statistics(_disk_records(), slow.QUICK)
    assert all(row["centre_ok"] and row["radius_ok"] for row in good)
    assert not any(row["centre_ok"] for row in slow.disk_statistics(_disk_records(shift=0.02), slow.QUICK))
    assert not any(row["radius_ok"] for row in slow.disk_statistics(_disk_records(scale=1.2), slow.QUICK))


def test_slow_fraction_check_catches_a_gap():
    record = slow.heterogeneous_case(-1.0, 0, slow.QUICK)
    assert slow.slow_statistics([record], "mean", [-1.0], 0.03)[0]["slow_ok"]
    broken = dict(record, slow_fraction=record["predicted_slow_fraction"] + 0.05)
    assert not slow.slow_statistics([broken], "mean", [-1.0], 0.03)[0]["slow_ok"]


def test_threshold_check_catches_a_stable_point_beyond_the_threshold():
    settings = slow.QUICK
    product = np.asarray(settings.phase_sigmas)[:, None] * slow.sigmoid(settings.phase_biases)[None, :]
    radii = (0.5 + 0.5 * product)[..., None]  # the prediction itself, one seed
    assert slow.threshold_statistics(radii, settings)["threshold_ok"]
    broken = radii.copy()
    broken[product >= 1.1] = 0.99
    assert not slow.threshold_statistics(broken, settings)["threshold_ok"]


def test_exponent_check_catches_growth_below_the_threshold_and_a_wrong_rate():
    settings = slow.QUICK
    product = np.asarray(settings.phase_sigmas)[:, None] * slow.sigmoid(settings.phase_biases)[None, :]
    radii = (0.5 + 0.5 * product)[..., None]
    exponents = np.log(radii)  # the stable zero fixed point's rate, exactly
    assert slow.exponent_statistics(exponents, radii, settings)["exponent_ok"]
    below = product <= 0.9
    growing = exponents.copy()
    growing[below] = 0.01  # a trajectory below the threshold that does not contract
    assert not slow.exponent_statistics(growing, radii, settings)["exponent_ok"]
    halved = np.where(below[..., None], exponents / 2, exponents)  # contracting, at the wrong rate
    assert not slow.exponent_statistics(halved, radii, settings)["exponent_ok"]


def test_bad_options_are_errors_naming_the_option(tmp_path):
    assert_bad_options_are_errors(tmp_path, "slow-modes", slow.reproduce_slow_modes, convention=False)
