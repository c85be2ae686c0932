"""``gatejac reproduce effective-lr``: the lag-dependent effective learning rates of Livi 2025
(arXiv:2508.12121, Section VII-A, experiment S1) over training, at the paper's settings, with
its figures (docs/theory.md: “Transports and backpropagation”, “Where public code departs from
the mathematics”).

For each model (the catalogue's ``leaky`` with α = 0.8, ``scalar_gate`` and ``multi_gate``, all
``bias=False``) and each seed s:

* the model ``numeric.module(cell, {"n": 64, "m": 4}, outputs=1, seed=s)`` (torch's
  ``nn.Linear`` initialisation, U(−1/√fan_in, 1/√fan_in); readout ŷ = W_o h_T; float32) is
  trained on the adding task (T = 80, M = 4, a fresh batch of 64 per step, ``verify.Task(
  "adding", seed=s)``) with plain SGD, μ = 10⁻², MSE loss, for 800 steps (``verify.train``);
* at the checkpoints 0, 50, 200, 400, 600, 800 — probed *before* the update of that iteration,
  as the paper's code does — the state is saved to ``DIR/checkpoints/MODEL-seedNN-HASH/``
  (an interrupted training resumes from its last checkpoint) and the parameters, in float64,
  are run over the fixed probe batch of 12 sequences (probe seed s + 999);
* on that trajectory ``numeric.effective_learning_rates``: S_{t,k} = ‖Φ(t, k)‖₂ for every
  probe sequence and pair k < t, the normalised profile
  μ̃_eff(h) = median_{t−k=h} S / (median_{t−k=1} S + 10⁻¹²), the zeroth-order predictor
  P_{t,k} (α^{t−k}; Π g_j; the unit mean of Π g_{j,i}), μ̃_pred(h), the trimmed (1 %/99 % of P)
  log–log OLS slope s of ln S = a + s ln P with R² (NaN under 50 pairs), and the fitted
  profile μ̃_fit(h) = (μ̃_pred(h) + 10⁻¹²)^s;

under each convention:

* ``"exact"``: Φ(t, k) = J_t ⋯ J_{k+1} of the exact step Jacobians, ‖·‖₂ the largest singular
  value, P over the t − k steps k+1..t;
* ``"author"``: the public code's choices — the reversed product J_{k+1} ⋯ J_t of the factors
  A_j + B_j whose gate term reads h_j, its lag bookkeeping (pairs k ≥ 1; the gated
  predictors count t − k + 1 gates) and its norm, five power iterations from a random start
  (``norm="power5"``, seeded by s), which only bounds ‖Φ‖₂ from below.

Statistics over seeds (``summary.json``): per model, convention and checkpoint the median
and quartiles of s and R² and the median profiles; per model and checkpoint the exact-vs-author
differences (s_author − s_exact and max_h |μ̃_author(h)/μ̃_exact(h) − 1|, per seed, then their
quartiles); the checks of the paper's claims (the leaky profile decreasing in h at checkpoint
0; how much s varies over the checkpoints).

Cost: a seed trains three models (2400 SGD steps) and computes 18 exact sensitivity sets of
38 880 pairs each (≈ 5 s apiece on one core) — about three minutes per seed on this machine
when it is quiet, so the default is 3 seeds (under 10 minutes); ``seeds=20`` is the paper's.
``quick=True`` shrinks every size (T = 16, N = 8, 20 steps): seconds, for tests.

This module only composes: the model from ``numeric.module``, the task and the training from
:mod:`verify._tasks` and :mod:`verify._training`, every quantity from ``gatejac.numeric``, the
figures from :mod:`verify._figures_learning`, the directory, seeds and summary from
:mod:`verify._reproduce`.
"""

from __future__ import annotations

import functools
import json
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gatejac import numeric
from gatejac.symbolic import CONVENTIONS, cells

from . import _figures_learning as figures
from ._reproduce import (DEFAULT_ROOT, Reproduction, ReproductionSettings, SeedStore, aligned_table, check_choice,
                         check_jobs, prepare_directory, quartiles, run_seeds, seed_count, statistics_by_part,
                         summary_header, write_file, write_summary)
from ._tasks import Task
from ._training import train

