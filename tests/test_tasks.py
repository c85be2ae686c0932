"""The seeded sequence tasks (Livi 2025, arXiv:2508.12121, Section VII): shapes and dtypes,
seeding, and each target's definition on constructed inputs and on drawn batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac.symbolic import GatejacError
from gatejac.verify import _tasks
from gatejac.verify._tasks import TASKS, Task, ar2_latent


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shapes_and_dtype(name, dtype):
    task = Task(name, length=40, channels=5, batch_size=7, probe_size=3, dtype=dtype)
    (x, y), (px, py) = task.batch(0), task.probe()
    assert x.shape == (7, 40, 5) and y.shape == (7, 1) and (px.shape, py.shape) == ((3, 40, 5), (3, 1))
    assert {x.dtype, y.dtype, px.dtype, py.dtype} == {getattr(torch, dtype)}
    assert task.outputs == 1 and torch.isfinite(x).all() and torch.isfinite(y).all()


@pytest.mark.parametrize("name", TASKS)
def test_seeding(name):
    task = Task(name, length=40, batch_size=5)
    same = Task(name, length=40, batch_size=5)
    for a, b in zip(task.batch(3), same.batch(3)):
        assert torch.equal(a, b)
    assert not torch.equal(task.batch(3)[0], task.batch(4)[0])
    assert not torch.equal(task.batch(3)[0], Task(name, length=40, batch_size=5, seed=1).batch(3)[0])
    # the probe batch is fixed, its own draw, and seeded by seed + 999 unless given
    assert torch.equal(task.probe()[0], Task(name, length=40, probe_seed=999).probe()[0])
    assert not torch.equal(task.probe()[0], Task(name, length=40, probe_seed=998).probe()[0])
    assert not torch.equal(task.probe()[0], task.batch(0)[0][:12])



@pytest.mark.parametrize("name", TASKS)
def test_same_batch_is_drawn_once_and_equals_a_fresh_draw_of_step_0(name, monkeypatch):
    """``same_batch`` (the paper's public S2 code) draws the batch of step 0 once: every step
    gets tensors equal to a fresh draw of step 0 (the draw a task without it makes), new ones
    each call so that changing one cannot change the next step's batch."""
    task = Task(name, length=40, batch_size=5, seed=4, jitter=1e-6, same_batch=True)
    fresh = Task(name, length=40, batch_size=5, seed=4, jitter=1e-6).batch(0)
    draws = []
    kind = _tasks._KINDS[name]
    monkeypatch.setitem(_tasks._KINDS, name, _tasks._Kind(lambda *a: draws.append(1) or kind.draw(*a), kind.channels,
                                                          kind.length))
    _tasks._first_batch.cache_clear()
    batches = [task.batch(step) for step in (0, 3, 3, 7)]
    assert len(draws) == 1
    for inputs, targets in batches:
        assert torch.equal(inputs, fresh[0]) and torch.equal(targets, fresh[1])
    batches[1][0].add_(1.0)
    assert torch.equal(task.batch(8)[0], fresh[0])
    # the comparison can fail: step 3's own draw is another batch
    assert not torch.equal(Task(name, length=40, batch_size=5, seed=4, jitter=1e-6).batch(3)[0], fresh[0])

def test_jitter_touches_the_training_inputs_only():
    jittered, clean = Task("adding", jitter=1e-6, dtype="float64"), Task("adding", dtype="float64")
    difference = (jittered.batch(2)[0] - clean.batch(2)[0]).abs()
    assert 0 < float(difference.max()) < 1e-5
    assert torch.equal(jittered.batch(2)[1], clean.batch(2)[1])
    assert torch.equal(jittered.probe()[0], clean.probe()[0])


# ---------------------------------------------------------------------- definitions, constructed
def _ramp(length, channels=3):
    """Channel c at step t holds t + 100 c (so every value says where it came from)."""
    t = np.arange(length, dtype=float)[None, :, None]
    return t + 100.0 * np.arange(channels)[None, None, :]


def test_adding_target_reads_channel_zero_at_the_mask():
    x = _ramp(10)
    x[:, :, -1] = 0
    x[0, [2, 7], -1] = 1
    assert _tasks._adding_target(x)[0, 0] == 2 + 7


def test_short_movingavg_delaysum_targets():
    x = _ramp(40)
    assert _tasks._short_target(x)[0, 0] == sum(range(34, 40))
    assert _tasks._movingavg_target(x)[0, 0] == np.mean(range(32, 40))
    assert _tasks._delaysum_target(x)[0, 0] == ((39 - 4) + (39 - 12) + (39 - 24) + (39 - 36)) / 4


def test_sinmix_target():
    x = np.zeros((1, 8, 3))
    x[0, :, 0] = [1, 1, 0, 0, 0, 0, 3, 5]   # early mean 1, late mean 4
    x[0, :, 1] = [2, 4, 0, 0, 0, 0, 1, 1]   # early mean 3, late mean 1
    x[0, :, 2] = 50                          # a noise channel, not read
    assert _tasks._sinmix_target(x)[0, 0] == (4 - 1) + (3 - 1)


def test_ar2_latent_impulse_response():
    # x_1 = 1, x_2 = 1.6, x_3 = 1.6·1.6 − 0.7 = 1.86, x_4 = 1.6·1.86 − 0.7·1.6 = 1.856
    noise = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    assert ar2_latent(noise)[:, 0] == pytest.approx([1.856, 2.0], abs=1e-14)


def _narma10_by_hand(u):
    """y_{t+1} = 0.3 y_t + 0.05 y_t Σ_{i=0}^{9} y_{t−i} + 1.5 u_{t−9} u_t + 0.1, index by index."""
    y = [0.0] * (len(u) + 1)
    for t in range(len(u)):
        window = sum(y[t - i] for i in range(10) if t - i >= 0)
        delayed = u[t - 9] if t - 9 >= 0 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * window + 1.5 * delayed * u[t] + 0.1
    return y[-1]


def test_narma10_target():
    u = np.random.default_rng(0).uniform(0, 0.5, 25)
    x = np.zeros((1, 25, 2))
    x[0, :, 0] = u
    assert _tasks._narma10_target(x)[0, 0] == pytest.approx(_narma10_by_hand(u), rel=1e-14)
    # the delayed product term matters: dropping it changes the target
    assert _tasks._narma10_target(x)[0, 0] != pytest.approx(_narma10_by_hand(np.r_[np.zeros(9), u[9:]]), rel=1e-6)


# ---------------------------------------------------------------------- definitions, drawn
def test_adding_draws_one_marker_in_each_half():
    x, y = (v.double().numpy() for v in Task("adding", length=30, channels=4, dtype="float64").batch(0))
    for b in range(x.shape[0]):
        marks = np.flatnonzero(x[b, :, -1])
        assert len(marks) == 2 and marks[0] < 15 <= marks[1]
        assert y[b, 0] == pytest.approx(x[b, marks, 0].sum(), rel=1e-14)
    assert set(np.unique(x[:, :, -1])) == {0.0, 1.0} and (0 <= x[:, :, :-1]).all() and (x[:, :, :-1] < 1).all()


def test_recall_draws_five_distinct_marks_in_the_first_third():
    x, y = (v.numpy() for v in Task("recall", length=30, channels=3, dtype="float64").batch(1))
    for b in range(x.shape[0]):
        marks = np.flatnonzero(x[b, :, -1])
        assert len(marks) == 5 and marks.max() < 10
        assert y[b, 0] == pytest.approx(x[b, marks, 0].sum(), rel=1e-14)


def test_sinmix_draws_unit_sines_in_channels_zero_and_one():
    x, _ = (v.numpy() for v in Task("sinmix", length=50, channels=4, dtype="float64").batch(0))
    assert np.abs(x[:, :, :2]).max() <= 1
    # a sampled sinusoid satisfies x_{t+1} + x_{t-1} = 2 cos(ω) x_t for one ω per sequence
    for channel in (0, 1):
        for sequence in x[:, :, channel]:
            before, mid, after = sequence[:-2], sequence[1:-1], sequence[2:]
            ratio = ((before + after) / mid)[np.abs(mid) > 0.3]
            assert ratio.size > 5 and np.ptp(ratio) < 1e-9
    # the noise channel is no sinusoid
    before, mid, after = x[0, :-2, 2], x[0, 1:-1, 2], x[0, 2:, 2]
    assert np.ptp(((before + after) / mid)[np.abs(mid) > 0.05]) > 1
    assert 0.05 < x[:, :, 2:].std() < 0.2


@pytest.mark.parametrize("name", ["movingavg", "delaysum", "narma10"])
def test_single_signal_tasks_zero_the_other_channels(name):
    x, y = (v.numpy() for v in Task(name, length=40, channels=3, dtype="float64").batch(0))
    assert (x[:, :, 1:] == 0).all()
    assert x[:, :, 0].max() <= (0.5 if name == "narma10" else 1.0)
    target = {"movingavg": _tasks._movingavg_target, "delaysum": _tasks._delaysum_target,
              "narma10": _tasks._narma10_target}[name]
    assert np.array_equal(y, target(x))


def test_ar2_target_does_not_depend_on_the_inputs():
    assert "does not depend on the inputs" in _tasks.__doc__
    x, y = (v.numpy() for v in Task("ar2", batch_size=2000, dtype="float64").batch(0))
    # inputs: independent U(0, 1); target: the stationary AR(2) law, uncorrelated with them
    correlation = np.corrcoef(x[:, -1, 0], y[:, 0])[0, 1]
    assert abs(correlation) < 4 / np.sqrt(2000)
    # stationary variance of x_{t+1} = a x_t + b x_{t-1} + η: σ²(1 − b) / ((1 + b)((1 − b)² − a²))
    a, b, s = 1.6, -0.7, 0.05
    variance = s**2 * (1 - b) / ((1 + b) * ((1 - b) ** 2 - a**2))
    assert y.var() == pytest.approx(variance, rel=0.15)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "adder"}, "adding"),
    ({"name": "delaysum", "length": 36}, "length=36 must be an integer >= 37"),
    ({"name": "adding", "channels": 1}, "channels=1"),
    ({"name": "recall", "length": 14}, "length=14"),
    ({"name": "short", "batch_size": 0}, "batch_size=0"),
    ({"name": "short", "dtype": "float16"}, "float16"),
    ({"name": "short", "jitter": -1.0}, "jitter"),
    ({"name": "short", "probe_seed": -1}, "probe_seed"),
])
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(GatejacError, match=message):
        Task(**kwargs)


def test_bad_step_is_named():
    with pytest.raises(GatejacError, match="step"):
        Task("short").batch(-1)
