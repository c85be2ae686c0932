"""``gatejac reproduce slow-modes``: Jacobian spectra of randomly initialised GRUs and LSTMs
against the random-matrix predictions — slow modes from the update / forget gate, the spectral
radius set by the reset gate and σ_h (Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025;
Krishnamurthy, Can & Schwab 2022, PRX 12, 011011; Ahmadian, Fumarola & Miller 2015).

Weights are i.i.d. N(0, 1/N) (``numeric.initialise(scheme="gaussian")``, zero biases) with the
recurrent candidate weight scaled to σ; no input (x = 0); float64.  Four parts:

1. **Zero fixed point, uniform gates** — for the Chung GRU (update-gate bias b_z), torch's GRU
   (b_hz = −b_z: its z is retention) and torch's LSTM (forget bias b_hf = −b_z) at N = 400,
   σ = 1.5, b_z ∈ {2, 0, −2}, zero reset / input / output biases, the eigenvalues of J at
   h = 0 (c = 0) against ``numeric.zero_fixed_point_disk``: centre 1 − z̄ (z̄ = sigmoid(b_z)),
   radius z̄ r̄ σ for both GRUs and ō ī σ for the LSTM (whose other N eigenvalues are exact
   zeros, set aside).  Measured: the centre as the mean eigenvalue, the radius as
   max|λ − centre|.  Checked: |centre − 1 + z̄| ≤ 0.01 for every seed, and the radius within
   6 % (10 % at the quick size N = 200) for the median seed.  The worst seed is reported, not
   checked: the largest |μ| of an N×N Ginibre matrix (normalised to the unit disk) overshoots
   1 by about √(ln(N/2π)/4N) ≈ 5 % at N = 400 with Gumbel fluctuations of about
   1/√(4N ln(N/2π)) ≈ 1.2 % (Rider 2003), so single draws beyond 6 % are expected.
2. **Zero fixed point, heterogeneous gates** — the Chung GRU with per-unit biases b_z,i ~
   N(μ, 2²), b_r,i ~ N(0.5, 1), σ_h = 1.2, μ ∈ {1, 0, −1, −2, −3}: J = diag(1 − z) +
   diag(z) W_h diag(r) exactly at h = 0, against ``numeric.heterogeneous_support``.  Checked:
   the fraction of eigenvalues with |λ − 1| < 0.05 within 0.02 of the fraction of units with
   z_i < 0.05 (each closed gate leaves an eigenvalue 1 − z_i ≈ 1) for the median seed; 0.03
   at the quick size N = 200, where one eigenvalue is 0.005.  The worst seed is reported:
   units with z_i just above 0.05 couple weakly and can leave eigenvalues inside the window.  Reported: the rightmost
   real eigenvalue against the support's rightmost real point.
3. **Found fixed points** — the Chung GRU beyond the threshold (σ_h = 3, r̄ = 1/2, so
   r̄σ_h = 1.5) with W_r = 0 (so r ≡ r̄): fixed points by damped Newton from 16 starts
   h ~ N(0, 0.1²) at b_z = 0 (``numeric.fixed_points``).  At a fixed point n* = h*, so the
   W_z term of J vanishes and J* = diag(1 − z*) + diag(z* ⊙ (1 − h*²)) W_h r̄ is the
   support's form exactly.  Checked: the first nonzero point found is a fixed point at every
   b_z (max|F(h*) − h*| ≤ 1e-10: the fixed points do not depend on the update gate), where
   its spectrum is taken.  Reported:
   the largest real part of the eigenvalues against the support's rightmost real point (W_h
   and h* are correlated here, which the prediction ignores) and the slow fractions.
4. **Phase diagram** — ρ(J₀), the spectral radius at the zero fixed point (z̄ = 1/2), over
   σ_h × b_r through the sweep engine (quantity ``spectral_radius``, N = 200).  Predicted
   ρ(J₀) = 1 − z̄ + z̄ r̄ σ_h, above 1 exactly when r̄σ_h > 1.  Checked: ρ < 1 at every point with
   r̄σ_h ≤ 0.9 and ρ > 1 at every point with r̄σ_h ≥ 1.1 (all seeds).
5. **Phase diagram of the largest Lyapunov exponent** — λ_max of the autonomous trajectory
   from h₀ ~ N(0, 0.5²) (T = 500 steps, the first 100 left out; natural log per step), over
   the same grid and seeds through the sweep engine (quantity ``largest_exponent``).  Below
   the threshold the trajectory falls into the stable zero fixed point, where the exponent
   of the linearised map is ln ρ(J₀).  Checked: λ_max < 0 at every point with r̄σ_h ≤ 0.9,
   within :data:`EXPONENT_TOLERANCE` of ln ρ(J₀) of the same network (the frame's alignment
   over a finite T, slow where several eigenvalues share the disk's edge, is the gap).
   Reported beyond r̄σ_h ≥ 1.1, where the zero fixed point is unstable: the range of λ_max
   (≈ 0 where the trajectory settles on a marginal attractor, > 0 where it is chaotic, the
   fraction above :data:`CHAOS_LEVEL`).

Sizes: N = 400 for the spectra (the circular law's edge within about 6 % there; an N×N
eigen-decomposition takes a fraction of a second, the LSTM's 2N×2N one about a second) and
N = 200 for the two 156-point phase diagrams; the default (6 seeds) costs about 200 CPU-seconds
(11 min wall at load 11–14 on a shared two-core machine, about four minutes before the exponent
diagram when it was less loaded), most of it the LSTM's 2N×2N eigen-decompositions and the 936
exponents (about 0.12 CPU-s each).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gatejac import numeric
from gatejac.symbolic import cells

from . import _figures_dynamics as figures
from ._figures import png
from ._reproduce import (DEFAULT_ROOT, Reproduction, ReproductionSettings, SeedStore, aligned_table, prepare_directory,
                         quartiles, random_stream, run_seeds, seed_count, summary_header, write_file, write_summary)
from ._reproduce_dynamics import run_grid
from ._sweep_cluster import SharedCluster

NAME = "slow-modes"
DEFAULT_OUT = DEFAULT_ROOT / NAME
DEFAULT_SEEDS = 6
QUICK_SEEDS = 2
RESULTS_FORMAT = 1
CENTRE_TOLERANCE = 0.01
FIXED_POINT_TOLERANCE = 1e-10
EXPONENT_TOLERANCE = 0.03
"""|λ_max − ln ρ(J₀)| allowed below the threshold (natural log per step): measured up to 0.015
at T = 500 (burn-in 100) where several eigenvalues of J₀ have nearly the largest modulus."""
CHAOS_LEVEL = 0.01
"""λ_max above this (natural log per step) is reported as chaotic."""

GATES = {
    "gru_chung": ("b_z", 1.0, "W_h"),
    "gru_torch": ("b_hz", -1.0, "W_hn"),
    "lstm_torch": ("b_hf", -1.0, "W_hg"),
}
"""Per cell: the bias that moves the disk, its sign relative to the Chung GRU's b_z (torch's z
and the LSTM's f retain, so b = −b_z gives the same centre), and the recurrent weight scaled to σ."""
PARTS = ("disks", "heterogeneous", "fixed_points")


