"""J_t V by the step Jacobian's matrix columns formed from the stored factors
(numeric/_tangent_formed.py), the route the Lyapunov sweep takes for frames of many columns.

Oracles: the dense step Jacobian of the compiled cell (``state_jacobian``, which never reads the
stored factors) times the block; the stacked products of ``_tangent``; a per-step QR of the dense
J_t Q written out here.  Tolerances from ``verify._tolerances`` (through ``_assert_close``).
"""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info, threadpool_limits
from test_trajectory import BATCH, STEPS, _assert_close, _trajectory, _values

from gatejac import numeric
from gatejac.numeric import _tangent_formed as tangent_formed
from gatejac.numeric import _tangent_tiles as tangent_tiles
from gatejac.numeric import rollout
from gatejac.numeric._tangent import tangent_plan
from gatejac.numeric._growth import qr_log_growth
from gatejac.numeric._tangent_formed import FormedAction
from gatejac.symbolic import cells
from gatejac.verify.strategies import random_cells


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
    order (the coefficients are packed a run of steps at a time; runs of 1 step and of all here),
    in tiles of one row and of whole blocks (``_tangent_tiles.TILE_BYTES``)."""
    cell = cells.get(name)
    for run_bytes, tile_bytes in ((1, 1), (2**22, 2**17)):
        monkeypatch.setattr(tangent_formed, "RUN_BYTES", run_bytes)
        monkeypatch.setattr(tangent_tiles, "TILE_BYTES", tile_bytes)
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
    assert trajectory.numpy_stepper(12, method="action") is _chosen(trajectory, 12)
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


# ------------------------------------------------------ runs of steps in one kernel call
def _dense_product(trajectory, t: int, steps: int, block):
    """J_{t+steps−1} ⋯ J_t V by the dense step Jacobians (``state_jacobian``)."""
    for step in range(t, t + steps):
        block = trajectory.step_jacobian(step) @ block
    return block


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["gru_torch", "lstm_torch", "multi_gate"])
def test_a_run_of_steps_equals_the_dense_product(name, threads, monkeypatch):
    """``advance(t, m, V)`` = J_{t+m−1} ⋯ J_t V by the dense Jacobians, over runs that cross the
    packed runs of coefficients (runs of 3 steps), in one-row tiles split between the threads
    (``threads`` = 2: numba's parallel kernel; 1, set as a user would with threadpoolctl: the
    serial one); the input block is left as it was."""
    monkeypatch.setattr(tangent_tiles, "TILE_BYTES", 1)
    cell = cells.get(name)
    states, inputs, params = _values(cell)
    trajectory = rollout(numeric.compile(cell, "numpy"), states, inputs, params)
    action = _formed_of(trajectory)
    monkeypatch.setattr(action, "run", 3)
    action.packed = np.empty((3 * action.count, action.width))
    block = np.random.default_rng(4).standard_normal((*BATCH, trajectory.state_size, 7))
    before = block.copy()
    with threadpool_limits(threads):
        for t, steps in ((1, STEPS), (2, 5), (STEPS, 1), (4, 7)):
            _assert_close(action.advance(t, steps, block), _dense_product(trajectory, t, steps, block))
    assert np.array_equal(block, before)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(random_cells(), st.integers(1, 9))
def test_random_cells_runs_of_steps_and_exponents_equal_a_dense_reference(cell, columns):
    """For random cells with stored factors (states of different sizes among them): runs of
    steps by the formed action equal the dense product, and the Lyapunov exponents through it
    equal those of the same QR sweep on the dense J_t Q (``state_jacobian``).  (A QR every
    step is not the reference here: on cells whose states explode or whose J_t nearly
    annihilates a column it differs from a QR every m steps by more than round-off, whichever
    J_t V is used.)  Exponents are compared above −5 per step only (:func:`_assert_exponents_close`)."""
    compiled = numeric.compile(cell, "numpy")
    plan = tangent_plan(compiled)
    assume(plan is not None and plan.terms)
    sizes = {"n": 3, "m": 2, "k": 2}
    states, _, params = numeric.random_values(cell, sizes, batch=BATCH, seed=0)
    _, inputs, _ = numeric.random_values(cell, sizes, batch=(STEPS, *BATCH), seed=1)
    trajectory = rollout(compiled, states, inputs or None, params, steps=None if inputs else STEPS)
    assume(all(np.max(np.abs(value)) < 1e3 for value in trajectory.states.values()))  # not an exploding cell
    columns = min(columns, trajectory.state_size)
    action = _formed_of(trajectory)
    block = trajectory.starting_frame(columns)
    _assert_close(action.advance(2, 6, block), _dense_product(trajectory, 2, 6, block))
    _, growth = qr_log_growth(trajectory.stepper(columns, method="jacobian"), range(1, STEPS + 1), block)
    _, exponents = qr_log_growth(action, range(1, STEPS + 1), block)
    _assert_exponents_close(exponents / STEPS, growth / STEPS)


LOWEST_COMPARED = -5
"""Exponents per step at or below this are not compared to round-off (see below)."""


def _assert_exponents_close(exponents, reference):
    """The exponents (sorted, per sample) equal the reference's where the reference is above
    :data:`LOWEST_COMPARED`; where it is not, they are not above LOWEST_COMPARED + 1 either.  A
    column all but annihilated (R_ii e^{−5} of the others or less a step, or ln 0 of a singular
    J_t) is a cancellation whose round-off depends on how J_t V is associated: a random cell at
    −11.6 differed by 8e-7 between the two routes."""
    exponents, reference = np.sort(exponents)[..., ::-1], np.sort(reference)[..., ::-1]
    compared = reference > LOWEST_COMPARED
    _assert_close(exponents[compared], reference[compared])
    assert not np.any(exponents[~compared] > LOWEST_COMPARED + 1), (exponents, reference)


def test_the_exponent_comparison_catches_a_wrong_exponent():
    """A wrong exponent above the cut (off by 1e-6 relative), or one the reference has below it
    that came out above, fails; exponents below the cut that differ, and −inf, pass."""
    reference = np.array([[0.3, -0.2, -11.6], [0.1, -1.5, -np.inf]])
    _assert_exponents_close(reference[:, ::-1], reference)  # sorted before they are compared
    _assert_exponents_close(reference + [[0, 0, 8e-7], [0, 0, 0]], reference)
    with pytest.raises(AssertionError, match="worst entry"):
        _assert_exponents_close(reference * [[1, 1 + 1e-6, 1], [1, 1, 1]], reference)
    with pytest.raises(AssertionError):
        _assert_exponents_close(np.where(np.isinf(reference), -0.5, reference), reference)


def test_a_wrong_coefficient_in_a_run_is_caught():
    """A run through the LSTM's step 5 fails the comparison when one coefficient of step 5 is
    off by 1e-6 relative; runs that end before step 5 still pass."""
    trajectory = _trajectory("lstm_torch")
    block = np.random.default_rng(6).standard_normal((*BATCH, trajectory.state_size, 12))
    reference = {t: _dense_product(trajectory, t, 4, block) for t in (1, 3)}
    trajectory._cache["factors"][0][4][4] *= 1 + 1e-6  # step 5's fifth coefficient (a c-row term)
    action = _chosen(trajectory, 12)
    _assert_close(action.advance(1, 4, block), reference[1])
    with pytest.raises(AssertionError, match="worst entry"):
        _assert_close(action.advance(3, 4, block), reference[3])


def test_the_kernel_leaves_the_blas_limits_as_they_were():
    """The BLAS libraries run on one thread during a kernel call only: before and after, every
    pool threadpoolctl sees has the limit the user set (here 2, then 1)."""
    trajectory = _trajectory("gru_torch")
    block = np.random.default_rng(8).standard_normal((*BATCH, trajectory.state_size, 12))
    action = _chosen(trajectory, 12)
    for threads in (2, 1):
        with threadpool_limits(threads, user_api="blas"):
            action.advance(1, 4, block)
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {threads}


def _in_thread(function, timeout: float = 120):
    """``function()`` on a daemon thread, failing (not hanging) if it has not ended in ``timeout`` s."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - raised again on the calling thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{function.__name__} did not end in {timeout} s (a deadlock)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_sweep_inside_a_sweep_of_the_same_thread_runs_in_the_outer_one():
    """A sweep begun inside a sweep on one thread (of the same action, and of another action)
    neither deadlocks nor ends the outer one's scope: the runs inside equal the dense product,
    and the serial-BLAS scope stays entered until the outer sweep ends."""
    from gatejac.numeric._blockrow import serial_blas

    trajectory = _trajectory("gru_torch")
    action, other = _chosen(trajectory, 12), _formed_of(trajectory)
    block = np.random.default_rng(9).standard_normal((*BATCH, trajectory.state_size, 12))
    reference = _dense_product(trajectory, 2, 3, block)

    def nested():
        images = []
        with action.sweep():
            with action.sweep(), other.sweep():
                images += [action.advance(2, 3, block), other.advance(2, 3, block)]
            assert serial_blas.active() and threading.get_ident() in action.sweeps
            images.append(action.advance(2, 3, block))
        return images

    for image in _in_thread(nested):
        _assert_close(image, reference)
    assert not serial_blas.active() and not action.sweeps


