"""Exact lag sensitivities S_{t,k} = ‖Φ(t, k)‖₂ of a trajectory, for every pair k < t
(Livi 2025, arXiv:2508.12121, Section VII-A, experiment S1; docs/theory.md: “Transports and
backpropagation”).

Conventions (``convention=``):

* ``"exact"`` (default) — the chain rule: Φ(t, k) = J_t ⋯ J_{k+1} (later steps on the left)
  with the exact step Jacobians J_t = ∂h_t/∂h_{t−1}, for every pair 0 ≤ k < t ≤ T;
* ``"author"`` — the paper's public code: the reversed product J_{k+1} ⋯ J_t (earlier steps
  on the left) of the factors A_j + B_j of ``symbolic.author_convention`` (the gate term
  reads the updated state h_j, so A_j + B_j is not the Jacobian), for the pairs
  1 ≤ k < t ≤ T its 0-based indexing covers (no pair starts at h_0).

Norms (``norm=``):

* ``"exact"`` (default) — the largest singular value, σ₁(Φ)² = λ_max(ΦᵀΦ) from a batched
  symmetric eigensolver (as accurate as an SVD for σ₁: λ_max carries an absolute error of a
  few ε·‖ΦᵀΦ‖ = ε·σ₁², i.e. a relative error of a few ε in σ₁, and it is faster than the
  batched SVD: 5.2 s against 7.0 s for the 38 880 pairs of T = 80, N = 64, 12 sequences,
  benchmarks/learning.py);
* ``"power5"`` — the public code's estimate: five power iterations v ← Φv/‖Φv‖ from a random
  Gaussian start (drawn from ``numpy.random.default_rng(seed)``), then ‖Φv‖.  The iteration
  on Φ itself converges to the spectral radius |λ_max(Φ)|, not to ‖Φ‖₂, so it is only a
  lower bound of the norm.  Offered to show that difference, never the default.

All T(T+1)/2 products come from one lag sweep Φ(k+ℓ, k) = J_{k+ℓ} Φ(k+ℓ−1, k) (one batched
matrix product per lag, O(T²·B·S³) in all, O(T·B·S²) memory), computed in the trajectory's
back-end (NumPy and torch on one thread take the same time at the paper's size: the T²/2·B
symmetric eigenproblems dominate, the products are a fifth of it).  Each
product is kept as e^{c}·M with ‖M‖_F = 1 and the log scale c carried separately, so no lag
over- or underflows: the result is ln S, finite at any T.  Rounding: the forward product
gives σ₁ to a relative error of about ℓ·ε·Π_j‖J_j‖₂ / ‖Φ‖₂ (small unless the product
cancels far below the product of the norms).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import arrays_of, to_numpy
from ._errors import ArgumentError, check_integer
from ._expansion import check_convention, expansion_factors
from ._trajectory import Trajectory

NORMS = ("exact", "power5")
"""The values of ``norm=``: the largest singular value (``"exact"``, the default) or the public
code's five power iterations (``"power5"``, a lower bound); see the module docstring."""
POWER_ITERATIONS = 5


def exp_of_log_values(doc: str) -> property:
    """A ``values`` property e^{``self.log_values``} with docstring ``doc`` (0 where it
    underflows, NaN where the log is NaN)."""
    def values(self) -> np.ndarray:
        with np.errstate(under="ignore"):
            return np.exp(self.log_values)

    return property(values, doc=doc)


class Sensitivities(NamedTuple):
    """``log_values[..., t, k]`` = ln S_{t,k} (batch dimensions first), NaN where the pair is
    not covered (k ≥ t, and k = 0 in the ``"author"`` convention); ``values`` = S."""

    log_values: np.ndarray
    convention: str
    norm: str

    values = exp_of_log_values("S_{t,k} = e^{ln S} (0 where it underflows, NaN where not covered).")

    @property
    def steps(self) -> int:
        """T, the number of steps of the trajectory."""
        return int(self.log_values.shape[-1]) - 1


def check_trajectory(trajectory, caller: str) -> Trajectory:
    """``trajectory`` if it is a :class:`Trajectory`, else an error naming ``caller``."""
    if not isinstance(trajectory, Trajectory):
        raise ArgumentError(f"{caller}() takes a numeric.Trajectory, got {type(trajectory).__name__}; "
                            "build one with numeric.rollout(numeric.compile(cell), h0, inputs, params)")
    return trajectory


