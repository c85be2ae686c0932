"""Lyapunov spectra (numeric/_lyapunov*.py): the k leading exponents by QR on a frame carried
by Jacobian actions, finite-time exponents over windows, the determinant sum rule, the DNS
largest exponent, and the residual network's exponents against the eigenvalues of its residual
(Dubinin & Effenberger 2024, arXiv:2307.14823).

Oracles, each independent of the QR sweep: exact closed forms at γ = 0 (a diagonal R, a scaled
rotation); LU determinants (``numpy.linalg.slogdet``) for the sum rule; a perturbed copy of the
non-linear cell (DNS) for the largest exponent; first-order perturbation theory and the
norm bound of the coupling for the residual network.  Exponents are in natural log per step.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from gatejac import numeric
from gatejac.numeric import (
    ArgumentError,
    coupling_band,
    criticality,
    first_order_exponents,
    log_det_rate,
    lyapunov_dns,
    lyapunov_spectrum,
)
from gatejac.symbolic import cells
from gatejac.verify._tolerances import tolerance

EXACT = tolerance("ad", "float64", 1.0).atol  # 1e-12: the γ = 0 identities hold to round-off


def _wcrnn(params: dict, *, n: int, steps: int, residual_matrix="diagonal", seed=0, drive=1.0, backend="numpy"):
    """A WCRNN trajectory driven by N(0, drive²) inputs (fixed input seed 5), from h_0 = 0."""
    cell = cells.wcrnn(residual_matrix=residual_matrix)
    values = numeric.initialise(cell, {"n": n, "m": 1}, scheme="gaussian", seed=seed, overrides=params)
    inputs = {"x": drive * np.random.default_rng(5).standard_normal((steps, 1))}
    return _roll(cell, {"h": np.zeros(n)}, inputs, values, backend)


def _gru(*, n=24, steps=600, gain=6.0, backend="numpy"):
    """An autonomous Chung GRU with every weight of gain 6 (far past the r̄σ_h = 1 threshold of
    the zero fixed point; its largest exponent is ≈ 0.057 > 0: chaotic)."""
    cell = cells.get("gru_chung")
    values = numeric.initialise(cell, {"n": n, "m": 1}, scheme="gaussian", gain=gain, seed=0)
    start = {"h": 0.5 * np.random.default_rng(0).standard_normal(n)}
    return _roll(cell, start, {"x": np.zeros((steps, 1))}, values, backend)


def _roll(cell, states, inputs, params, backend):
    if backend == "torch":
        states, inputs, params = (numeric.convert(v, "torch", "float64") for v in (states, inputs, params))
    return numeric.rollout(numeric.compile(cell, backend), states, inputs, params)


# ------------------------------------------------------------------- γ = 0: exact (item 30)
@pytest.mark.parametrize("steps", [1, 7, 300])
def test_diagonal_residual_without_coupling_is_exact_at_any_length(steps):
    """R = diag(λ), γ = 0: J_t = R and the QR frame stays the identity, so LE_i = ln|λ_i| at
    every T, and so is every finite-time exponent."""
    lam = np.array([0.5, -0.95, 1.2, 0.8])
    trajectory = _wcrnn({"lam": lam, "gamma": 0.0}, n=4, steps=steps)
    spectrum = lyapunov_spectrum(trajectory, window=1)
    exact = np.sort(np.log(np.abs(lam)))[::-1]
    assert spectrum.units == "natural log per step"
    assert np.max(np.abs(spectrum.exponents - exact)) <= EXACT
    assert spectrum.finite_time.shape == (steps, 4)
    assert np.max(np.abs(spectrum.finite_time - exact)) <= EXACT


def test_every_finite_time_exponent_of_a_scaled_rotation_is_log_lambda():
    """R = λQ (Q orthogonal: rotations by 0.4 and 1.1 rad), γ = 0: J_t Q_{t−1} is λ times an
    orthogonal matrix, so every exponent of every window — full spectrum or two leading by
    Jacobian actions from a generic frame — is ln|λ|."""
    residual = np.array(cells.residual_rotational(sympy.Rational(9, 10), [0.4, 1.1]).evalf(), dtype=float)
    trajectory = _wcrnn({"R": residual, "gamma": 0.0}, n=4, steps=60, residual_matrix="dense")
    for spectrum in (lyapunov_spectrum(trajectory, window=1),
                     lyapunov_spectrum(trajectory, 2, window=3, method="action")):
        assert np.max(np.abs(spectrum.finite_time - np.log(0.9))) <= EXACT
        assert np.max(np.abs(spectrum.exponents - np.log(0.9))) <= EXACT


# --------------------------------------------------------------------- sum rule (item 31)
@pytest.mark.parametrize("name", ["gru_chung", "lstm_torch", "wcrnn"])
def test_the_full_spectrum_sums_to_the_log_determinant_rate(name):
    """Σ_i LE_i = (1/(T − T_b)) Σ_{t > T_b} ln|det J_t| to 1e-8 relative (determinants by LU,
    not by the QR sweep); a spectrum of another trajectory misses it by far more."""
    cell = cells.get(name)
    values = numeric.random_values(cell, {"n": 6, "m": 2}, seed=1)
    inputs = numeric.random_values(cell, {"n": 6, "m": 2}, batch=(400,), seed=2)[1]
    trajectory = numeric.rollout(numeric.compile(cell), values[0], inputs, values[2])
    for burn_in in (0, 50):
        total = lyapunov_spectrum(trajectory, burn_in=burn_in).exponents.sum()
        reference = log_det_rate(trajectory, burn_in, chunk=64)  # several chunks, the last one short
        assert abs(total - reference) <= 1e-8 * abs(reference)
    other = numeric.rollout(numeric.compile(cell), values[0], {k: v[::-1] for k, v in inputs.items()}, values[2])
    assert abs(lyapunov_spectrum(other).exponents.sum() - log_det_rate(trajectory)) > 1e-6 * abs(reference)


# ----------------------------------------------------------------- O(γ) convergence (item 32)
def test_exponents_approach_the_residual_log_moduli_linearly_in_the_coupling():
    """R = diag(λ), λ_i ~ U(0.8, 1) (n = 20), 2000 steps averaged, fixed inputs: the largest
    deviation max_i |LE_i − ln|λ_i|| falls monotonically as γ halves, by a factor in [1.3, 3]
    each time.  A burn-in of 500 steps lets the starting frame I turn into the order of
    decreasing |λ_i|: the units are not sorted, and at γ = 0.005 the coupling that rotates the
    frame is weak (without it the last ratio is 1.13 — the O(1/T) transient, not O(γ))."""
    lam = np.random.default_rng(1).uniform(0.8, 1.0, 20)
    deviations = []
    for gamma in (0.04, 0.02, 0.01, 0.005):
        trajectory = _wcrnn({"lam": lam, "gamma": gamma}, n=20, steps=2500, seed=3)
        exponents = lyapunov_spectrum(trajectory, burn_in=500).exponents
        deviations.append(np.max(np.abs(exponents - np.sort(np.log(lam))[::-1])))
    ratios = np.array(deviations[:-1]) / np.array(deviations[1:])
    assert np.all((ratios >= 1.3) & (ratios <= 3)), (deviations, ratios)


# -------------------------------------------------------- first-order formula (item 33)
def test_first_order_formula_in_the_separated_regime():
    """R = diag(λ) with gaps 0.08 and W = diag(d) + a weak Gaussian part, γ‖W‖₂ < 0.1·gap:
    LE_i = ln|λ_i| + (γ/λ_i)⟨D_ii⟩W_ii + O(γ²) within 0.2·γ‖W‖₂, while the zeroth order ln|λ_i|
    alone misses by more (the test can fail)."""
    n = 6
    lam = np.linspace(0.95, 0.55, n)
    rng = np.random.default_rng(2)
    weight = np.diag(rng.choice([-1.0, 1.0], n) * rng.uniform(0.6, 1.0, n)) + 0.05 * rng.standard_normal((n, n))
    norm = np.linalg.norm(weight, 2)
    gamma = 0.1 * 0.08 / norm * 0.9
    trajectory = _wcrnn({"lam": lam, "gamma": gamma, "W": weight}, n=n, steps=3000)
    measured = lyapunov_spectrum(trajectory, burn_in=100).exponents
    predicted = first_order_exponents(trajectory, burn_in=100)
    assert np.max(np.abs(measured - predicted)) <= 0.2 * gamma * norm
    assert np.max(np.abs(measured - np.sort(np.log(lam))[::-1])) > 0.2 * gamma * norm


# ------------------------------------------------------------- criticality labels (item 34)
def test_homogeneous_residual_sub_critical_and_super_critical():
    """R = λI, γ = 0.02: every exponent lies in the coupling band ln|λ| ± −ln(1 − γ‖W‖₂/|λ|);
    LE_max < 0 below λ = 1, |LE_max| within the band (O(γ)) at λ = 1, LE_max > 0 and ‖h_t‖
    growing above; the labels say so with the band as margin."""
    largest, labels = {}, {}
    for lam in (0.9, 1.0, 1.1):
        trajectory = _wcrnn({"lam": lam, "gamma": 0.02}, n=16, steps=800, residual_matrix="homogeneous")
        exponents = lyapunov_spectrum(trajectory).exponents
        band = coupling_band(trajectory.params)
        assert 0 < band < 0.1
        assert np.max(np.abs(exponents - np.log(lam))) <= band
        margin = coupling_band({**trajectory.params, "lam": 1.0})
        largest[lam], labels[lam] = exponents[0], str(criticality(exponents[0], margin))
        if lam > 1:
            norms = np.linalg.norm(trajectory.states["h"], axis=-1)
            assert norms[-1] > 1e10 * norms[1]
    assert largest[0.9] < 0 < largest[1.1] and abs(largest[1.0]) <= margin
    assert labels == {0.9: "subcritical", 1.0: "critical", 1.1: "supercritical"}
    assert list(criticality(np.array([-0.5, 0.01, 0.5]), 0.0)) == ["subcritical", "supercritical", "supercritical"]


# ------------------------------------------------------------------ DNS cross-check
def test_dns_largest_exponent_matches_qr_from_the_same_direction():
    """Two nearby trajectories of the chaotic GRU, renormalised every step or every 5 steps,
    against the one-column QR sweep from the same direction: equal up to O(δ_0) = O(√ε)
    (bound 100√ε); with a burn-in both approach the full spectrum's top exponent, O(1/T)."""
    trajectory = _gru()
    bound = 100 * np.finfo(float).eps ** 0.5
    first = lyapunov_spectrum(trajectory, 1).exponents[0]
    assert first > 0
    for every in (1, 5):
        assert abs(lyapunov_dns(trajectory, every=every) - first) <= bound
    top = lyapunov_spectrum(trajectory, burn_in=200).exponents[0]
    assert abs(lyapunov_dns(trajectory, burn_in=200) - top) <= 5 / 400
    assert abs(lyapunov_dns(_gru(gain=5.0), every=1) - first) > 100 * bound  # another network: far off


