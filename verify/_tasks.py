"""Sequence tasks of Livi 2025 (arXiv:2508.12121, Section VII) with seeded generators.

A :class:`Task` gives a fresh training batch per step and one fixed probe batch, each
``(inputs, targets)`` as torch tensors of shape ``(B, T, M)`` and ``(B, 1)`` in the task's dtype
(batch first, as ``numeric.module`` takes them).

Seeding: the batch of training step ``i`` is drawn from NumPy's generator seeded by
``(seed, crc32(name), crc32("train"), i)`` and the probe batch from
``(probe_seed, crc32(name), crc32("probe"), 0)``.  So the same seed gives the same batch at the
same step, every step gets its own batch, and a run resumed at step i draws exactly the batches
an uninterrupted run draws — with no generator state to save.  The probe seed defaults to
``seed + 999``, as in the paper's code.

The tasks (u ~ U(0, 1) unless stated; "the mask" is the last channel; channel 0 carries the
values a target reads):

==============  ==================================================================================
``adding``      two markers in the mask, one at a uniform position in [0, ⌊T/2⌋), one in
                [⌊T/2⌋, T); target = the sum of channel 0 at the two markers
``recall``      K = 5 distinct marked positions among the first max(3, ⌊T/3⌋); target = the sum of
                channel 0 at them
``sinmix``      channels 0 and 1: sin(2π f s + p), f ~ U(1, 7), p ~ U(0, 2π), s = t/(T−1) ∈ [0, 1];
                other channels 0.1·N(0, 1); with q = ⌊T/4⌋ and early / late the means over the first
                / last q steps, target = (late₀ − early₀) + (early₁ − late₁)
``short``       target = the sum of the last L = 6 values of channel 0
``ar2``         latent x_{t+1} = 1.6 x_t − 0.7 x_{t−1} + η_{t+1}, η ~ N(0, 0.05²), x_0 = x_{−1} = 0;
                target x_T.  **The target does not depend on the inputs** (all channels are
                independent U(0, 1) distractors), as in the paper's code: no model can learn it
                from them; it measures what training does without a learnable signal
``movingavg``   target = the mean of the last W = 8 values of channel 0; other channels 0
``delaysum``    target = ¼ Σ_{d ∈ {4, 12, 24, 36}} u_{T−1−d} of channel 0; other channels 0
``narma10``     u ~ U(0, 0.5) in channel 0, other channels 0; y_0 = 0 and for t = 0 … T−1
                y_{t+1} = 0.3 y_t + 0.05 y_t Σ_{i=0}^{9} y_{t−i} + 1.5 u_{t−9} u_t + 0.1 (terms with a
                negative index are 0); target y_T.  For a few draws the recursion diverges
                (y grows like y², to inf and nan within ~10 steps; at T = 120 about one
                sequence in a few hundred): a sequence whose |y_T| exceeds 10 or is not finite
                is redrawn from the same stream (the paper's code keeps it, and its MSE loss
                turns non-finite)
==============  ==================================================================================

``jitter`` > 0 adds jitter·N(0, 1) to the training inputs after the target is computed (the
paper's S2 trains with 1e-6); the probe batch never gets it.

``same_batch=True`` is the paper's public S2 code's choice (its batch generator is re-seeded
with the same seed at every call): every training step gets the batch of step 0 (drawn once and
kept, each call returning new tensors of it).  Off by default — the exact experiment draws a
fresh batch per step.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gatejac import numeric
from gatejac.symbolic import unknown_name

from ._reproduce import ReproduceError


# ---------------------------------------------------------------------- targets of given inputs
def _adding_target(inputs: np.ndarray) -> np.ndarray:
    return (inputs[:, :, 0] * inputs[:, :, -1]).sum(axis=1, keepdims=True)


def _short_target(inputs: np.ndarray) -> np.ndarray:
    return inputs[:, -6:, 0].sum(axis=1, keepdims=True)


def _sinmix_target(inputs: np.ndarray) -> np.ndarray:
    quarter = inputs.shape[1] // 4
    early, late = inputs[:, :quarter, :2].mean(axis=1), inputs[:, -quarter:, :2].mean(axis=1)
    return ((late[:, 0] - early[:, 0]) + (early[:, 1] - late[:, 1]))[:, None]


def _movingavg_target(inputs: np.ndarray) -> np.ndarray:
    return inputs[:, -8:, 0].mean(axis=1, keepdims=True)


DELAYS = (4, 12, 24, 36)


def _delaysum_target(inputs: np.ndarray) -> np.ndarray:
    last = inputs.shape[1] - 1
    return sum(inputs[:, last - d, 0] for d in DELAYS)[:, None] / len(DELAYS)


def _narma10_target(inputs: np.ndarray) -> np.ndarray:
    u = inputs[:, :, 0]
    batch, length = u.shape
    y = np.zeros((batch, length + 1))
    for t in range(length):
        window = y[:, max(0, t - 9):t + 1].sum(axis=1)
        delayed = u[:, t - 9] if t >= 9 else 0.0
        y[:, t + 1] = 0.3 * y[:, t] + 0.05 * y[:, t] * window + 1.5 * delayed * u[:, t] + 0.1
    return y[:, -1:]


def ar2_latent(noise: np.ndarray) -> np.ndarray:
    """x_T of x_{t+1} = 1.6 x_t − 0.7 x_{t−1} + η_{t+1} from x_0 = x_{−1} = 0, for η = ``noise``
    of shape (B, T); shape (B, 1)."""
    previous, current = np.zeros(noise.shape[0]), np.zeros(noise.shape[0])
    for t in range(noise.shape[1]):
        previous, current = current, 1.6 * current - 0.7 * previous + noise[:, t]
    return current[:, None]


# ---------------------------------------------------------------------- drawing
def _uniform(rng, batch, length, channels, high=1.0):
    return rng.uniform(0.0, high, (batch, length, channels))


def _draw_marked(rng, batch, length, channels, positions):
    """Uniform content with a 0/1 mask in the last channel at ``positions`` (B, K)."""
    inputs = _uniform(rng, batch, length, channels)
    inputs[:, :, -1] = 0.0
    np.put_along_axis(inputs[:, :, -1], positions, 1.0, axis=1)
    return inputs


def _adding(rng, batch, length, channels):
    half = length // 2
    positions = np.stack([rng.integers(0, half, batch), rng.integers(half, length, batch)], axis=1)
    inputs = _draw_marked(rng, batch, length, channels, positions)
    return inputs, _adding_target(inputs)


RECALL_MARKS = 5


def _recall(rng, batch, length, channels):
    window = max(3, length // 3)
    positions = np.argsort(rng.random((batch, window)), axis=1)[:, :RECALL_MARKS]
    inputs = _draw_marked(rng, batch, length, channels, positions)
    return inputs, _adding_target(inputs)


def _sinmix(rng, batch, length, channels):
    inputs = 0.1 * rng.standard_normal((batch, length, channels))
    s = np.linspace(0.0, 1.0, length)
    frequency, phase = rng.uniform(1.0, 7.0, (batch, 1, 2)), rng.uniform(0.0, 2 * np.pi, (batch, 1, 2))
    inputs[:, :, :2] = np.sin(2 * np.pi * frequency * s[None, :, None] + phase)
    return inputs, _sinmix_target(inputs)


DIVERGED = 10.0
"""A target beyond this size (or not finite) marks a diverged NARMA recursion (see the module docstring)."""


def _of_channel_zero(target: Callable, high: float = 1.0) -> Callable:
    """A task whose only signal is u ~ U(0, high) in channel 0 (the other channels are 0); a
    sequence whose target diverged (|y| > DIVERGED or not finite) is redrawn from the same stream."""
    def draw(rng, batch, length, channels):
        inputs = np.zeros((batch, length, channels))
        inputs[:, :, 0] = rng.uniform(0.0, high, (batch, length))
        with np.errstate(over="ignore", invalid="ignore"):
            targets = target(inputs)
            diverged = ~(np.abs(targets[:, 0]) <= DIVERGED)
            while diverged.any():
                inputs[diverged, :, 0] = rng.uniform(0.0, high, (int(diverged.sum()), length))
                targets[diverged] = target(inputs[diverged])
                diverged = ~(np.abs(targets[:, 0]) <= DIVERGED)
        return inputs, targets
    return draw


def _short(rng, batch, length, channels):
    inputs = _uniform(rng, batch, length, channels)
    return inputs, _short_target(inputs)


def _ar2(rng, batch, length, channels):
    inputs = _uniform(rng, batch, length, channels)
    return inputs, ar2_latent(0.05 * rng.standard_normal((batch, length)))


@dataclass(frozen=True)
class _Kind:
    draw: Callable  # (rng, B, T, M) -> (inputs (B, T, M), targets (B, 1)), float64
    channels: int  # at least
    length: int  # at least


_KINDS = {
    "adding": _Kind(_adding, 2, 2),
    "recall": _Kind(_recall, 2, 3 * RECALL_MARKS),
    "sinmix": _Kind(_sinmix, 2, 4),
    "short": _Kind(_short, 1, 6),
    "ar2": _Kind(_ar2, 1, 1),
    "movingavg": _Kind(_of_channel_zero(_movingavg_target), 1, 8),
    "delaysum": _Kind(_of_channel_zero(_delaysum_target), 1, max(DELAYS) + 1),
    "narma10": _Kind(_of_channel_zero(_narma10_target, 0.5), 1, 10),
}
TASKS = tuple(_KINDS)
"""The task names, in the order of the module docstring."""


@dataclass(frozen=True)
class Task:
    """Task ``name`` at sequence length ``length`` (T) with ``channels`` (M) input channels:
    training batches of ``batch_size`` from ``seed``, one probe batch of ``probe_size`` from
    ``probe_seed`` (default ``seed + 999``), in ``dtype``; see the module docstring.  The
    defaults are the paper's S1 settings (T = 80, M = 4: three content channels and the mask,
    batch 64, probe batch 12); S2 uses T = 120, M = 6, probe batch 64 and jitter 1e-6."""

    name: str
    length: int = 80
    channels: int = 4
    batch_size: int = 64
    seed: int = 0
    probe_size: int = 12
    probe_seed: int | None = None
    dtype: str = "float32"
    jitter: float = 0.0
    same_batch: bool = False

    def __post_init__(self):
        if self.name not in _KINDS:
            raise unknown_name("task", self.name, list(TASKS))
        kind = _KINDS[self.name]
        for option, low in (("length", kind.length), ("channels", kind.channels), ("batch_size", 1),
                            ("probe_size", 1), ("seed", 0)):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ReproduceError(f"Task {self.name!r}: {option}={value!r} must be an integer >= {low}")
        if self.probe_seed is None:
            object.__setattr__(self, "probe_seed", self.seed + 999)
        if self.dtype not in numeric.DTYPES:
            raise ReproduceError(f"Task {self.name!r}: dtype={self.dtype!r}; use one of {list(numeric.DTYPES)}")
        if not (isinstance(self.jitter, (int, float)) and math.isfinite(self.jitter) and self.jitter >= 0):
            raise ReproduceError(f"Task {self.name!r}: jitter={self.jitter!r} must be a finite number >= 0")
        if not (isinstance(self.probe_seed, int) and not isinstance(self.probe_seed, bool) and self.probe_seed >= 0):
            raise ReproduceError(f"Task {self.name!r}: probe_seed={self.probe_seed!r} must be an integer >= 0")
        if not isinstance(self.same_batch, bool):
            raise ReproduceError(f"Task {self.name!r}: same_batch={self.same_batch!r} must be True or False")

    @property
    def outputs(self) -> int:
        """n_o: every task has one target per sequence."""
        return 1

    def batch(self, step: int):
        """The training batch of step ``step`` (≥ 0): ``(inputs (B, T, M), targets (B, 1))``;
        with ``same_batch`` the batch of step 0 at every step."""
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ReproduceError(f"Task.batch(step={step!r}): step must be an integer >= 0")
        if self.same_batch:  # drawn once (a training asks for it at every step); fresh tensors each call
            return tuple(tensor.clone() for tensor in _first_batch(self))
        return self._drawn(step)

    def _drawn(self, step: int):
        """The batch drawn from the stream of training step ``step``."""
        rng = self._rng(self.seed, "train", step)
        inputs, targets = _KINDS[self.name].draw(rng, self.batch_size, self.length, self.channels)
        if self.jitter:
            inputs = inputs + self.jitter * rng.standard_normal(inputs.shape)
        return self._tensors(inputs, targets)

    def probe(self):
        """The fixed probe batch: ``(inputs (P, T, M), targets (P, 1))``."""
        rng = self._rng(self.probe_seed, "probe", 0)
        return self._tensors(*_KINDS[self.name].draw(rng, self.probe_size, self.length, self.channels))

    def _rng(self, seed: int, purpose: str, step: int):
        return np.random.default_rng([seed, zlib.crc32(self.name.encode()), zlib.crc32(purpose.encode()), step])

    def _tensors(self, inputs, targets):
        import torch

        dtype = getattr(torch, self.dtype)
        return torch.as_tensor(inputs, dtype=dtype), torch.as_tensor(targets, dtype=dtype)


@functools.lru_cache(maxsize=4)
def _first_batch(task: Task):
    """The batch of training step 0 of ``task`` (a frozen, hashable :class:`Task`), drawn once."""
    return task._drawn(0)