@dataclass(frozen=True)
class SlowModeSettings(ReproductionSettings):
    """The settings of the reproduction (module docstring)."""

    fixed = {"weights": "gaussian N(0, 1/N), recurrent candidate weight times sigma", "input": 0.0, "dtype": "float64"}
    results_format = RESULTS_FORMAT

    units: int = 400
    sigma: float = 1.5
    update_biases: tuple[float, ...] = (2.0, 0.0, -2.0)
    reset_bias: float = 0.0
    radius_tolerance: float = 0.06
    heterogeneous_sigma: float = 1.2
    update_bias_means: tuple[float, ...] = (1.0, 0.0, -1.0, -2.0, -3.0)
    update_bias_spread: float = 2.0
    reset_bias_mean: float = 0.5
    reset_bias_spread: float = 1.0
    slow_width: float = 0.05
    slow_tolerance: float = 0.02
    fixed_point_sigma: float = 3.0
    fixed_point_starts: int = 16
    start_scale: float = 0.1
    phase_units: int = 200
    phase_sigmas: tuple[float, ...] = tuple(np.round(np.linspace(0.25, 3.0, 12), 4).tolist())
    phase_biases: tuple[float, ...] = tuple(np.linspace(-3.0, 3.0, 13).tolist())
    threshold_margin: float = 0.1
    exponent_steps: int = 500
    exponent_burn_in: int = 100


