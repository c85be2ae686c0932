"""S2 propagation anisotropy (numeric/_anisotropy.py; Livi 2025, arXiv:2508.12121, Section VII-B):
the spectrum metrics and the Jacobian products of sampled pairs — the bounds and invariances of
docs/theory.md: “Anisotropy of transports and updates”.

Oracles: closed forms (Φ = cQ, rank one, flat spectra), and the dense transports of the
trajectory engine (``Trajectory.transport``) with ``numpy.linalg.svd``.  Tolerances: singular
values of a product of ≤ 12 factors from two different product orders and rescalings agree
to ~ℓ·ε·Π‖J‖ relative to σ₁ — 1e-12·σ₁ absolute; closed forms to 1e-12 (ratios of sums of
≤ 16 terms, each exact to ε).
"""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric._anisotropy import LAGS, jacobian_anisotropy, sample_pairs, spectrum_metrics
from gatejac.symbolic import GatejacError, cells
from gatejac.verify._tolerances import tolerance


def _orthogonal(size, seed):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((size, size)))[0]


def _trajectory(name, *, steps=14, batch=3, backend="numpy"):
    cell = cells.get(name)
    sizes = {"n": 6, "m": 3}
    params = numeric.initialise(cell, sizes, seed=2)
    rng = np.random.default_rng(3)
    states = {s.name: 0.3 * rng.standard_normal((batch, 6)) for s in cell.states}
    inputs = {"x": rng.uniform(size=(steps, batch, 3))}
    if backend == "torch":
        states, inputs, params = (numeric.convert(v, "torch", "float64") for v in (states, inputs, params))
    return numeric.rollout(numeric.compile(cell, backend), states, inputs, params)


# ------------------------------------------------------------------ group D, 21: bounds
def test_bounds_on_random_spectra():
    rng = np.random.default_rng(0)
    values = -np.sort(-np.abs(rng.standard_normal((500, 64)) * np.exp(rng.normal(0, 2, (500, 1)))), axis=1)
    m = spectrum_metrics(values)
    assert np.all(m.ai >= 1)
    assert np.all((m.ce_top >= 10 / 16 - 1e-12) & (m.ce_top <= 1))
    assert np.all((m.ce_full >= 10 / 64 - 1e-12) & (m.ce_full <= 1))
    assert np.all(m.ce_full <= m.ce_top)


@pytest.mark.parametrize("scale", [1e-3, 0.5, 7.0])
def test_scaled_orthogonal_is_isotropic(scale):
    """Φ = cQ: AI_r = 1 (up to the guard 1e-12/c), CE_r = r/N (full) and r/16 (top-16)."""
    values = np.linalg.svd(scale * _orthogonal(64, 1), compute_uv=False)
    m = spectrum_metrics(values)
    assert m.ai == pytest.approx(1, abs=1e-12 / scale + 1e-13)
    energy_guard = 1e-12 / (16 * scale ** 2)  # the + 1e-12 of the denominators, relative (≥ 16 c² energy)
    assert m.ce_full == pytest.approx(10 / 64, rel=1e-12 + energy_guard)
    assert m.ce_top == pytest.approx(10 / 16, rel=1e-12 + energy_guard)
    assert m.participation_ratio == pytest.approx(64, rel=1e-12)
    assert m.effective_rank == pytest.approx(64, rel=1e-12)


def test_rank_one_concentrates_all_energy():
    rng = np.random.default_rng(2)
    values = np.linalg.svd(np.outer(rng.standard_normal(32), rng.standard_normal(32)), compute_uv=False)
    m = spectrum_metrics(values)
    assert m.ce_full == pytest.approx(1, abs=1e-12) and m.ce_top == pytest.approx(1, abs=1e-12)
    assert m.participation_ratio == pytest.approx(1, rel=1e-12)
    assert m.ai > 1e10


def test_top_k_and_full_normalisations_differ_where_the_tail_carries_energy():
    """The checker tells the two normalisations apart: on a flat spectrum of 64 they give 10/16 and 10/64."""
    m = spectrum_metrics(np.ones(64))
    assert abs(m.ce_top - m.ce_full) > 0.4