def convention_factors(trajectory: Trajectory, convention: str):
    """The step factors ``(T, B, S, S)`` (batch flattened, index j−1 = step j) the products of
    ``convention`` are made of: the step Jacobians J_j (``"exact"``), or A_j + B_j of the
    author convention (``"author"``); detached from any autograd graph."""
    convention = check_convention(convention)
    if convention == "exact":
        factors = trajectory.step_jacobians()
    else:
        A, B = expansion_factors(trajectory, "author")
        factors = A + B
    factors = factors.detach() if hasattr(factors, "detach") else factors
    size = trajectory.state_size
    return factors.reshape((trajectory.steps, -1, size, size))


def rescaled(matrices, log_scale):
    """``(M / ‖M‖_F, log_scale + ln ‖M‖_F)`` per matrix of a stack ``(..., S, S)``."""
    xp = arrays_of(matrices)
    norms = xp.sqrt((matrices * matrices).sum(axis=(-2, -1)))
    with xp.quietly():
        safe = xp.where(norms > 0, norms, xp.ones_like(norms))
        return matrices / safe[..., None, None], log_scale + xp.log(norms)


def chain_step(factor, product, convention: str):
    """One more factor on a product: F·P in the chain order (``"exact"``), P·F reversed (``"author"``)."""
    return factor @ product if convention == "exact" else product @ factor


def log_spectral_norm(matrices):
    """ln σ₁ of each matrix of a stack ``(..., S, S)`` from λ_max(MᵀM) (−inf for M = 0)."""
    xp = arrays_of(matrices)
    if xp.name == "torch":
        import torch

        largest = torch.linalg.eigvalsh(matrices.mT @ matrices)[..., -1]
    else:  # einsum: NumPy's matmul takes a slow path for the transposed (non-contiguous) operand
        largest = np.linalg.eigvalsh(np.einsum("...ji,...jk->...ik", matrices, matrices, optimize=True))[..., -1]
    with xp.quietly():
        return 0.5 * xp.log(xp.clip(largest, 0.0, None))


def _log_power_estimate(matrices, rng: np.random.Generator):
    """ln ‖M v₅‖ after five power iterations v ← Mv/‖Mv‖ from a Gaussian v₀ (``norm="power5"``)."""
    xp = arrays_of(matrices)
    start = rng.standard_normal(tuple(matrices.shape[:-1]) + (1,))
    vector = 0 * matrices[..., :1] + xp.asarray(start, str(matrices.dtype).removeprefix("torch."))
    for _ in range(POWER_ITERATIONS):
        vector = matrices @ vector
        vector = vector / (xp.sqrt((vector * vector).sum(axis=-2))[..., None] + 1e-12)
    image = matrices @ vector
    with xp.quietly():
        return 0.5 * xp.log((image * image).sum(axis=(-2, -1)))


def sensitivities(trajectory: Trajectory, convention: str = "exact", norm: str = "exact", *,
                  seed: int = 0) -> Sensitivities:
    """ln S_{t,k} = ln ‖Φ(t, k)‖₂ for every probe sequence and every pair k < t (see the module
    docstring for the conventions and norms), as :class:`Sensitivities` with
    ``log_values`` of shape ``(*batch, T+1, T+1)`` indexed ``[..., t, k]``.  ``seed`` seeds the
    random starts of ``norm="power5"``."""
    trajectory = check_trajectory(trajectory, "sensitivities")
    convention = check_convention(convention)
    if norm not in NORMS:
        raise ArgumentError(f"norm={norm!r} is not one of {list(NORMS)}: 'exact' is the largest singular value, "
                            "'power5' the paper's code's five power iterations (a lower bound)")
    check_integer("seed", seed, 0, None)
    factors = convention_factors(trajectory, convention)
    steps, batch = int(factors.shape[0]), int(factors.shape[1])
    result = np.full((batch, steps + 1, steps + 1), np.nan)
    rng = np.random.default_rng(seed)
    product, scale = rescaled(factors, 0 * factors[..., 0, 0])
    for lag in range(1, steps + 1):
        if lag > 1:
            product, scale = rescaled(chain_step(factors[lag - 1:], product[:-1], convention), scale[:-1])
        norms = log_spectral_norm(product) if norm == "exact" else _log_power_estimate(product, rng)
        values = to_numpy(scale + norms)  # (T + 1 − lag, B): index k → pair (k + lag, k)
        starts = np.arange(steps + 1 - lag)
        result[:, starts + lag, starts] = values.T
    if convention == "author":
        result[:, :, 0] = np.nan
    return Sensitivities(result.reshape(trajectory.batch_shape + result.shape[1:]), convention, norm)
