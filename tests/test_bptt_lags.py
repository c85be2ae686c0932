"""The BPTT lag decomposition (docs/theory.md: “Transports and backpropagation”; Livi 2025,
arXiv:2508.12121, Sections VI–VII: a gradient step acts on each lag ℓ through Φ(t, t−ℓ)).

For L = Σ_t L_t(s_t) with e_t = ∇_{s_t} L_t and the immediate parameter Jacobians
∂⁺s_k/∂θ (old state held fixed; ``CompiledCell.parameter_jacobian``, flattened row-major as
torch does):

* lag sum        Σ_ℓ G_ℓ = ∇_θ L,  G_ℓ = Σ_t (∂⁺s_{t−ℓ}/∂θ)ᵀ Φ(t, t−ℓ)ᵀ e_t,
                 Φ(t, k) = J_t ⋯ J_{k+1} from the trajectory engine (``Trajectory.transport``);
* adjoints       δ_T = e_T, δ_k = e_k + J_{k+1}ᵀ δ_{k+1},  ∇_θ L = Σ_k (∂⁺s_k/∂θ)ᵀ δ_k;

both against ``loss.backward()`` of the same loss through the compiled torch step (an
independent route: torch's reverse mode over the generated step, no Jacobian formed), at
the "ad" tolerance of verify/_tolerances.py (float64: 1e-12·max(1, |∇|) + 1e-10·|∇|, the
issue's 1e-10).  The checker is shown to fail for the reversed product J_{k+1} ⋯ J_t and
for the public code's factors A_j + B_j (gate term at h_j).  With J_j = (1 − α) I (the leaky
cell with W = 0) the adjoint is the exponential moving sum δ_k = Σ_m (1 − α)^m e_{k+m}, the
momentum analogy of the paper's Section VI.
"""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.symbolic import cells
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 4, "m": 3}
STEPS = 7
CELLS = [("leaky", {}), ("scalar_gate", {}), ("multi_gate", {}), ("gru_torch", {}), ("lstm_torch", {}),
         ("elman", {})]


def _setup(name, options, *, params=None, seed=0):
    """A float64 trajectory of ``name`` (batch of one), its parameters and a loss with a term at
    every step: L_t = c_t · s_t for t < T and L_T = ½‖R s_T − y‖² (R a random readout)."""
    cell = cells.get(name, **options)
    values = numeric.initialise(cell, SIZES, seed=seed, backend="numpy")
    values.update(params or {})
    rng = np.random.default_rng(seed + 11)
    inputs = {"x": rng.uniform(-1, 1, (STEPS, 1, SIZES["m"]))}
    start = {s.name: 0.3 * rng.standard_normal((1, SIZES["n"])) for s in cell.states}
    trajectory = numeric.rollout(numeric.compile(cell), start, inputs, values)
    size = trajectory.state_size
    loss = {"c": rng.standard_normal((STEPS, size)), "R": rng.standard_normal((2, size)), "y": rng.standard_normal(2)}
    return cell, values, inputs, start, trajectory, loss


def _state_vector(trajectory, t):
    return np.concatenate([trajectory.states[s.name][t, 0] for s in trajectory.compiled.cell.states])


def _errors(trajectory, loss):
    """e_t = ∇_{s_t} L_t for t = 1..T (index t−1)."""
    errors = [loss["c"][t - 1].copy() for t in range(1, STEPS + 1)]
    final = _state_vector(trajectory, STEPS)
    errors[-1] += loss["R"].T @ (loss["R"] @ final - loss["y"])
    return errors


def _trainable(cell):
    return [p.name for p in cell.parameters if p.trainable]


def _immediate(trajectory, name, k):
    """∂⁺s_k/∂θ at (s_{k−1}, x_k): ``(S, numel θ)``."""
    return trajectory.compiled.parameter_jacobian(name, trajectory.states_at(k - 1), trajectory.inputs_at(k),
                                                  trajectory.params)[0]


def _lag_terms(trajectory, loss, transport):
    """``{θ: [G_0, …, G_{T−1}]}`` with Φ(t, k) = ``transport(t, k)``."""
    errors = _errors(trajectory, loss)
    terms = {}
    for name in _trainable(trajectory.compiled.cell):
        terms[name] = [sum(_immediate(trajectory, name, t - lag).T @ transport(t, t - lag).T @ errors[t - 1]
                           for t in range(lag + 1, STEPS + 1)) for lag in range(STEPS)]
    return terms


def _chain(trajectory):
    return lambda t, k: np.asarray(trajectory.transport(t, k))[0]


def _reversed(factors):
    """J_{k+1} ⋯ J_t (earlier steps on the left), from ``factors`` ``(T, 1, S, S)``."""
    def transport(t, k):
        product = np.eye(factors.shape[-1])
        for j in range(k + 1, t + 1):
            product = product @ factors[j - 1, 0]
        return product
    return transport


