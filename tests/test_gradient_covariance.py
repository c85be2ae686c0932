"""Per-example gradients, the direction covariance and its anisotropy
(numeric/_gradient_covariance.py; Livi 2025, arXiv:2508.12121, Section VII-B), and the BPTT
lag decomposition of the gradient (docs/theory.md: “Transports and backpropagation”).

The model is a small ``nn.Module`` written here: it unrolls the compiled torch step of the
multi-gated cell over a sequence and reads out W_o h_T (MSE loss), float64.  Oracles: a loop
of ``loss.backward()`` over the examples; ``loss.backward()`` on the batch for the BPTT sums
built from the compiled NumPy kernels (immediate parameter Jacobians, step Jacobians).
Tolerances: two float64 autograd evaluations of the same arithmetic agree to round-off,
~1e-15 relative, checked at 1e-12; the BPTT sums (T = 15 products of 6×6 factors) against
autograd to the issue's 1e-10 relative; the two covariance routes: CE to 1e-10 (eigenvalues
carry an absolute error of a few ε·λ₁, relative to Σλ ~ ε), AI to 1e-8 relative (λ_r's
relative error is ~ε·λ₁/λ_r = ε·AI², plus the SVD route's 1e-12 guard).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric._gradient_covariance import (
    covariance_anisotropy, covariance_spectrum, gradient_directions, per_example_gradients,
)
from gatejac.symbolic import GatejacError, cells
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 6, "m": 3}


class UnrolledCell(torch.nn.Module):
    """A cell unrolled with its compiled torch step, h_0 = 0, readout ŷ = W_o h_T."""

    def __init__(self, name="multi_gate", seed=0):
        super().__init__()
        cell = cells.get(name, bias=False)
        self.compiled = numeric.compile(cell, "torch")
        values = numeric.initialise(cell, SIZES, seed=seed, backend="torch")
        self.weights = torch.nn.ParameterDict({k: torch.nn.Parameter(v) for k, v in values.items()})
        generator = torch.Generator().manual_seed(seed)
        self.readout = torch.nn.Parameter(torch.randn(1, SIZES["n"], dtype=torch.float64, generator=generator) / 3)

    def forward(self, inputs):  # inputs (B, T, m)
        state = {"h": inputs.new_zeros(inputs.shape[0], SIZES["n"])}
        for t in range(inputs.shape[1]):
            state = self.compiled.step(state, {"x": inputs[:, t]}, dict(self.weights))
        return state["h"] @ self.readout.T


def _data(count=24, steps=15, seed=1):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(count, steps, SIZES["m"], dtype=torch.float64, generator=generator)
    return inputs, torch.rand(count, 1, dtype=torch.float64, generator=generator)


def _loop_gradients(model, inputs, targets):
    rows = []
    for m in range(inputs.shape[0]):
        model.zero_grad()
        torch.nn.functional.mse_loss(model(inputs[m:m + 1]), targets[m:m + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for _, p in model.named_parameters()]))
    return torch.stack(rows)


# ------------------------------------------------------------------ per-example gradients
def test_vmap_gradients_equal_a_loop_of_backward_passes():
    model = UnrolledCell()
    inputs, targets = _data()
    fast = per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets)
    slow = _loop_gradients(model, inputs, targets)
    assert fast.shape == (24, sum(p.numel() for p in model.parameters()))  # every parameter, readout included
    assert torch.max(torch.abs(fast - slow)) <= 1e-12 * torch.max(torch.abs(slow))
    chunked = per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets, chunk_size=5)
    assert torch.allclose(chunked, fast, rtol=1e-13, atol=0)


def test_the_gradient_check_sees_a_swapped_example():
    """The comparison above catches gradients attached to the wrong examples."""
    model = UnrolledCell()
    inputs, targets = _data()
    fast = per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets)
    slow = _loop_gradients(model, inputs, targets)
    assert torch.max(torch.abs(fast[[1, 0, *range(2, 24)]] - slow)) > 1e-6 * torch.max(torch.abs(slow))


def test_time_major_inputs_with_batch_axis():
    class TimeMajor(UnrolledCell):
        def forward(self, inputs):  # (T, B, m)
            return super().forward(inputs.transpose(0, 1))

    model = TimeMajor()
    inputs, targets = _data(count=6)
    batch_first = per_example_gradients(UnrolledCell(), torch.nn.functional.mse_loss, inputs, targets)
    time_major = per_example_gradients(model, torch.nn.functional.mse_loss, inputs.transpose(0, 1), targets,
                                       batch_axis=1)
    assert torch.allclose(batch_first, time_major, rtol=1e-13, atol=0)


# ------------------------------------------------------------------ directions and routes
def test_directions_normalise_centre_drop_and_jitter():
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((30, 8))
    raw[:, 3] = 0.0  # a parameter with no gradient: a constant column, dropped
    directions = gradient_directions(raw, jitter=0.0)
    assert directions.shape == (30, 7)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    # the row guard 1e-12 changes entries ≤ 1 by at most 1e-12/‖row‖ (rows here have norm ≥ 1)
    assert np.allclose(directions, np.delete(unit - unit.mean(axis=0), 3, axis=1), rtol=0, atol=1e-12)
    jittered = gradient_directions(raw, seed=4)
    assert 0 < np.max(np.abs(jittered - directions)) < 1e-7
    assert np.array_equal(jittered, gradient_directions(raw, seed=4))


@pytest.mark.parametrize("shape", [(40, 114), (300, 50)])
def test_svd_and_covariance_eigenvalue_routes_agree(shape):
    """Two routes: CE and AI from the SVD of G equal those from the eigenvalues of GᵀG/M."""
    rng = np.random.default_rng(1)
    raw = rng.standard_normal(shape) @ np.diag(np.exp(rng.normal(0, 1, shape[1])))
    directions = gradient_directions(raw, seed=2)
    by_svd, by_eigh = covariance_anisotropy(directions), covariance_anisotropy(directions, route="eigh")
    assert by_svd.ce_full == pytest.approx(by_eigh.ce_full, abs=1e-10)
    assert by_svd.ai == pytest.approx(by_eigh.ai, rel=1e-8)
    singular = covariance_spectrum(directions)
    eigen = covariance_spectrum(directions, "eigh")
    assert np.allclose(singular ** 2 / shape[0], eigen, rtol=0, atol=1e-12 * eigen[0])
    assert by_eigh.ai == pytest.approx(np.sqrt(eigen[0] / eigen[9]), rel=1e-12)


def test_route_check_catches_a_wrong_normalisation():
    """Eigenvalues taken as singular values (λ for s) fail the agreement the test above asserts."""
    rng = np.random.default_rng(1)
    directions = gradient_directions(rng.standard_normal((60, 20)) @ np.diag(np.linspace(1, 5, 20)), seed=0)
    eigen = covariance_spectrum(directions, "eigh")
    from gatejac.numeric._anisotropy import spectrum_metrics

    wrong = spectrum_metrics(eigen, guard=0.0)
    assert abs(wrong.ce_full - covariance_anisotropy(directions).ce_full) > 1e-3


def test_row_scaling_invariance_and_its_failure_without_normalisation():
    """Invariance: scaling raw rows by c > 0 leaves AI and CE unchanged (jitter 0); the
    same metrics on centred raw rows (no unit rows) change."""
    model = UnrolledCell()
    inputs, targets = _data()
    raw = per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets).numpy()
    scales = np.exp(np.random.default_rng(3).normal(0, 2, (raw.shape[0], 1)))
    plain = covariance_anisotropy(gradient_directions(raw, jitter=0.0))
    scaled = covariance_anisotropy(gradient_directions(raw * scales, jitter=0.0))
    assert scaled.ai == pytest.approx(plain.ai, rel=1e-9) and scaled.ce_full == pytest.approx(plain.ce_full, rel=1e-12)
    centred = raw - raw.mean(axis=0)
    rescaled = raw * scales - (raw * scales).mean(axis=0)
    assert abs(covariance_anisotropy(centred).ce_full - covariance_anisotropy(rescaled).ce_full) > 1e-3


def test_participation_ratio_of_directions_within_rank():
    directions = gradient_directions(np.random.default_rng(0).standard_normal((25, 12)), jitter=0.0)
    metrics = covariance_anisotropy(directions, route="eigh")
    assert 1 <= metrics.participation_ratio <= np.linalg.matrix_rank(directions) + 1e-9


@pytest.mark.parametrize("route", ["svd", "eigh"])
def test_flat_direction_covariance_has_participation_ratio_equal_to_its_rank(route):
    """Invariance: M orthogonal gradients of different sizes become, after unit rows and
    centring, G = I − 11ᵀ/M, whose covariance has M − 1 equal eigenvalues and one 0: PR and
    the effective rank equal the rank M − 1, AI₁₀ = 1 and CE₁₀ = 10/(M − 1).  Without the unit
    rows (the raw rows centred) the spectrum is not flat: caught."""
    count = 24
    raw = np.diag(np.exp(np.random.default_rng(7).normal(0, 1, count)))
    directions = gradient_directions(raw, jitter=0.0)
    metrics = covariance_anisotropy(directions, route=route)
    bound = tolerance("reference", "float64", 1.0).bound(count)
    assert abs(metrics.participation_ratio - (count - 1)) <= bound
    assert abs(metrics.effective_rank - (count - 1)) <= bound
    assert abs(metrics.ai - 1) <= bound and abs(metrics.ce_full - 10 / (count - 1)) <= bound
    unnormalised = covariance_anisotropy(raw - raw.mean(axis=0), route=route)
    assert unnormalised.participation_ratio < count - 2


# ------------------------------------------------------------------ BPTT lag decomposition
def _bptt_pieces(model, inputs, targets):
    """From the compiled NumPy kernels: the trajectory, e_T, and ∂⁺h_k/∂θ for every step."""
    compiled = numeric.compile(cells.get("multi_gate", bias=False))
    params = {k: v.detach().numpy() for k, v in model.weights.items()}
    batch = inputs.shape[0]
    trajectory = numeric.rollout(compiled, {"h": np.zeros((batch, SIZES["n"]))},
                                 {"x": inputs.transpose(0, 1).numpy()}, params)
    readout = model.readout.detach().numpy()
    residual = trajectory.states["h"][-1] @ readout.T - targets.numpy()
    error = 2 / (batch * 1) * residual @ readout  # e_T = ∇_{h_T} mean((W_o h_T − y)²), (B, N)
    immediate = {name: np.stack([compiled.parameter_jacobian(name, trajectory.states_at(k - 1),
                                                             trajectory.inputs_at(k), params)
                                 for k in range(1, trajectory.steps + 1)]) for name in params}
    return trajectory, error, immediate


def _autograd_gradients(model, inputs, targets):
    model.zero_grad()
    torch.nn.functional.mse_loss(model(inputs), targets).backward()
    return {name: p.grad.reshape(-1).numpy() for name, p in model.weights.items()}


def test_adjoint_recursion_and_lag_decomposition_equal_backward():
    """∇_θ L = Σ_k (∂⁺h_k/∂θ)ᵀ δ_k with δ_k = J_{k+1}ᵀ δ_{k+1}, δ_T = e_T (adjoint), and
    = Σ_ℓ G_ℓ with G_ℓ = (∂⁺h_{T−ℓ}/∂θ)ᵀ Φ(T, T−ℓ)ᵀ e_T (lag decomposition), both equal to
    ``loss.backward()`` to 1e-10 relative; with the reversed product in G_ℓ they do not."""
    model = UnrolledCell()
    inputs, targets = _data(count=4)
    trajectory, error, immediate = _bptt_pieces(model, inputs, targets)
    reference = _autograd_gradients(model, inputs, targets)
    steps = trajectory.steps
    jacobians = trajectory.step_jacobians()
    adjoints = [None] * (steps + 1)
    adjoints[steps] = error
    for k in range(steps - 1, 0, -1):
        adjoints[k] = np.einsum("bij,bi->bj", jacobians[k], adjoints[k + 1])  # J_{k+1}ᵀ δ_{k+1}
    transports = trajectory.transports_to(steps)  # index k: Φ(T, k)
    for name, rows in immediate.items():
        adjoint = sum(np.einsum("bip,bi->p", rows[k - 1], adjoints[k]) for k in range(1, steps + 1))
        lags = [np.einsum("bip,bji,bj->p", rows[steps - lag - 1], transports[steps - lag], error)
                for lag in range(steps)]
        reversed_lags = [np.einsum("bip,bji,bj->p", rows[steps - lag - 1],
                                   _reversed_product(jacobians, steps, steps - lag), error) for lag in range(steps)]
        scale = np.max(np.abs(reference[name]))
        assert np.max(np.abs(adjoint - reference[name])) <= 1e-10 * scale
        assert np.max(np.abs(sum(lags) - reference[name])) <= 1e-10 * scale
        assert np.max(np.abs(sum(reversed_lags) - reference[name])) > 1e-4 * scale


def _reversed_product(jacobians, t, k):
    """J_{k+1} ⋯ J_t (the public code's order), ``(B, S, S)``."""
    product = np.broadcast_to(np.eye(jacobians.shape[-1]), jacobians.shape[1:]).copy()
    for j in range(k + 1, t + 1):
        product = product @ jacobians[j - 1]
    return product


# ------------------------------------------------------------------ errors
def test_errors_name_the_argument():
    model = UnrolledCell()
    inputs, targets = _data(count=3)
    loss = torch.nn.functional.mse_loss
    for call, word in [(lambda: per_example_gradients(object(), loss, inputs, targets), "nn.Module"),
                       (lambda: per_example_gradients(model, loss, inputs, targets[:2]), "one target"),
                       (lambda: per_example_gradients(model, loss, inputs.numpy(), targets), "torch tensors"),
                       (lambda: per_example_gradients(model, loss, inputs, targets, chunk_size=0), "chunk_size"),
                       (lambda: gradient_directions(np.ones((1, 3))), "M ≥ 2"),
                       (lambda: gradient_directions(np.full((3, 3), np.nan)), "non-finite"),
                       (lambda: covariance_anisotropy(np.ones((3, 3)), route="qr"), "route")]:
        with pytest.raises(GatejacError, match=word):
            call()
