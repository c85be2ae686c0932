"""J_t V by the step Jacobian's matrix columns formed from the stored factors
(numeric/_tangent_formed.py), the route the Lyapunov sweep takes for frames of many columns.

Oracles: the dense step Jacobian of the compiled cell (``state_jacobian``, which never reads the
stored factors) times the block; the stacked products of ``_tangent``; a per-step QR of the dense
J_t Q written out here.  Tolerances from ``verify._tolerances`` (through ``_assert_close``).
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch
from test_trajectory import BATCH, STEPS, _assert_close, _trajectory, _values

from gatejac import numeric
from gatejac.numeric import _tangent_formed as tangent_formed
from gatejac.numeric import rollout
from gatejac.numeric._tangent import tangent_plan
from gatejac.numeric._tangent_formed import FormedAction
from gatejac.symbolic import cells


# --------------------------------------------------------- the formed action (many columns)
FACTOR_CELLS = sorted(name for name in cells.names() if tangent_plan(numeric.compile(cells.get(name), "numpy")))


def _formed_of(trajectory) -> FormedAction:
    """The formed action of any cell with stored factors, whether or not it is the cheaper."""
    values = trajectory.compiled.arguments_of(trajectory.states_at(0), trajectory.inputs_at(1), trajectory.params)
    return FormedAction(trajectory._structured_action(), values, list(trajectory.state_sizes.values()),
                        *trajectory._cache["factors"], trajectory.batch_shape)


def _chosen(trajectory, columns):
    """The trajectory's action on ``columns`` columns, checked to be the formed one."""
    action = trajectory.stepper(columns, method="action")
    assert isinstance(action, FormedAction), type(action)
    return action


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
@pytest.mark.parametrize("name", FACTOR_CELLS)
def test_the_formed_action_equals_the_dense_jacobian_and_the_stacked_products(name, batch, backend, monkeypatch):
    """For every cell with stored factors (diagonal-only column blocks, row blocks without
    terms, factors that do not depend on the batch), J_t V by the formed matrix columns equals
    the dense J_t (``state_jacobian``) times V and the stacked products, at steps taken out of
    order (the coefficients are packed a run of steps at a time; runs of 1 and 4 steps here)."""
    cell = cells.get(name)
    for run_bytes in (1, 4 * 6 * 3 * 8 * max(1, int(np.prod(batch)))):
        monkeypatch.setattr(tangent_formed, "RUN_BYTES", run_bytes)
        states, inputs, params = _values(cell, batch=batch, backend=backend)
        trajectory = rollout(numeric.compile(cell, backend), states, inputs, params)
        action = _formed_of(trajectory)
        block = np.random.default_rng(7).standard_normal((*batch, trajectory.state_size, 5))
        block = block if backend == "numpy" else torch.as_tensor(block)
        for t in (STEPS, 1, 5, 6, 2):
            image = numeric.to_numpy(action(t, block))
            _assert_close(image, numeric.to_numpy(trajectory.step_jacobian(t) @ block))
            _assert_close(image, numeric.to_numpy(action.stacked(t, block)))


def test_the_formed_action_keeps_float32():
    trajectory = _trajectory("lstm_torch")
    single = rollout(trajectory.compiled, {k: v[0].astype(np.float32) for k, v in trajectory.states.items()},
                     {k: v.astype(np.float32) for k, v in trajectory.inputs.items()},
                     {k: v.astype(np.float32) for k, v in trajectory.params.items()})
    block = np.random.default_rng(2).standard_normal((*BATCH, single.state_size, 12)).astype(np.float32)
    image = _chosen(single, 12)(4, block)
    assert image.dtype == np.float32
    _assert_close(image, single.step_jacobian(4) @ block, "reference", dtype="float32")


def test_a_wrong_formed_coefficient_is_caught():
    """The comparison above fails when one stored coefficient of one step is off by 1e-6
    relative, and only at that step."""
    trajectory = _trajectory("gru_torch")
    block = np.random.default_rng(3).standard_normal((*BATCH, trajectory.state_size, 12))
    reference = {t: trajectory.step_jacobian(t) @ block for t in (2, 3)}
    trajectory._cache["factors"][0][1][2] *= 1 + 1e-6  # step 3's second coefficient
    action = _chosen(trajectory, 12)
    _assert_close(action(2, block), reference[2])
    with pytest.raises(AssertionError, match="worst entry"):
        _assert_close(action(3, block), reference[3])


def test_the_action_is_chosen_by_its_cost():
    """Few columns, or one matrix term (Elman): the stacked products; many columns and several
    terms: the formed columns (numpy_stepper too, on a torch trajectory of plain tensors); a
    torch block that autograd tracks still gets a differentiable image."""
    trajectory = _trajectory("gru_torch", backend="torch")
    assert not isinstance(trajectory.stepper(1, method="action"), FormedAction)
    assert not isinstance(_trajectory("elman").stepper(12, method="action"), FormedAction)
    assert trajectory.numpy_stepper(12, method="action") == _chosen(trajectory, 12).numpy_apply
    block = torch.randn(*BATCH, trajectory.state_size, 12, dtype=torch.float64, requires_grad=True)
    _chosen(trajectory, 12)(4, block).sum().backward()
    expected = trajectory.step_jacobian(4).sum(dim=-2)[..., None].expand(*BATCH, trajectory.state_size, 12)
    _assert_close(block.grad.numpy(), expected.numpy())


@pytest.mark.parametrize("name, count", [("gru_torch", 6), ("lstm_torch", 12)])
def test_lyapunov_by_the_formed_action_equals_a_dense_qr_reference(name, count):
    """The exponents through the formed action equal a per-step QR of the dense J_t Q written
    out here (numpy.linalg.qr, a QR every step) from the same frame."""
    cell = cells.get(name)
    sizes = {"n": 8, "m": 2}
    states, _, params = numeric.random_values(cell, sizes, batch=(), seed=0, gain=1.5)
    _, inputs, _ = numeric.random_values(cell, sizes, batch=(60,), seed=1)
    trajectory = rollout(numeric.compile(cell, "numpy"), states, inputs, params)
    _chosen(trajectory, count)
    frame = trajectory.starting_frame(count)
    growth = np.zeros(count)
    for jacobian in trajectory.step_jacobians():
        frame, triangular = np.linalg.qr(jacobian @ frame)
        growth += np.log(np.abs(np.diagonal(triangular)))
    _assert_close(trajectory.lyapunov(count, method="action"), np.sort(growth / 60)[::-1])


def test_threads_sharing_a_formed_action_get_their_own_steps(monkeypatch):
    """Two threads applying one trajectory's formed action at different steps, runs of one
    step (each call re-forms the run the other may be reading), both get J_t V."""
    monkeypatch.setattr(tangent_formed, "RUN_BYTES", 1)
    cell = cells.get("gru_torch")
    states, _, params = numeric.random_values(cell, {"n": 64, "m": 2}, batch=BATCH, seed=0)
    _, inputs, _ = numeric.random_values(cell, {"n": 64, "m": 2}, batch=(40, *BATCH), seed=1)
    trajectory = rollout(numeric.compile(cell, "numpy"), states, inputs, params)
    block = np.random.default_rng(5).standard_normal((*BATCH, trajectory.state_size, 12))
    action = _chosen(trajectory, 12)
    steps = [1, 40, 2, 39, 20, 3, 38] * 6
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        images = list(pool.map(lambda t: action(t, block), steps))
    for t, image in zip(steps, images):
        _assert_close(image, trajectory.step_jacobian(t) @ block)
