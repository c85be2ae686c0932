"""The trajectory engine (numeric/_trajectory.py): rollouts, chain-ordered Jacobian products,
Jacobian actions, Lyapunov exponents and log singular values.

Oracles, each independent of the engine's own products:
* torch autograd (``torch.func.jacrev``) through a re-roll of the compiled torch *step* from
  s_k to s_t — the exact ∂s_t/∂s_k (issue 3: "agree with autograd through the unrolled
  sequence (T ≤ 20) to 1e-10 relative");
* ``torch.autograd`` through the torch rollout itself (gradients of a loss);
* mpmath SVDs of the product of the same step Jacobians at enough digits to resolve every
  singular value;
* closed forms of docs/theory.md: “Lyapunov exponents”, “Checkable properties” (WCRNN with γ = 0, the determinant sum rule).
Every numeric comparison takes its tolerance from ``verify._tolerances``.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
import sympy
import torch

from gatejac import numeric
from gatejac.numeric import (
    Trajectory,
    graded_log_singular_values,
    lag_products,
    prefix_products,
    rollout,
    suffix_products,
)
from gatejac.symbolic import Cell, cells, tanh
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 3, "m": 2}
BATCH = (2,)
STEPS = 12
CHAIN_CELLS = ["leaky", "multi_gate", "gru_torch", "lstm_torch"]
SPANS = [(STEPS, 0), (9, 4), (5, 4), (6, 6)]


# ---------------------------------------------------------------------------------- helpers
def _to_torch(values: dict) -> dict:
    return {k: torch.as_tensor(np.asarray(v)) for k, v in values.items()}


def _values(cell, *, steps=STEPS, batch=BATCH, seed=0, dtype="float64", backend="numpy", gain=1.0):
    """Seeded initial states and parameters (batch ``batch``) and an input sequence (steps, *batch)."""
    states, _, params = numeric.random_values(cell, SIZES, batch=batch, seed=seed, dtype=dtype, backend=backend, gain=gain)
    _, inputs, _ = numeric.random_values(cell, SIZES, batch=(steps, *batch), seed=seed + 1, dtype=dtype, backend=backend)
    return states, inputs, params


def _trajectory(name, *, backend="numpy", steps=STEPS, seed=0, params=None, **options) -> Trajectory:
    cell = cells.get(name, **options)
    states, inputs, defaults = _values(cell, steps=steps, seed=seed, backend=backend)
    return rollout(numeric.compile(cell, backend), states, inputs, {**defaults, **(params or {})})


def _assert_close(actual, reference, oracle="ad", dtype="float64"):
    actual, reference = np.asarray(actual, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert actual.shape == reference.shape
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    allowed = tolerance(oracle, dtype, scale).bound(np.abs(reference))
    error = np.abs(actual - reference)
    worst = np.unravel_index(np.argmax(error - allowed), error.shape) if error.size else ()
    assert np.all(error <= allowed), f"worst entry {worst}: {actual[worst]} vs {reference[worst]}"


def _autograd_transport(trajectory: Trajectory, t: int, k: int) -> np.ndarray:
    """∂s_t/∂s_k by torch.func.jacrev through the compiled torch step re-rolled from s_k
    (vmapped over the batch) — never touches the derived Jacobians."""
    torch_step = numeric.compile(trajectory.compiled.cell, "torch")
    params = _to_torch(trajectory.params)
    sizes = trajectory.state_sizes
    inputs = {name: torch.as_tensor(value[k:t]) for name, value in trajectory.inputs.items()}  # (t−k, B, m)

    def reroll(flat_state, window):
        pieces = dict(zip(sizes, torch.split(flat_state, list(sizes.values()), dim=-1)))
        for j in range(t - k):
            pieces = torch_step.step(pieces, {name: value[j] for name, value in window.items()}, params)
        return torch.cat([pieces[name] for name in sizes], dim=-1)

    start = torch.as_tensor(np.concatenate([trajectory.states[name][k] for name in sizes], axis=-1))
    return torch.func.vmap(torch.func.jacrev(reroll), in_dims=(0, 1))(start, inputs).numpy()


def _mp_log_singular_values(factors: np.ndarray, digits: int) -> np.ndarray:
    """ln σ of F_L ⋯ F_1 (factors[j−1] = F_j, one sample) with ``digits`` significant digits."""
    with mpmath.workdps(digits):
        product = mpmath.eye(factors.shape[-1])
        for factor in factors:
            product = mpmath.matrix(factor.tolist()) * product
        values = mpmath.svd_r(product, compute_uv=False)
        return np.array(sorted((float(mpmath.log(v)) for v in values), reverse=True))


# ---------------------------------------------------------------------------------- rollout
@pytest.mark.parametrize("name", CHAIN_CELLS)
def test_rollout_is_the_step_applied_in_a_loop(name):
    cell = cells.get(name)
    compiled = numeric.compile(cell)
    states, inputs, params = _values(cell)
    trajectory = rollout(compiled, states, inputs, params)
    current = states
    for t in range(1, STEPS + 1):
        current = compiled.step(current, {x: v[t - 1] for x, v in inputs.items()}, params)
        for state in current:
            np.testing.assert_array_equal(trajectory.states[state][t], current[state])
    assert trajectory.steps == STEPS and trajectory.batch_shape == BATCH
    assert repr(trajectory).startswith(f"Trajectory(cell={name!r}, backend='numpy', T={STEPS}, batch={BATCH}")
    assert {s: v.shape for s, v in trajectory.states.items()} == {s.name: (STEPS + 1, *BATCH, 3) for s in cell.states}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_rollout_matches_numpy_and_keeps_the_dtype(dtype):
    cell = cells.get("lstm_torch")
    states, inputs, params = _values(cell, dtype=dtype)
    by_numpy = rollout(numeric.compile(cell), states, inputs, params)
    by_torch = rollout(numeric.compile(cell, "torch"), _to_torch(states), _to_torch(inputs), _to_torch(params))
    reference = rollout(numeric.compile(cell), *_values(cell))  # float64
    for name in ("h", "c"):
        assert by_numpy.states[name].dtype == np.dtype(dtype)
        assert by_torch.states[name].dtype == getattr(torch, dtype)
        _assert_close(by_numpy.states[name], reference.states[name], "reference", dtype)
        _assert_close(by_torch.states[name].numpy(), reference.states[name], "reference", dtype)


def test_torch_rollout_backpropagates_like_the_adjoint_recursion():
    """Autograd through the torch rollout: ∂⟨c, s_T⟩/∂s_0 = Φ(T, 0)ᵀ c (docs/theory.md: “Transports and backpropagation”)."""
    cell = cells.get("gru_torch")
    states, inputs, params = _values(cell, backend="torch")
    start = {k: v.clone().requires_grad_() for k, v in states.items()}
    trajectory = rollout(numeric.compile(cell, "torch"), start, inputs, params)
    cotangent = torch.randn(*BATCH, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (trajectory.states["h"][-1] * cotangent).sum().backward()
    adjoint = trajectory.transport_apply_transpose(STEPS, 0, cotangent[..., None].detach(), method="action")
    _assert_close(adjoint[..., 0].detach().numpy(), start["h"].grad.numpy())


def test_rollout_broadcasts_an_unbatched_start_against_batched_inputs():
    cell = cells.get("leaky")
    states, inputs, params = _values(cell, batch=(4,))
    single = {k: v[0] for k, v in states.items()}
    trajectory = rollout(numeric.compile(cell), single, inputs, params)
    assert trajectory.states["h"].shape == (STEPS + 1, 4, 3)
    np.testing.assert_array_equal(trajectory.states["h"][0], np.broadcast_to(single["h"], (4, 3)))


def _autonomous_cell() -> Cell:
    cell = Cell("autonomous", description="h' = tanh(W h), no input", reference="test", convention="h' = tanh(W h)")
    h = cell.state("h", "n")
    cell.update(h, tanh(cell.parameter("W", ("n", "n")) @ h))
    return cell.validate()


def test_a_cell_without_inputs_rolls_for_the_given_number_of_steps():
    cell = _autonomous_cell()
    compiled = numeric.compile(cell)
    states, _, params = numeric.random_values(cell, {"n": 3}, batch=BATCH)
    trajectory = rollout(compiled, states, params=params, steps=5)
    expected = states["h"]
    for _ in range(5):
        expected = np.tanh(expected @ params["W"].T)
    np.testing.assert_array_equal(trajectory.states["h"][-1], compiled.step({"h": trajectory.states["h"][4]}, {}, params)["h"])
    _assert_close(trajectory.states["h"][-1], expected)
    _assert_close(trajectory.transport(5, 2), _autograd_transport(trajectory, 5, 2))


# ------------------------------------------------------------------- products in chain order
@pytest.mark.parametrize("name", CHAIN_CELLS)
def test_transports_match_autograd_through_the_unrolled_sequence(name):
    trajectory = _trajectory(name)
    from_zero, to_end = trajectory.transports_from(0), trajectory.transports_to(STEPS)
    by_lag = trajectory.transports([t - k for t, k in SPANS])
    for t, k in SPANS:
        reference = _autograd_transport(trajectory, t, k)
        _assert_close(trajectory.transport(t, k), reference)
        _assert_close(trajectory.transports_from(k)[t - k], reference)
        _assert_close(trajectory.transports_to(t)[k], reference)
        _assert_close(by_lag[t - k][k], reference)
        if k == 0:
            _assert_close(from_zero[t], reference)
        if t == STEPS:
            _assert_close(to_end[k], reference)


def test_torch_backend_transports_match_autograd():
    trajectory = _trajectory("lstm_torch", backend="torch")
    numpy_view = _trajectory("lstm_torch")
    for t, k in SPANS[:2]:
        _assert_close(trajectory.transport(t, k).numpy(), _autograd_transport(numpy_view, t, k))
    _assert_close(trajectory.transports([3])[3].numpy(), numpy_view.transports([3])[3], "reference")


def test_reversed_product_is_not_the_transport():
    """docs/theory.md: “Checkable properties”: J_{k+1} ⋯ J_t (the reverse order) differs from Φ(t, k) = J_t ⋯ J_{k+1}."""
    trajectory = _trajectory("multi_gate", params={"W_r": np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 1.5], [0.3, 0.0, 0.0]])})
    t, k = 6, 0
    jacobians = trajectory.step_jacobians()[k:t]
    reversed_product = prefix_products(jacobians[::-1].copy())[-1]
    chain = trajectory.transport(t, k)
    _assert_close(chain, _autograd_transport(trajectory, t, k))
    chain_norm, reversed_norm = np.linalg.norm(chain, 2, axis=(-2, -1)), np.linalg.norm(reversed_product, 2, axis=(-2, -1))
    # the two spectral norms are far apart, by far more than any round-off tolerance
    assert np.all(np.abs(chain_norm - reversed_norm) > 100 * tolerance("ad", "float64", chain_norm.max()).bound(chain_norm))


def _chain(matrices):
    product = np.eye(matrices.shape[-1])
    for matrix in matrices:
        product = matrix @ product
    return product


def test_product_sweeps_on_any_stack_of_factors():
    factors = np.random.default_rng(5).standard_normal((6, 4, 4))
    prefixes, suffixes = prefix_products(factors), suffix_products(factors)
    lags = lag_products(factors, [0, 2, 6])
    assert prefixes.shape == suffixes.shape == (7, 4, 4)
    for i in range(7):
        _assert_close(prefixes[i], _chain(factors[:i]))
        _assert_close(suffixes[i], _chain(factors[i:]))
    for lag, products in lags.items():
        assert products.shape == (7 - lag, 4, 4)
        for i in range(7 - lag):
            _assert_close(products[i], _chain(factors[i:i + lag]))
    assert prefix_products(factors[:0]).shape == (1, 4, 4)


def test_gate_splits_add_up_to_the_step_jacobians():
    trajectory = _trajectory("multi_gate")
    frozen, gate = trajectory.gate_splits()
    _assert_close(frozen + gate, trajectory.step_jacobians())
    assert np.max(np.abs(gate)) > 0


# ------------------------------------------------------------------------- Jacobian actions
@pytest.mark.parametrize("name", ["gru_torch", "lstm_torch"])
@pytest.mark.parametrize("method", ["action", "jacobian"])
@pytest.mark.parametrize("columns", [1, 6])
def test_transport_actions_equal_dense_products(name, method, columns):
    trajectory = _trajectory(name)
    size = trajectory.state_size
    rng = np.random.default_rng(columns)
    block = rng.standard_normal((*BATCH, size, columns))
    unbatched = rng.standard_normal((size, columns))
    for t, k in SPANS:
        transport = trajectory.transport(t, k)
        transposed = np.swapaxes(transport, -1, -2)
        _assert_close(trajectory.transport_apply(t, k, block, method=method), transport @ block)
        _assert_close(trajectory.transport_apply_transpose(t, k, block, method=method), transposed @ block)
        _assert_close(trajectory.transport_apply(t, k, unbatched, method=method), transport @ unbatched)
    _assert_close(trajectory.step_apply(3, block, method=method), trajectory.step_jacobian(3) @ block)
    _assert_close(trajectory.step_apply_transpose(3, block, method=method),
                  np.swapaxes(trajectory.step_jacobian(3), -1, -2) @ block)


def test_torch_actions_equal_dense_products():
    trajectory = _trajectory("lstm_torch", backend="torch")
    block = torch.randn(*BATCH, trajectory.state_size, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    transport = trajectory.transport(8, 2)
    _assert_close(trajectory.transport_apply(8, 2, block, method="action").numpy(), (transport @ block).numpy())
    _assert_close(trajectory.transport_apply_transpose(8, 2, block, method="action").numpy(),
                  (transport.transpose(-1, -2) @ block).numpy())


def test_adjoint_recursion_gives_the_bptt_parameter_gradient():
    """docs/theory.md: “Transports and backpropagation”, “Checkable properties”: ∇_θ⟨e, s_T⟩ = Σ_k (∂⁺s_k/∂θ)ᵀ δ_k with δ_k = Φ(T, k)ᵀ e, equal to
    loss.backward() through the torch rollout."""
    cell = cells.get("lstm_torch")
    states, inputs, params = _values(cell)
    trajectory = rollout(numeric.compile(cell), states, inputs, params)
    error = np.random.default_rng(2).standard_normal((*BATCH, trajectory.state_size, 1))
    gradient = {name: 0.0 for name in params}
    for k in range(1, STEPS + 1):
        delta = trajectory.transport_apply_transpose(STEPS, k, error, method="action")[..., 0]
        pieces = dict(zip(trajectory.state_sizes, np.split(delta, [3], axis=-1)))
        immediate = trajectory.compiled.vjp(trajectory.states_at(k - 1), trajectory.inputs_at(k), params, pieces)
        gradient = {name: gradient[name] + immediate[name] for name in params}

    leaves = {k: v.clone().requires_grad_() for k, v in _to_torch(params).items()}
    by_torch = rollout(numeric.compile(cell, "torch"), _to_torch(states), _to_torch(inputs), leaves)
    final = torch.cat([by_torch.states["h"][-1], by_torch.states["c"][-1]], dim=-1)
    (final * torch.as_tensor(error[..., 0])).sum().backward()
    for name, leaf in leaves.items():
        _assert_close(gradient[name], leaf.grad.numpy())


# ------------------------------------------------------------------------ Lyapunov exponents
def _wcrnn(lam, gamma, *, steps, seed=0):
    return _trajectory("wcrnn", residual_matrix="diagonal", steps=steps, seed=seed,
                       params={"lam": np.asarray(lam, dtype=float), "gamma": np.asarray(gamma)})


def test_lyapunov_exponents_of_a_diagonal_residual_are_its_log_moduli():
    """docs/theory.md: “Checkable properties”: γ = 0, R = diag(λ): LE_i = ln|λ_i| exactly at every T (Q_0 = I)."""
    lam = np.array([0.5, -0.95, 0.8])
    exact = np.log(np.abs(lam))
    trajectory = _wcrnn(lam, 0.0, steps=300)
    exact_bound = tolerance("ad", "float64", 1.0).atol  # 1e-12 absolute
    full = trajectory.lyapunov()
    assert full.shape == (*BATCH, 3)
    assert np.max(np.abs(full - np.sort(exact)[::-1])) <= exact_bound
    # a frame spanning an invariant coordinate subspace stays there: exact for (e_1, e_2) …
    trapped = trajectory.lyapunov(frame=np.eye(3)[:, :2], method="action")
    assert np.max(np.abs(trapped - exact[[1, 0]])) <= exact_bound
    # … which is why count < S starts from a generic frame; after burn-in it holds the top two
    top = trajectory.lyapunov(2, burn_in=200, method="action")
    assert np.max(np.abs(top - exact[[1, 2]])) <= exact_bound


def test_every_finite_time_exponent_of_a_scaled_rotation_is_log_lambda():
    """docs/theory.md: “Checkable properties”: γ = 0, R = λ Q with Q orthogonal: every finite-time exponent is ln|λ|."""
    rotation = np.array(cells.residual_rotational(sympy.Rational(9, 10), [0.4]).evalf(), dtype=float)
    residual = np.zeros((3, 3))
    residual[:2, :2], residual[2, 2] = rotation, -0.9
    trajectory = _trajectory("wcrnn", steps=30, params={"R": residual, "gamma": np.asarray(0.0)})
    bound = tolerance("ad", "float64", 1.0).atol
    assert np.max(np.abs(trajectory.lyapunov() - np.log(0.9))) <= bound
    assert np.max(np.abs(trajectory.log_singular_values(30, 7) / 23 - np.log(0.9))) <= bound


@pytest.mark.parametrize("name", ["lstm_torch", "wcrnn"])
def test_lyapunov_sum_rule(name):
    """docs/theory.md: “Checkable properties”: Σ_i LE_i = (1/T) Σ_t ln|det J_t| for the full spectrum."""
    trajectory = _trajectory(name, steps=20)
    _, log_det = np.linalg.slogdet(trajectory.step_jacobians())
    _assert_close(trajectory.lyapunov().sum(axis=-1), log_det.mean(axis=0))
    _assert_close(trajectory.lyapunov(burn_in=4).sum(axis=-1), log_det[4:].mean(axis=0))


def test_lyapunov_by_actions_equals_the_leading_dense_exponents():
    """QR is nested in its columns: the first k columns of a frame, carried by jvp actions,
    give exactly the first k exponents of the full dense computation from that frame."""
    trajectory = _trajectory("lstm_torch", steps=20)
    basis = np.linalg.qr(np.random.default_rng(4).standard_normal((6, 6)))[0]
    full = trajectory.lyapunov(frame=basis, method="jacobian")
    _assert_close(trajectory.lyapunov(frame=basis[:, :2], method="action"), full[..., :2])


def test_torch_lyapunov_and_log_singular_values_match_numpy():
    by_torch, by_numpy = _trajectory("gru_torch", backend="torch"), _trajectory("gru_torch")
    _assert_close(by_torch.lyapunov().numpy(), by_numpy.lyapunov(), "reference")
    _assert_close(by_torch.log_singular_values(10, 1).numpy(), by_numpy.log_singular_values(10, 1), "reference")


# ----------------------------------------------------------------------- log singular values
@pytest.mark.parametrize("name", ["multi_gate", "lstm_torch"])
def test_log_singular_values_match_a_high_precision_svd(name):
    trajectory = _trajectory(name)
    jacobians = trajectory.step_jacobians()
    for t, k in [(STEPS, 0), (9, 4), (4, 4)]:
        values = trajectory.log_singular_values(t, k)
        top = trajectory.log_singular_values(t, k, 2, method="action")
        for sample in range(BATCH[0]):
            reference = _mp_log_singular_values(jacobians[k:t, sample], digits=60)
            _assert_close(values[sample], reference)
            _assert_close(top[sample], reference[:2])


def test_log_singular_values_over_a_thousand_steps():
    """T = 1000 on a contracting WCRNN: Φ(T, 0)'s singular values (e^{−65} … e^{−1190})
    underflow in float64 and the dense product is round-off noise; the log singular values
    are finite, match a 700-digit SVD, and over T agree with the QR exponents."""
    lam = np.linspace(0.95, 0.3, 3)
    trajectory = _wcrnn(lam, 0.05, steps=1000)
    values = trajectory.log_singular_values(1000, 0)
    assert np.all(np.isfinite(values))
    reference = _mp_log_singular_values(trajectory.step_jacobians()[:, 0], digits=700)
    _assert_close(values[0], reference)
    dense = np.linalg.svd(trajectory.transport(1000, 0)[0], compute_uv=False)
    assert np.all(np.abs(np.log(dense[1:]) - reference[1:]) > 10)  # what the naive route gets
    # finite-time and QR exponents differ by bounded (T-independent) terms: O(1/T)
    assert np.max(np.abs(values / 1000 - trajectory.lyapunov())) < 1 / 1000


def test_graded_singular_values_resolve_scales_beyond_the_float_range():
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((2, 4, 4))
    mild = np.array([0.0, -1.0, -2.5, -4.0])
    formed = matrix * np.exp(mild)
    _assert_close(graded_log_singular_values(matrix, np.broadcast_to(mild, (2, 4))),
                  np.log(np.linalg.svd(formed, compute_uv=False)))
    extreme = np.array([900.0, 0.0, -400.0, -1200.0])
    with mpmath.workdps(1200):
        scaled = mpmath.matrix(matrix[0].tolist()) * mpmath.diag([mpmath.exp(v) for v in extreme])
        reference = sorted((float(mpmath.log(v)) for v in mpmath.svd_r(scaled, compute_uv=False)), reverse=True)
    _assert_close(graded_log_singular_values(matrix[:1], extreme[None].copy())[0], reference)


def test_log_singular_values_warn_when_the_top_subspace_has_not_converged():
    """R = 0.9 I (degenerate) with a weak coupling: the top-2 subspace converges slowly."""
    trajectory = _trajectory("wcrnn", residual_matrix="homogeneous", steps=30,
                             params={"lam": np.asarray(0.9), "gamma": np.asarray(0.01)})
    with pytest.warns(RuntimeWarning, match=r"did not settle in 2 sweeps .* raise max_sweeps"):
        trajectory.log_singular_values(30, 0, 2, max_sweeps=2)


# ---------------------------------------------------------------------------------- errors
def _numpy_trajectory():
    return _trajectory("lstm_torch")


def _rollout_leaky(**changes):
    cell = cells.get("leaky")
    states, inputs, params = _values(cell)
    arguments = {"compiled": numeric.compile(cell), "initial_states": states, "inputs_sequence": inputs,
                 "params": params, **changes}
    return lambda: rollout(**arguments)


ERRORS = [
    ("not compiled", lambda: rollout(cells.get("leaky"), {}, {}, {}), r"takes a CompiledCell.*numeric\.compile"),
    ("no inputs given", _rollout_leaky(inputs_sequence=None), r"has inputs \['x'\]; pass inputs_sequence"),
    ("inputs not a mapping", _rollout_leaky(inputs_sequence=[1, 2]), r"inputs_sequence must be a mapping"),
    ("no time axis", _rollout_leaky(inputs_sequence={"x": np.zeros(2)}), r"inputs_sequence\['x'\].*leading time axis"),
    ("steps disagree", _rollout_leaky(steps=5), r"steps=5 but inputs_sequence has T = 12"),
    ("states not a mapping", _rollout_leaky(initial_states=np.zeros(3)), r"initial_states must be a mapping"),
    ("no steps, no inputs", lambda: rollout(numeric.compile(_autonomous_cell()), {}, params={}),
     r"has no inputs; pass steps=T"),
    ("zero steps", lambda: rollout(numeric.compile(_autonomous_cell()), {}, steps=0), r"number of steps T=0 must be an integer ≥ 1"),
    ("k after t", lambda: _numpy_trajectory().transport(3, 5), r"k=5 must be an integer in 0\.\.3"),
    ("t beyond T", lambda: _numpy_trajectory().transport(13, 0), r"t=13 must be an integer in 0\.\.12"),
    ("t not an int", lambda: _numpy_trajectory().transports_to(2.0), r"t=2\.0 must be an integer"),
    ("step 0", lambda: _numpy_trajectory().step_jacobian(0), r"t=0 must be an integer in 1\.\.12"),
    ("no lags", lambda: _numpy_trajectory().transports([]), r"lags is empty"),
    ("lag too long", lambda: _numpy_trajectory().transports([1, 13]), r"lag=13 must be an integer in 0\.\.12"),
    ("lags not a sequence", lambda: _numpy_trajectory().transports(3), r"lags=3 must be a sequence"),
    ("block rows", lambda: _numpy_trajectory().transport_apply(5, 0, np.zeros((2, 3, 1))),
     r"shape \(2, 3, 1\); it needs \(\.\.\., S, r\) with S = 6"),
    ("block vector", lambda: _numpy_trajectory().transport_apply(5, 0, np.zeros(6)), r"for one vector v pass v\[\.\.\., None\]"),
    ("block dtype", lambda: _numpy_trajectory().step_apply(1, np.zeros((6, 1), dtype=np.float32)),
     r"block has dtype float32 but the trajectory has float64"),
    ("block backend", lambda: _trajectory("leaky", backend="torch").step_apply(1, np.zeros((3, 1))),
     r"block is a ndarray; pass a torch array"),
    ("unknown method", lambda: _numpy_trajectory().transport_apply(5, 0, np.zeros((6, 1)), method="fast"),
     r"method='fast' is not one of \['auto', 'action', 'jacobian'\]"),
    ("count zero", lambda: _numpy_trajectory().lyapunov(0), r"count=0 must be an integer in 1\.\.6"),
    ("burn-in too long", lambda: _numpy_trajectory().lyapunov(burn_in=12), r"burn_in=12 must be an integer in 0\.\.11"),
    ("one sweep", lambda: _numpy_trajectory().log_singular_values(4, 0, max_sweeps=1), r"max_sweeps=1 must be an integer ≥ 2"),
    ("no gates", lambda: _trajectory("leaky").gate_splits(), r"marks no gates"),
    ("count and frame", lambda: _numpy_trajectory().lyapunov(2, frame=np.eye(6)[:, :3]), r"count=2 but frame has 3 columns"),
    ("frame rows", lambda: _numpy_trajectory().lyapunov(frame=np.eye(3)), r"frame has shape \(3, 3\); it needs \(\.\.\., S, r\)"),
]


@pytest.mark.parametrize(("case", "action", "message"), ERRORS, ids=[case for case, _, _ in ERRORS])
def test_errors_name_the_argument_and_the_fix(case, action, message):
    with pytest.raises(numeric.ArgumentError, match=message):
        action()


def test_log_singular_values_of_an_exactly_singular_product_over_a_long_horizon():
    """An Elman cell whose W has a zero last column: every J_t = diag(1 − h_t²) W is exactly
    singular, so Φ(T, 0) has a zero singular value (ln σ = −inf), and at T = 400 its other
    singular values are far below the float range of the dense product.  The dense fallback this
    replaced took ln of round-off for them; the graded QR keeps the zero row apart and matches a
    700-digit SVD of the same product, without a floating-point warning."""
    cell = cells.get("elman")
    states, inputs, params = _values(cell, steps=400, gain=0.3)
    params["W"][:, -1] = 0.0
    trajectory = rollout(numeric.compile(cell), states, inputs, params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = trajectory.log_singular_values(400, 0)
    jacobians = trajectory.step_jacobians()
    for sample in range(jacobians.shape[1]):
        reference = _mp_log_singular_values(jacobians[:, sample], digits=700)
        assert values[sample, -1] == -np.inf and reference[-1] == -np.inf
        _assert_close(values[sample, :-1], reference[:-1])
        assert reference[-2] < np.log(np.finfo(float).tiny)  # beyond what a dense product holds


# ------------------------------------------------------- the structured action (numeric/_tangent.py)
def _jvp_columns(trajectory: Trajectory, t: int, block) -> np.ndarray:
    """J_t V column by column from the public checked ``jvp``, which recomputes the step."""
    xp = numeric.arrays(trajectory.compiled.backend)
    offsets = np.cumsum([0, *trajectory.state_sizes.values()])
    columns = []
    for j in range(int(block.shape[-1])):
        tangents = {name: block[..., offsets[i]:offsets[i + 1], j] for i, name in enumerate(trajectory.state_sizes)}
        result = trajectory.compiled.jvp(trajectory.states_at(t - 1), trajectory.inputs_at(t), trajectory.params,
                                         tangents)
        columns.append(xp.concat([result[name] for name in trajectory.state_sizes]))
    return numeric.to_numpy(xp.stack(columns)).transpose(*range(1, block.ndim - 1), -1, 0)


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("name", sorted(cells.names()))
def test_the_action_on_stored_factors_equals_the_recomputing_jvp(name, backend):
    """For every catalogue cell, J_t V from the factors the rollout stored (or, for a cell
    without diag(u)·M structure, from the jvp kernel) equals the checked jvp that recomputes the
    step, column by column, to round-off — and so do the factors of a Trajectory built without
    them (one batched kernel call over the steps)."""
    cell = cells.get(name)
    states, inputs, params = _values(cell, backend=backend)
    trajectory = rollout(numeric.compile(cell, backend), states, inputs, params)
    rebuilt = Trajectory(trajectory.compiled, trajectory.states, trajectory.inputs, trajectory.params)
    block = np.random.default_rng(3).standard_normal((*BATCH, trajectory.state_size, 4))
    block = block if backend == "numpy" else torch.as_tensor(block)
    for t in (1, 5, STEPS):
        reference = _jvp_columns(trajectory, t, block)
        _assert_close(numeric.to_numpy(trajectory.stepper(4, method="action")(t, block)), reference)
        _assert_close(numeric.to_numpy(rebuilt.step_apply(t, block, method="action")), reference)


def test_a_wrong_stored_factor_is_caught():
    """The comparison above fails when one stored coefficient is off by 1e-6 relative."""
    trajectory = _trajectory("gru_torch")
    block = np.random.default_rng(3).standard_normal((*BATCH, trajectory.state_size, 4))
    coefficients, _ = trajectory._cache["factors"]
    coefficients[0][2] *= 1 + 1e-6  # step 3's first coefficient
    trajectory._cache.pop("action", None)
    _assert_close(trajectory.step_apply(2, block, method="action"), _jvp_columns(trajectory, 2, block))
    with pytest.raises(AssertionError, match="worst entry"):
        _assert_close(trajectory.step_apply(3, block, method="action"), _jvp_columns(trajectory, 3, block))


def test_torch_actions_on_tensors_autograd_tracks_stay_differentiable():
    """Plain CPU tensors are multiplied through NumPy views; a block that requires grad takes
    the torch operations, so the gradient of a Lyapunov-style sum reaches the block."""
    trajectory = _trajectory("lstm_torch", backend="torch")
    block = torch.randn(*BATCH, trajectory.state_size, 3, dtype=torch.float64, requires_grad=True)
    image = trajectory.step_apply(4, block, method="action")
    image.sum().backward()
    expected = trajectory.step_jacobian(4).sum(dim=-2)[..., None].expand(*BATCH, trajectory.state_size, 3)
    _assert_close(block.grad.numpy(), expected.numpy())

