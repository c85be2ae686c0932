"""Fixed points (numeric/_fixed_points.py): damped Newton, dense and Newton–Krylov, on
constructed GRU fixed points (Can, Krishnamurthy & Schwab 2020: at a fixed point n* = h*, so
the update-gate derivative term vanishes and spec(J*) = 1 − z̄ + z̄ spec(N*) for uniform z),
deduplication and stability classes on a cell whose fixed points are known in closed form,
and the honest reporting of starts that do not converge.

Tolerances: the search's own target is ‖F(h) − h‖₂ ≤ 1e-12; a point that meets it lies within
‖(J − I)⁻¹‖·1e-12 of the exact fixed point (‖(J − I)⁻¹‖ < 10² for these draws, printed by the
assertion), hence the 1e-10 on the distance.  Eigenvalue identities use 1e-10 (issue 12): the
eigenvalues of a 40×40 matrix of norm O(1) are computed to κ·ε·‖J‖ ≈ 1e-13 for eigenvalue
condition numbers κ up to 10³.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric._fixed_points import REASONS, fixed_points
from gatejac.numeric._spectra import classify, eigenvalues
from gatejac.symbolic import Cell, cells, tanh

N, M = 40, 3


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gru_with_fixed_point(name: str, seed: int = 0, *, uniform_z: float | None = None):
    """Parameters of GRU ``name`` ("gru_chung" or "gru_torch") with a constructed fixed point
    h* ∈ (−0.9, 0.9)^N at the constant input x: the candidate's bias is set so that n(h*) = h*
    (b_h = atanh h* − W_h (r* ⊙ h*) − U_h x; torch: b_in = atanh h* − W_in x − r* ⊙ (W_hn h* + b_hn)).
    ``uniform_z``: the update gate's recurrent and input weights are zero and its bias gives
    z = uniform_z in every unit."""
    rng = np.random.default_rng(seed)
    cell = cells.get(name)
    params = numeric.initialise(cell, {"n": N, "m": M}, scheme="gaussian", gain=1.2, seed=seed)
    h_star, x = rng.uniform(-0.9, 0.9, N), rng.standard_normal(M)
    if name == "gru_chung":
        params["b_z"], params["b_r"] = rng.normal(0, 1, N), rng.normal(0.5, 1, N)
        if uniform_z is not None:
            params["W_z"], params["U_z"] = 0 * params["W_z"], 0 * params["U_z"]
            params["b_z"] = np.full(N, np.log(uniform_z / (1 - uniform_z)))
        r = _sigmoid(params["W_r"] @ h_star + params["U_r"] @ x + params["b_r"])
        params["b_h"] = np.arctanh(h_star) - params["W_h"] @ (r * h_star) - params["U_h"] @ x
    else:
        params["b_hn"], params["b_hr"] = rng.normal(0, 0.5, N), rng.normal(0.5, 1, N)
        if uniform_z is not None:
            params["W_hz"], params["W_iz"] = 0 * params["W_hz"], 0 * params["W_iz"]
            params["b_iz"], params["b_hz"] = np.full(N, np.log(uniform_z / (1 - uniform_z))), np.zeros(N)
        r = _sigmoid(params["W_ir"] @ x + params["b_ir"] + params["W_hr"] @ h_star + params["b_hr"])
        params["b_in"] = np.arctanh(h_star) - params["W_in"] @ x - r * (params["W_hn"] @ h_star + params["b_hn"])
    return numeric.compile(cell), h_star, {"x": x}, params


def _nearby(h_star, count=16, spread=0.05, seed=1):
    return h_star + spread * np.random.default_rng(seed).standard_normal((count, h_star.size))


def _match_distance(first, second) -> float:
    """The largest distance between two multisets of eigenvalues paired greedily (each value of
    ``first`` with the nearest unused value of ``second``)."""
    unused = list(np.asarray(second))
    worst = 0.0
    for value in np.asarray(first):
        index = int(np.argmin(np.abs(np.asarray(unused) - value)))
        worst = max(worst, abs(unused.pop(index) - value))
    return worst


def _found(search, h_star) -> float:
    """The largest distance of a converged search's points from h*, or inf if any start failed."""
    if not search.converged.all():
        return float("inf")
    return float(np.max(np.abs(numeric.to_numpy(search.states["h"]) - h_star)))


