"""``gatejac reproduce anisotropy`` (verify._reproduce_anisotropy): experiment S2 of Livi 2025
(arXiv:2508.12121, Section VII-B) run with ``--quick`` (small sizes, six updates, every task and
model, both conventions), its summary and per-seed files, their reuse, its options; the
author convention's same-batch training; and, marked ``slow`` (run with ``-m slow``), the
paper's S2 claim (Livi 2025, Section VII-B: multi-gate + SGD matches or exceeds plain + Adam) at the paper's settings under the exact convention.

Tolerances: the metrics are ratios of sums of squared singular values, exact to a few ulps;
the bounds below are checked with the float64 tolerance of verify._tolerances at scale 1.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from reproduce_runs import (assert_bad_options_are_errors, assert_jobs_change_no_number, assert_wrote_every_file,
                            quick_run, run_cli, summary_of)

import gatejac
from gatejac import numeric, verify
from gatejac.symbolic import cells
from gatejac.verify import _figures_anisotropy, _tasks
from gatejac.verify._reproduce import _longest_first
from gatejac.verify._reproduce_anisotropy import (MODEL_COST, MODELS, PAPER, QUICK, QUICK_SEEDS, TASKS, measure,
                                                  reproduce_anisotropy, task_for, unit_cost)
from gatejac.verify._tolerances import tolerance

CONVENTIONS = ("exact", "author")
FIGURES = _figures_anisotropy.FIGURES
CASES = [f"{task}-{model}" for task in TASKS for model in MODELS]
ATOL = tolerance("reference", "float64", 1.0).bound(0.0)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``gatejac reproduce anisotropy --quick`` run: (exit code, stdout, stderr, directory,
    the figure objects it rendered by file order)."""
    return quick_run(tmp_path_factory.mktemp("anisotropy"), _figures_anisotropy, "anisotropy", FIGURES, "--jobs", "2")


@pytest.fixture(scope="module")
def summary(quick):
    return summary_of(quick)


# ---------------------------------------------------------------------- the command
def test_quick_run_exits_0_prints_the_table_and_writes_every_file(quick):
    assert_wrote_every_file(quick, FIGURES)
    _, out, err, directory, _ = quick
    assert sorted(p.name for p in (directory / "seeds").iterdir()) == sorted(
        f"{case}-{convention}-seed{seed:02d}.json" for case in CASES for convention in CONVENTIONS
        for seed in range(QUICK_SEEDS))
    header = next(line for line in out.splitlines() if line.startswith("task "))
    assert f"Jac CE{QUICK.rank} exact / author" in header and f"grad AI{QUICK.rank} exact / author" in header
    rows = [line.split()[:2] for line in out.splitlines() if line.split()[:1] and line.split()[0] in TASKS]
    assert rows == [[task, model] for task in TASKS for model in MODELS]
    assert f"{len(CASES) * QUICK_SEEDS} computed, 0 reused" in out
    progress = [line for line in err.splitlines() if line.startswith("reproduce anisotropy")]
    assert len(progress) == len(CASES) * QUICK_SEEDS  # not a terminal: one line per finished (case, seed)


def test_two_worker_processes_give_the_numbers_of_one_bit_for_bit(quick):
    assert_jobs_change_no_number(quick, "anisotropy")


def test_paper_settings_are_the_defaults():
    """The paper's S2 settings (Section VII-B and its public code): T = 120, N = 64, M = 6, batches 64, M_g = 256, checkpoints 0/400/800/1200 after
    the update (1201 updates), the nine lags, 64 pairs, r = 10, k = 16, jitter 1e-6, SGD 1e-2 and
    Adam 1e-3."""
    assert (PAPER.length, PAPER.state_size, PAPER.channels, PAPER.batch_size, PAPER.probe_size) == (120, 64, 6, 64, 64)
    assert PAPER.gradient_examples == 256 and PAPER.steps == 1201 and PAPER.checkpoints == (0, 400, 800, 1200)
    assert PAPER.lags == (1, 2, 4, 8, 12, 16, 24, 32, 40) and (PAPER.pairs_per_lag, PAPER.rank, PAPER.top) == (64, 10, 16)
    assert PAPER.input_jitter == 1e-6 and dict(PAPER.learning_rates) == {"sgd": 1e-2, "adam": 1e-3}
    assert MODELS == {"plain_adam": ("elman", "adam"), "scalar_sgd": ("scalar_gate", "sgd"),
                      "multi_sgd": ("multi_gate", "sgd")}
    assert TASKS == ("adding", "ar2", "movingavg", "delaysum", "narma10")


