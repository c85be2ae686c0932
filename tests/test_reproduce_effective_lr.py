"""``gatejac reproduce effective-lr`` (verify._reproduce_effective_lr): the S1 experiment of
Livi 2025 (arXiv:2508.12121, Section VII-A) run with ``--quick`` (small sizes, 2 seeds), its
summary, its figures, its per-seed files and training checkpoints and their reuse after an
interruption.

Oracles: the exact profile of a checkpoint is recomputed here from a module built and
trained independently (same seed), with dense Jacobian products and ``numpy.linalg.norm(·,
2)`` (an SVD) for S and plain medians for the profile, at the "reference" float64 tolerance
of verify/_tolerances.py; the author-convention record against ``numeric`` called directly
with the public code's settings.  The ``slow`` tests at the end (run with ``-m slow``; skipped
otherwise) run the paper's settings and check its S1 claims: (1) the leaky profile decreases
in the lag before training, (2) s varies over training, (3) the gate products explain S
(R² recorded; read as R² ≥ 0.9).
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from reproduce_runs import (assert_bad_options_are_errors, assert_jobs_change_no_number, assert_wrote_every_file,
                            quick_run, run_cli, summary_of)

import gatejac
from gatejac import numeric, verify
from gatejac.symbolic import cells
from gatejac.verify import _figures_learning, _reproduce_effective_lr
from gatejac.verify._reproduce_effective_lr import (
    PAPER, QUICK, QUICK_SEEDS, checkpoint_directory, claims, differences, relative_profile_difference,
)
from gatejac.verify._tolerances import tolerance

MODELS = ("leaky", "scalar_gate", "multi_gate")
CONVENTIONS = ("exact", "author")
FIGURES = ("profiles_exact.png", "heatmap_exact.png", "profiles_author.png", "heatmap_author.png", "slope.png",
           "exact_vs_author.png")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``gatejac reproduce effective-lr --quick`` run: (exit code, stdout, stderr,
    directory, the figure objects it rendered by file name)."""
    return quick_run(tmp_path_factory.mktemp("effective-lr"), _figures_learning, "effective-lr", FIGURES, "--jobs", "2")


@pytest.fixture(scope="module")
def summary(quick):
    return summary_of(quick)


def _record(directory, model, convention, seed):
    return json.loads((directory / "seeds" / f"{model}-{convention}-seed{seed:02d}.json").read_text())["result"]


# ---------------------------------------------------------------------- the command
def test_quick_run_exits_0_prints_the_table_and_writes_every_file(quick):
    assert_wrote_every_file(quick, FIGURES)
    _, out, err, directory, _ = quick
    assert sorted(p.name for p in (directory / "seeds").iterdir()) == sorted(
        f"{m}-{c}-seed{s:02d}.json" for m in MODELS for c in CONVENTIONS for s in range(QUICK_SEEDS))
    for model in MODELS:
        for seed in range(QUICK_SEEDS):
            saved = sorted(p.name for p in checkpoint_directory(directory, model, seed, QUICK).iterdir())
            assert saved == [f"checkpoint-{c:06d}.pt" for c in QUICK.checkpoints]
    header = next(line for line in out.splitlines() if line.startswith("model "))
    assert "s exact median [Q1, Q3]" in header and "s_author - s_exact" in header
    rows = [line.split()[:2] for line in out.splitlines() if line.split()[:1] in ([m] for m in MODELS)]
    assert rows == [[m, str(c)] for m in MODELS for c in QUICK.checkpoints]
    assert "6 computed, 0 reused" in out
    progress = [line for line in err.splitlines() if line.startswith("reproduce effective-lr")]
    assert len(progress) == len(MODELS) * QUICK_SEEDS
    assert not any(line.startswith("train adding") for line in err.splitlines())  # no bars from the workers


def test_two_worker_processes_give_the_numbers_of_one_bit_for_bit(quick):
    err = assert_jobs_change_no_number(quick, "effective-lr")
    assert any(line.startswith("train adding") for line in err.splitlines())  # in-process, the training shows its steps