# ------------------------------------------------------------------ constructed GRU fixed points
@pytest.mark.parametrize("name", ["gru_chung", "gru_torch"])
@pytest.mark.parametrize("method", ["dense", "krylov"])
def test_newton_finds_constructed_fixed_point(name, method):
    compiled, h_star, x, params = _gru_with_fixed_point(name)
    search = fixed_points(compiled, {"h": _nearby(h_star)}, x, params, method=method)
    assert search.converged.all(), search.summary()
    assert (search.residual <= 1e-12).all() and set(search.reasons) == {"converged"}
    assert _found(search, h_star) <= 1e-10
    points = search.unique()
    assert len(points) == 1 and points.counts.tolist() == [16] and (points.labels == 0).all()


def test_newton_torch_backend_agrees():
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    torch_compiled = numeric.compile(compiled.cell, "torch")
    as_torch = {k: torch.as_tensor(v) for k, v in params.items()}
    search = fixed_points(torch_compiled, {"h": torch.as_tensor(_nearby(h_star))}, {"x": torch.as_tensor(x["x"])},
                          as_torch)
    assert isinstance(search.states["h"], torch.Tensor) and search.states["h"].dtype == torch.float64
    assert search.converged.all() and _found(search, h_star) <= 1e-10


def test_a_wrong_bias_gives_a_different_point():
    """The distance check catches a fixed point that is not h*: the same search with b_h off by
    1e-3 converges, to a point 1e-4 or more away from h*."""
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    broken = {**params, "b_h": params["b_h"] + 1e-3}
    search = fixed_points(compiled, {"h": _nearby(h_star)}, x, broken)
    assert search.converged.all()
    assert _found(search, h_star) > 1e-4


def test_update_gate_term_vanishes_at_the_fixed_point():
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    h = numeric.to_numpy(fixed_points(compiled, {"h": h_star[None]}, x, params).states["h"])[0]
    named = compiled.intermediates({"h": h}, x, params)
    z = named["z"]
    term = ((named["h_tilde"] - h) * z * (1 - z))[:, None] * params["W_z"]
    assert np.max(np.abs(term)) <= 1e-14
    # the same term away from the fixed point is O(1): the check can fail
    named = compiled.intermediates({"h": h + 0.1}, x, params)
    away = ((named["h_tilde"] - h - 0.1) * named["z"] * (1 - named["z"]))[:, None] * params["W_z"]
    assert np.max(np.abs(away)) > 1e-3


def _reduced(name, named, h, params):
    """N* of the fixed-point reduction: the candidate's Jacobian with the gate derivative of z dropped."""
    n_prime, r = 1 - named["h_tilde"] ** 2, named["r"]
    if name == "gru_chung":
        reset_term = params["W_h"] @ ((h * r * (1 - r))[:, None] * params["W_r"])
        return n_prime[:, None] * (params["W_h"] * r[None, :] + reset_term)
    s = params["W_hn"] @ h + params["b_hn"]
    return n_prime[:, None] * (r[:, None] * params["W_hn"] + (s * r * (1 - r))[:, None] * params["W_hr"])


@pytest.mark.parametrize("name", ["gru_chung", "gru_torch"])
def test_fixed_point_spectrum_is_affine_in_the_update_gate(name):
    """spec(J*) = 1 − z̄ + z̄ spec(N*) (Chung), = z̄ + (1 − z̄) spec(N*) (torch: z → 1 − z)."""
    z_bar = 0.3
    compiled, h_star, x, params = _gru_with_fixed_point(name, uniform_z=z_bar)
    points = fixed_points(compiled, {"h": _nearby(h_star, 4)}, x, params).unique()
    assert len(points) == 1
    h = numeric.to_numpy(points.states["h"])[0]
    reduced = np.linalg.eigvals(_reduced(name, compiled.intermediates({"h": h}, x, params), h, params))
    write = z_bar if name == "gru_chung" else 1 - z_bar
    predicted = 1 - write + write * reduced
    assert _match_distance(points.eigenvalues()[0], predicted) <= 1e-10
    # the wrong convention (z not mapped to 1 − z) is caught
    wrong = 1 - (1 - write) + (1 - write) * reduced
    assert _match_distance(points.eigenvalues()[0], wrong) > 1e-2


