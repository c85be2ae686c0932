"""``gatejac reproduce expansion``: the first-order gate expansion check of Livi 2025
(arXiv:2508.12121, appendix) at the paper's settings, with its figures
(docs/theory.md: “The first-order gate expansion”).

For each gate type (the catalogue's ``scalar_gate`` and ``multi_gate``, ``bias=False``) and
each seed s:

* weights W_r, W_i and the gate's weights i.i.d. N(0, 0.2²)
  (``numeric.initialise(cell, sizes, scheme="normal", gain=0.2, seed=s)``), no biases,
  N = 64, M = 3, float64, batch 1, h₀ = 0;
* the input u_{t,k} = sin(f_k s_t + φ_k) + 0.05 ξ_{t,k} with s_t = linspace(0, 12, T),
  f_k = linspace(0.03, 0.09, M), φ_k, ξ_{t,k} ~ N(0, 1) (:func:`sinusoidal_inputs`), T = 100;
* the trajectory h_t (``numeric.rollout``), then for each convention the factors
  M_j(ε) = A_j + εB_j (``numeric.expansion_factors``) and the truncation study on the
  11-point grid ε ∈ {1e-5, 3e-5, …, 0.3, 1} (``numeric.truncation_study``): E_trunc(ε),
  C₂(ε) = E_trunc(ε)/ε², ‖c₂‖_F, the small-ε slope over the first five grid points (with its
  round-off guard), ‖A_j‖₂, ‖B_j‖₂, r_j and the remainder bound;
* the largest entry of |A_j + B_j − J_j| over the steps, where J_j is the autograd Jacobian
  (``torch.func.jacrev`` of the compiled torch step at h_{j−1}, x_j): round-off under the
  exact convention, O(‖B_j‖) under the author convention (its gate term reads h_j).

Over the seeds of a (gate, convention), a seed is dropped as an outlier if its E_trunc(1)
lies outside [Q₁ − 1.5·IQR, Q₃ + 1.5·IQR] or its slope is not finite — the paper's rule for
its robust check; ``summary.json`` lists the dropped seeds.  The statistics are medians and
quartiles over the kept seeds; r_j's are pooled over all steps of the kept seeds.

This module only composes: every quantity comes from ``gatejac.numeric``; the figures from
:mod:`verify._figures`; the directory, seeds and summary from :mod:`verify._reproduce`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatejac import numeric
from gatejac.symbolic import CONVENTIONS, cells

from . import _figures as figures
from ._reproduce import (DEFAULT_ROOT, ReproduceError, Reproduction, ReproductionSettings, SeedStore, aligned_table,
                         check_choice, check_jobs, iqr_outliers, prepare_directory, quartiles, random_stream, run_seeds,
                         seed_count, statistics_by_part, summary_header, write_file, write_summary)

NAME = "expansion"
DEFAULT_OUT = DEFAULT_ROOT / NAME
DEFAULT_SEEDS = 20
QUICK_SEEDS = 4
"""``quick=True`` (``--quick``): the paper's settings with this many seeds (enough for quartiles)."""
RESULTS_FORMAT = 1
"""Bump whenever a per-seed result changes meaning: stored results of another format are recomputed."""
PLATEAU_EPSILON = 1e-4
"""C₂ is read at this ε as its small-ε plateau (compared with ‖c₂‖_F)."""
CONVENTION_CHOICES = (*CONVENTIONS, "both")


@dataclass(frozen=True)
class ExpansionSettings(ReproductionSettings):
    """The paper's appendix settings (see the module docstring)."""

    fixed = {"batch": 1, "bias": False, "initial_state": 0.0, "weights": "normal"}
    results_format = RESULTS_FORMAT

    steps: int = 100
    state_size: int = 64
    input_size: int = 3
    weight_std: float = 0.2
    input_noise: float = 0.05
    time_span: float = 12.0
    frequencies: tuple[float, float] = (0.03, 0.09)
    epsilons: tuple[float, ...] = tuple(numeric.EPS_GRID)
    gates: tuple[str, ...] = ("scalar_gate", "multi_gate")
    dtype: str = "float64"

    def __post_init__(self):
        if self.epsilons[-1] != 1.0:  # E_trunc(1) and F(1) are read at the last grid point
            raise ReproduceError(f"epsilons={self.epsilons!r} must end at 1.0 (the true model, ε = 1)")