def test_summary_has_s_and_r2_per_model_convention_and_checkpoint(summary):
    assert summary["gatejac"] == gatejac.__version__
    settings = summary["settings"]
    assert settings["quick"] is True and settings["seeds"] == QUICK_SEEDS
    assert settings["conventions"] == list(CONVENTIONS) and settings["norms"] == {"exact": "exact", "author": "power5"}
    assert set(summary["results"]) == set(MODELS)
    for model in MODELS:
        for convention in CONVENTIONS:
            result = summary["results"][model][convention]
            assert result["checkpoints"] == list(QUICK.checkpoints)
            for entry in result["by_checkpoint"].values():
                for key in ("slope", "r_squared", "probe_loss"):
                    assert {"median", "q25", "q75", "iqr"} == set(entry[key])
                    assert entry[key]["q25"] <= entry[key]["median"] <= entry[key]["q75"]
                assert 0.9 < entry["r_squared"]["median"] <= 1
                assert len(entry["profile_median"]) == QUICK.length
                assert entry["profile_median"][0] == pytest.approx(1, rel=1e-10)  # μ̃_eff(1) = 1
        for entry in summary["exact_vs_author"][model].values():
            assert set(entry) == {"slope_difference", "max_relative_profile_difference"}
            assert entry["max_relative_profile_difference"]["median"] > 0
    for convention in CONVENTIONS:
        assert set(summary["claims"][convention]) >= {"leaky_profile_decreasing_at_first_checkpoint", *MODELS}


def test_training_lowers_the_probe_loss(summary):
    for model in MODELS:
        entries = summary["results"][model]["exact"]["by_checkpoint"]
        first, last = entries[str(QUICK.checkpoints[0])], entries[str(QUICK.checkpoints[-1])]
        assert last["probe_loss"]["median"] < first["probe_loss"]["median"], model


# ---------------------------------------------------------------------- the numbers against oracles
def _trained(model, seed, iteration):
    """An independent copy of the run's model at a checkpoint: built and trained here."""
    cell = cells.get(model, bias=False)
    module = numeric.module(cell, {"n": QUICK.state_size, "m": QUICK.channels}, outputs=1, seed=seed)
    if iteration:
        verify.train(module, QUICK.task_of(seed), steps=iteration, progress=False, seed=seed)
    return cell, module


