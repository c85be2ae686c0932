"""Random-matrix predictions (numeric/_predictions.py) against eigenvalues of the cells' exact
Jacobians: the zero-fixed-point disk and the stability threshold r̄ σ_h = 1 of the GRU, the
heterogeneous support σ² ⟨l²ρ²/|λ − a|²⟩ = 1 with its slow-mode fraction, the LSTM disk and
rank reduction (Can, Krishnamurthy & Schwab 2020; Ahmadian, Fumarola & Miller 2015).

The acceptance bands are the finite-N ones of issue 12: for N = 400 the eigenvalue mean is
within 0.01 of the centre and the largest distance from it within 6 % of the radius (the
circular law's edge at finite N); for N ≥ 1000 the rightmost real eigenvalue within 2e-3 of
the support's root, the fraction near 1 within 2 percentage points.  Each comparison is also
run against a deliberately wrong prediction, which it must reject.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from gatejac import numeric
from gatejac.numeric._predictions import Disk, Support, heterogeneous_support, zero_fixed_point_disk
from gatejac.numeric._spectra import eigenvalues, fraction_near
from gatejac.symbolic import Instance, cells, dense_jacobian, exactly_equal, sigmoid

N = 400


def _logit(p):
    return float(np.log(p / (1 - p)))


def _gru(name, *, z_bar, r_bar, sigma_h, seed=0, n=N):
    """Parameters with uniform gates z̄, r̄ at h = 0, x = 0, W_h ~ N(0, σ_h²/N), h = 0 fixed."""
    cell = cells.get(name)
    params = numeric.initialise(cell, {"n": n, "m": 2}, scheme="gaussian", seed=seed)
    weight = "W_hn" if name == "gru_torch" else "W_h"
    params[weight] = sigma_h / np.sqrt(n) * np.random.default_rng(seed + 100).standard_normal((n, n))
    if name == "gru_torch":
        params.update(b_iz=np.full(n, _logit(z_bar)), b_hz=np.zeros(n), b_ir=np.full(n, _logit(r_bar)),
                      b_hr=np.zeros(n), b_in=np.zeros(n), b_hn=np.zeros(n))
    else:
        params.update(b_z=np.full(n, _logit(z_bar)), b_r=np.full(n, _logit(r_bar)), b_h=np.zeros(n))
    return numeric.compile(cell), params


def _zero_jacobian_eigenvalues(compiled, params, n=N):
    states = {s.name: np.zeros(n) for s in compiled.cell.states}
    return eigenvalues(compiled.state_jacobian(states, {"x": np.zeros(2)}, params))


def _disk_agrees(values, disk: Disk) -> bool:
    """Issue 12's bands: mean within 0.01 of the centre, max distance within 6 % of the radius."""
    values = values[: values.size - disk.zeros]  # sorted by modulus: the exact zeros are last
    spread = np.max(np.abs(values - disk.centre))
    return abs(np.mean(values) - disk.centre) <= 0.01 and abs(spread - disk.radius) <= 0.06 * disk.radius