def _autograd(cell, values, inputs, start, loss):
    """∇_θ L by ``loss.backward()`` through the compiled torch step (float64), flattened."""
    import torch

    compiled = numeric.compile(cell, "torch")
    params = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=k in _trainable(cell))
              for k, v in values.items()}
    states = {k: torch.tensor(v) for k, v in start.items()}
    c, readout, target = (torch.tensor(loss[k]) for k in ("c", "R", "y"))
    total = torch.zeros((), dtype=torch.float64)
    for t in range(1, STEPS + 1):
        states = compiled.step(states, {"x": torch.tensor(inputs["x"][t - 1])}, params)
        vector = torch.cat([states[s.name][0] for s in cell.states])
        total = total + c[t - 1] @ vector
    total = total + 0.5 * torch.sum((readout @ vector - target) ** 2)
    total.backward()
    return {name: params[name].grad.reshape(-1).numpy() for name in _trainable(cell)}


def _close(actual, reference) -> bool:
    bound = tolerance("ad", "float64", np.max(np.abs(reference))).bound(np.abs(reference))
    return bool(np.all(np.abs(actual - reference) <= bound))


@pytest.mark.parametrize(("name", "options"), CELLS, ids=[c[0] for c in CELLS])
def test_the_lag_terms_sum_to_the_gradient_of_loss_backward(name, options):
    cell, values, inputs, start, trajectory, loss = _setup(name, options)
    reference = _autograd(cell, values, inputs, start, loss)
    terms = _lag_terms(trajectory, loss, _chain(trajectory))
    for parameter, pieces in terms.items():
        assert _close(sum(pieces), reference[parameter]), (name, parameter)
        assert sum(np.any(piece != 0) for piece in pieces) > 1, parameter  # more than one lag contributes


@pytest.mark.parametrize(("name", "options"), CELLS, ids=[c[0] for c in CELLS])
def test_the_adjoint_recursion_equals_loss_backward(name, options):
    cell, values, inputs, start, trajectory, loss = _setup(name, options)
    reference = _autograd(cell, values, inputs, start, loss)
    errors = _errors(trajectory, loss)
    jacobians = np.asarray(trajectory.step_jacobians())[:, 0]  # index j−1 = J_j
    adjoints = [None] * (STEPS + 1)
    adjoints[STEPS] = errors[-1]
    for k in range(STEPS - 1, 0, -1):
        adjoints[k] = errors[k - 1] + jacobians[k].T @ adjoints[k + 1]
    for parameter in _trainable(cell):
        gradient = sum(_immediate(trajectory, parameter, k).T @ adjoints[k] for k in range(1, STEPS + 1))
        assert _close(gradient, reference[parameter]), (name, parameter)


@pytest.mark.parametrize("name", ["scalar_gate", "multi_gate"])
def test_the_checker_catches_the_reversed_product_and_the_public_codes_factors(name):
    """The same sum with J_{k+1} ⋯ J_t, or with the author factors A_j + B_j in chain order,
    misses the gradient by far more than the tolerance."""
    cell, values, inputs, start, trajectory, loss = _setup(name, {})
    reference = _autograd(cell, values, inputs, start, loss)
    reversed_terms = _lag_terms(trajectory, loss, _reversed(np.asarray(trajectory.step_jacobians())))
    A, B = numeric.expansion_factors(trajectory, "author")
    author = np.asarray(A + B)

    def author_chain(t, k):
        product = np.eye(author.shape[-1])
        for j in range(k + 1, t + 1):
            product = author[j - 1, 0] @ product
        return product

    author_terms = _lag_terms(trajectory, loss, author_chain)
    for wrong in (reversed_terms, author_terms):
        gaps = [np.max(np.abs(sum(wrong[p]) - reference[p])) / np.max(np.abs(reference[p])) for p in wrong]
        assert max(gaps) > 1e-3


def test_lag_zero_is_the_immediate_term_alone():
    """G_0 = Σ_t (∂⁺s_t/∂θ)ᵀ e_t: no transport (Φ(t, t) = I)."""
    _, _, _, _, trajectory, loss = _setup("multi_gate", {})
    errors = _errors(trajectory, loss)
    terms = _lag_terms(trajectory, loss, _chain(trajectory))
    for parameter, pieces in terms.items():
        direct = sum(_immediate(trajectory, parameter, t).T @ errors[t - 1] for t in range(1, STEPS + 1))
        assert _close(pieces[0], direct)


def test_a_constant_leak_makes_the_adjoint_an_exponential_moving_sum():
    """Leaky cell with W = 0: J_j = (1 − α) I, so δ_k = Σ_{m ≥ 0} (1 − α)^m e_{k+m} (α = 0.8)
    and the lag-ℓ term carries (1 − α)^ℓ."""
    _, _, _, _, trajectory, loss = _setup("leaky", {}, params={"W": np.zeros((4, 4))})
    keep = 1 - 0.8  # the retention 1 − α as the kernel rounds it
    errors = _errors(trajectory, loss)
    jacobians = np.asarray(trajectory.step_jacobians())[:, 0]
    assert np.array_equal(jacobians, np.broadcast_to(keep * np.eye(4), jacobians.shape))
    delta = errors[-1]
    for k in range(STEPS - 1, 0, -1):
        delta = errors[k - 1] + jacobians[k].T @ delta
        moving = sum(keep ** m * errors[k - 1 + m] for m in range(STEPS - k + 1))
        assert _close(delta, moving)
    terms = _lag_terms(trajectory, loss, _chain(trajectory))
    for lag in range(STEPS):
        undamped = sum(_immediate(trajectory, "U", t - lag).T @ errors[t - 1] for t in range(lag + 1, STEPS + 1))
        assert _close(terms["U"][lag], keep ** lag * undamped)