def test_dns_and_spectrum_on_torch_match_numpy():
    by_numpy, by_torch = _gru(steps=80), _gru(steps=80, backend="torch")
    reference = tolerance("reference", "float64", 1.0)
    spectra = [lyapunov_spectrum(t, 3, window=20, method="action") for t in (by_numpy, by_torch)]
    assert np.allclose(spectra[1].finite_time.numpy(), spectra[0].finite_time, rtol=reference.rtol, atol=reference.atol)
    # the DNS divides ulp-level differences of the two back-ends' steps by δ_0 = √ε: O(√ε)
    assert abs(lyapunov_dns(by_torch).numpy() - lyapunov_dns(by_numpy)) <= 100 * np.finfo(float).eps ** 0.5


# ------------------------------------------------------------------ windows and actions
def test_finite_time_windows_average_to_the_exponents():
    trajectory = _gru(steps=500)
    spectrum = lyapunov_spectrum(trajectory, 4, burn_in=100, window=50, method="action")
    assert spectrum.finite_time.shape == (8, 4) and spectrum.steps == 400 and spectrum.burn_in == 100
    assert np.max(np.abs(spectrum.finite_time.mean(axis=0) - spectrum.exponents)) <= EXACT
    assert np.all(spectrum.finite_time.std(axis=0) > 0)  # a chaotic network: a distribution, not a number
    shorter = lyapunov_spectrum(trajectory, 4, burn_in=100, window=150, method="action")
    assert shorter.finite_time.shape == (2, 4)  # the last 100 steps: no full window, but in the exponents
    assert np.max(np.abs(shorter.exponents - spectrum.exponents)) <= EXACT
    assert np.all(spectrum.time_scales()[spectrum.exponents < 0] == -1 / spectrum.exponents[spectrum.exponents < 0])
    assert np.all(np.isinf(spectrum.time_scales()[spectrum.exponents >= 0]))