def test_a_rollout_does_not_wait_for_another_threads_sweep():
    """While one thread is inside a sweep of a formed action, another thread's numba rollout
    runs to its end (the two share the serial-BLAS scope, not a lock)."""
    from gatejac.numeric._jit_factors import JIT_MIN_STEPS

    trajectory = _trajectory("gru_torch")
    action = _chosen(trajectory, 12)
    cell = cells.get("gru_torch")
    states, _, params = numeric.random_values(cell, {"n": 8, "m": 2}, batch=BATCH, seed=0)
    _, inputs, _ = numeric.random_values(cell, {"n": 8, "m": 2}, batch=(JIT_MIN_STEPS, *BATCH), seed=1)
    assert rollout(trajectory.compiled, states, inputs, params).rollout_kernel == "numba"  # loaded
    inside, release = threading.Event(), threading.Event()

    def sweeping():
        with action.sweep():
            inside.set()
            release.wait(300)

    sweeper, pool = threading.Thread(target=sweeping), concurrent.futures.ThreadPoolExecutor(1)
    sweeper.start()
    try:
        assert inside.wait(60)
        rolled = pool.submit(rollout, trajectory.compiled, states, inputs, params).result(60)
        assert sweeper.is_alive() and rolled.rollout_kernel == "numba"
    finally:
        release.set()
        sweeper.join()
        pool.shutdown()
