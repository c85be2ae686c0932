"""``gatejac reproduce anisotropy``: experiment S2 of Livi 2025 (arXiv:2508.12121, Section
VII-B) — the anisotropy of Jacobian products and of per-example gradients, gated RNNs trained
by SGD against a plain RNN trained by Adam (docs/theory.md: “Anisotropy of transports and
updates”).

Models (catalogue cells without biases, ``numeric.module(cell, sizes, outputs=1)``, torch's
default initialisation U(−1/√fan_in, 1/√fan_in), readout ŷ = W_o h_T, MSE loss):

* ``plain_adam``  — ``elman``:        h_t = tanh(W h_{t−1} + U x_t),           Adam, μ = 1e-3;
* ``scalar_sgd``  — ``scalar_gate``:  h_t = (1 − g_t) h_{t−1} + g_t tanh(a_t),  SGD, μ = 1e-2;
* ``multi_sgd``   — ``multi_gate``:   the same with a per-neuron gate g_t ∈ (0, 1)^N, SGD, μ = 1e-2.

Tasks ``adding``, ``ar2``, ``movingavg``, ``delaysum``, ``narma10`` (:class:`verify.Task`) at the
paper's sizes: T = 120, M = 6 input channels, N = 64, n_o = 1, training batch 64 with input
jitter 1e-6, float32.  Training (:func:`verify.train`, ``probe="after"``): 1201 updates
(iterations 0 … 1200) with checkpoints 0, 400, 800, 1200, each the state *after* the update of
that iteration, so "checkpoint 0" is after one step, as in the paper's code.  Training
checkpoints go to ``DIR/training/SETTINGS/…`` (SETTINGS: the CRC-32 of the settings; an
interrupted seed resumes from them).

At each checkpoint, for the model's weights in float64:

* propagation anisotropy (``numeric.jacobian_anisotropy``) on the fixed probe batch of 64
  sequences: lags h ∈ {1, 2, 4, 8, 12, 16, 24, 32, 40}, 64 sampled (b, t, k) per lag, the
  spectrum of Φ(t, k); per lag the medians over pairs of AI₁₀ = σ₁/σ₁₀, CE₁₀ by the top-16
  energy (the paper's code) and by the full energy, the participation ratio and the
  effective rank;
* update anisotropy: M_g = 256 per-example gradients (``numeric.per_example_gradients``,
  ``vmap(grad)``) of sequences from a second probe batch (probe seed + 1), over all parameters,
  normalised by ``numeric.gradient_directions`` (unit rows, centred columns, near-constant
  columns dropped, 10⁻⁸ jitter) and measured by ``numeric.covariance_anisotropy`` through
  the SVD of G; the eigenvalue route (GᵀG/M) is computed too and their largest CE difference
  recorded.

Conventions (``convention=``): ``"exact"`` — a fresh batch per training step and Φ(t, k) =
J_t ⋯ J_{k+1} of the exact step Jacobians; ``"author"`` — the paper's public code: every step
trains on the same batch (``Task(same_batch=True)``) and Φ is its reversed product of the
author factors (gate term at h_j).

The headline numbers (``summary.json`` → ``results[task][model][convention]["headline"]``, the
printed table) are read at the last checkpoint: the Jacobian AI₁₀ and CE₁₀ (top-16) as the
median over the lags of the per-lag medians, and the gradient-covariance AI₁₀ and CE₁₀; each as
the median and IQR over seeds.

This module only composes: the numbers come from ``gatejac.numeric``, training from
:mod:`verify._training`, the tasks from :mod:`verify._tasks`, the figures from
:mod:`verify._figures_anisotropy`, the directory, seeds and summary from :mod:`verify._reproduce`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import zlib
from dataclasses import dataclass

import numpy as np

from gatejac import numeric
from gatejac.symbolic import CONVENTIONS, cells

from . import _figures_anisotropy as figures
from ._reproduce import (DEFAULT_ROOT, Reproduction, ReproductionSettings, SeedStore, aligned_table, check_choice,
                         check_jobs, prepare_directory, quartiles, run_seeds, seed_count, statistics_by_part,
                         summary_header, write_file, write_summary)
from ._tasks import Task
from ._training import train

NAME = "anisotropy"
DEFAULT_OUT = DEFAULT_ROOT / NAME
DEFAULT_SEEDS = 1
"""One seed: the paper's settings train 15 models per convention for 1201 steps each (see the README
for the wall time); ``--seeds 20`` gives the paper's."""
QUICK_SEEDS = 2
CONVENTION_CHOICES = (*CONVENTIONS, "both")
MODELS = {"plain_adam": ("elman", "adam"), "scalar_sgd": ("scalar_gate", "sgd"), "multi_sgd": ("multi_gate", "sgd")}
"""Model name → (catalogue cell, optimizer)."""
TASKS = ("adding", "ar2", "movingavg", "delaysum", "narma10")
MODEL_COST = {"plain_adam": 18.0, "scalar_sgd": 32.0, "multi_sgd": 38.0}
"""CPU seconds of one (task, model, convention) at the paper's settings as a worker computes it
(training and measurements, the adding task, the mean of the two conventions; measured on the
shared two-core machine at load 1–3): the scheduling hint of :func:`unit_cost`."""
METRICS = numeric.SpectrumMetrics._fields