# ------------------------------------------------------------------ zero fixed point (GRU)
@pytest.mark.parametrize("sigma_h", [0.8, 1.5])
@pytest.mark.parametrize("name, centre", [("gru_chung", lambda z: 1 - z), ("gru_torch", lambda z: z)])
def test_zero_fixed_point_disk(name, centre, sigma_h):
    z_bar, r_bar = 0.1 if name == "gru_chung" else 0.9, 0.5
    compiled, params = _gru(name, z_bar=z_bar, r_bar=r_bar, sigma_h=sigma_h)
    disk = zero_fixed_point_disk(compiled, params, sigma=sigma_h)
    write = z_bar if name == "gru_chung" else 1 - z_bar
    assert disk.centre == pytest.approx(centre(z_bar), abs=1e-15)
    assert disk.radius == pytest.approx(write * r_bar * sigma_h, rel=1e-14)
    assert disk.ratio == pytest.approx(r_bar * sigma_h, rel=1e-12) and disk.zeros == 0
    values = _zero_jacobian_eigenvalues(compiled, params)
    assert _disk_agrees(values, disk)
    # J_0 = (1 − z̄) I + z̄ r̄ W_h exactly (torch: z̄ I + (1 − z̄) r̄ W_hn)
    weight = params["W_hn" if name == "gru_torch" else "W_h"]
    exact = disk.centre * np.eye(N) + write * r_bar * weight
    assert np.max(np.abs(compiled.state_jacobian({"h": np.zeros(N)}, {"x": np.zeros(2)}, params) - exact)) <= 1e-15
    # the estimated σ (‖W‖_F/√N) gives the same disk to the sampling error of σ
    assert zero_fixed_point_disk(compiled, params).sigma == pytest.approx(sigma_h, rel=0.01)
    # a wrong centre, a wrong radius and the unmapped torch convention are rejected
    for wrong in (Disk(disk.centre + 0.02, disk.radius, 0, sigma_h, 0.0),
                  Disk(disk.centre, 1.1 * disk.radius, 0, sigma_h, 0.0),
                  Disk(1 - disk.centre, disk.radius, 0, sigma_h, 0.0)):
        assert not _disk_agrees(values, wrong)


@pytest.mark.parametrize("name", ["gru_chung", "gru_torch"])
def test_zero_fixed_point_jacobian_holds_symbolically(name):
    """MATH G2 in exact arithmetic (SymPy's ``Matrix.jacobian`` of the explicit n = 3 cell, not
    gatejac's structured engine): at h = 0, x = 0 with a zero candidate bias and uniform gate
    biases β (update) and ρ (reset), J_0 = (1 − σ(β)) I + σ(β) σ(ρ) W_h; torch's GRU, whose z
    retains, J_0 = σ(β) I + (1 − σ(β)) σ(ρ) W_hn.  The other convention's form is refused."""
    instance = Instance(cells.get(name), {"n": 3, "m": 1})
    beta, rho = sympy.symbols("beta rho", real=True)
    update, reset, weight, zero = (("b_z", "b_r", "W_h", ("b_h",)) if name == "gru_chung" else
                                   ("b_iz", "b_ir", "W_hn", ("b_in", "b_hn", "b_hz", "b_hr")))
    point = {v: 0 for leaf in ("h", "x", *zero) for v in instance.variables(leaf)}
    point |= {v: beta for v in instance.variables(update)} | {v: rho for v in instance.variables(reset)}
    jacobian = dense_jacobian(instance, "h", "h").xreplace(point)
    write = sigmoid(beta) if name == "gru_chung" else 1 - sigmoid(beta)
    matrix = sympy.Matrix(instance.leaf(weight))
    assert exactly_equal(jacobian, (1 - write) * sympy.eye(3) + write * sigmoid(rho) * matrix, {})
    assert not exactly_equal(jacobian, write * sympy.eye(3) + (1 - write) * sigmoid(rho) * matrix, {})  # z unmapped


@pytest.mark.parametrize("z_bar", [0.05, 0.3, 1 - 1e-12])
@pytest.mark.parametrize("gain", [0.9, 1.1])
def test_stability_threshold(z_bar, gain):
    """ρ(J_0) < 1 when r̄ σ_h ≤ 0.9 and > 1 when r̄ σ_h ≥ 1.1, whatever z̄ ∈ [0.05, 1]."""
    r_bar = 0.5
    compiled, params = _gru("gru_chung", z_bar=z_bar, r_bar=r_bar, sigma_h=gain / r_bar, seed=3)
    disk = zero_fixed_point_disk(compiled, params, sigma=gain / r_bar)
    radius = np.abs(_zero_jacobian_eigenvalues(compiled, params)[0])
    assert disk.stable == (gain < 1) == (radius < 1)