def _linear_trajectory(residual, steps=45, batch=3):
    """The WCRNN with γ = 0: h_t = R h_{t−1}, so every step Jacobian is R and Φ(t, k) = R^{t−k}."""
    cell = cells.get("wcrnn")
    size = residual.shape[0]
    params = numeric.initialise(cell, {"n": size, "m": 2}, seed=0, overrides={"R": residual, "gamma": 0.0})
    rng = np.random.default_rng(5)
    return numeric.rollout(numeric.compile(cell), {"h": rng.standard_normal((batch, size))},
                           {"x": rng.uniform(size=(steps, batch, 2))}, params)


@pytest.mark.parametrize("convention", ["exact", "author"])
def test_products_of_a_scaled_rotation_are_isotropic_at_every_lag(convention):
    """Bounds (docs/theory.md: “Anisotropy of transports and updates”) through the whole pipeline: Φ = (cQ)^h = c^h Q^h gives AI₁₀ = 1,
    CE₁₀ = 10/64 (full) and 10/16 (top-16) at every lag, under both conventions (the guard
    1e-12 acts on Φ/‖Φ‖_F, whose singular values are 1/8: a relative 8e-12); a non-orthogonal
    R of the same norm is caught."""
    bound = tolerance("reference", "float64", 1.0).bound(1.0)
    medians = jacobian_anisotropy(_linear_trajectory(0.9 * _orthogonal(64, 1)), pairs_per_lag=8,
                                  convention=convention).medians()
    assert np.all(np.abs(medians["ai"] - 1) <= bound)
    assert np.all(np.abs(medians["ce_full"] - 10 / 64) <= bound)
    assert np.all(np.abs(medians["ce_top"] - 10 / 16) <= bound)
    assert np.all(np.abs(medians["participation_ratio"] - 64) <= 64 * bound)
    skewed = _orthogonal(64, 1) @ np.diag(np.linspace(0.8, 1.0, 64))
    caught = jacobian_anisotropy(_linear_trajectory(skewed), pairs_per_lag=8, convention=convention).medians()
    assert np.all(caught["ai"] - 1 > 1e-3)


def test_products_of_a_rank_one_step_concentrate_all_energy():
    """Bounds: a rank-one Φ (R = c u vᵀ, so R^h = c^h (vᵀu)^{h−1} u vᵀ) has CE₁₀ = 1
    (both normalisations) and a participation ratio of 1 at every lag."""
    rng = np.random.default_rng(6)
    u, v = rng.standard_normal(32), rng.standard_normal(32)
    medians = jacobian_anisotropy(_linear_trajectory(0.5 * np.outer(u, v / (v @ u))), pairs_per_lag=8).medians()
    bound = tolerance("reference", "float64", 1.0).bound(1.0)
    assert np.all(np.abs(medians["ce_full"] - 1) <= bound) and np.all(np.abs(medians["ce_top"] - 1) <= bound)
    assert np.all(np.abs(medians["participation_ratio"] - 1) <= bound)


# ------------------------------------------------------------------ group D, 23: invariances
def test_participation_ratio_between_one_and_rank_and_rank_for_flat():
    rng = np.random.default_rng(4)
    for rank in (1, 3, 17):
        values = np.zeros(20)
        values[:rank] = np.sort(rng.uniform(0.1, 3, rank))[::-1]
        m = spectrum_metrics(values)
        assert 1 - 1e-12 <= m.participation_ratio <= rank + 1e-12
        assert 1 - 1e-12 <= m.effective_rank <= rank + 1e-12
        flat = spectrum_metrics(np.r_[np.full(rank, 2.5), np.zeros(20 - rank)])
        assert flat.participation_ratio == pytest.approx(rank, rel=1e-12)
        assert flat.effective_rank == pytest.approx(rank, rel=1e-12)


def test_metrics_reject_unsorted_or_negative_spectra():
    bad_spectra = [(np.array([1.0, 2.0]), "descending"), (np.array([1.0, -1.0]), "≥ 0"),
                   (np.zeros((3, 0)), "n ≥ 1")]
    for bad, word in bad_spectra:
        with pytest.raises(GatejacError, match=word):
            spectrum_metrics(bad)
    with pytest.raises(GatejacError, match="r=0"):
        spectrum_metrics(np.ones(3), r=0)


