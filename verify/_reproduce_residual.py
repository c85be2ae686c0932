"""``gatejac reproduce residual-lyapunov``: the Lyapunov spectra of weakly coupled residual
RNNs against the log-moduli of the residual's eigenvalues (Dubinin & Effenberger 2024,
arXiv:2307.14823; docs/theory.md: “Lyapunov exponents”), with its figures.

The cell is the WCRNN with a linear residual (``symbolic.cells.wcrnn()``),

    h_t = R h_{t−1} + γ tanh(W h_{t−1} + V x_t + b),       J_t = R + γ D_t W,

N = 20 units, one input x_t ~ N(0, 1) (a fixed stream per seed), W, V i.i.d. Gaussian of
variance 1/fan-in, b = 0 (``numeric.initialise(scheme="gaussian")``), h_0 ~ N(0, 0.5²), and
three residuals (built by ``symbolic.cells.residual_*``):

* homogeneous R = λI, λ = 0.95;
* rotational R = λQ, Q block-diagonal with N/2 rotations by θ_k = π(k + 1)/(N/2 + 1)
  (eigenvalues λe^{±iθ_k}, all of modulus λ);
* heterogeneous R = diag(λ_1, …, λ_N), λ_i ~ U(0.8, 1) drawn per seed.

Exponents are the full spectrum by QR (Benettin et al. 1980; ``numeric.lyapunov_spectrum``)
over T steps after a burn-in, in natural log per step, compared sorted with ln|λ_i(R)|.

* **γ = 0** — LE_i = ln|λ_i(R)| exactly for these R (each is normal with equal moduli in each
  2×2 block, so every QR step has |R_ii| = |λ_i|), and for the rotational R every finite-time
  exponent too: the largest gap over the whole spectrum and every window of
  :data:`WINDOW` steps is round-off (checked ≤ 1e-10).
* **O(γ)** — the max deviation max_i |LE_i − ln|λ_i(R)|| at γ ∈ {0.005, 0.01, 0.02, 0.04},
  through the sweep engine (residual × γ × seed); halving γ should halve it: the successive
  ratios of the medians over seeds, dev(2γ)/dev(γ), are checked to lie in [1.3, 3] with a
  monotone decrease for the homogeneous and heterogeneous residuals.  The rotational
  residual's deviation is reported but not checked: its N equal moduli are split by the
  coupling only at second order in the rotation's average, and at small γ the finite-T error
  (≈ 10⁻³ at T = 2000) is as large as the O(γ) part.
* **Criticality** — R = λI with λ ∈ {0.9, 0.95, 1, 1.05, 1.1} and γ ∈ {0.0025, 0.005, 0.01},
  the largest exponent through the sweep engine, labelled by ``numeric.criticality`` with the
  margin m = ``numeric.coupling_band`` (every exponent lies within −ln(1 − γ‖W‖₂/λ) of ln λ):
  sub-critical for λ < 1, critical at λ = 1, super-critical for λ > 1 (there ‖h_t‖ grows like
  λ^t, which stays finite in float64 for λ^T ≤ 1.1⁴⁰⁰⁰ ≈ 10¹⁶⁶).  The bound guarantees the
  label only where |ln λ| > 2m (``resolved``): closer to 1 an exponent may fall inside the band
  (λ = 0.95 at γ = 0.02 does, with ‖W‖₂ ≈ 2), so the γ grid keeps 2m below |ln 0.95|.

Sizes: N = 20 as in the paper's setting for the O(γ) claim; T = 4000 (2000 with ``--quick``):
the O(γ) study needs T ≥ 2000 for the finite-T error (≈ T^{-1/2}) to stay below the smallest
deviation; one point (a full 20-exponent QR over 4000 steps) takes about a second, so the
default's 120 + 150 sweep points (10 seeds) took about four minutes on a shared two-core
machine.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
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

NAME = "residual-lyapunov"
DEFAULT_OUT = DEFAULT_ROOT / NAME
DEFAULT_SEEDS = 10
QUICK_SEEDS = 2
RESULTS_FORMAT = 1
KINDS = ("homogeneous", "rotational", "heterogeneous")
CHECKED_KINDS = ("homogeneous", "heterogeneous")
"""The residuals whose O(γ) ratios are checked (module docstring: why not the rotational one)."""
EXACT_TOLERANCE = 1e-10
RATIO_RANGE = (1.3, 3.0)
WINDOW = 100
"""Steps per finite-time window at γ = 0."""


@functools.cache
def _cell():
    """The WCRNN with a dense linear residual (built on first use: importing costs nothing)."""
    return cells.get("wcrnn")


@dataclass(frozen=True)
class ResidualSettings(ReproductionSettings):
    """The settings of the reproduction (module docstring)."""

    fixed = {"input_size": 1, "inputs": "x_t ~ N(0, 1)", "weights": "gaussian (variance 1/fan-in)", "dtype": "float64"}
    results_format = RESULTS_FORMAT

    units: int = 20
    steps: int = 4000
    burn_in: int = 200
    modulus: float = 0.95
    heterogeneous_range: tuple[float, float] = (0.8, 1.0)
    state_scale: float = 0.5
    gammas: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    shown_gamma: float = 0.01
    critical_moduli: tuple[float, ...] = (0.9, 0.95, 1.0, 1.05, 1.1)
    critical_gammas: tuple[float, ...] = (0.0025, 0.005, 0.01)


DEFAULT = ResidualSettings()
QUICK = ResidualSettings(steps=2000, critical_moduli=(0.9, 1.0, 1.1), critical_gammas=(0.005, 0.01))


# ---------------------------------------------------------------------- the model
def residual_matrix(kind: str, settings: ResidualSettings, seed: int, modulus: float | None = None) -> np.ndarray:
    """R of ``kind`` (module docstring) as a float64 array, from ``symbolic.cells``' builders."""
    modulus = settings.modulus if modulus is None else modulus
    n = settings.units
    if kind == "homogeneous":
        matrix = cells.residual_homogeneous(n, modulus)
    elif kind == "rotational":
        half = n // 2
        matrix = cells.residual_rotational(modulus, [np.pi * (k + 1) / (half + 1) for k in range(half)])
    else:
        matrix = cells.residual_heterogeneous(random_stream(seed, "residual").uniform(*settings.heterogeneous_range, n))
    return np.array(matrix, dtype=float)