DEFAULT = SlowModeSettings()
QUICK = replace(DEFAULT, units=200, radius_tolerance=0.10, slow_tolerance=0.03, phase_units=100,
                phase_sigmas=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0), phase_biases=(-2.0, -1.0, 0.0, 1.0, 2.0))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _zero(cell, n: int) -> tuple[dict, dict]:
    return {s.name: np.zeros(n) for s in cell.states}, {"x": np.zeros(1)}


def _complex_lists(values) -> list:
    values = np.asarray(values)
    return [np.round(values.real, 10).tolist(), np.round(values.imag, 10).tolist()]


# ---------------------------------------------------------------------- part 1: disks
def disk_case(name: str, update_bias: float, seed: int, settings: SlowModeSettings) -> dict:
    """One cell at one update bias: the zero-fixed-point spectrum against its disk."""
    cell = cells.get(name)
    bias, sign, weight = GATES[name]
    n = settings.units
    overrides = {bias: np.full(n, sign * update_bias)}
    if name != "lstm_torch":
        overrides["b_r" if name == "gru_chung" else "b_hr"] = np.full(n, settings.reset_bias)
    params = numeric.initialise(cell, {"n": n, "m": 1}, scheme="gaussian", seed=seed, overrides=overrides)
    params[weight] = params[weight] * settings.sigma
    compiled = numeric.compile(cell)
    disk = numeric.zero_fixed_point_disk(compiled, params, sigma=settings.sigma)
    values = numeric.jacobian_eigenvalues(compiled, *_zero(cell, n), params)
    values = values[: values.size - disk.zeros]  # sorted by decreasing modulus: the exact zeros are last
    centre = complex(np.mean(values))
    radius = float(np.max(np.abs(values - disk.centre)))
    return {"cell": name, "parameter": bias, "value": sign * update_bias + 0.0, "update_bias": update_bias,
            "centre": centre.real, "centre_imag": centre.imag, "predicted_centre": disk.centre,
            "radius": radius, "predicted_radius": disk.radius, "radius_error": radius / disk.radius - 1,
            "spectral_radius": float(np.max(np.abs(values))),
            "predicted_spectral_radius": abs(disk.centre) + disk.radius,
            "exact_zeros": disk.zeros, "eigenvalues": _complex_lists(values)}


# ---------------------------------------------------------------------- part 2: heterogeneous gates
def heterogeneous_case(mean: float, seed: int, settings: SlowModeSettings) -> dict:
    """The Chung GRU at h = 0 with per-unit gate biases of mean ``mean``: the spectrum against
    the support, the slow fraction against the closed-gate fraction."""
    cell = cells.get("gru_chung")
    n = settings.units
    stream = random_stream(seed, f"gate biases {mean:g}")
    overrides = {"b_z": stream.normal(mean, settings.update_bias_spread, n),
                 "b_r": stream.normal(settings.reset_bias_mean, settings.reset_bias_spread, n)}
    params = numeric.initialise(cell, {"n": n, "m": 1}, scheme="gaussian", seed=seed, overrides=overrides)
    params["W_h"] = params["W_h"] * settings.heterogeneous_sigma
    compiled = numeric.compile(cell)
    states, inputs = _zero(cell, n)
    return _support_record(compiled, states, inputs, params, settings.heterogeneous_sigma, settings.slow_width,
                           mean=mean, closed=float(np.mean(sigmoid(overrides["b_z"]) < settings.slow_width)))


