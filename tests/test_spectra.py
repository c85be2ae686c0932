"""Jacobian spectra (numeric/_spectra.py): eigenvalues at states and along trajectories
(batched, sorted by modulus), and the convention non-equivalence of torch's and Chung's GRU
(Can, Krishnamurthy & Schwab 2020 assume the reset inside the product; torch applies it after):
their Jacobians differ for a generic draw even under the best parameter map, while each
matches its own autograd Jacobian (tolerance of the ``ad`` oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric._spectra import eigenvalues, fraction_near, jacobian_eigenvalues, trajectory_eigenvalues
from gatejac.symbolic import cells
from gatejac.verify import tolerance


def test_eigenvalues_batched_and_sorted():
    rng = np.random.default_rng(0)
    matrices = rng.standard_normal((3, 2, 6, 6))
    values = eigenvalues(matrices)
    assert values.shape == (3, 2, 6) and values.dtype == complex
    assert np.all(np.diff(np.abs(values), axis=-1) <= 1e-15)
    for index in np.ndindex(3, 2):
        assert np.allclose(np.sort_complex(values[index]), np.sort_complex(np.linalg.eigvals(matrices[index])))
    assert np.array_equal(eigenvalues(torch.as_tensor(matrices)), values)
    with pytest.raises(numeric.ArgumentError, match="square"):
        eigenvalues(np.zeros((3, 4)))


def test_trajectory_eigenvalues_are_those_of_each_step_jacobian():
    cell = cells.get("lstm_torch")
    compiled = numeric.compile(cell)
    states, _, params = numeric.random_values(cell, {"n": 4, "m": 2}, batch=(3,), seed=1)
    _, inputs, _ = numeric.random_values(cell, {"n": 4, "m": 2}, batch=(6, 3), seed=2)
    trajectory = numeric.rollout(compiled, states, inputs, params)
    values = trajectory_eigenvalues(trajectory)
    assert values.shape == (6, 3, 8)
    for t in (1, 4, 6):
        assert np.array_equal(values[t - 1], eigenvalues(trajectory.step_jacobian(t)))
        assert np.array_equal(values[t - 1], jacobian_eigenvalues(compiled, trajectory.states_at(t - 1),
                                                                  trajectory.inputs_at(t), params))
    assert trajectory_eigenvalues(trajectory, [2, 5]).shape == (2, 3, 8)
    with pytest.raises(numeric.ArgumentError, match="t=7"):
        trajectory_eigenvalues(trajectory, [7])


def test_fraction_near():
    values = np.array([[1.0, 0.99, 0.5 + 0.5j, 1.2], [0.0, 0.0, 0.0, 0.96]])
    assert fraction_near(values).tolist() == [0.5, 0.25]
    assert fraction_near(values, 0.0, 0.1).tolist() == [0.0, 0.75]
    with pytest.raises(numeric.ArgumentError, match="width"):
        fraction_near(values, width=0)


def _autograd_jacobian(compiled_torch, h, x, params):
    as_torch = {k: torch.as_tensor(v) for k, v in params.items()}
    step = lambda state: compiled_torch.step({"h": state}, {"x": torch.as_tensor(x)}, as_torch)["h"]  # noqa: E731
    return torch.autograd.functional.jacobian(step, torch.as_tensor(h)).numpy()


def test_torch_and_chung_grus_are_different_maps():
    """The best map (torch's z = 1 − z_Chung: W_hz = −W_z, W_iz = −U_z, b_iz + b_hz = −b_z;
    W_hn = W_h, b_in = b_h, b_hn = 0, the reset weights shared) leaves the reset placement,
    diag(r) W_hn against W_h diag(r): the Jacobians differ."""
    n, m = 5, 2
    rng = np.random.default_rng(4)
    chung = numeric.initialise("gru_chung", {"n": n, "m": m}, scheme="gaussian", seed=4)
    chung.update(b_z=rng.normal(0, 1, n), b_r=rng.normal(0, 1, n), b_h=rng.normal(0, 1, n))
    mapped = {"W_hz": -chung["W_z"], "W_iz": -chung["U_z"], "b_iz": -chung["b_z"], "b_hz": np.zeros(n),
              "W_hr": chung["W_r"], "W_ir": chung["U_r"], "b_ir": chung["b_r"], "b_hr": np.zeros(n),
              "W_hn": chung["W_h"], "W_in": chung["U_h"], "b_in": chung["b_h"], "b_hn": np.zeros(n)}
    h, x = rng.uniform(-0.8, 0.8, n), rng.standard_normal(m)
    jacobians = {}
    for name, params in (("gru_chung", chung), ("gru_torch", mapped)):
        jacobian = numeric.compile(cells.get(name)).state_jacobian({"h": h}, {"x": x}, params)
        reference = _autograd_jacobian(numeric.compile(cells.get(name), "torch"), h, x, params)
        bound = tolerance("ad", "float64", np.max(np.abs(reference))).bound(np.abs(reference))
        assert np.all(np.abs(jacobian - reference) <= bound)
        jacobians[name] = jacobian
    assert np.max(np.abs(jacobians["gru_chung"] - jacobians["gru_torch"])) > 1e-2
    # with the reset gate saturated open (r = 1) the two maps agree: the difference is the reset placement
    open_reset = {**chung, "W_r": 0 * chung["W_r"], "U_r": 0 * chung["U_r"], "b_r": np.full(n, 40.0)}
    open_mapped = {**mapped, "W_hr": open_reset["W_r"], "W_ir": open_reset["U_r"], "b_ir": open_reset["b_r"]}
    same = [numeric.compile(cells.get(name)).state_jacobian({"h": h}, {"x": x}, params)
            for name, params in (("gru_chung", open_reset), ("gru_torch", open_mapped))]
    assert np.max(np.abs(same[0] - same[1])) <= 1e-14