def trajectory(kind: str, gamma: float, seed: int, settings: ResidualSettings, modulus: float | None = None):
    """``(trajectory, R)``: the WCRNN with residual ``kind`` and coupling ``gamma`` driven by the
    seed's input stream for ``settings.steps`` steps (``numeric.rollout``)."""
    residual = residual_matrix(kind, settings, seed, modulus)
    params = numeric.initialise(_cell(), {"n": settings.units, "m": 1}, scheme="gaussian", seed=seed,
                                overrides={"R": residual, "gamma": float(gamma)})
    inputs = random_stream(seed, "inputs").standard_normal((settings.steps, 1))
    start = settings.state_scale * random_stream(seed, "state").standard_normal(settings.units)
    return numeric.rollout(numeric.compile(_cell()), {"h": start}, {"x": inputs}, params), residual


def log_moduli(residual: np.ndarray) -> np.ndarray:
    """ln|λ_i(R)| sorted descending: the γ = 0 exponents."""
    return np.sort(np.log(np.abs(numeric.eigenvalues(residual))))[::-1]


def spectrum_deviation(point) -> float:
    """Sweep quantity: max_i |LE_i − ln|λ_i(R)|| at the point's ``residual_kind``, ``gamma``
    and seed (the full spectrum, sorted)."""
    settings = ResidualSettings.from_mapping(point.settings)
    path, residual = trajectory(point.settings["residual_kind"], point.settings["gamma"], point.seed, settings)
    exponents = numeric.to_numpy(numeric.lyapunov_spectrum(path, burn_in=settings.burn_in).exponents)
    return float(np.max(np.abs(exponents - log_moduli(residual))))


spectrum_deviation.units = "natural log per step"


def homogeneous_largest_exponent(point) -> float:
    """Sweep quantity: LE_max of the homogeneous R = λI WCRNN at the point's ``lam`` (λ),
    ``gamma`` and seed."""
    settings = ResidualSettings.from_mapping(point.settings)
    path, _ = trajectory("homogeneous", point.settings["gamma"], point.seed, settings, point.settings["lam"])
    return float(numeric.to_numpy(numeric.lyapunov_spectrum(path, 1, burn_in=settings.burn_in).exponents)[0])


homogeneous_largest_exponent.units = "natural log per step"


def coupling_margin(gamma: float, modulus: float, seed: int, settings: ResidualSettings) -> float:
    """``numeric.coupling_band`` of the homogeneous WCRNN at (γ, λ, seed): the criticality margin."""
    residual = residual_matrix("homogeneous", settings, seed, modulus)
    params = numeric.initialise(_cell(), {"n": settings.units, "m": 1}, scheme="gaussian", seed=seed,
                                overrides={"R": residual, "gamma": float(gamma)})
    return numeric.coupling_band(params)


def expected_label(modulus: float) -> str:
    """The regime R = λI should be in (Dubinin & Effenberger 2024)."""
    return "subcritical" if modulus < 1 else "critical" if modulus == 1 else "supercritical"