def test_summary_has_the_settings_the_version_and_every_statistic(summary):
    assert summary["gatejac"] == gatejac.__version__
    settings = summary["settings"]
    assert settings["quick"] is True and settings["seeds"] == QUICK_SEEDS
    assert settings["conventions"] == list(CONVENTIONS) and settings["checkpoints"] == list(QUICK.checkpoints)
    assert settings["models"]["plain_adam"] == {"cell": "elman", "optimizer": "adam"}
    assert set(summary["results"]) == set(TASKS)
    for task in TASKS:
        assert set(summary["results"][task]) == set(MODELS)
        for model in MODELS:
            for convention in CONVENTIONS:
                s = summary["results"][task][model][convention]
                assert set(s["headline"]) == {"jacobian_ai", "jacobian_ce", "jacobian_ce_full", "gradient_ai",
                                              "gradient_ce"}
                for quartiles in s["headline"].values():
                    assert set(quartiles) == {"median", "q25", "q75", "iqr"}
                    assert quartiles["q25"] <= quartiles["median"] <= quartiles["q75"]
                jacobian = s["jacobian"]
                assert len(jacobian["ai"]) == len(QUICK.checkpoints)
                assert all(len(per_lag) == len(QUICK.lags) for per_lag in jacobian["ce_top"])
                assert s["gradient_routes_ce_difference"] <= 1e-10  # the two routes agree on real gradients


def test_metrics_lie_within_their_bounds(summary):
    """The bounds on every recorded median: AI ≥ 1, CE_r ∈ [r/k, 1] (top-k energy), the full
    energy's CE ≤ the top-k's, the participation ratio ≥ 1.  A spectrum with one wrong value
    (AI < 1) is caught by the same check."""
    r, k = QUICK.rank, QUICK.top

    def violations(s):
        bad = []
        for c in range(len(QUICK.checkpoints)):
            for lag in range(len(QUICK.lags)):
                j = {name: s["jacobian"][name][c][lag]["median"] for name in s["jacobian"]}
                bad += [name for name, ok in (("ai", j["ai"] >= 1 - ATOL),
                                              ("ce_top", r / k - ATOL <= j["ce_top"] <= 1 + ATOL),
                                              ("ce_full", j["ce_full"] <= j["ce_top"] + ATOL),
                                              ("participation_ratio", j["participation_ratio"] >= 1 - ATOL)) if not ok]
            g = {name: s["gradient"][name][c]["median"] for name in s["gradient"]}
            bad += [f"gradient {name}" for name, ok in (("ai", g["ai"] >= 1 - ATOL), ("ce", g["ce_full"] <= 1 + ATOL))
                    if not ok]
        return bad

    for task in TASKS:
        for model in MODELS:
            for convention in CONVENTIONS:
                assert violations(summary["results"][task][model][convention]) == [], (task, model, convention)
    broken = json.loads(json.dumps(summary["results"]["adding"]["multi_sgd"]["exact"]))
    broken["jacobian"]["ai"][0][0]["median"] = 0.5
    assert violations(broken) == ["ai"]


def test_a_rerun_recomputes_nothing_and_gives_the_same_summary(quick, summary):
    directory = quick[3]
    code, out, _ = run_cli("reproduce", "anisotropy", "--quick", "--out", str(directory))
    assert code == 0
    assert f"0 computed, {len(CASES) * QUICK_SEEDS} reused" in out
    assert json.loads((directory / "summary.json").read_text())["results"] == summary["results"]