# ------------------------------------------------------------------ deduplication and classes
def _bistable():
    """h' = tanh(2 h) per unit (n = 2, decoupled): nine fixed points (0, ±a)² with a = tanh(2a)."""
    cell = Cell("bistable")
    h = cell.state("h", 2)
    cell.update(h, tanh(2 * h))
    return numeric.compile(cell.validate())


def test_distinct_points_and_their_stability():
    root = 0.9575040240772687  # a = tanh(2a), a > 0
    grid = np.linspace(-1.2, 1.2, 9)
    starts = np.array([[u, v] for u in grid for v in grid])
    search = fixed_points(_bistable(), {"h": starts})
    points = search.unique()
    found = numeric.to_numpy(points.states["h"])
    expected = np.array([[u, v] for u in (-root, 0, root) for v in (-root, 0, root)])
    assert len(points) == 9 and points.counts.sum() == search.converged.sum()
    assert max(np.min(np.max(np.abs(found - e), axis=1)) for e in expected) <= 1e-12
    stability = points.stability()
    zeros = np.sum(np.abs(found) < 0.5, axis=1)  # how many coordinates sit at the unstable 0
    assert (stability.unstable == zeros).all()
    assert (stability.kind == np.array(["stable", "saddle", "repelling"])[zeros]).all()
    assert np.allclose(stability.spectral_radius[zeros == 2], 2.0, atol=1e-14)


def test_unique_merges_only_within_distance():
    search = fixed_points(_bistable(), {"h": np.array([[0.9, 0.9], [1.0, 1.0], [-0.9, 0.9]])})
    labels = search.unique().labels.tolist()
    assert len(search.unique()) == 2 and labels[0] == labels[1] != labels[2]
    with pytest.raises(numeric.ArgumentError, match="distance"):
        search.unique(distance=0)


def test_marginal_fixed_point():
    """h' = tanh(h): the only fixed point 0 has J = 1 − h² = 1 (a marginal mode)."""
    cell = Cell("marginal")
    h = cell.state("h", 1)
    cell.update(h, tanh(h))
    search = fixed_points(numeric.compile(cell.validate()), {"h": np.array([[0.3], [-0.2]])}, max_iterations=200)
    assert search.converged.all(), search.summary()
    # degenerate: ‖F(h) − h‖ = |h|³/3 ≤ 1e-12 anywhere within |h| ≲ 1.4e-4, so the two starts end
    # 1e-4 apart — distinct at the default distance, one point at a distance matching that flatness
    assert len(search.unique()) == 2
    assert classify(search.unique(distance=1e-3).eigenvalues()).kind.tolist() == ["marginal"]


def test_classify_thresholds():
    values = np.array([[0.5, 0.2], [1.5, 0.2], [1.5, -1.2], [1 + 1e-7, 0.3], [1 + 1e-5, 0.3], [0.995, 0.1]])
    stability = classify(values)
    assert stability.kind.tolist() == ["stable", "saddle", "repelling", "marginal", "saddle", "stable"]
    assert stability.unstable.tolist() == [0, 1, 2, 0, 1, 0]
    assert stability.slow.tolist() == [0, 0, 0, 1, 1, 1]
    assert classify(values, marginal=1e-4).kind[4] == "marginal"
    with pytest.raises(numeric.ArgumentError, match="marginal"):
        classify(values, marginal=-1)


def test_eigenvalues_sorted_by_modulus():
    matrix = np.diag([0.1, -2.0, 0.5])
    assert eigenvalues(matrix).tolist() == [-2.0, 0.5, 0.1]


# ------------------------------------------------------------------ reporting non-convergence
def _drift():
    """h' = h + 1: no fixed point anywhere (J − I = 0)."""
    cell = Cell("drift")
    h = cell.state("h", 3)
    cell.update(h, h + 1)
    return numeric.compile(cell.validate())