# ---------------------------------------------------------------------- per seed: the spectra
def seed_result(kind: str, seed: int, settings: ResidualSettings) -> dict:
    """The full spectrum at γ = 0 and at ``shown_gamma`` against ln|λ_i(R)|, the γ = 0 error
    over the spectrum and over every finite-time window (the per-seed file's content)."""
    path, residual = trajectory(kind, 0.0, seed, settings)
    reference = log_moduli(residual)
    exact = numeric.lyapunov_spectrum(path, burn_in=settings.burn_in, window=WINDOW)
    windows = numeric.to_numpy(exact.finite_time)
    coupled, _ = trajectory(kind, settings.shown_gamma, seed, settings)
    shown = numeric.to_numpy(numeric.lyapunov_spectrum(coupled, burn_in=settings.burn_in).exponents)
    return {
        "log_moduli": reference.tolist(),
        "exponents_gamma0": numeric.to_numpy(exact.exponents).tolist(),
        "exponents_shown_gamma": shown.tolist(),
        "gamma0_error": float(np.max(np.abs(numeric.to_numpy(exact.exponents) - reference))),
        "gamma0_finite_time_error": float(np.max(np.abs(windows - reference))),
    }


# ---------------------------------------------------------------------- checks
def deviation_statistics(deviations: np.ndarray, gammas) -> dict:
    """Per γ the quartiles of the max deviation over seeds (``deviations`` ``(len(gammas),
    seeds)``), the successive ratios of the medians dev(γ_{k+1})/dev(γ_k), and whether they
    decrease monotonically with γ and lie in :data:`RATIO_RANGE`."""
    medians = np.array([quartiles(row)["median"] for row in deviations])
    ratios = medians[1:] / medians[:-1]
    return {
        "gammas": list(gammas),
        "deviation": [quartiles(row) for row in deviations],
        "successive_ratios": ratios.tolist(),
        "monotone": bool(np.all(np.diff(medians) > 0)),
        "ratios_in_range": bool(np.all((ratios >= RATIO_RANGE[0]) & (ratios <= RATIO_RANGE[1]))),
    }


def criticality_statistics(largest: np.ndarray, margins: np.ndarray, moduli, gammas) -> list[dict]:
    """One record per (λ, γ): LE_max over seeds, the margin, the labels per seed, the expected
    label and whether every seed got it (``largest``, ``margins``: ``(len(moduli),
    len(gammas), seeds)``)."""
    records = []
    for i, modulus in enumerate(moduli):
        for j, gamma in enumerate(gammas):
            labels = numeric.criticality(largest[i, j], float(np.max(margins[i, j]))).tolist()
            expected, margin = expected_label(modulus), float(np.max(margins[i, j]))
            records.append({"lambda": modulus, "gamma": gamma, "ln_lambda": float(np.log(modulus)),
                            "largest_exponent": quartiles(largest[i, j]), "margin": margin, "labels": labels,
                            "expected": expected, "resolved": bool(modulus == 1 or abs(np.log(modulus)) > 2 * margin),
                            "agree": all(label == expected for label in labels)})
    return records


# ---------------------------------------------------------------------- the run
_FIGURES = ("exponents_vs_residual.png", "deviation_vs_gamma.png", "criticality.png")