def test_disk_refuses_what_it_does_not_predict():
    compiled, params = _gru("gru_chung", z_bar=0.1, r_bar=0.5, sigma_h=1.0, n=8)
    with pytest.raises(numeric.ArgumentError, match="not a fixed point"):
        zero_fixed_point_disk(compiled, {**params, "b_h": np.full(8, 0.1)})
    with pytest.raises(numeric.ArgumentError, match="uniform gates"):
        zero_fixed_point_disk(compiled, {**params, "b_z": np.linspace(-1, 1, 8)})
    torch_compiled, torch_params = _gru("gru_torch", z_bar=0.5, r_bar=0.5, sigma_h=1.0, n=8)
    with pytest.raises(numeric.ArgumentError, match="b_hn"):
        zero_fixed_point_disk(torch_compiled, {**torch_params, "b_hn": np.full(8, 0.1),
                                               "b_in": -0.5 * np.full(8, 0.1)})
    with pytest.raises(numeric.ArgumentError, match="no random-matrix prediction"):
        zero_fixed_point_disk(numeric.compile(cells.get("elman")), {})


def test_disk_from_torch_tensors():
    compiled, params = _gru("gru_chung", z_bar=0.2, r_bar=0.5, sigma_h=1.0, n=16)
    as_torch = {k: torch.as_tensor(v) for k, v in params.items()}
    disk = zero_fixed_point_disk(numeric.compile(compiled.cell, "torch"), as_torch, sigma=1.0)
    assert disk.centre == pytest.approx(0.8, abs=1e-15) and disk.radius == pytest.approx(0.1, rel=1e-14)
    assert np.allclose(np.abs(disk.boundary(64) - 0.8), 0.1, atol=1e-15)


# ------------------------------------------------------------------ LSTM
def _lstm(f_bar, i_bar, o_bar, sigma_g, n=N, seed=0):
    cell = cells.get("lstm_torch")
    params = numeric.initialise(cell, {"n": n, "m": 2}, scheme="gaussian", seed=seed)
    params["W_hg"] = sigma_g / np.sqrt(n) * np.random.default_rng(seed + 7).standard_normal((n, n))
    for gate, value in (("i", i_bar), ("f", f_bar), ("o", o_bar), ("g", None)):
        params[f"b_i{gate}"] = np.full(n, 0.0 if value is None else _logit(value))
        params[f"b_h{gate}"] = np.zeros(n)
    return numeric.compile(cell), params


def test_lstm_zero_fixed_point_disk():
    compiled, params = _lstm(0.9, 0.3, 0.6, 1.5)
    disk = zero_fixed_point_disk(compiled, params, sigma=1.5)
    assert disk.centre == pytest.approx(0.9, abs=1e-15) and disk.radius == pytest.approx(0.27, rel=1e-14)
    assert disk.zeros == N
    values = _zero_jacobian_eigenvalues(compiled, params)
    assert np.all(np.abs(values[N:]) < 1e-9) and np.all(np.abs(values[:N]) > 0.1)
    assert _disk_agrees(values, disk)
    assert not _disk_agrees(values, Disk(0.9, 0.3 * 1.5, N, 1.5, 0.0))  # without the output gate: wrong radius


def _lstm_reduction(n=40, seed=0):
    """A random LSTM state with W_ho = 0; returns (J, K) with K = F + P E."""
    compiled, params = _lstm(0.7, 0.5, 0.5, 1.2, n=n, seed=seed)
    rng = np.random.default_rng(seed)
    params["W_ho"] = np.zeros((n, n))
    params.update({k: rng.normal(0, 0.5, n) for k in ("b_ii", "b_if", "b_ig", "b_io")})
    states, x = {"h": rng.uniform(-1, 1, n), "c": rng.uniform(-1, 1, n)}, {"x": rng.standard_normal(2)}
    named = compiled.intermediates(states, x, params)
    i, f, g, o, c_new = (named[k] for k in ("i", "f", "g", "o", "c_new"))
    P = ((states["c"] * f * (1 - f))[:, None] * params["W_hf"] + (g * i * (1 - i))[:, None] * params["W_hi"]
         + (i * (1 - g**2))[:, None] * params["W_hg"])
    E = o * (1 - np.tanh(c_new) ** 2)
    return compiled.state_jacobian(states, x, params), np.diag(f) + P * E[None, :], (compiled, states, x, params)


