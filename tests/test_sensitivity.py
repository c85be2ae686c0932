"""S1 effective learning rates (numeric/_sensitivity.py, numeric/_sensitivity_profile.py;
Livi 2025, arXiv:2508.12121, Section VII-A; docs/theory.md: “Transports and backpropagation”).

Oracles, independent of the code under test: the dense transport of the trajectory engine
(``Trajectory.transport``) and ``numpy.linalg.norm(·, 2)`` (an SVD) for S; gate values read
from the compiled cell's intermediates and multiplied out in plain loops for P; closed forms
for cells whose Jacobian is c·I (the leaky cell with W = 0 has J = (1 − α) I exactly).
Tolerances: σ₁ from λ_max(ΦᵀΦ) against an SVD agrees to a few ε relative per product, and a
product of ℓ ≤ 12 factors of norm ≤ 2 carries ≤ ℓ·ε·Π‖J‖ — so 1e-11 relative; closed forms
to 1e-12 relative (ln S sums ℓ logs, each exact to ε).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric._sensitivity import sensitivities
from gatejac.numeric._sensitivity_profile import (
    effective_learning_rates, fit_slope, gate_products, lag_profile, step_retention,
)
from gatejac.symbolic import GatejacError, cells

SIZES = {"n": 5, "m": 3}


def _trajectory(name, *, steps=12, batch=2, seed=0, backend="numpy", params=None, **options):
    cell = cells.get(name, **options)
    values = numeric.initialise(cell, SIZES, seed=seed, backend="numpy")
    values.update(params or {})
    rng = np.random.default_rng(seed + 1)
    inputs = {"x": rng.uniform(size=(steps, batch, SIZES["m"]))}
    states = {s.name: 0.3 * rng.standard_normal((batch, SIZES["n"])) for s in cell.states}
    if backend == "torch":
        states, inputs, values = (numeric.convert(v, "torch", "float64") for v in (states, inputs, values))
    return numeric.rollout(numeric.compile(cell, backend), states, inputs, values)


def _dense_norms(trajectory, reversed_order=False, factors=None):
    """‖Φ(t, k)‖₂ by dense products and an SVD, for every pair, ``(B, T+1, T+1)``."""
    steps = trajectory.steps
    factors = trajectory.step_jacobians() if factors is None else factors
    result = np.full((factors.shape[1], steps + 1, steps + 1), np.nan)
    for k in range(steps):
        product = np.broadcast_to(np.eye(factors.shape[-1]), factors.shape[1:]).copy()
        for t in range(k + 1, steps + 1):
            product = product @ factors[t - 1] if reversed_order else factors[t - 1] @ product
            result[:, t, k] = np.linalg.norm(product, ord=2, axis=(-2, -1))
    return result


def _relative(a, b):
    mask = ~np.isnan(b)
    assert np.array_equal(mask, ~np.isnan(a))
    return float(np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask])))


# -------------------------------------------------------------------- sensitivities vs oracle
@pytest.mark.parametrize("name", ["leaky", "scalar_gate", "multi_gate", "gru_torch", "lstm_torch"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_exact_sensitivities_equal_dense_svd_norms(name, backend):
    trajectory = _trajectory(name, backend=backend)
    oracle = _dense_norms(_trajectory(name))
    assert _relative(sensitivities(trajectory).values, oracle) < 1e-11


def test_checker_catches_reversed_order_and_power_iteration():
    """The oracle comparison fails for the reversed product and for the 5-step power iteration."""
    trajectory = _trajectory("multi_gate")
    oracle = _dense_norms(trajectory)
    assert _relative(_dense_norms(trajectory, reversed_order=True), oracle) > 1e-3
    power = sensitivities(trajectory, norm="power5").values
    assert _relative(power, oracle) > 1e-3
    mask = ~np.isnan(oracle)
    assert np.all(power[mask] <= oracle[mask] * (1 + 1e-12))  # a lower bound of the norm


def test_author_convention_is_the_reversed_product_of_the_author_factors():
    trajectory = _trajectory("multi_gate")
    A, B = numeric.expansion_factors(trajectory, "author")
    oracle = _dense_norms(trajectory, reversed_order=True, factors=A + B)
    oracle[:, :, 0] = np.nan  # the public code's pairs start at k = 1
    author = sensitivities(trajectory, "author").values
    assert _relative(author, oracle) < 1e-11
    assert _relative(sensitivities(trajectory).values[:, :, 1:], oracle[:, :, 1:]) > 1e-3


def test_power_iteration_is_seeded():
    trajectory = _trajectory("scalar_gate")
    first = sensitivities(trajectory, norm="power5", seed=3).log_values
    assert np.array_equal(first, sensitivities(trajectory, norm="power5", seed=3).log_values, equal_nan=True)
    assert not np.array_equal(first, sensitivities(trajectory, norm="power5", seed=4).log_values, equal_nan=True)


def _scaled_identity_trajectory(steps, batch=3):
    """The leaky cell with W = 0: J_t = (1 − α) I = 0.2 I at every step."""
    return _trajectory("leaky", steps=steps, batch=batch, params={"W": np.zeros((SIZES["n"],) * 2)})


def test_long_lags_stay_finite_and_exact():
    """S = 0.2^{t−k} underflows past t − k ≈ 440; ln S does not (T = 600)."""
    trajectory = _scaled_identity_trajectory(600, batch=1)
    logs = sensitivities(trajectory).log_values[0]
    t, k = np.tril_indices(601, -1)
    expected = (t - k) * math.log(0.2)
    assert np.max(np.abs(logs[t, k] - expected) / np.abs(expected)) < 1e-12
    assert np.all(np.isnan(logs[np.triu_indices(601)]))


# -------------------------------------------------------------------- S1 properties (Livi 2025, Section VII-A)
def test_mode_decoupling_for_a_scalar_gate_and_its_failure_for_a_multi_gate():
    """Π_j [(1 − g_j) I + g_j K] = V diag(Π_j (1 − g_j (1 − λ_i))) V⁻¹ for a constant
    diagonalisable K (to 1e-10·cond(V)); per-unit gates (diag(g_j) does not commute with K) break it."""
    rng = np.random.default_rng(5)
    size, steps = 4, 9
    V = rng.standard_normal((size, size))
    eigen = rng.uniform(-0.9, 0.9, size)
    K = V @ np.diag(eigen) @ np.linalg.inv(V)
    gates = rng.uniform(0.1, 0.9, steps)
    factors = np.stack([(1 - g) * np.eye(size) + g * K for g in gates])
    product = numeric.prefix_products(factors)[-1]
    closed = V @ np.diag([np.prod(1 - gates * (1 - lam)) for lam in eigen]) @ np.linalg.inv(V)
    assert np.max(np.abs(product - closed)) < 1e-10 * np.linalg.cond(V)
    unit_gates = rng.uniform(0.1, 0.9, (steps, size))
    factors = np.stack([np.diag(1 - g) + np.diag(g) @ K for g in unit_gates])
    mean_gates = unit_gates.mean(axis=1)
    closed = V @ np.diag([np.prod(1 - mean_gates * (1 - lam)) for lam in eigen]) @ np.linalg.inv(V)
    assert np.max(np.abs(numeric.prefix_products(factors)[-1] - closed)) > 1e-3


def test_profile_normalisation_and_scaled_identity_profile():
    """μ̃_eff(1) = 1; with J_j = c I, S_{t,k} = c^{t−k} and μ̃_eff(h) = c^{h−1} (c = 0.2)."""
    result = effective_learning_rates(_scaled_identity_trajectory(15))
    guard = 1e-12 / 0.2 + 1e-14  # the + 1e-12 of the denominator (relative), plus round-off
    assert result.profile[0] == pytest.approx(1, rel=guard)
    expected = 0.2 ** (result.lags - 1.0)
    assert np.max(np.abs(result.profile / expected - 1)) < guard + 1e-12
    assert effective_learning_rates(_trajectory("multi_gate")).profile[0] == pytest.approx(1, rel=1e-11)


def test_slope_recovery_on_synthetic_power_laws():
    rng = np.random.default_rng(2)
    log_p = rng.uniform(-20, 0, 400)
    fit = fit_slope(0.7 + 1.37 * log_p, log_p)
    assert abs(fit.slope - 1.37) < 1e-10 and abs(fit.intercept - 0.7) < 1e-10
    assert fit.r_squared == pytest.approx(1, abs=1e-12)
    assert fit.points == 392  # the 1 % and 99 % quantiles trim 4 points at each end
    noisy = fit_slope(0.7 + 1.37 * log_p + rng.normal(0, 1, 400), log_p)
    assert noisy.r_squared < 0.99 and abs(noisy.slope - 1.37) > 1e-6  # the checker sees noise
    assert math.isnan(fit_slope(log_p[:49], log_p[:49]).slope)  # fewer than 50 points


def test_slope_of_two_geometric_laws_is_the_ratio_of_logs():
    """Leaky cell with W = 0: S = (1 − α)^{t−k} and P = α^{t−k}, so s = ln 0.2 / ln 0.8."""
    result = effective_learning_rates(_scaled_identity_trajectory(30))
    assert result.fit.slope == pytest.approx(math.log(0.2) / math.log(0.8), rel=1e-10)
    assert result.fit.r_squared == pytest.approx(1, abs=1e-10)
    expected = (0.8 ** (result.lags - 1.0) + 1e-12) ** result.fit.slope
    assert np.allclose(result.fitted, expected, rtol=1e-9)


def _gates(trajectory):
    """g_j (index j−1) as (T, B, units) from the compiled intermediates, step by step."""
    compiled = trajectory.compiled
    return np.stack([compiled.intermediates(trajectory.states_at(j - 1), trajectory.inputs_at(j),
                                            trajectory.params)["g"] for j in range(1, trajectory.steps + 1)])


@pytest.mark.parametrize("name", ["scalar_gate", "multi_gate"])
def test_gate_predictors_multiply_the_gates_then_average(name):
    """exact: P = (1/U) Σ_i Π_{j=k+1}^{t} g_{j,i}; author: Π_{j=k}^{t} (t − k + 1 factors, k ≥ 1)."""
    trajectory = _trajectory(name)
    gates = _gates(trajectory)
    exact = gate_products(trajectory).values
    author = gate_products(trajectory, convention="author").values
    for b, t, k in [(0, 5, 2), (1, 12, 0), (1, 9, 8)]:
        assert exact[b, t, k] == pytest.approx(np.prod(gates[k:t, b], axis=0).mean(), rel=1e-12)
        if k >= 1:
            assert author[b, t, k] == pytest.approx(np.prod(gates[k - 1:t, b], axis=0).mean(), rel=1e-12)
    assert np.isnan(author[:, :, 0]).all()


def test_constant_gates_give_powers_and_the_mean_is_taken_after_the_product():
    """Scalar gate with constant g: P = g^{t−k+1} (author) and g^{t−k} (exact); leaky α^{t−k};
    multi-gate with constant per-unit gates g_i: P = mean_i g_i^{t−k} ≠ (mean_i g_i)^{t−k}."""
    logit = math.log(0.3 / 0.7)
    scalar = _trajectory("scalar_gate", params={"w_rg": np.zeros(5), "w_ig": np.zeros(3), "b_g": np.array(logit)})
    t, k = np.tril_indices(13, -1)
    author = gate_products(scalar, convention="author").values[0]
    chosen = k >= 1
    assert np.allclose(author[t[chosen], k[chosen]], 0.3 ** (t - k + 1.0)[chosen], rtol=1e-12)
    assert np.allclose(gate_products(scalar).values[0][t, k], 0.3 ** (t - k + 0.0), rtol=1e-12)
    leaky = gate_products(_trajectory("leaky"), convention="author").values[0]
    assert np.allclose(leaky[t[chosen], k[chosen]], 0.8 ** (t - k + 0.0)[chosen], rtol=1e-12)
    unit_gates = np.linspace(0.2, 0.9, 5)
    multi = _trajectory("multi_gate", params={"W_rg": np.zeros((5, 5)), "W_ig": np.zeros((5, 3)),
                                              "b_g": np.log(unit_gates / (1 - unit_gates))})
    values = gate_products(multi).values[0][t, k]
    assert np.allclose(values, [np.mean(unit_gates ** lag) for lag in t - k], rtol=1e-12)
    assert np.max(np.abs(values / unit_gates.mean() ** (t - k) - 1)) > 0.1  # mean before the product fails


def test_retention_predictor_for_other_cells():
    """GRU (torch): the retention λ = z read from the intermediates; Elman: λ = 0, so P = 0 and no slope."""
    gru = _trajectory("gru_torch")
    retention = step_retention(gru)
    z = np.stack([gru.compiled.intermediates(gru.states_at(j - 1), gru.inputs_at(j), gru.params)["z"]
                  for j in range(1, gru.steps + 1)])
    assert np.allclose(retention, z, rtol=0, atol=0)
    result = effective_learning_rates(gru)
    assert result.predictor.kind == "retention"
    assert result.predictor.values[1, 7, 3] == pytest.approx(np.prod(z[3:7, 1], axis=0).mean(), rel=1e-12)
    elman = effective_learning_rates(_trajectory("elman"))
    assert np.all(elman.predictor.values[~np.isnan(elman.predictor.values)] == 0)
    assert math.isnan(elman.fit.slope)


def test_profiles_and_predictor_agree_between_backends():
    numpy_result = effective_learning_rates(_trajectory("multi_gate"), convention="author")
    torch_result = effective_learning_rates(_trajectory("multi_gate", backend="torch"), convention="author")
    assert np.allclose(numpy_result.profile, torch_result.profile, rtol=1e-12, equal_nan=True)
    assert np.isnan(numpy_result.profile[-1])  # lag T needs k = 0, which the author pairs leave out
    assert numpy_result.fit.slope == pytest.approx(torch_result.fit.slope, rel=1e-10)


def test_lag_profile_takes_medians_over_pairs():
    values = np.full((2, 4, 4), np.nan)
    for (b, t, k), value in zip([(0, 1, 0), (0, 2, 1), (0, 3, 2), (1, 1, 0), (1, 2, 1), (1, 3, 2)], range(1, 7)):
        values[b, t, k] = value
    values[0, 2, 0], values[1, 2, 0], values[0, 3, 1] = 1, 2, 9
    profile = lag_profile(values)
    assert profile[0] == pytest.approx(1)
    assert profile[1] == pytest.approx(2 / (3.5 + 1e-12))
    assert np.isnan(profile[2])


# -------------------------------------------------------------------- errors
def test_errors_name_the_argument():
    trajectory = _trajectory("leaky")
    for call, word in [(lambda: sensitivities(trajectory, "reversed"), "convention"),
                       (lambda: sensitivities(trajectory, norm="power"), "norm"),
                       (lambda: gate_products(trajectory, "gates"), "predictor"),
                       (lambda: sensitivities(np.zeros((3, 3))), "Trajectory"),
                       (lambda: fit_slope(np.zeros(3), np.zeros(4)), "shape"),
                       (lambda: fit_slope(np.zeros(3), np.zeros(3), trim=0.5), "trim")]:
        with pytest.raises(GatejacError, match=word):
            call()


# -------------------------------------------------------------------- S1 properties: the rest of the audit
def test_leaky_mode_decoupling_is_a_fixed_geometric_schedule():
    """Leaky cell with a fixed linearisation K = D W = V Λ V⁻¹: Π_j [(1 − α) I + α K] =
    V diag([1 − α(1 − λ_i)]^ℓ) V⁻¹ (the scalar gate's identity with g_j ≡ α), to 1e-10·cond(V);
    a wrong rate (α(1 + λ_i)) is caught."""
    rng = np.random.default_rng(8)
    size, lag, alpha = 5, 11, 0.8
    V = rng.standard_normal((size, size))
    eigen = rng.uniform(-0.9, 0.9, size)
    K = V @ np.diag(eigen) @ np.linalg.inv(V)
    factors = np.broadcast_to((1 - alpha) * np.eye(size) + alpha * K, (lag, size, size))
    product = numeric.prefix_products(np.ascontiguousarray(factors))[-1]
    closed = V @ np.diag((1 - alpha * (1 - eigen)) ** lag) @ np.linalg.inv(V)
    assert np.max(np.abs(product - closed)) < 1e-10 * np.linalg.cond(V)
    wrong = V @ np.diag((1 - alpha * (1 + eigen)) ** lag) @ np.linalg.inv(V)
    assert np.max(np.abs(product - wrong)) > 1e-3


def test_leaky_predictor_is_alpha_to_the_lag_under_both_conventions():
    """The leaky cell has no gate: P_{t,k} = α^{t−k} in the exact convention (pairs k ≥ 0) and
    in the author's (pairs k ≥ 1, no extra factor)."""
    t, k = np.tril_indices(13, -1)
    exact = gate_products(_trajectory("leaky")).values[0]
    assert np.allclose(exact[t, k], 0.8 ** (t - k + 0.0), rtol=1e-12, atol=0)
    author = gate_products(_trajectory("leaky"), convention="author").values[0]
    chosen = k >= 1
    assert np.allclose(author[t[chosen], k[chosen]], exact[t[chosen], k[chosen]], rtol=1e-12, atol=0)
    assert np.isnan(author[:, 0]).all()


def test_author_profile_of_a_scaled_identity_is_normalised_and_lacks_lag_T():
    """With J_j = c I the author factors are c I too (B ≡ 0 for the leaky cell), and the reversed
    product of commuting factors is the same: μ̃_eff(h) = c^{h−1} for h < T; lag T has no pair."""
    result = effective_learning_rates(_scaled_identity_trajectory(15), convention="author", norm="exact")
    expected = 0.2 ** (result.lags[:-1] - 1.0)
    assert np.max(np.abs(result.profile[:-1] / expected - 1)) < 1e-12 / 0.2 + 1e-12
    assert np.isnan(result.profile[-1])


def test_trimming_drops_the_extreme_predictor_values():
    """Corrupting S at the pairs whose P lies below the 1 % or above the 99 % quantile leaves the
    trimmed slope exact (1e-10) — the untrimmed fit (trim = 0) is pulled away; a fit without
    enough pairs gives NaN slope and a NaN fitted profile."""
    rng = np.random.default_rng(4)
    log_p = rng.uniform(-15, 0, 1000)
    log_s = 0.3 + 0.8 * log_p
    low, high = np.quantile(log_p, [0.01, 0.99])
    outside = (log_p < low) | (log_p > high)
    assert 0 < outside.sum() <= 22
    corrupted = np.where(outside, log_s + 5.0, log_s)
    trimmed = fit_slope(corrupted, log_p)
    assert abs(trimmed.slope - 0.8) < 1e-10 and trimmed.r_squared == pytest.approx(1, abs=1e-12)
    assert abs(fit_slope(corrupted, log_p, trim=0.0).slope - 0.8) > 1e-3
    short = effective_learning_rates(_scaled_identity_trajectory(4, batch=1), min_points=50)
    assert math.isnan(short.fit.slope) and np.isnan(short.fitted).all()