# ------------------------------------------------------------------ Jacobian products
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sampled_products_have_the_spectra_of_the_dense_transports(backend):
    trajectory = _trajectory("multi_gate", backend=backend)
    oracle_trajectory = _trajectory("multi_gate")
    result = jacobian_anisotropy(trajectory, lags=[1, 4, 12], pairs_per_lag=8, seed=5)
    for lag in result.lags:
        assert result.pairs[lag].shape == (8, 3)
        for (b, t, k), values in zip(result.pairs[lag], result.singular_values[lag]):
            assert t - k == lag
            oracle = np.linalg.svd(oracle_trajectory.transport(int(t), int(k))[b], compute_uv=False)
            assert np.max(np.abs(values - oracle)) < 1e-12 * oracle[0]
        expected = spectrum_metrics(result.singular_values[lag] / np.linalg.norm(result.singular_values[lag],
                                                                                  axis=1, keepdims=True))
        assert np.allclose(result.metrics[lag].ai, expected.ai, rtol=1e-12)
    medians = result.medians()
    assert medians["ce_top"].shape == (3,)


def test_author_products_are_reversed_and_the_checker_sees_the_order():
    trajectory = _trajectory("multi_gate")
    A, B = numeric.expansion_factors(trajectory, "author")
    author = jacobian_anisotropy(trajectory, lags=[6], pairs_per_lag=5, convention="author", seed=1)
    worst_exact = 0.0
    for (b, t, k), values in zip(author.pairs[6], author.singular_values[6]):
        product = np.eye(6)
        for j in range(k + 1, t + 1):
            product = product @ (A[j - 1, b] + B[j - 1, b])
        oracle = np.linalg.svd(product, compute_uv=False)
        assert np.max(np.abs(values - oracle)) < 1e-12 * oracle[0]
        exact = np.linalg.svd(trajectory.transport(int(t), int(k))[b], compute_uv=False)
        worst_exact = max(worst_exact, np.max(np.abs(values - exact)) / exact[0])
    assert worst_exact > 1e-3


def test_pairs_are_sampled_without_replacement_and_seeded():
    rng = np.random.default_rng(0)
    pairs = sample_pairs(4, 20, 5, 30, rng)
    assert len({tuple(p) for p in pairs}) == 30
    assert np.all(pairs[:, 1] - pairs[:, 2] == 5) and np.all(pairs[:, 1] <= 20) and np.all(pairs[:, 0] < 4)
    assert sample_pairs(2, 6, 5, 64, rng).shape == (4, 3)  # fewer candidates than asked: all of them
    trajectory = _trajectory("scalar_gate")
    first = jacobian_anisotropy(trajectory, lags=[3], pairs_per_lag=4, seed=9)
    assert np.array_equal(first.pairs[3], jacobian_anisotropy(trajectory, lags=[3], pairs_per_lag=4, seed=9).pairs[3])


def test_long_lags_do_not_underflow():
    """Φ = 0.2^h I at h = 500 (about 1e-350): σ underflows to 0, yet the metrics (on Φ/‖Φ‖_F) are exact."""
    cell = cells.get("leaky")
    params = numeric.initialise(cell, {"n": 4, "m": 2}, seed=0)
    params["W"] = np.zeros((4, 4))
    trajectory = numeric.rollout(numeric.compile(cell), {"h": np.zeros((1, 4))},
                                 {"x": np.zeros((520, 1, 2))}, params)
    result = jacobian_anisotropy(trajectory, lags=[500], pairs_per_lag=2)
    assert np.all(result.singular_values[500] == 0)  # underflowed σ are zero, not NaN
    assert np.allclose(result.metrics[500].ai, 1, rtol=1e-11)
    assert np.allclose(result.metrics[500].ce_full, 1.0)  # r = 10 clipped to N = 4: all the energy
    assert np.allclose(result.metrics[500].participation_ratio, 4, rtol=1e-12)


def test_errors_name_the_argument():
    trajectory = _trajectory("leaky")
    for call, word in [(lambda: jacobian_anisotropy(trajectory, lags=[0]), "lag"),
                       (lambda: jacobian_anisotropy(trajectory, lags=[40]), "lag"),
                       (lambda: jacobian_anisotropy(trajectory, lags="1"), "lags"),
                       (lambda: jacobian_anisotropy(trajectory, pairs_per_lag=0), "pairs_per_lag"),
                       (lambda: jacobian_anisotropy(trajectory, convention="code"), "convention")]:
        with pytest.raises(GatejacError, match=word):
            call()
    assert LAGS == (1, 2, 4, 8, 12, 16, 24, 32, 40)