def test_lstm_rank_reduction():
    """With W_o = 0: exactly N eigenvalues |λ| < 1e-9, the others those of F + P E to 1e-10."""
    J, K, _ = _lstm_reduction()
    values = eigenvalues(J)
    n = K.shape[0]
    assert np.all(np.abs(values[n:]) < 1e-9) and np.all(np.abs(values[:n]) > 1e-6)
    reduced = np.sort_complex(np.linalg.eigvals(K))
    assert np.max(np.abs(np.sort_complex(values[:n]) - reduced)) <= 1e-10
    # a wrong diagonal (a uniform forget gate 0.7 instead of f) is caught
    wrong = np.sort_complex(np.linalg.eigvals(K - np.diag(np.diag(K)) + np.eye(n) * 0.7))
    assert np.max(np.abs(np.sort_complex(values[:n]) - wrong)) > 1e-3


def test_lstm_support_form():
    """The support's a, l, ρ are the LSTM's f, i ⊙ g', o ⊙ (1 − tanh² c') at the state."""
    _, K, (compiled, states, x, params) = _lstm_reduction(n=12)
    support = heterogeneous_support(compiled, states, x, params)
    named = compiled.intermediates(states, x, params)
    assert np.array_equal(support.a, named["f"])
    coupling = named["i"] * (1 - named["g"] ** 2) * named["o"] * (1 - np.tanh(named["c_new"]) ** 2)
    assert np.allclose(support.l * support.rho, coupling, rtol=1e-15, atol=0)


# ------------------------------------------------------------------ heterogeneous support
def _heterogeneous(n, seed=0):
    """The reference setting of issue 12: σ = 1.2, z ~ σ(N(−1, 2²)), ρ ~ σ(N(0.5, 1)), φ' ~ U(0.5, 1)."""
    rng = np.random.default_rng(seed)
    z = 1 / (1 + np.exp(-rng.normal(-1, 2, n)))
    rho = 1 / (1 + np.exp(-rng.normal(0.5, 1, n)))
    phi = rng.uniform(0.5, 1, n)
    support = Support(1 - z, z * phi, rho, 1.2)
    W = 1.2 / np.sqrt(n) * rng.standard_normal((n, n))
    J = np.diag(support.a) + (support.l[:, None] * W) * support.rho[None, :]
    return support, eigenvalues(J), z


@pytest.mark.slow
def test_heterogeneous_support_n1500():
    support, values, z = _heterogeneous(1500)
    rightmost = np.max(values.real[np.abs(values.imag) < 1e-12])
    assert abs(rightmost - support.rightmost_real()) <= 2e-3
    assert abs(fraction_near(values, 1.0, 0.05) - support.slow_fraction(0.05)) <= 0.02
    assert support.slow_fraction(0.05) == np.mean(z < 0.05)
    # the homogeneous approximation (mean a, root-mean-square coupling: a disk) misses the edge: caught
    coupling = float(np.sqrt(np.mean((support.l * support.rho) ** 2)))
    wrong = Support(np.full(1500, np.mean(support.a)), np.full(1500, coupling), np.ones(1500), 1.2)
    assert abs(rightmost - wrong.rightmost_real()) > 2e-3