@dataclass(frozen=True)
class AnisotropySettings(ReproductionSettings):
    """The paper's S2 settings (see the module docstring)."""

    fixed = {"bias": False, "init": "torch", "readout": "linear, bias-free", "loss": "mse", "probe": "after",
             "gradient_route": "svd"}
    results_format = 1

    length: int = 120
    state_size: int = 64
    channels: int = 6
    batch_size: int = 64
    probe_size: int = 64
    gradient_examples: int = 256
    steps: int = 1201
    checkpoints: tuple[int, ...] = (0, 400, 800, 1200)
    lags: tuple[int, ...] = tuple(numeric.ANISOTROPY_LAGS)
    pairs_per_lag: int = 64
    rank: int = 10
    top: int = 16
    input_jitter: float = 1e-6
    learning_rates: tuple[tuple[str, float], ...] = (("sgd", 1e-2), ("adam", 1e-3))
    dtype: str = "float32"
    tasks: tuple[str, ...] = TASKS
    models: tuple[str, ...] = tuple(MODELS)


PAPER = AnisotropySettings()
QUICK = AnisotropySettings(length=40, state_size=12, batch_size=16, probe_size=8, gradient_examples=16, steps=6,
                           checkpoints=(0, 5), lags=(1, 2, 4, 8), pairs_per_lag=8, rank=4, top=8)
"""``quick=True`` (``--quick``): small sizes and six steps, every task and model (seconds)."""


def task_for(settings: AnisotropySettings, task: str, seed: int, convention: str) -> Task:
    """The training task of a seed: a fresh batch per step (``"exact"``) or the same batch at
    every step (``"author"``)."""
    return Task(task, length=settings.length, channels=settings.channels, batch_size=settings.batch_size, seed=seed,
                probe_size=settings.probe_size, dtype=settings.dtype, jitter=settings.input_jitter,
                same_batch=convention == "author")


def probe_trajectory(model, inputs) -> numeric.Trajectory:
    """The model's cell rolled over ``inputs`` (B, T, M) from h₀ = 0 with its weights, NumPy
    float64 (the step Jacobians the anisotropy is taken of)."""
    values = numeric.convert({name: value.numpy() for name, value in model.values().items()}, "numpy", "float64")
    sequence = np.ascontiguousarray(np.asarray(inputs.numpy(), dtype=np.float64).transpose(1, 0, 2))
    state = model.cell.states[0]
    start = {state.name: np.zeros((sequence.shape[1], model.sizes[str(state.size)]))}
    return numeric.rollout(numeric.compile(model.cell, "numpy"), start, {model.cell.inputs[0].name: sequence}, values)


def measure(model, settings: AnisotropySettings, probe, examples, convention: str, seed: int) -> dict:
    """The anisotropy of one checkpoint (module docstring): per-lag medians of the Jacobian
    metrics, the gradient-covariance metrics and the two routes' CE difference."""
    import torch

    anisotropy = numeric.jacobian_anisotropy(probe_trajectory(model, probe[0]), settings.lags, settings.pairs_per_lag,
                                             convention, r=settings.rank, k=settings.top, seed=seed)
    medians = anisotropy.medians()
    double = copy_in_float64(model)
    inputs, targets = (value.to(torch.float64) for value in examples)
    raw = numeric.per_example_gradients(double, torch.nn.functional.mse_loss, inputs, targets, chunk_size=64)
    directions = numeric.gradient_directions(raw, seed=seed)
    by_svd = numeric.covariance_anisotropy(directions, settings.rank, settings.top, "svd")
    by_eigh = numeric.covariance_anisotropy(directions, settings.rank, settings.top, "eigh")
    return {
        "jacobian": {name: medians[name].tolist() for name in METRICS},
        "gradient": {name: float(getattr(by_svd, name)) for name in METRICS},
        "gradient_routes_ce_difference": float(abs(by_svd.ce_full - by_eigh.ce_full)),
        "gradient_parameters": int(raw.shape[1]),
        "gradient_columns_kept": int(directions.shape[1]),
    }