def _support_record(compiled, states, inputs, params, sigma, width, **extra) -> dict:
    values = numeric.jacobian_eigenvalues(compiled, states, inputs, params)
    support = numeric.heterogeneous_support(compiled, states, inputs, params, sigma=sigma)
    return {**extra, "slow_fraction": float(numeric.fraction_near(values, 1.0, width)),
            "predicted_slow_fraction": support.slow_fraction(width),
            "rightmost_real": float(np.max(values.real)), "predicted_rightmost_real": support.rightmost_real(),
            "eigenvalues": _complex_lists(values), "support_boundary": _complex_lists(support.boundary(128))}


# ---------------------------------------------------------------------- part 3: found fixed points
def fixed_point_cases(seed: int, settings: SlowModeSettings) -> list[dict]:
    """Fixed points found by Newton at b_z = 0, then per update bias: whether the first
    nonzero one is still a fixed point there (G1), and its spectrum against the support."""
    cell = cells.get("gru_chung")
    compiled = numeric.compile(cell)
    n = settings.units
    _, inputs = _zero(cell, n)

    def parameters(update_bias):
        params = numeric.initialise(cell, {"n": n, "m": 1}, scheme="gaussian", seed=seed,
                                    overrides={"b_z": np.full(n, update_bias), "W_r": np.zeros((n, n))})
        params["W_h"] = params["W_h"] * settings.fixed_point_sigma
        return params

    starts = settings.start_scale * random_stream(seed, "fixed point starts").standard_normal(
        (settings.fixed_point_starts, n))
    search = numeric.fixed_points(compiled, {"h": starts}, inputs, parameters(0.0), max_iterations=200)
    points = search.unique()
    nonzero = [points.states["h"][k] for k in range(len(points)) if np.max(np.abs(points.states["h"][k])) > 1e-6]
    found = {"converged_starts": int(search.converged.sum()), "distinct_points": len(points),
             "nonzero_points": len(nonzero)}
    if not nonzero:
        return [{"update_bias": b, **found} for b in settings.update_biases]
    point = {"h": nonzero[0]}
    records = []
    for update_bias in settings.update_biases:
        params = parameters(update_bias)
        moved = compiled.step(point, inputs, params)["h"] - point["h"]
        records.append({"update_bias": update_bias, **found, "point_residual": float(np.max(np.abs(moved))),
                        **_support_record(compiled, point, inputs, params, settings.fixed_point_sigma,
                                          settings.slow_width, state_max=float(np.max(np.abs(point["h"]))))})
    return records


# ---------------------------------------------------------------------- per seed
def seed_result(part: str, seed: int, settings: SlowModeSettings) -> list[dict]:
    """The records of one part at one seed (the per-seed file's content)."""
    if part == "disks":
        return [disk_case(name, b, seed, settings) for name in GATES for b in settings.update_biases]
    if part == "heterogeneous":
        return [heterogeneous_case(mean, seed, settings) for mean in settings.update_bias_means]
    return fixed_point_cases(seed, settings)


# ---------------------------------------------------------------------- checks
def disk_statistics(records: list[dict], settings: SlowModeSettings) -> list[dict]:
    """Per (cell, bias) over seeds: measured and predicted centre and radius, worst errors, checks."""
    rows = []
    for name in GATES:
        for update_bias in settings.update_biases:
            chosen = [r for r in records if r["cell"] == name and r["update_bias"] == update_bias]
            first = chosen[0]
            centre_error = max(abs(r["centre"] - r["predicted_centre"]) for r in chosen)
            radius_errors = [abs(r["radius_error"]) for r in chosen]
            rows.append({"cell": name, "parameter": first["parameter"], "value": first["value"],
                         "centre": quartiles([r["centre"] for r in chosen]),
                         "predicted_centre": first["predicted_centre"],
                         "radius": quartiles([r["radius"] for r in chosen]),
                         "predicted_radius": first["predicted_radius"],
                         "max_centre_error": centre_error,
                         "median_relative_radius_error": float(np.median(radius_errors)),
                         "max_relative_radius_error": max(radius_errors),
                         "centre_ok": centre_error <= CENTRE_TOLERANCE,
                         "radius_ok": float(np.median(radius_errors)) <= settings.radius_tolerance})
    return rows