def reproduce_residual(out=DEFAULT_OUT, *, seeds: int | None = None, quick: bool = False,
                       progress: bool = True) -> Reproduction:
    """Run the residual-RNN Lyapunov reproduction (module docstring) and write to ``out``:
    ``summary.json``, three PNG figures, one JSON per (residual, seed) under ``out/seeds`` and
    the two sweeps' zarr stores under ``out/sweeps`` (both reused by a re-run at the same
    settings).  ``seeds`` defaults to 10 (2 with ``quick=True``, which also halves T)."""
    began = time.perf_counter()
    settings = QUICK if quick else DEFAULT
    seeds = seed_count(seeds, quick, DEFAULT_SEEDS, QUICK_SEEDS)
    directory = prepare_directory(out, _FIGURES)
    per_seed, reused, computed = run_seeds(SeedStore(directory, settings.to_dict()), KINDS, seeds,
                                           lambda kind, seed: seed_result(kind, seed, settings),
                                           label=f"reproduce {NAME} spectra", progress=progress)
    fixed = settings.to_dict()
    with SharedCluster() as cluster:  # one cluster for both grids, started only if a point is left
        deviations = run_grid(directory, spectrum_deviation, {"residual_kind": KINDS, "gamma": settings.gammas},
                              seeds, fixed, progress=progress, cluster=cluster)
        largest = run_grid(directory, homogeneous_largest_exponent,
                           {"lam": settings.critical_moduli, "gamma": settings.critical_gammas}, seeds, fixed,
                           progress=progress, cluster=cluster)
    margins = np.array([[[coupling_margin(g, m, s, settings) for s in range(seeds)] for g in settings.critical_gammas]
                        for m in settings.critical_moduli])
    gamma0 = {kind: {"max_error": max(r["gamma0_error"] for r in per_seed[kind]),
                     "max_finite_time_error": max(r["gamma0_finite_time_error"] for r in per_seed[kind])}
              for kind in KINDS}
    convergence = {kind: deviation_statistics(deviations[k], settings.gammas) for k, kind in enumerate(KINDS)}
    regimes = criticality_statistics(largest, margins, settings.critical_moduli, settings.critical_gammas)
    checks = {
        "gamma0_exact": all(max(g.values()) <= EXACT_TOLERANCE for g in gamma0.values()),
        "order_gamma": all(convergence[k]["monotone"] and convergence[k]["ratios_in_range"] for k in CHECKED_KINDS),
        "criticality_labels": all(r["agree"] for r in regimes),
    }
    summary = {
        **summary_header(NAME, "Dubinin & Effenberger 2024, arXiv:2307.14823 (weakly coupled residual RNNs)"),
        "settings": {**settings.to_dict(), "seeds": seeds, "quick": quick, "window": WINDOW},
        "sizes": "N = 20 units as in the O(gamma) setting; T >= 2000 so that the finite-T error of the exponents "
                 "(about T^-1/2) stays below the smallest deviation; a point takes about a second, the default "
                 "took about four minutes on a shared two-core machine",
        "checks": checks,
        "gamma0": {"tolerance": EXACT_TOLERANCE, **gamma0},
        "order_gamma": {"checked_kinds": list(CHECKED_KINDS), "ratio_range": list(RATIO_RANGE), **convergence},
        "criticality": regimes,
        "figures": list(_FIGURES),
    }
    files = [write_summary(directory, summary)]
    files += _write_figures(directory, per_seed, deviations, largest, margins, settings, seeds)
    table = residual_table(gamma0, convergence, regimes)
    return Reproduction(NAME, directory, summary, tuple(files), table, reused, computed, time.perf_counter() - began)


def residual_table(gamma0: dict, convergence: dict, regimes: list[dict]) -> str:
    """Two tables: per residual the γ = 0 error, the median deviation per γ and the ratios;
    per (λ, γ) LE_max, the margin and the labels."""
    gammas = next(iter(convergence.values()))["gammas"]
    header = ["residual", "gamma=0 error", *(f"dev@{g:g}" for g in gammas), "ratios (2g/g)", "O(gamma) check"]
    rows = []
    for kind, result in convergence.items():
        check = "checked " + ("ok" if result["monotone"] and result["ratios_in_range"] else "FAILED")
        rows.append([kind, f"{max(gamma0[kind].values()):.1e}", *(f"{d['median']:.2e}" for d in result["deviation"]),
                     " ".join(f"{r:.2f}" for r in result["successive_ratios"]),
                     check if kind in CHECKED_KINDS else "reported"])
    first = aligned_table(header, rows)
    header = ["lambda", "gamma", "ln lambda", "LE_max median", "margin", "labels", "expected"]
    rows = [[f"{r['lambda']:g}", f"{r['gamma']:g}", f"{r['ln_lambda']:+.4f}", f"{r['largest_exponent']['median']:+.4f}",
             f"{r['margin']:.4f}", _counted(r["labels"]), r["expected"] + ("" if r["agree"] else " (MISMATCH)")]
            for r in regimes]
    return first + "\n\n" + aligned_table(header, rows)


def _counted(labels: list[str]) -> str:
    """``subcritical×10`` or ``critical×7 subcritical×3``."""
    return " ".join(f"{label}×{labels.count(label)}" for label in sorted(set(labels)))


def _write_figures(directory: Path, per_seed: dict, deviations, largest, margins, settings, seeds) -> list[Path]:
    note = (f"WCRNN, N = {settings.units}, T = {settings.steps} steps after a burn-in of {settings.burn_in}, "
            f"inputs x_t ~ N(0, 1); {seeds} seeds")
    first = {kind: per_seed[kind][0] for kind in KINDS}
    drawn = {
        "exponents_vs_residual.png": figures.exponent_scatter(
            {kind: np.array(r["log_moduli"]) for kind, r in first.items()},
            {kind: {0.0: np.array(r["exponents_gamma0"]), settings.shown_gamma: np.array(r["exponents_shown_gamma"])}
             for kind, r in first.items()}, note=note + " (seed 0 shown)"),
        "deviation_vs_gamma.png": figures.deviation_figure(settings.gammas, dict(zip(KINDS, deviations)),
                                                           checked=CHECKED_KINDS, note=note),
        "criticality.png": figures.criticality_figure(settings.critical_moduli, settings.critical_gammas, largest,
                                                      margins.max(axis=-1), note=note),
    }
    return [write_file(directory / name, png(figure), "a figure", "PNG") for name, figure in drawn.items()]