def copy_in_float64(model):
    """A float64 copy of ``model`` (the per-example gradients are taken in float64): a new module
    of the same cell and sizes with the model's weights loaded."""
    double = numeric.module(model.cell, model.sizes, outputs=model.readout.out_features, dtype="float64")
    double.load_state_dict(model.state_dict())
    return double


def seed_results(case: str, seed: int, conventions, settings: AnisotropySettings, directory) -> dict:
    """``{convention: result}`` of one case ``TASK-MODEL`` at one seed: train (checkpoint
    files under ``directory``), measuring at every checkpoint (the per-seed file's content)."""
    task_name, model_name = case.split("-")
    cell_name, optimizer = MODELS[model_name]
    results = {}
    for convention in conventions:
        task = task_for(settings, task_name, seed, convention)
        probe = task.probe()
        examples = dataclasses.replace(task, probe_size=settings.gradient_examples,
                                       probe_seed=task.probe_seed + 1).probe()
        model = numeric.module(cells.get(cell_name, bias=False), {"n": settings.state_size, "m": settings.channels},
                               outputs=1, seed=seed, dtype=settings.dtype)
        measured = {}

        def at_checkpoint(iteration, trained, task=task, probe=probe, examples=examples, convention=convention):
            measured[iteration] = measure(trained, settings, probe, examples, convention, seed)

        training = train(model, task, steps=settings.steps, optimizer=optimizer,
                         lr=dict(settings.learning_rates)[optimizer], checkpoints=settings.checkpoints,
                         callback=at_checkpoint, probe="after", seed=seed, progress=False,
                         directory=directory / f"{case}-{convention}-seed{seed:02d}")
        losses = np.asarray(training.losses)
        results[convention] = {
            "checkpoints": list(settings.checkpoints),
            "at": [measured[c] for c in settings.checkpoints],
            "loss_first": float(losses[0]),
            "loss_last": float(np.mean(losses[-min(50, losses.size):])),
        }
    return results


def unit_cost(case: str, convention: str) -> float:
    """The expected cost of training ``case`` (``TASK-MODEL``) under ``convention``
    (:data:`MODEL_COST`), so that worker processes start the multi-gate trainings first and
    the Elman ones, the shortest, last (:func:`~verify._reproduce.run_seeds`)."""
    return MODEL_COST[case.split("-")[1]]


# ---------------------------------------------------------------------- the run
def reproduce_anisotropy(out=DEFAULT_OUT, *, seeds: int | None = None, quick: bool = False, convention: str = "both",
                         progress: bool = True, jobs: int | None = 1) -> Reproduction:
    """Run experiment S2 (module docstring) and write to ``out``: ``summary.json``, the figures
    and one JSON per (task, model, convention, seed) under ``out/seeds`` (reused by a re-run at
    the same settings).  ``seeds`` defaults to 1 (2 with ``quick=True``: small sizes and six
    steps); ``convention`` is ``"exact"``, ``"author"`` or ``"both"``; ``progress`` draws a
    progress bar on stderr; ``jobs`` worker processes train the (case, convention, seed) triples
    side by side, the costliest first (:func:`unit_cost`; None: one per usable core, as the
    command line's default; 1, the default here: in this process; see
    :func:`~verify._reproduce.run_seeds`).
    Returns the :class:`~verify.Reproduction`."""
    began = time.perf_counter()
    seeds = seed_count(seeds, quick, DEFAULT_SEEDS, QUICK_SEEDS)
    jobs = check_jobs(jobs)
    conventions = CONVENTIONS if check_choice("convention", convention, CONVENTION_CHOICES) == "both" else (convention,)
    settings = QUICK if quick else PAPER
    directory = prepare_directory(out, figures.FIGURES)
    store = SeedStore(directory, settings.to_dict())
    training = directory / "training" / f"{zlib.crc32(json.dumps(store.settings).encode()):08x}"
    cases = [f"{task}-{model}" for task in settings.tasks for model in settings.models]
    results, reused, computed = run_seeds(
        store, cases, seeds, functools.partial(seed_results, settings=settings, directory=training),
        label=f"reproduce {NAME}", progress=progress, parts=conventions, jobs=jobs, separate_parts=True,
        cost=unit_cost)
    by_case = statistics_by_part(results, conventions, summarise)[1]
    statistics = {task: {model: by_case[f"{task}-{model}"] for model in settings.models} for task in settings.tasks}
    summary = {
        **summary_header(NAME, "Livi 2025, arXiv:2508.12121, Section VII-B (experiment S2)"),
        "settings": {**settings.to_dict(), "seeds": seeds, "conventions": list(conventions), "quick": quick,
                     "models": {name: {"cell": cell, "optimizer": optimizer} for name, (cell, optimizer) in
                                MODELS.items() if name in settings.models}},
        "conventions": {c: _CONVENTION_TEXT[c] for c in conventions},
        "headline": "at the last checkpoint: Jacobian AI_r and CE_r (top-k energy) as the median over lags of the "
                    "per-lag medians over pairs; gradient-covariance AI_r and CE_r (full energy); median and IQR "
                    "over seeds",
        "results": statistics,
        "figures": list(figures.FIGURES),
    }
    files = [write_summary(directory, summary)]
    note = (f"T = {settings.length}, N = {settings.state_size}, M = {settings.channels}, {settings.steps} updates, "
            f"checkpoint {settings.checkpoints[-1]}; median over {seeds} seed{'s' if seeds > 1 else ''}")
    drawn = figures.draw(statistics, settings.lags, settings.rank, settings.top, note)
    files += [write_file(directory / name, figures.png(figure), "a figure", "PNG") for name, figure in drawn.items()]
    return Reproduction(NAME, directory, summary, tuple(files), anisotropy_table(statistics, settings.rank), reused, computed,
                        time.perf_counter() - began)