class _NoDenseJacobian:
    """A compiled cell whose dense state Jacobian raises: what method="action" must never call."""

    def __init__(self, compiled):
        self._compiled = compiled

    def __getattr__(self, name):
        if name == "state_jacobian":
            raise AssertionError("the dense Jacobian was formed")
        return getattr(self._compiled, name)


def test_leading_exponents_by_actions_never_form_the_jacobian():
    trajectory = _gru(n=64, steps=200)
    actions_only = numeric.Trajectory(_NoDenseJacobian(trajectory.compiled), trajectory.states, trajectory.inputs,
                                      trajectory.params)
    by_actions = lyapunov_spectrum(actions_only, 4, burn_in=50)  # "auto" picks actions for 4 < 64/4
    dense = lyapunov_spectrum(trajectory, 4, burn_in=50, method="jacobian")
    assert np.allclose(by_actions.exponents, dense.exponents, rtol=0, atol=1e-12)
    with pytest.raises(AssertionError, match="dense Jacobian was formed"):
        lyapunov_spectrum(actions_only, 4, method="jacobian")


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, message", [
    (lambda t: lyapunov_spectrum(t, window=0), r"window=0 must be an integer in 1\.\.40"),
    (lambda t: lyapunov_spectrum(t, burn_in=10, window=31), r"window=31 must be an integer in 1\.\.30"),
    (lambda t: lyapunov_dns(t, separation=2.0), r"separation=2\.0 must be a number in \(0, 1\)"),
    (lambda t: lyapunov_dns(t, every=0), r"every=0 must be an integer ≥ 1"),
    (lambda t: lyapunov_dns(t, direction=np.ones(3)), r"direction has shape \(3,\).*S = 24"),
    (lambda t: lyapunov_dns(t, direction=np.zeros(24)), r"direction has a zero"),
    (lambda t: log_det_rate(t, chunk=0), r"chunk=0 must be an integer ≥ 1"),
    (lambda t: first_order_exponents(t), r"for the WCRNN with a linear residual.*'gru_chung'"),
    (lambda t: coupling_band(t.params), r"coupling_band takes the parameters of a homogeneous WCRNN"),
    (lambda t: criticality(0.1, -1.0), r"margin=-1\.0 must be a number ≥ 0"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ArgumentError, match=message):
        call(_gru(steps=40))


def test_residual_predictions_refuse_what_they_do_not_cover():
    homogeneous = _wcrnn({"lam": 0.9, "gamma": 0.01}, n=4, steps=10, residual_matrix="homogeneous")
    with pytest.raises(ArgumentError, match="homogeneous R = λI is degenerate"):
        first_order_exponents(homogeneous)
    dense = np.diag([0.9, 0.8, 0.7, 0.6])
    dense[0, 1] = 0.1
    with pytest.raises(ArgumentError, match="diagonal residual R; this R has off-diagonal entries"):
        first_order_exponents(_wcrnn({"R": dense, "gamma": 0.01}, n=4, steps=10, residual_matrix="dense"))
    with pytest.raises(ArgumentError, match="not a multiple of I"):
        coupling_band({"R": dense, "gamma": 0.01, "W": np.eye(4)})
    assert coupling_band({"lam": 0.5, "gamma": 1.0, "W": np.eye(4)}) == float("inf")
    assert torch.is_tensor(torch.as_tensor(criticality(torch.tensor(-1.0), 0.1) == "subcritical"))