NAME = "effective-lr"
DEFAULT_OUT = DEFAULT_ROOT / NAME
DEFAULT_SEEDS = 3
"""About three minutes a seed on this machine when quiet: 3 seeds keep the default run under 10 minutes."""
QUICK_SEEDS = 2
RESULTS_FORMAT = 1
"""Bump whenever a per-seed result changes meaning: stored results of another format are recomputed."""
CONVENTION_CHOICES = (*CONVENTIONS, "both")
NORMS = {"exact": "exact", "author": "power5"}
"""The norm of S under each convention: the largest singular value, or the public code's power iteration."""
CHECKPOINTS_DIRECTORY = "checkpoints"
TRIM, MIN_POINTS = 0.01, 50
"""The slope fit keeps the pairs with P between its 1 % and 99 % quantiles and needs 50 of them (the paper's)."""


@dataclass(frozen=True)
class EffectiveLRSettings(ReproductionSettings):
    """The paper's S1 settings (see the module docstring)."""

    fixed = {"bias": False, "alpha": 0.8, "init": "torch", "readout": "W_o h_T", "loss": "MSE", "probe": "before",
             "analysis_dtype": "float64", "trim": TRIM, "min_points": MIN_POINTS, "norms": NORMS}
    results_format = RESULTS_FORMAT

    task: str = "adding"
    length: int = 80
    state_size: int = 64
    channels: int = 4
    batch_size: int = 64
    probe_size: int = 12
    optimizer: str = "sgd"
    lr: float = 1e-2
    steps: int = 800
    checkpoints: tuple[int, ...] = (0, 50, 200, 400, 600, 800)
    models: tuple[str, ...] = ("leaky", "scalar_gate", "multi_gate")
    dtype: str = "float32"

    def task_of(self, seed: int) -> Task:
        """The seed's task: training batches from ``seed``, the probe batch from ``seed + 999``."""
        return Task(self.task, length=self.length, channels=self.channels, batch_size=self.batch_size, seed=seed,
                    probe_size=self.probe_size, dtype=self.dtype)


PAPER = EffectiveLRSettings()
QUICK = replace(PAPER, length=16, state_size=8, batch_size=16, probe_size=4, steps=20, checkpoints=(0, 10, 20))


def checkpoint_directory(directory: Path, model: str, seed: int, settings: EffectiveLRSettings) -> Path:
    """Where the training of (model, seed) keeps its checkpoints: one directory per settings
    (a hash of them in the name), so runs at other settings never collide."""
    digest = zlib.crc32(json.dumps(settings.to_dict(), sort_keys=True).encode())
    return Path(directory) / CHECKPOINTS_DIRECTORY / f"{model}-seed{seed:02d}-{digest:08x}"


def seed_results(model: str, seed: int, conventions, settings: EffectiveLRSettings = PAPER,
                 directory: Path | None = None, progress: bool = False) -> dict:
    """``{convention: result}`` of one model at one seed (the per-seed files' content): train
    with checkpoints under ``directory`` (see :func:`checkpoint_directory`) and analyse each."""
    import torch

    cell = cells.get(model, bias=False)
    task = settings.task_of(seed)
    module = numeric.module(cell, {"n": settings.state_size, "m": settings.channels}, outputs=1, seed=seed,
                            dtype=settings.dtype)
    probe_inputs, probe_targets = task.probe()
    inputs = {"x": probe_inputs.double().numpy().transpose(1, 0, 2)}  # (T, P, M): time first
    start = {"h": np.zeros((settings.probe_size, settings.state_size))}
    compiled = numeric.compile(cell)
    results = {c: {"checkpoints": [], "probe_loss": [], "slope": [], "intercept": [], "r_squared": [], "points": [],
                   "profile": [], "predicted": [], "fitted": []} for c in conventions}

    def analyse(iteration, trained):
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(trained(probe_inputs), probe_targets))
        params = numeric.convert(trained.values(), "numpy", "float64")
        trajectory = numeric.rollout(compiled, start, inputs, params)
        for convention in conventions:
            lr = numeric.effective_learning_rates(trajectory, convention=convention, norm=NORMS[convention],
                                                  trim=TRIM, min_points=MIN_POINTS,
                                                  seed=seed)
            record = results[convention]
            record["checkpoints"].append(iteration)
            record["probe_loss"].append(loss)
            for key in ("slope", "intercept", "r_squared", "points"):
                record[key].append(getattr(lr.fit, key))
            for key in ("profile", "predicted", "fitted"):
                record[key].append(getattr(lr, key).tolist())

    train(module, task, steps=settings.steps, optimizer=settings.optimizer, lr=settings.lr,
          checkpoints=settings.checkpoints, callback=analyse, probe="before", seed=seed,
          directory=checkpoint_directory(directory or DEFAULT_OUT, model, seed, settings), progress=progress)
    return results