PAPER = ExpansionSettings()


def sinusoidal_inputs(settings: ExpansionSettings, seed: int) -> np.ndarray:
    """u_{t,k} = sin(f_k s_t + φ_k) + noise·ξ_{t,k}, shape ``(T, 1, M)`` (time, batch, input),
    with s_t = linspace(0, time_span, T), f_k = linspace(*frequencies, M) and φ_k, ξ_{t,k}
    ~ N(0, 1) drawn from the seed's ``"inputs"`` stream (φ first, then ξ)."""
    stream = random_stream(seed, "inputs")
    phases = stream.standard_normal(settings.input_size)
    noise = stream.standard_normal((settings.steps, settings.input_size))
    times = np.linspace(0.0, settings.time_span, settings.steps)
    frequencies = np.linspace(*settings.frequencies, settings.input_size)
    inputs = np.sin(times[:, None] * frequencies[None, :] + phases) + settings.input_noise * noise
    return inputs[:, None, :]


def autograd_jacobians(trajectory) -> np.ndarray:
    """J_j = ∂h_j/∂h_{j−1} for j = 1..T by ``torch.func.jacrev`` of the compiled torch step at
    (h_{j−1}, x_j), vectorised over the steps: ``(T, 1, N, N)`` float64 (a one-state cell)."""
    import torch

    cell = trajectory.compiled.cell
    (state,), (given,) = cell.states, cell.inputs
    compiled = numeric.compile(cell, "torch")
    params = numeric.convert(trajectory.params, "torch", "float64")

    def step(h, x):
        return compiled.step({state.name: h}, {given.name: x}, params)[state.name]

    previous = torch.as_tensor(trajectory.states[state.name][:-1, 0])
    inputs = torch.as_tensor(trajectory.inputs[given.name][:, 0])
    return torch.func.vmap(torch.func.jacrev(step))(previous, inputs).detach().numpy()[:, None]


def seed_results(gate: str, seed: int, conventions, settings: ExpansionSettings = PAPER) -> dict:
    """``{convention: result}`` of one gate type at one seed (the per-seed file's content)."""
    cell = cells.get(gate, bias=False)
    sizes = {"n": settings.state_size, "m": settings.input_size}
    params = numeric.initialise(cell, sizes, scheme="normal", gain=settings.weight_std, seed=seed,
                                dtype=settings.dtype)
    start = {"h": np.zeros((1, settings.state_size), dtype=settings.dtype)}
    trajectory = numeric.rollout(numeric.compile(cell), start, {"x": sinusoidal_inputs(settings, seed)}, params)
    reference = autograd_jacobians(trajectory)
    results = {}
    for convention in conventions:
        factors = numeric.expansion_factors(trajectory, convention)
        study = numeric.truncation_study(*factors, settings.epsilons, convention=convention)
        results[convention] = _result(study, factors, reference)
    return results


def _result(study, factors, reference) -> dict:
    """The JSON-able per-seed record of a truncation study (batch of one) on a grid ending at ε = 1."""
    ratios = study.ratios
    errors = study.truncation_error[:, 0]
    final = study.products[-1, 0]  # F(1)
    return {
        "slope": float(study.slope[0]),
        "fitted_slope": float(study.fitted_slope[0]),
        "slope_guard_ok": bool(study.slope_guard_ok[0]),
        "truncation_error": errors.tolist(),
        "normalised_remainder": study.normalised_remainder[:, 0].tolist(),
        "c2_frobenius": float(study.c2_frobenius[0]),
        "E_trunc_at_1": float(errors[-1]),
        "relative_E_trunc_at_1": float(errors[-1] / np.linalg.norm(final)),
        "remainder_bound_holds": bool(np.all(study.remainder_norm <= study.remainder_bound)),
        "a_norms": ratios.a_norms[:, 0].tolist(),
        "b_norms": ratios.b_norms[:, 0].tolist(),
        "ratios": ratios.ratios[:, 0].tolist(),
        "max_abs_error_vs_autograd": float(np.max(np.abs(factors[0] + factors[1] - reference))),
        "max_abs_jacobian": float(np.max(np.abs(reference))),
    }