def test_bad_options_raise_reproduce_error(tmp_path):
    assert_bad_options_are_errors(tmp_path, "anisotropy", reproduce_anisotropy, jobs=True)
    with pytest.raises(verify.ReproduceError, match="output directory"):
        reproduce_anisotropy(tmp_path / "file" / "out", quick=True)
    code, _, err = run_cli("reproduce", "anisotropy", "--convention", "sideways", "--out", str(tmp_path / "c"))
    assert code == 2 and "sideways" in err


def test_figures_have_the_axes_a_reader_needs(quick):
    figures = quick[4]
    assert set(figures) == set(FIGURES)
    for name in ("jacobian_ai.png", "jacobian_ce.png"):
        axes = figures[name].axes
        assert len(axes) == len(TASKS) * len(CONVENTIONS)
        assert all(a.get_xlabel() == "lag $t - k$ (steps)" and a.get_xscale() == "log" for a in axes)
        assert [a.get_ylabel().split("\n")[0] for a in axes[::len(TASKS)]] == ["exact convention", "author convention"]
        assert figures[name].legends and len(figures[name].legends[0].get_texts()) == len(MODELS)
    assert all(a.get_yscale() == "log" for a in figures["jacobian_ai.png"].axes)
    bars = figures["gradient_covariance.png"].axes
    assert len(bars) == 2 * len(CONVENTIONS)
    assert all([t.get_text() for t in a.get_xticklabels()] == list(TASKS) for a in bars)
    assert all("dimensionless" in a.get_ylabel() for a in bars)



def test_workers_start_the_multi_gate_trainings_first_and_the_elman_ones_last():
    """The schedule of the default run (longest first by unit_cost): the ten multi-gate
    trainings, then the scalar-gate ones, then the Elman ones, each group in the given order;
    every model has a cost.  (That the order changes no number:
    test_two_worker_processes_give_the_numbers_of_one_bit_for_bit, whose --jobs 2 run starts them so.)"""
    assert sorted(MODEL_COST) == sorted(MODELS) and all(cost > 0 for cost in MODEL_COST.values())
    calls = [((f"{task}-{model}", 0), [convention]) for task in TASKS for model in MODELS for convention in CONVENTIONS]
    started = [calls[index][0][0] for index in _longest_first(calls, unit_cost)]
    expected = [f"{task}-{model}" for model in ("multi_sgd", "scalar_sgd", "plain_adam") for task in TASKS
                for _ in CONVENTIONS]
    assert started == expected

# ---------------------------------------------------------------------- the author convention
def test_author_convention_trains_every_step_on_the_same_batch():
    exact, author = (task_for(QUICK, "adding", 0, convention) for convention in CONVENTIONS)
    assert torch.equal(author.batch(5)[0], author.batch(0)[0]) and torch.equal(author.batch(5)[1], author.batch(0)[1])
    assert not torch.equal(exact.batch(5)[0], exact.batch(0)[0])
    assert torch.equal(exact.batch(0)[0], author.batch(0)[0])  # the same first batch: only the later ones differ
    with pytest.raises(verify.ReproduceError, match="same_batch"):
        verify.Task("adding", same_batch="yes")


def test_conventions_measure_different_products_at_the_same_weights():
    """For the plain RNN the author factors are the Jacobians themselves (no gate term), so the
    conventions differ only in the order of the product: at lags ≥ 2 the reversed product has
    another spectrum, which the recorded CE sees; the gradients do not depend on the convention."""
    model = numeric.module(cells.get("elman", bias=False), {"n": QUICK.state_size, "m": QUICK.channels}, outputs=1,
                           seed=3)
    task = task_for(QUICK, "adding", 0, "exact")
    examples = task.probe()
    exact, author = (measure(model, QUICK, task.probe(), examples, convention, 0) for convention in CONVENTIONS)
    ce = (np.array(exact["jacobian"]["ce_full"]), np.array(author["jacobian"]["ce_full"]))
    assert np.min(np.abs(ce[0][1:] - ce[1][1:])) > 1e-6
    assert exact["gradient"] == author["gradient"]