def slow_statistics(records: list[dict], key: str, values, tolerance: float) -> list[dict]:
    """Per value of ``key`` over seeds: slow fraction against the closed-gate (predicted) fraction."""
    rows = []
    for value in values:
        chosen = [r for r in records if r[key] == value and "slow_fraction" in r]
        if not chosen:
            continue
        gaps = [abs(r["slow_fraction"] - r["predicted_slow_fraction"]) for r in chosen]
        rows.append({key: value, "slow_fraction": quartiles([r["slow_fraction"] for r in chosen]),
                     "closed_fraction": quartiles([r["predicted_slow_fraction"] for r in chosen]),
                     "median_gap": float(np.median(gaps)), "max_gap": max(gaps),
                     "slow_ok": float(np.median(gaps)) <= tolerance,
                     "rightmost_real": quartiles([r["rightmost_real"] for r in chosen]),
                     "predicted_rightmost_real": quartiles([r["predicted_rightmost_real"] for r in chosen]),
                     "max_rightmost_gap": max(abs(r["rightmost_real"] - r["predicted_rightmost_real"])
                                              for r in chosen)})
    return rows


def threshold_statistics(radii: np.ndarray, settings: SlowModeSettings) -> dict:
    """ρ(J₀) on the σ_h × b_r grid (``radii`` ``(σ, b, seeds)``) against r̄σ_h = 1."""
    product = np.asarray(settings.phase_sigmas)[:, None] * sigmoid(settings.phase_biases)[None, :]
    below, above = _threshold_sides(settings)
    wrong_below = int(np.sum(radii[below] >= 1))
    wrong_above = int(np.sum(radii[above] <= 1))
    return {"points_below": int(below.sum() * radii.shape[-1]), "points_above": int(above.sum() * radii.shape[-1]),
            "stable_below": int(np.sum(radii[below] < 1)), "unstable_above": int(np.sum(radii[above] > 1)),
            "threshold_ok": wrong_below == 0 and wrong_above == 0, "margin": settings.threshold_margin,
            "max_abs_error_vs_prediction": float(np.max(np.abs(np.median(radii, axis=-1) - (0.5 + 0.5 * product))))}