# ---------------------------------------------------------------------- the run
def reproduce_expansion(out=DEFAULT_OUT, *, seeds: int | None = None, convention: str = "both", quick: bool = False,
                        progress: bool = True, jobs: int | None = 1) -> Reproduction:
    """Run the paper's first-order expansion check (module docstring) and write to ``out``:
    ``summary.json``, four PNG figures and one JSON per (gate, convention, seed) under
    ``out/seeds`` (reused by a re-run at the same settings).  ``seeds`` defaults to 20 (4 with
    ``quick=True``); ``convention`` is ``"exact"``, ``"author"`` or ``"both"``; ``progress``
    draws a progress bar on stderr; ``jobs`` worker processes compute the (gate, seed) pairs side
    by side (None: one per usable core; 1, the default: in this process; see
    :func:`~verify._reproduce.run_seeds`).  Returns the :class:`~verify.Reproduction` (summary,
    files, the printed table)."""
    began = time.perf_counter()
    seeds = seed_count(seeds, quick, DEFAULT_SEEDS, QUICK_SEEDS)
    jobs = check_jobs(jobs)
    conventions = CONVENTIONS if check_choice("convention", convention, CONVENTION_CHOICES) == "both" else (convention,)
    directory = prepare_directory(out, _FIGURES)
    results, reused, computed = run_seeds(SeedStore(directory, PAPER.to_dict()), PAPER.gates, seeds, seed_results,
                                          label=f"reproduce {NAME}", progress=progress, parts=conventions, jobs=jobs)
    per_seed, statistics = statistics_by_part(results, conventions, summarise)
    summary = {
        **summary_header(NAME, "Livi 2025, arXiv:2508.12121, appendix (first-order gate expansion)"),
        "settings": {**PAPER.to_dict(), "seeds": seeds, "conventions": list(conventions),
                     "plateau_epsilon": PLATEAU_EPSILON},
        "conventions": {c: _CONVENTION_TEXT[c] for c in conventions},
        "outlier_rule": "a seed is dropped if its E_trunc(1) lies outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] over the "
                        "seeds, or its slope is not finite (the paper's robust check)",
        "results": statistics,
        "figures": list(_FIGURES),
    }
    files = [write_summary(directory, summary)]
    files += _write_figures(directory, per_seed, statistics, seeds)
    table = expansion_table(statistics)
    return Reproduction(NAME, directory, summary, tuple(files), table, reused, computed, time.perf_counter() - began)


_CONVENTION_TEXT = {
    "exact": "gatejac's: B_j's gate term reads h_{j-1} (A_j + B_j is the step Jacobian); products in chain "
             "order, later steps on the left",
    "author": "the paper's public code: B_j's gate term reads the updated state h_j (A_j + B_j is not the "
              "Jacobian); products with earlier steps on the left",
}