@pytest.mark.slow
def test_heterogeneous_support_of_the_gru_cell_n1000():
    """Property 27 on the Chung GRU itself (its exact Jacobian at h = 0, x = 0, b_h = 0, per-unit
    biases b_z ~ N(−1, 2²), b_r ~ N(0.5, 1), σ_h = 1.2, N = 1000): the rightmost real eigenvalue
    within 2e-3 of the support's root, the fraction within 0.05 of 1 within 2 points of the
    fraction of units with z_i < 0.05; the support without the reset gate (ρ ≡ 1) misses the
    edge."""
    n, sigma_h = 1000, 1.2
    rng = np.random.default_rng(11)
    compiled, params = _gru("gru_chung", z_bar=0.5, r_bar=0.5, sigma_h=sigma_h, n=n, seed=11)
    params.update(b_z=rng.normal(-1, 2, n), b_r=rng.normal(0.5, 1, n))
    states, inputs = {"h": np.zeros(n)}, {"x": np.zeros(2)}
    values = numeric.jacobian_eigenvalues(compiled, states, inputs, params)
    support = heterogeneous_support(compiled, states, inputs, params, sigma=sigma_h)
    rightmost = np.max(values.real[np.abs(values.imag) < 1e-12])
    assert abs(rightmost - support.rightmost_real()) <= 2e-3
    closed = np.mean(1 / (1 + np.exp(-params["b_z"])) < 0.05)
    assert support.slow_fraction(0.05) == closed
    assert abs(fraction_near(values, 1.0, 0.05) - closed) <= 0.02
    assert abs(rightmost - Support(support.a, support.l, np.ones(n), sigma_h).rightmost_real()) > 2e-3


def test_support_of_uniform_gates_is_the_disk():
    support = Support(np.full(50, 0.6), np.full(50, 0.2), np.full(50, 0.5), 1.5)
    radius = 0.2 * 0.5 * 1.5
    assert support.rightmost_real() == pytest.approx(0.6 + radius, rel=1e-14)
    edge = support.boundary(128)
    assert np.allclose(np.abs(edge - 0.6), radius, rtol=1e-12) and edge[0] == edge[-1]
    assert np.allclose(support.value(edge), 1.0, rtol=1e-10)


def test_support_boundary_encloses_the_eigenvalues():
    support, values, _ = _heterogeneous(300, seed=2)
    edge = support.boundary(points=128, samples=100)
    assert np.allclose(support.value(edge[:-1]), 1.0, rtol=1e-9)
    assert np.all(support.value(values[np.abs(values - 1) > 0.05]) > 0.5)  # inside or at the finite-N edge


def test_gru_support_from_a_fixed_point():
    """At a constructed Chung-GRU fixed point with W_z = W_r = 0 the Jacobian is exactly
    diag(a) + diag(l) W_h diag(ρ) with a = 1 − z, l = z ⊙ n', ρ = r read by the prediction."""
    n = 60
    rng = np.random.default_rng(5)
    compiled, params = _gru("gru_chung", z_bar=0.5, r_bar=0.5, sigma_h=1.2, n=n)
    params.update(W_z=np.zeros((n, n)), W_r=np.zeros((n, n)), b_z=rng.normal(-1, 2, n), b_r=rng.normal(0.5, 1, n))
    h = rng.uniform(-0.8, 0.8, n)
    r = 1 / (1 + np.exp(-params["b_r"]))
    params["b_h"] = np.arctanh(h) - params["W_h"] @ (r * h)
    support = heterogeneous_support(compiled, {"h": h}, {"x": np.zeros(2)}, params)
    form = np.diag(support.a) + (support.l[:, None] * params["W_h"]) * support.rho[None, :]
    assert np.max(np.abs(compiled.state_jacobian({"h": h}, {"x": np.zeros(2)}, params) - form)) <= 1e-15
    assert np.allclose(support.a, 1 - 1 / (1 + np.exp(-params["b_z"])), rtol=0, atol=1e-15)
    with pytest.raises(numeric.ArgumentError, match="one state"):
        heterogeneous_support(compiled, {"h": h[None]}, {"x": np.zeros(2)}, params)