_CONVENTION_TEXT = {
    "exact": "a fresh training batch per step; Jacobian products in chain order J_t ... J_{k+1} of the exact "
             "step Jacobians",
    "author": "the paper's public code: every training step on the same batch; products J_{k+1} ... J_t of the "
              "author factors (gate term at the updated state h_j)",
}


def summarise(results: list[dict]) -> dict:
    """Statistics over the seeds of one (task, model, convention): per checkpoint and lag the
    quartiles of each Jacobian metric, per checkpoint those of each gradient metric, the
    headline (module docstring) and the losses."""
    checkpoints = results[0]["checkpoints"]

    jacobian = {name: [[quartiles([r["at"][c]["jacobian"][name][lag] for r in results])
                        for lag in range(len(results[0]["at"][c]["jacobian"][name]))]
                       for c in range(len(checkpoints))] for name in METRICS}
    gradient = {name: [quartiles([r["at"][c]["gradient"][name] for r in results]) for c in range(len(checkpoints))]
                for name in METRICS}
    last = len(checkpoints) - 1
    headline = {
        "jacobian_ai": quartiles([np.median(r["at"][last]["jacobian"]["ai"]) for r in results]),
        "jacobian_ce": quartiles([np.median(r["at"][last]["jacobian"]["ce_top"]) for r in results]),
        "jacobian_ce_full": quartiles([np.median(r["at"][last]["jacobian"]["ce_full"]) for r in results]),
        "gradient_ai": quartiles([r["at"][last]["gradient"]["ai"] for r in results]),
        "gradient_ce": quartiles([r["at"][last]["gradient"]["ce_full"] for r in results]),
    }
    return {
        "seeds": len(results),
        "checkpoints": checkpoints,
        "headline": headline,
        "jacobian": jacobian,
        "gradient": gradient,
        "loss_first": quartiles([r["loss_first"] for r in results]),
        "loss_last": quartiles([r["loss_last"] for r in results]),
        "gradient_routes_ce_difference": max(a["gradient_routes_ce_difference"] for r in results for a in r["at"]),
    }


def anisotropy_table(statistics: dict, rank: int = 10) -> str:
    """One row per (task, model): the headline medians over seeds (module docstring) and the
    mean loss of the last 50 steps, each as ``exact / author`` (or the one convention run)."""
    conventions = list(next(iter(next(iter(statistics.values())).values())))
    which = " / ".join(conventions)
    header = ["task", "model", f"Jac CE{rank} {which}", f"Jac AI{rank} {which}", f"grad CE{rank} {which}",
              f"grad AI{rank} {which}", f"final loss {which}"]
    keys = ("jacobian_ce", "jacobian_ai", "gradient_ce", "gradient_ai")
    rows = []
    for task, by_model in statistics.items():
        for model, by_convention in by_model.items():
            values = [" / ".join(f"{by_convention[c]['headline'][key]['median']:.3f}" for c in conventions)
                      for key in keys]
            loss = " / ".join(f"{by_convention[c]['loss_last']['median']:.3g}" for c in conventions)
            rows.append([task, model, *values, loss])
    return aligned_table(header, rows)