def summarise(results: list[dict]) -> dict:
    """Statistics over the seeds of one (gate, convention) (module docstring)."""
    finals = np.array([r["E_trunc_at_1"] for r in results])
    slopes = np.array([r["slope"] for r in results])
    dropped = iqr_outliers(np.where(np.isfinite(slopes), finals, np.nan))
    kept = [r for r, out in zip(results, dropped) if not out]
    plateau_index = int(np.argmin(np.abs(np.log(np.array(PAPER.epsilons) / PLATEAU_EPSILON))))
    plateau = np.array([r["normalised_remainder"][plateau_index] for r in kept])
    c2 = np.array([r["c2_frobenius"] for r in kept])
    pooled = np.concatenate([r["ratios"] for r in kept]) if kept else np.array([np.nan])
    return {
        "seeds": len(results),
        "kept": len(kept),
        "dropped_seeds": [seed for seed, out in enumerate(dropped) if out],
        "slope_guard_failed_seeds": [seed for seed, r in enumerate(results) if not r["slope_guard_ok"]],
        "slope": quartiles([r["slope"] for r in kept]),
        "C2_plateau": {"epsilon": PAPER.epsilons[plateau_index], **quartiles(plateau),
                       "max_relative_gap_to_c2_frobenius": float(np.max(np.abs(plateau / c2 - 1))) if kept else None},
        "c2_frobenius": quartiles(c2),
        "r_j": {"median": float(np.median(pooled)), "p90": float(np.percentile(pooled, 90)),
                "p99": float(np.percentile(pooled, 99)), "max": float(np.max(pooled))},
        "E_trunc_at_1": quartiles([r["E_trunc_at_1"] for r in kept]),
        "relative_E_trunc_at_1": quartiles([r["relative_E_trunc_at_1"] for r in kept]),
        "remainder_bound_holds": all(r["remainder_bound_holds"] for r in results),
        "max_abs_error_vs_autograd": max(r["max_abs_error_vs_autograd"] for r in results),
        "max_abs_jacobian": max(r["max_abs_jacobian"] for r in results),
    }


def expansion_table(statistics: dict) -> str:
    """One row per (gate, convention): slope median [Q₁, Q₃], C₂ at the plateau against
    ‖c₂‖_F, E_trunc(1), r_j's median / p99 / max, the autograd error, the kept seeds."""
    header = ["gate", "convention", "slope median [Q1, Q3]", "C2(1e-4)", "|c2|_F", "E_trunc(1)",
              "r_j median/p99/max", "max|A+B-J_ad|", "seeds kept"]
    rows = []
    for gate, by_convention in statistics.items():
        for convention, s in by_convention.items():
            slope = s["slope"]
            r = s["r_j"]
            rows.append([gate, convention, f"{slope['median']:.4f} [{slope['q25']:.4f}, {slope['q75']:.4f}]",
                         f"{s['C2_plateau']['median']:.4g}", f"{s['c2_frobenius']['median']:.4g}",
                         f"{s['E_trunc_at_1']['median']:.3g}",
                         f"{r['median']:.3g}/{r['p99']:.3g}/{r['max']:.3g}",
                         f"{s['max_abs_error_vs_autograd']:.1e}", f"{s['kept']}/{s['seeds']}"])
    return aligned_table(header, rows)


# ---------------------------------------------------------------------- figures
_FIGURES = ("truncation_error.png", "normalised_remainder.png", "gate_norms.png", "ratio_histogram.png")


def _write_figures(directory: Path, per_seed: dict, statistics: dict, seeds: int) -> list[Path]:
    """The four figures from the kept seeds; each PNG written atomically."""
    def kept(key):
        grouped = {}
        for gate, by_convention in per_seed.items():
            for convention, results in by_convention.items():
                dropped = set(statistics[gate][convention]["dropped_seeds"])
                grouped.setdefault(convention, {})[gate] = np.array(
                    [r[key] for seed, r in enumerate(results) if seed not in dropped])
        return grouped

    counts = [s["kept"] for by_convention in statistics.values() for s in by_convention.values()]
    kept_text = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
    note = (f"T = {PAPER.steps} steps, N = {PAPER.state_size}, M = {PAPER.input_size}, "
            f"weights N(0, {PAPER.weight_std}²), "
            f"no biases, float64; {kept_text} of {seeds} seeds kept per curve (1.5·IQR rule on "
            r"$E_{\mathrm{trunc}}(1)$)")
    drawn = {
        "truncation_error.png": figures.truncation_figure(PAPER.epsilons, kept("truncation_error"), note=note),
        "normalised_remainder.png": figures.c2_figure(PAPER.epsilons, kept("normalised_remainder"),
                                                      kept("c2_frobenius"), note=note),
        "gate_norms.png": figures.norms_figure(kept("a_norms"), kept("b_norms"), kept("ratios"), note=note),
        "ratio_histogram.png": figures.ratio_histogram(kept("ratios"), note=note),
    }
    return [write_file(directory / name, figures.png(figure), "a figure", "PNG") for name, figure in drawn.items()]