@pytest.mark.parametrize("method", ["dense", "krylov"])
def test_no_fixed_point_is_reported(method):
    search = fixed_points(_drift(), {"h": np.zeros((2, 3))}, method=method)
    assert not search.converged.any()
    assert search.reasons.tolist() == ["stalled", "stalled"]
    assert np.allclose(search.residual, np.sqrt(3))
    assert "0/2 starts converged" in search.summary() and "stalled" in search.summary()
    assert len(search.unique()) == 0


def test_a_budget_too_small_is_reported():
    """A start 10⁻³ from the constructed fixed point, one Newton step: closer, not converged."""
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    search = fixed_points(compiled, {"h": _nearby(h_star, 4, spread=1e-3)}, x, params, max_iterations=1)
    assert not search.converged.any() and set(search.reasons) == {"max_iterations"}
    assert (search.residual > 1e-12).all() and (search.iterations == 1).all()
    # the reported residual is ‖F(s) − s‖ at the returned point
    h = numeric.to_numpy(search.states["h"])
    assert np.allclose(search.residual, np.linalg.norm(compiled.step({"h": h}, x, params)["h"] - h, axis=1), rtol=1e-12)


def test_each_residual_is_evaluated_once(monkeypatch):
    """One Newton step from starts near h*: F is evaluated once to check the arguments, once at
    the starts and once per line-search trial (a full step is accepted) — the residual reported
    is the last trial's, not a further evaluation; every reported residual is ‖F(s) − s‖ there."""
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    calls = []
    step = compiled.step
    monkeypatch.setattr(compiled, "step", lambda *a, **k: calls.append(1) or step(*a, **k))
    search = fixed_points(compiled, {"h": _nearby(h_star, 3, spread=1e-3)}, x, params, max_iterations=1)
    assert len(calls) == 3
    h = numeric.to_numpy(search.states["h"])
    assert np.allclose(search.residual, np.linalg.norm(step({"h": h}, x, params)["h"] - h, axis=1), rtol=1e-14, atol=0)


def test_non_finite_start_is_reported():
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    starts = _nearby(h_star, 2)
    starts[1, 0] = np.nan
    search = fixed_points(compiled, {"h": starts}, x, params)
    assert search.reasons.tolist() == ["converged", "non_finite"]
    assert set(REASONS) >= set(search.reasons)


def test_starts_are_not_modified():
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    starts = _nearby(h_star, 3)
    copy = starts.copy()
    fixed_points(compiled, {"h": starts}, x, params)
    assert np.array_equal(starts, copy)


def test_lstm_fixed_points_use_the_whole_state():
    cell = cells.get("lstm_torch")
    compiled = numeric.compile(cell)
    params = numeric.initialise(cell, {"n": 16, "m": 2}, scheme="gaussian", seed=3)
    rng = np.random.default_rng(0)
    starts = {"h": rng.uniform(-0.5, 0.5, (8, 16)), "c": rng.uniform(-0.5, 0.5, (8, 16))}
    x = {"x": rng.standard_normal(2)}
    for method in ("dense", "krylov"):
        search = fixed_points(compiled, starts, x, params, method=method)
        assert search.converged.all(), search.summary()
        new = compiled.step(search.states, x, params)
        assert max(np.max(np.abs(new[k] - search.states[k])) for k in "hc") <= 1e-12
        assert search.unique().eigenvalues().shape[-1] == 32


@pytest.mark.parametrize("bad, match", [
    ({"method": "newton"}, "method"), ({"tolerance": 0}, "tolerance"), ({"max_iterations": 0}, "max_iterations"),
    ({"max_step": -1.0}, "max_step"), ({"krylov_dimension": 0}, "krylov_dimension"),
])
def test_bad_arguments(bad, match):
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    with pytest.raises(numeric.ArgumentError, match=match):
        fixed_points(compiled, {"h": h_star[None]}, x, params, **bad)


def test_bad_starts():
    compiled, h_star, x, params = _gru_with_fixed_point("gru_chung")
    with pytest.raises(numeric.ArgumentError, match="batch axis"):
        fixed_points(compiled, {"h": h_star}, x, params)
    with pytest.raises(numeric.ArgumentError, match="CompiledCell"):
        fixed_points(compiled.cell, {"h": h_star[None]}, x, params)
    with pytest.raises(numeric.ArgumentError, match="missing 'h'"):
        fixed_points(compiled, {}, x, params)