def _dense_profile(cell, module, inputs) -> np.ndarray:
    """μ̃_eff(h) from dense chain-order products J_t ⋯ J_{k+1} and their SVD norms."""
    params = numeric.convert(module.values(), "numpy", "float64")
    trajectory = numeric.rollout(numeric.compile(cell), {"h": np.zeros((inputs.shape[1], QUICK.state_size))},
                                 {"x": inputs}, params)
    jacobians = np.asarray(trajectory.step_jacobians())
    steps = QUICK.length
    by_lag = [[] for _ in range(steps)]
    for k in range(steps):
        product = np.broadcast_to(np.eye(QUICK.state_size), jacobians.shape[1:]).copy()
        for t in range(k + 1, steps + 1):
            product = jacobians[t - 1] @ product
            by_lag[t - k - 1].extend(np.linalg.norm(product, ord=2, axis=(-2, -1)))
    medians = np.array([np.median(values) for values in by_lag])
    return medians / (medians[0] + 1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_the_exact_profile_is_that_of_dense_products_on_the_probe_batch(quick, model):
    directory = quick[3]
    record = _record(directory, model, "exact", 1)
    index = 1  # the middle checkpoint: after some training
    cell, module = _trained(model, 1, QUICK.checkpoints[index])
    probe, _ = QUICK.task_of(1).probe()
    oracle = _dense_profile(cell, module, probe.double().numpy().transpose(1, 0, 2))
    bound = tolerance("reference", "float64", 1.0).bound(np.abs(oracle))
    assert np.all(np.abs(np.array(record["profile"][index]) - oracle) <= bound)
    other, _ = QUICK.task_of(0).probe()  # the checker sees a wrong probe batch
    wrong = _dense_profile(cell, module, other.double().numpy().transpose(1, 0, 2))
    assert np.max(np.abs(np.array(record["profile"][index]) - wrong)) > 1e-3


def test_the_author_record_is_the_public_codes_convention(quick):
    directory = quick[3]
    record = _record(directory, "multi_gate", "author", 0)
    cell, module = _trained("multi_gate", 0, 0)
    probe, _ = QUICK.task_of(0).probe()
    params = numeric.convert(module.values(), "numpy", "float64")
    trajectory = numeric.rollout(numeric.compile(cell), {"h": np.zeros((QUICK.probe_size, QUICK.state_size))},
                                 {"x": probe.double().numpy().transpose(1, 0, 2)}, params)
    expected = numeric.effective_learning_rates(trajectory, convention="author", norm="power5", seed=0)
    assert record["slope"][0] == pytest.approx(expected.fit.slope, rel=1e-12)
    assert np.allclose(record["profile"][0], expected.profile, rtol=1e-12, equal_nan=True)
    exact = numeric.effective_learning_rates(trajectory)
    assert abs(record["slope"][0] - exact.fit.slope) > 1e-4  # the conventions do differ
    assert record["profile"][0][-1] is None or np.isnan(record["profile"][0][-1])  # lag T needs k = 0


def test_the_leaky_model_keeps_alpha_and_no_model_has_biases():
    for model in MODELS:
        cell, module = _trained(model, 0, 0)
        names = {name for name, _ in module.named_parameters()}
        assert not any(name.split(".")[-1].startswith("b") for name in names), names
    _, leaky = _trained("leaky", 0, 0)
    assert float(leaky.weights.alpha) == pytest.approx(0.8, rel=1e-7)
    assert PAPER.fixed["alpha"] == 0.8


def test_the_paper_settings_are_the_defaults():
    assert (PAPER.task, PAPER.length, PAPER.state_size, PAPER.channels) == ("adding", 80, 64, 4)
    assert (PAPER.batch_size, PAPER.probe_size, PAPER.optimizer, PAPER.lr) == (64, 12, "sgd", 1e-2)
    assert (PAPER.steps, PAPER.checkpoints) == (800, (0, 50, 200, 400, 600, 800))
    assert PAPER.task_of(3).probe_seed == 3 + 999


# ---------------------------------------------------------------------- statistics
def test_relative_profile_difference_and_its_sign_convention():
    exact = np.array([1.0, 0.5, 0.25, 0.1])
    assert relative_profile_difference(exact, exact) == 0
    assert relative_profile_difference([1.0, 0.5, 0.2, np.nan], exact) == pytest.approx(0.2)
    assert np.isnan(relative_profile_difference([np.nan] * 4, exact))
    record = {"checkpoints": [0], "slope": [0.5], "profile": [exact.tolist()]}
    other = dict(record, slope=[0.7], profile=[[1.0, 0.6, 0.25, 0.1]])
    gap = differences([record], [other])["0"]
    assert gap["slope_difference"]["median"] == pytest.approx(0.2)  # s_author − s_exact
    assert gap["max_relative_profile_difference"]["median"] == pytest.approx(0.2)


def test_claims_flag_a_profile_that_rises():
    def stats(profile, slopes):
        return {"checkpoints": [0, 5], "by_checkpoint": {
            str(c): {"profile_median": profile, "slope": {"median": s}, "r_squared": {"median": 0.99}}
            for c, s in zip((0, 5), slopes)}}

    settings = QUICK.__class__(checkpoints=(0, 5))
    falling = claims({"leaky": {"exact": stats([1.0, 0.5, 0.2], [2.0, 2.5])}}, settings)["exact"]
    assert falling["leaky_profile_decreasing_at_first_checkpoint"] is True
    assert falling["leaky"]["slope_range"] == pytest.approx(0.5)
    rising = claims({"leaky": {"exact": stats([1.0, 0.5, 0.6], [2.0, 2.0])}}, settings)["exact"]
    assert rising["leaky_profile_decreasing_at_first_checkpoint"] is False
    assert rising["leaky_profile_largest_increase_at_first_checkpoint"] == pytest.approx(0.1)


# ---------------------------------------------------------------------- figures
def test_figures_have_the_axes_a_reader_needs(quick):
    drawn = quick[4]
    assert set(drawn) == set(FIGURES)
    profiles = drawn["profiles_exact.png"]
    assert len(profiles.axes) == 6  # 3 models × (first, last checkpoint)
    for axis in profiles.axes:
        assert axis.get_yscale() == "log" and "lag" in axis.get_xlabel()
        texts = [t.get_text() for t in axis.get_legend().get_texts()]
        assert any("median s =" in t and "R²" in t for t in texts) and any("predicted" in t for t in texts)
    heatmap = drawn["heatmap_author.png"]
    images = [axis for axis in heatmap.axes if axis.get_images()]
    assert len(images) == 3 and all("iteration" in a.get_ylabel() for a in images)
    assert [t.get_text() for t in images[0].get_yticklabels()] == [str(c) for c in QUICK.checkpoints]
    slope = drawn["slope.png"]
    assert "slope" in slope.axes[0].get_ylabel() and "R^2" in slope.axes[1].get_ylabel()
    assert len(slope.legends[0].get_texts()) == len(MODELS) * len(CONVENTIONS)
    for figure in drawn.values():
        assert "T = 16 steps" in figure.get_suptitle()


# ---------------------------------------------------------------------- reuse and interruption
def test_a_rerun_recomputes_nothing(quick, monkeypatch):
    directory = quick[3]
    before = json.loads((directory / "summary.json").read_text())

    def refuse(*args, **options):
        raise AssertionError(f"recomputed {args[:2]}")

    monkeypatch.setattr(_reproduce_effective_lr, "seed_results", refuse)
    with contextlib.redirect_stdout(io.StringIO()):
        again = verify.reproduce_effective_lr(directory, quick=True, progress=False)
    assert (again.reused, again.computed) == (len(MODELS) * QUICK_SEEDS, 0)
    assert json.loads((directory / "summary.json").read_text()) == before


def test_an_interrupted_run_keeps_its_finished_seeds_and_resumes_its_training(tmp_path, monkeypatch):
    """Ctrl-C during the second model's training: the first model's seed file is kept, and so
    are the second's checkpoints; the resumed run trains from the last one and ends with the
    same results as an uninterrupted run."""
    train = _reproduce_effective_lr.train
    calls = []

    def interrupted(module, task, *, callback, **options):
        def stop(iteration, model):
            callback(iteration, model)
            if len(calls) == 2 and iteration == QUICK.checkpoints[1]:
                raise KeyboardInterrupt
        calls.append(task.seed)
        return train(module, task, callback=stop, **options)

    monkeypatch.setattr(_reproduce_effective_lr, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify.reproduce_effective_lr(tmp_path / "run", seeds=1, quick=True, convention="exact", progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "seeds").iterdir()) == ["leaky-exact-seed00.json"]
    saved = checkpoint_directory(tmp_path / "run", "scalar_gate", 0, QUICK)
    assert sorted(p.name for p in saved.iterdir()) == [f"checkpoint-{c:06d}.pt" for c in QUICK.checkpoints[:2]]
    assert not (tmp_path / "run" / "summary.json").exists()

    monkeypatch.setattr(_reproduce_effective_lr, "train", train)
    with contextlib.redirect_stdout(io.StringIO()):
        resumed = verify.reproduce_effective_lr(tmp_path / "run", seeds=1, quick=True, convention="exact",
                                                progress=False)
        fresh = verify.reproduce_effective_lr(tmp_path / "fresh", seeds=1, quick=True, convention="exact",
                                              progress=False)
    assert (resumed.reused, resumed.computed) == (1, 2) and (fresh.reused, fresh.computed) == (0, 3)
    assert resumed.summary == fresh.summary
    assert list(resumed.summary["results"]["leaky"]) == ["exact"] and "exact_vs_author" not in resumed.summary


def test_ctrl_c_on_the_command_line_exits_130_and_says_how_to_resume(tmp_path, monkeypatch):
    def interrupted(*args, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(_reproduce_effective_lr, "seed_results", interrupted)
    code, _, err = run_cli("reproduce", "effective-lr", "--quick", "--jobs", "1", "--out", str(tmp_path))
    assert code == 130
    assert f"the finished seeds and training checkpoints are kept in {tmp_path}" in err


# ---------------------------------------------------------------------- errors
def test_bad_options_are_errors_naming_the_option(tmp_path):
    assert_bad_options_are_errors(tmp_path, "effective-lr", verify.reproduce_effective_lr, jobs=True)
    with pytest.raises(verify.ReproduceError, match="seeds=2.5"):
        verify.reproduce_effective_lr(tmp_path, seeds=2.5)
    code, _, err = run_cli("reproduce", "effective-lr", "--convention", "paper")
    assert code == 2 and "--convention" in err and "invalid choice" in err


# ---------------------------------------------------------------------- the paper's claims (slow)
@pytest.fixture(scope="module")
def paper_run(request, tmp_path_factory):
    """The default run (3 seeds, both conventions; ≈ 10 minutes), only under ``-m slow``.
    GATEJAC_EFFECTIVE_LR_OUT names a directory to run in (a finished run there is reused, not
    recomputed)."""
    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("the paper-scale run takes minutes: run with -m slow")
    directory = os.environ.get("GATEJAC_EFFECTIVE_LR_OUT") or tmp_path_factory.mktemp("effective-lr-paper")
    with contextlib.redirect_stdout(io.StringIO()):
        return verify.reproduce_effective_lr(directory, progress=False).summary


@pytest.mark.slow
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_slow_the_leaky_profile_decreases_in_the_lag_at_checkpoint_0(paper_run, convention):
    """Claim 1: μ̃_eff(h) decreases in h for the leaky model before training."""
    assert paper_run["claims"][convention]["leaky_profile_decreasing_at_first_checkpoint"]


@pytest.mark.slow
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("model", MODELS)
def test_slow_the_slope_varies_over_training(paper_run, model, convention):
    """Claim 2: s(ℓ) varies across checkpoints — by more than the quartile spread over seeds
    at the first checkpoint (a change the seeds alone would not make)."""
    entry = paper_run["claims"][convention][model]
    first = paper_run["results"][model][convention]["by_checkpoint"][str(PAPER.checkpoints[0])]["slope"]
    assert entry["slope_range"] > first["iqr"], (entry, first)


@pytest.mark.slow
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("model", MODELS)
def test_slow_the_gate_products_explain_the_sensitivities(paper_run, model, convention):
    """Claim 3: R² of the log–log fit is recorded; the claim that the zeroth-order gate
    product predicts S is read as R² ≥ 0.9 at every checkpoint."""
    for entry in paper_run["results"][model][convention]["by_checkpoint"].values():
        assert entry["r_squared"]["median"] >= 0.9