def test_narma10_redraws_a_diverged_sequence():
    """The S2 probe batch of seed 0 (T = 120, 64 sequences) holds one draw whose NARMA10
    recursion diverges: the raw recursion on the first draw gives a target beyond 10 (or inf /
    nan); the task redraws that sequence, so every target is finite and small."""
    task = verify.Task("narma10", length=120, channels=6, probe_size=64)
    first = np.zeros((64, 120, 6))
    first[:, :, 0] = task._rng(task.probe_seed, "probe", 0).uniform(0.0, 0.5, (64, 120))
    with np.errstate(over="ignore", invalid="ignore"):
        raw = _tasks._narma10_target(first)[:, 0]
    assert np.sum(~(np.abs(raw) <= _tasks.DIVERGED)) >= 1
    targets = task.probe()[1].numpy()[:, 0]
    assert np.all(np.isfinite(targets)) and np.all(np.abs(targets) <= _tasks.DIVERGED)
    kept = np.abs(raw) <= _tasks.DIVERGED  # the other sequences are the first draw's
    assert np.allclose(targets[kept], raw[kept], rtol=tolerance("reference", "float32", 1.0).rtol)


# ---------------------------------------------------------------------- the paper's S2 claim (slow)
@pytest.fixture(scope="module")
def paper_run(request, tmp_path_factory):
    """The paper's settings, exact convention, one seed, in a temporary directory (≈ 10 min on a
    quiet machine); with ``GATEJAC_ANISOTROPY_OUT`` set to a default run's directory its per-seed
    results are copied in first and reused (nothing recomputed, that run's files untouched)."""
    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("the paper-scale run takes minutes: run with -m slow")
    out = tmp_path_factory.mktemp("anisotropy-paper")
    if os.environ.get("GATEJAC_ANISOTROPY_OUT"):
        shutil.copytree(Path(os.environ["GATEJAC_ANISOTROPY_OUT"]) / "seeds", out / "seeds")
    return reproduce_anisotropy(out, convention="exact", progress=False).summary["results"]


def _share_multi_at_least_adam(results, pick) -> float:
    wins = [np.asarray(pick(results[task]["multi_sgd"]["exact"])) >= np.asarray(pick(results[task]["plain_adam"]["exact"]))
            for task in TASKS]
    return float(np.mean(np.concatenate([np.ravel(w) for w in wins])))


@pytest.mark.slow
def test_claim_multi_gate_sgd_jacobian_ce_matches_or_exceeds_adam_at_most_lags_and_tasks(paper_run):
    """The paper's claim, as a soft check: median CE₁₀ (top-16) of multi-gate + SGD ≥ plain + Adam's at the
    last checkpoint, at more than half of the (task, lag) pairs.  Does NOT hold in the committed
    default run (1 seed): 16 % of the pairs (author convention: 4 %)."""
    share = _share_multi_at_least_adam(paper_run, lambda s: [q["median"] for q in s["jacobian"]["ce_top"][-1]])
    print(f"multi-gate + SGD Jacobian CE10 >= plain + Adam at {share:.0%} of (task, lag)")
    assert share > 0.5


@pytest.mark.slow
def test_claim_multi_gate_sgd_gradient_ce_matches_or_exceeds_adam_on_most_tasks(paper_run):
    """The same claim for the update anisotropy: gradient-covariance CE₁₀ at the last checkpoint.
    Holds in the committed default run (1 seed): all five tasks, both conventions."""
    share = _share_multi_at_least_adam(paper_run, lambda s: s["gradient"]["ce_full"][-1]["median"])
    print(f"multi-gate + SGD gradient CE10 >= plain + Adam on {share:.0%} of the tasks")
    assert share > 0.5


@pytest.mark.slow
def test_claim_multi_gate_sgd_jacobian_ai_matches_or_exceeds_adam_at_most_lags_and_tasks(paper_run):
    """The paper's claim that gated models concentrate gradient flow — AI₁₀ up as well as CE₁₀.  Does NOT
    hold in the committed default run (1 seed): 44 % of the pairs (author convention: 22 %)."""
    share = _share_multi_at_least_adam(paper_run, lambda s: [q["median"] for q in s["jacobian"]["ai"][-1]])
    print(f"multi-gate + SGD Jacobian AI10 >= plain + Adam at {share:.0%} of (task, lag)")
    assert share > 0.5