# ---------------------------------------------------------------------- the run
def reproduce_effective_lr(out=DEFAULT_OUT, *, seeds: int | None = None, quick: bool = False,
                           convention: str = "both", progress: bool = True, jobs: int | None = 1) -> Reproduction:
    """Run the paper's S1 experiment (module docstring) and write to ``out``:
    ``summary.json``, the PNG figures, one JSON per (model, convention, seed) under
    ``out/seeds`` and the training checkpoints under ``out/checkpoints`` (both reused by a
    re-run at the same settings).  ``seeds`` defaults to 3 (about 3 minutes a seed when the
    machine is quiet; 20 is the paper's) or 2 with ``quick=True`` (small sizes: seconds);
    ``convention`` is ``"exact"``, ``"author"`` or ``"both"``; ``progress`` draws progress bars
    on stderr (in worker processes only the bar over (model, seed) pairs); ``jobs`` worker
    processes train the (model, seed) pairs side by side (None: one per usable core; 1, the
    default: in this process; see :func:`~verify._reproduce.run_seeds`).  Returns the
    :class:`~verify.Reproduction`."""
    began = time.perf_counter()
    seeds = seed_count(seeds, quick, DEFAULT_SEEDS, QUICK_SEEDS)
    jobs = check_jobs(jobs)
    conventions = CONVENTIONS if check_choice("convention", convention, CONVENTION_CHOICES) == "both" else (convention,)
    settings = QUICK if quick else PAPER
    names = figures.file_names(conventions)
    directory = prepare_directory(out, names)
    compute = functools.partial(seed_results, settings=settings, directory=directory,
                                progress=progress and jobs == 1)
    results, reused, computed = run_seeds(SeedStore(directory, settings.to_dict()), settings.models, seeds, compute,
                                          label=f"reproduce {NAME}", progress=progress, parts=conventions, jobs=jobs)
    per_seed, statistics = statistics_by_part(results, conventions, summarise)
    summary = {
        **summary_header(NAME, "Livi 2025, arXiv:2508.12121, Section VII-A (experiment S1: lag-dependent "
                               "effective learning rates)"),
        "settings": {**settings.to_dict(), "quick": quick, "seeds": seeds, "conventions": list(conventions)},
        "conventions": {c: CONVENTION_TEXT[c] for c in conventions},
        "results": statistics,
        "claims": claims(statistics, settings),
        "figures": list(names),
    }
    if len(conventions) == 2:
        summary["exact_vs_author"] = {model: differences(per_seed[model]["exact"], per_seed[model]["author"])
                                      for model in settings.models}
    files = [write_summary(directory, summary)]
    drawn = figures.draw(per_seed, statistics, summary.get("exact_vs_author"), note=_note(settings, seeds))
    files += [write_file(directory / name, figures.png(figure), "a figure", "PNG") for name, figure in drawn.items()]
    table = effective_lr_table(statistics, summary.get("exact_vs_author"))
    return Reproduction(NAME, directory, summary, tuple(files), table, reused, computed, time.perf_counter() - began)


CONVENTION_TEXT = {
    "exact": "gatejac's: S = largest singular value of J_t ... J_{k+1} (exact step Jacobians, chain order), pairs "
             "0 <= k < t; the predictor over the t - k steps k+1..t",
    "author": "the paper's public code: S = five power iterations on J_{k+1} ... J_t (earlier steps on the left) of "
              "the factors A_j + B_j whose gate term reads h_j; pairs 1 <= k < t; the gated predictors count "
              "t - k + 1 gates",
}


def summarise(results: list[dict]) -> dict:
    """Statistics over the seeds of one (model, convention): per checkpoint the quartiles of
    s, R² and the probe loss, and the median over seeds of each profile (lag by lag)."""
    checkpoints = results[0]["checkpoints"]
    by_checkpoint = {}
    for index, iteration in enumerate(checkpoints):
        entry = {key: quartiles([r[key][index] for r in results]) for key in ("slope", "r_squared", "probe_loss")}
        for key in ("profile", "predicted", "fitted"):
            stacked = np.array([r[key][index] for r in results], dtype=float)
            with np.errstate(all="ignore"):
                entry[f"{key}_median"] = _median_over_seeds(stacked).tolist()
        by_checkpoint[str(iteration)] = entry
    return {"seeds": len(results), "checkpoints": checkpoints, "by_checkpoint": by_checkpoint}