def _threshold_sides(settings: SlowModeSettings) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the grid ``(σ, b)``: r̄σ_h ≤ 1 − margin (below) and ≥ 1 + margin (above)."""
    product = np.asarray(settings.phase_sigmas)[:, None] * sigmoid(settings.phase_biases)[None, :]
    return product <= 1 - settings.threshold_margin, product >= 1 + settings.threshold_margin


def exponent_statistics(exponents: np.ndarray, radii: np.ndarray, settings: SlowModeSettings) -> dict:
    """λ_max on the σ_h × b_r grid (``exponents`` ``(σ, b, seeds)``) against ln ρ(J₀) of the same
    networks (``radii``) below the threshold, and its range beyond."""
    below, above = _threshold_sides(settings)
    gaps = np.abs(exponents[below] - np.log(radii[below]))
    beyond = exponents[above]
    return {"points_below": int(below.sum() * exponents.shape[-1]),
            "contracting_below": int(np.sum(exponents[below] < 0)),
            "max_gap_to_log_radius_below": float(np.max(gaps)), "median_gap_to_log_radius_below": float(np.median(gaps)),
            "exponent_ok": bool(np.all(exponents[below] < 0)) and float(np.max(gaps)) <= EXPONENT_TOLERANCE,
            "tolerance": EXPONENT_TOLERANCE, "points_above": int(above.sum() * exponents.shape[-1]),
            "above": quartiles(beyond.tolist()), "min_above": float(np.min(beyond)), "max_above": float(np.max(beyond)),
            "chaotic_fraction_above": float(np.mean(beyond > CHAOS_LEVEL)), "chaos_level": CHAOS_LEVEL,
            "units": "natural log per step"}


# ---------------------------------------------------------------------- the run
_FIGURES = ("spectra_zero_fixed_point.png", "spectra_heterogeneous.png", "spectra_fixed_points.png",
            "slow_modes.png", "phase_diagram.png", "phase_diagram_exponent.png")


def reproduce_slow_modes(out=DEFAULT_OUT, *, seeds: int | None = None, quick: bool = False,
                         progress: bool = True) -> Reproduction:
    """Run the slow-mode reproduction (module docstring) and write to ``out``: ``summary.json``,
    six PNG figures, one JSON per (part, seed) under ``out/seeds`` and the phase diagrams' zarr
    stores under ``out/sweeps`` (both reused by a re-run at the same settings).  ``seeds``
    defaults to 6 (2 with ``quick=True``, which also halves N)."""
    began = time.perf_counter()
    settings = QUICK if quick else DEFAULT
    seeds = seed_count(seeds, quick, DEFAULT_SEEDS, QUICK_SEEDS)
    directory = prepare_directory(out, _FIGURES)
    results, reused, computed = run_seeds(SeedStore(directory, settings.to_dict()), PARTS, seeds,
                                          lambda part, seed: {"records": seed_result(part, seed, settings)},
                                          label=f"reproduce {NAME} spectra", progress=progress)
    per_part = {part: [[{**r, "seed": seed} for r in stored["records"]] for seed, stored in enumerate(results[part])]
                for part in PARTS}
    grid = {"gain_W_h": settings.phase_sigmas, "b_r": settings.phase_biases}
    with SharedCluster() as cluster:  # one cluster for both grids, started only if a point is left
        radii = run_grid(directory, "spectral_radius", grid, seeds, {"cell": "gru_chung", "n": settings.phase_units},
                         progress=progress, cluster=cluster)
        exponents = run_grid(directory, "largest_exponent", grid, seeds,
                             {"cell": "gru_chung", "n": settings.phase_units, "steps": settings.exponent_steps,
                              "burn_in": settings.exponent_burn_in}, progress=progress, cluster=cluster)
    flat = {part: [r for records in per_part[part] for r in records] for part in PARTS}
    disks = disk_statistics(flat["disks"], settings)
    heterogeneous = slow_statistics(flat["heterogeneous"], "mean", settings.update_bias_means, settings.slow_tolerance)
    found = slow_statistics(flat["fixed_points"], "update_bias", settings.update_biases, settings.slow_tolerance)
    residuals = [r["point_residual"] for r in flat["fixed_points"] if "point_residual" in r]
    threshold = threshold_statistics(radii, settings)
    exponent = exponent_statistics(exponents, radii, settings)
    checks = {
        "disk_centres": all(row["centre_ok"] for row in disks),
        "disk_radii": all(row["radius_ok"] for row in disks),
        "slow_fraction_is_closed_fraction": all(row["slow_ok"] for row in heterogeneous),
        "fixed_points_independent_of_update_gate": bool(residuals) and max(residuals) <= FIXED_POINT_TOLERANCE,
        "threshold": threshold["threshold_ok"],
        "exponent_below_threshold": exponent["exponent_ok"],
    }
    summary = {
        **summary_header(NAME, "Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025 (gating, slow modes, spectral radius)"),
        "settings": {**settings.to_dict(), "seeds": seeds, "quick": quick},
        "sizes": f"N = {settings.units} for the spectra (the circular law's edge is within about "
                 f"{settings.radius_tolerance:.0%} there for the median seed), N = {settings.phase_units} for the "
                 f"phase diagrams' {len(settings.phase_sigmas) * len(settings.phase_biases)} grid points: the "
                 "default costs about 200 CPU-seconds (11 min wall at load 11-14 on a shared two-core machine)",
        "checks": checks,
        "tolerances": {"centre": CENTRE_TOLERANCE, "relative_radius (median seed)": settings.radius_tolerance,
                       "slow_fraction (median seed)": settings.slow_tolerance,
                       "fixed_point_residual": FIXED_POINT_TOLERANCE, "threshold_margin": settings.threshold_margin,
                       "exponent_vs_log_radius": EXPONENT_TOLERANCE},
        "disks": disks,
        "heterogeneous": heterogeneous,
        "fixed_points": {"cases": found, "max_point_residual": max(residuals) if residuals else None,
                         "counts": [{k: r[k] for k in ("seed", "update_bias", "converged_starts", "distinct_points",
                                                         "nonzero_points")} for r in flat["fixed_points"]]},
        "threshold": threshold,
        "exponent": exponent,
        "phase_diagram": {"sigma_h": list(settings.phase_sigmas), "b_r": list(settings.phase_biases),
                          "spectral_radius_median": np.round(np.median(radii, axis=-1), 6).tolist(),
                          "largest_exponent_median": np.round(np.median(exponents, axis=-1), 6).tolist()},
        "figures": list(_FIGURES),
    }
    files = [write_summary(directory, summary)]
    files += _write_figures(directory, flat, radii, exponents, settings, seeds)
    table = slow_modes_table(disks, heterogeneous, found, threshold, exponent)
    return Reproduction(NAME, directory, summary, tuple(files), table, reused, computed, time.perf_counter() - began)


def slow_modes_table(disks: list[dict], heterogeneous: list[dict], found: list[dict], threshold: dict,
                     exponent: dict) -> str:
    """The disks (centre and radius, measured/predicted), the slow fractions, the threshold,
    the largest exponent on both sides of it."""
    header = ["cell", "bias", "centre meas/pred", "max centre err", "radius meas/pred", "radius err median/worst",
              "check"]
    rows = [[d["cell"], f"{d['parameter']}={d['value']:+g}", f"{d['centre']['median']:.4f}/{d['predicted_centre']:.4f}",
             f"{d['max_centre_error']:.4f}", f"{d['radius']['median']:.4f}/{d['predicted_radius']:.4f}",
             f"{d['median_relative_radius_error']:.1%}/{d['max_relative_radius_error']:.1%}",
             "ok" if d["centre_ok"] and d["radius_ok"] else "FAILED"] for d in disks]
    parts = [aligned_table(header, rows)]
    header = ["gates", "closed-gate fraction", "slow-mode fraction", "gap median/worst", "rightmost Re meas/pred",
              "check"]
    rows = [[f"heterogeneous, mean b_z={h['mean']:+g}", f"{h['closed_fraction']['median']:.4f}",
             f"{h['slow_fraction']['median']:.4f}", f"{h['median_gap']:.4f}/{h['max_gap']:.4f}",
             f"{h['rightmost_real']['median']:.4f}/{h['predicted_rightmost_real']['median']:.4f}",
             "ok" if h["slow_ok"] else "FAILED"] for h in heterogeneous]
    rows += [[f"fixed point, b_z={f['update_bias']:+g}", f"{f['closed_fraction']['median']:.4f}",
              f"{f['slow_fraction']['median']:.4f}", f"{f['median_gap']:.4f}/{f['max_gap']:.4f}",
              f"{f['rightmost_real']['median']:.4f}/{f['predicted_rightmost_real']['median']:.4f}", "reported"]
             for f in found]
    parts.append(aligned_table(header, rows))
    parts.append(f"threshold r*sigma_h = 1: {threshold['stable_below']}/{threshold['points_below']} grid points "
                 f"stable below {1 - threshold['margin']:g}, {threshold['unstable_above']}/{threshold['points_above']} "
                 f"unstable above {1 + threshold['margin']:g} ({'ok' if threshold['threshold_ok'] else 'FAILED'})")
    parts.append(f"largest exponent (ln per step): {exponent['contracting_below']}/{exponent['points_below']} grid points "
                 f"< 0 below, max |LE_max - ln rho(J_0)| {exponent['max_gap_to_log_radius_below']:.4f} "
                 f"({'ok' if exponent['exponent_ok'] else 'FAILED'}); above: {exponent['min_above']:+.3f}.."
                 f"{exponent['max_above']:+.3f}, {exponent['chaotic_fraction_above']:.0%} > {exponent['chaos_level']:g}")
    return "\n\n".join(parts)


def _write_figures(directory: Path, flat: dict, radii, exponents, settings: SlowModeSettings,
                   seeds: int) -> list[Path]:
    def complex_of(pair):
        return np.asarray(pair[0]) + 1j * np.asarray(pair[1])

    disk_panels = []
    for r in (r for r in flat["disks"] if r["seed"] == 0):
        boundary = r["predicted_centre"] + r["predicted_radius"] * np.exp(2j * np.pi * np.linspace(0, 1, 257))
        zeros = f", + {r['exact_zeros']} exact zeros" if r["exact_zeros"] else ""
        disk_panels.append({"eigenvalues": complex_of(r["eigenvalues"]), "boundary": boundary,
                            "prediction": "predicted disk (circular law)",
                            "title": f"{r['cell']}, {r['parameter']} = {r['value']:+g}{zeros}"})
    shown = settings.update_bias_means[::2]
    support_panels = [{"eigenvalues": complex_of(r["eigenvalues"]), "boundary": complex_of(r["support_boundary"]),
                       "prediction": "predicted support boundary",
                       "title": f"b_z,i ~ N({r['mean']:+g}, {settings.update_bias_spread:g}²): "
                                f"{r['closed']:.1%} gates closed"}
                      for r in flat["heterogeneous"] if r["seed"] == 0 and r["mean"] in shown]
    found_seeds = [r["seed"] for r in flat["fixed_points"] if "eigenvalues" in r]
    point_panels = [{"eigenvalues": complex_of(r["eigenvalues"]), "boundary": complex_of(r["support_boundary"]),
                     "prediction": "predicted support boundary",
                     "title": f"fixed point with max|h*| = {r['state_max']:.2f}, b_z = {r['update_bias']:+g}"}
                    for r in flat["fixed_points"] if found_seeds and r["seed"] == found_seeds[0]]
    note = f"N = {settings.units}, seed 0 of {seeds}"
    point_note = (f"N = {settings.units}, the same point at every b_z (seed {found_seeds[0]} of {seeds}, the first "
                  "with a nonzero fixed point)" if found_seeds else f"N = {settings.units}, {seeds} seeds")
    closed = [r["predicted_slow_fraction"] for r in flat["heterogeneous"]]  # the checked claim (part 2) only
    slow = [r["slow_fraction"] for r in flat["heterogeneous"]]
    groups = [f"zero fixed point, mean b_z = {r['mean']:+g}" for r in flat["heterogeneous"]]
    drawn = {
        "spectra_zero_fixed_point.png": figures.spectra_panels(
            disk_panels, columns=len(settings.update_biases),
            title=f"Jacobian eigenvalues at the zero fixed point against the predicted disk (σ = {settings.sigma:g}): "
                  "the update / forget gate moves the centre toward 1", note=note),
        "spectra_heterogeneous.png": figures.spectra_panels(
            support_panels, columns=len(support_panels),
            title=f"Chung GRU at h = 0 with heterogeneous gates (σ_h = {settings.heterogeneous_sigma:g}): "
                  "closed update gates pile eigenvalues at 1", note=note),
        "spectra_fixed_points.png": figures.spectra_panels(
            point_panels, columns=max(len(point_panels), 1),
            title=f"Chung GRU at fixed points found by Newton (σ_h = {settings.fixed_point_sigma:g}, W_r = 0) "
                  "against the heterogeneous support", note=point_note),
        "slow_modes.png": figures.slow_mode_figure(
            closed, slow, groups, width=settings.slow_width,
            note=f"Chung GRU at h = 0, b_z,i ~ N(mean, {settings.update_bias_spread:g}²), N = {settings.units}, "
                 f"{seeds} seeds (one dot per seed)"),
        "phase_diagram.png": figures.phase_diagram(
            settings.phase_sigmas, settings.phase_biases, np.median(radii, axis=-1),
            threshold=lambda b: 1 / sigmoid(b),
            note=f"Chung GRU, N = {settings.phase_units}, update gate z̄ = 1/2, {seeds} seeds (sweep engine)"),
        "phase_diagram_exponent.png": figures.phase_diagram(
            settings.phase_sigmas, settings.phase_biases, np.median(exponents, axis=-1),
            threshold=lambda b: 1 / sigmoid(b), shown=figures.EXPONENT,
            note=f"N = {settings.phase_units}, z̄ = 1/2, no input, h₀ ~ N(0, 0.5²), T = {settings.exponent_steps} "
                 f"(first {settings.exponent_burn_in} steps left out), {seeds} seeds"),
    }
    return [write_file(directory / name, png(figure), "a figure", "PNG") for name, figure in drawn.items()]