def _median_over_seeds(stacked: np.ndarray) -> np.ndarray:
    """The median over axis 0, NaN (without a warning) where every seed is NaN."""
    finite = np.isfinite(stacked).any(axis=0)
    median = np.full(stacked.shape[1:], np.nan)
    median[finite] = np.nanmedian(stacked[:, finite], axis=0)
    return median


def relative_profile_difference(author, exact) -> float:
    """max_h |μ̃_author(h)/μ̃_exact(h) − 1| over the lags both profiles cover (NaN if none)."""
    author, exact = np.asarray(author, dtype=float), np.asarray(exact, dtype=float)
    both = np.isfinite(author) & np.isfinite(exact) & (exact > 0)
    return float(np.max(np.abs(author[both] / exact[both] - 1))) if both.any() else float("nan")


def differences(exact: list[dict], author: list[dict]) -> dict:
    """Per checkpoint, over seeds: the quartiles of s_author − s_exact and of the largest
    relative profile difference (:func:`relative_profile_difference`)."""
    result = {}
    for index, iteration in enumerate(exact[0]["checkpoints"]):
        slopes = [a["slope"][index] - e["slope"][index] for e, a in zip(exact, author)]
        profiles = [relative_profile_difference(a["profile"][index], e["profile"][index])
                    for e, a in zip(exact, author)]
        result[str(iteration)] = {"slope_difference": quartiles(slopes),
                                  "max_relative_profile_difference": quartiles(profiles)}
    return result


def claims(statistics: dict, settings: EffectiveLRSettings) -> dict:
    """The paper's S1 claims as numbers, per convention: whether the leaky model's median
    profile at the first checkpoint decreases in h (and the largest increase if not), and per
    model the range of the median s over the checkpoints with the median R² at each end."""
    result = {}
    conventions = next(iter(statistics.values())).keys()
    for convention in conventions:
        entry = {}
        if "leaky" in statistics:
            first = statistics["leaky"][convention]["by_checkpoint"][str(settings.checkpoints[0])]["profile_median"]
            steps = np.diff(np.array(first, dtype=float))
            steps = steps[np.isfinite(steps)]
            entry["leaky_profile_decreasing_at_first_checkpoint"] = bool(np.all(steps < 0))
            entry["leaky_profile_largest_increase_at_first_checkpoint"] = float(np.max(steps)) if steps.size else None
        for model, by_convention in statistics.items():
            slopes = [by_convention[convention]["by_checkpoint"][str(c)]["slope"]["median"]
                      for c in settings.checkpoints]
            r2 = [by_convention[convention]["by_checkpoint"][str(c)]["r_squared"]["median"]
                  for c in settings.checkpoints]
            entry[model] = {"slope_min": float(np.nanmin(slopes)), "slope_max": float(np.nanmax(slopes)),
                            "slope_range": float(np.nanmax(slopes) - np.nanmin(slopes)),
                            "r_squared_first": r2[0], "r_squared_last": r2[-1]}
        result[convention] = entry
    return result


def effective_lr_table(statistics: dict, compared: dict | None) -> str:
    """One row per (model, checkpoint): per convention s median [Q₁, Q₃] and R²'s median, the
    probe loss, and with both conventions the median s_author − s_exact and the median largest
    relative profile difference."""
    conventions = list(next(iter(statistics.values())))
    header = ["model", "iteration", "probe loss"]
    for convention in conventions:
        header += [f"s {convention} median [Q1, Q3]", f"R2 {convention}"]
    if compared:
        header += ["s_author - s_exact", "max rel. profile diff"]
    rows = []
    for model, by_convention in statistics.items():
        for iteration in by_convention[conventions[0]]["by_checkpoint"]:
            entries = [by_convention[c]["by_checkpoint"][iteration] for c in conventions]
            row = [model, iteration, f"{entries[0]['probe_loss']['median']:.4g}"]
            for entry in entries:
                slope = entry["slope"]
                row += [f"{slope['median']:.3f} [{slope['q25']:.3f}, {slope['q75']:.3f}]",
                        f"{entry['r_squared']['median']:.4f}"]
            if compared:
                gap = compared[model][iteration]
                row += [f"{gap['slope_difference']['median']:+.3g}",
                        f"{gap['max_relative_profile_difference']['median']:.3g}"]
            rows.append(row)
    return aligned_table(header, rows)


def _note(settings: EffectiveLRSettings, seeds: int) -> str:
    return (f"{settings.task} task, T = {settings.length} steps, N = {settings.state_size}, SGD lr {settings.lr:g}, "
            f"{settings.steps} steps; probe batch of {settings.probe_size}; {seeds} seeds")
