"""Anisotropy of a spectrum and of Jacobian products (Livi 2025, arXiv:2508.12121, Section
VII-B, experiment S2).

For singular values σ₁ ≥ σ₂ ≥ … ≥ σ_n ≥ 0 (energies e_i = σ_i²), with r clipped to n and a
guard γ (10⁻¹² as in the paper's code; 0 for exact ratios):

* anisotropy index         AI_r = σ₁ / (σ_r + γ);
* energy concentration     CE_r = Σ_{i≤r} e_i / (Σ_{i≤k} e_i + γ)   (``ce_top``: by the top-k
                           energy, k = 16, as the paper's code normalises Jacobian spectra)
                           and Σ_{i≤r} e_i / (Σ_i e_i + γ)          (``ce_full``: by the full energy);
* participation ratio      PR = (Σ e_i)² / Σ e_i²  ∈ [1, rank];
* effective rank           exp(−Σ p_i ln p_i),  p_i = e_i / Σ e_j  (0 ln 0 = 0).

For a covariance C = GᵀG/M the energies are its eigenvalues up to the factor M, to which all
four are invariant (AI_r = √(λ₁/λ_r), CE_r the top-r explained variance).

:func:`jacobian_anisotropy` samples ``pairs_per_lag`` pairs (b, t, k) with t − k = h per lag
(without replacement, ``numpy.random.default_rng(seed)``; all of them when there are fewer)
from a trajectory, forms Φ for each — J_t ⋯ J_{k+1} in the ``"exact"`` convention, the paper's
code's reversed J_{k+1} ⋯ J_t of the author factors in the ``"author"`` one (see
:func:`sensitivities`) — by h batched products over the sampled pairs (rescaled each step,
so long lags neither over- nor underflow), and takes every singular value.  The metrics are
taken on the spectrum of Φ/‖Φ‖_F, so the guard is relative to the product's size and they
are invariant to its scale; the paper's code applies the guard to Φ itself, which drives its
AI and CE towards 0 once ‖Φ‖ falls near 10⁻⁶ (long lags of a contracting product).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ._arrays import arrays_of, to_numpy
from ._errors import ArgumentError, check_integer, is_real
from ._expansion import check_convention
from ._sensitivity import chain_step, check_trajectory, convention_factors, rescaled
from ._trajectory import Trajectory

LAGS = (1, 2, 4, 8, 12, 16, 24, 32, 40)
"""The lags of the paper's Jacobian anisotropy."""
GUARD = 1e-12


class SpectrumMetrics(NamedTuple):
    """AI_r, CE_r (top-k and full energy), participation ratio and effective rank, each an
    array over the leading axes of the spectra (see the module docstring)."""

    ai: np.ndarray
    ce_top: np.ndarray
    ce_full: np.ndarray
    participation_ratio: np.ndarray
    effective_rank: np.ndarray


class JacobianAnisotropy(NamedTuple):
    """Per lag h of ``lags``: ``pairs[h]`` the sampled (b, t, k) as an ``(n, 3)`` int array
    (b indexes the flattened batch), ``singular_values[h]`` ``(n, S)`` descending,
    ``metrics[h]`` their :class:`SpectrumMetrics`; :meth:`medians` the median over pairs."""

    lags: tuple
    pairs: dict
    singular_values: dict
    metrics: dict
    convention: str

    def medians(self) -> dict:
        """``{metric name: array over lags}`` of the medians over the sampled pairs."""
        return {name: np.array([np.median(getattr(self.metrics[h], name)) for h in self.lags])
                for name in SpectrumMetrics._fields}


def spectrum_metrics(singular_values, r: int = 10, k: int = 16, *, guard: float = GUARD) -> SpectrumMetrics:
    """The anisotropy metrics of spectra ``(..., n)`` of singular values (sorted descending
    along the last axis; see the module docstring); r and k are clipped to n."""
    values = np.asarray(to_numpy(singular_values), dtype=np.float64)
    if values.ndim < 1 or values.shape[-1] < 1:
        raise ArgumentError(f"singular_values has shape {values.shape}; pass (..., n) with n ≥ 1 values per spectrum")
    if np.any(values < 0) or np.any(np.diff(values, axis=-1) > 0):
        raise ArgumentError("singular_values must be ≥ 0 and sorted descending along the last axis "
                            "(as numpy.linalg.svd returns them)")
    check_integer("r", r, 1, None)
    check_integer("k", k, 1, None)
    if not (is_real(guard) and guard >= 0):
        raise ArgumentError(f"guard={guard!r} must be a number ≥ 0 (1e-12 as the paper's code, 0 for exact ratios)")
    size = values.shape[-1]
    r, k = min(r, size), min(k, size)
    energies = values ** 2
    total = energies.sum(axis=-1)
    top_r = energies[..., :r].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = energies / total[..., None]
        entropy = -np.sum(np.where(shares > 0, shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0), axis=-1)
        return SpectrumMetrics(
            ai=values[..., 0] / (values[..., r - 1] + guard),
            ce_top=top_r / (energies[..., :k].sum(axis=-1) + guard),
            ce_full=top_r / (total + guard),
            participation_ratio=total ** 2 / np.sum(energies ** 2, axis=-1),
            effective_rank=np.exp(entropy),
        )


def sample_pairs(batch: int, steps: int, lag: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct pairs (b, t, k) with t − k = ``lag``, 0 ≤ k, t ≤ T, b < ``batch``
    (all of them, in order, when there are at most ``count``), as an ``(n, 3)`` int array."""
    starts = steps + 1 - lag
    total = batch * starts
    chosen = np.arange(total) if total <= count else np.sort(rng.choice(total, size=count, replace=False))
    b, k = np.divmod(chosen, starts)
    return np.stack([b, k + lag, k], axis=1)


def pair_products(factors, pairs: np.ndarray, lag: int, convention: str):
    """Φ of each pair (b, t, k) of one lag from the step factors ``(T, B, S, S)``, rescaled:
    ``(M, c)`` with Φ = e^{c} M."""
    begins, batch = pairs[:, 2], pairs[:, 0]
    product, scale = rescaled(factors[begins, batch], 0 * factors[begins, batch][..., 0, 0])
    for offset in range(1, lag):
        product, scale = rescaled(chain_step(factors[begins + offset, batch], product, convention), scale)
    return product, scale


def jacobian_anisotropy(trajectory: Trajectory, lags: Sequence[int] = LAGS, pairs_per_lag: int = 64,
                        convention: str = "exact", *, r: int = 10, k: int = 16, seed: int = 0) -> JacobianAnisotropy:
    """Propagation anisotropy of the transports of ``trajectory`` at each lag (module docstring)."""
    trajectory = check_trajectory(trajectory, "jacobian_anisotropy")
    convention = check_convention(convention)
    check_integer("pairs_per_lag", pairs_per_lag, 1, None)
    check_integer("seed", seed, 0, None)
    if isinstance(lags, (str, bytes)) or not isinstance(lags, Sequence) or not lags:
        raise ArgumentError(f"lags={lags!r} must be a non-empty sequence of integers, e.g. {list(LAGS)}")
    lags = tuple(check_integer("lag", lag, 1, trajectory.steps) for lag in lags)
    factors = convention_factors(trajectory, convention)
    xp = arrays_of(factors)
    rng = np.random.default_rng(seed)
    pairs, spectra, metrics = {}, {}, {}
    for lag in lags:
        chosen = sample_pairs(int(factors.shape[1]), trajectory.steps, lag, pairs_per_lag, rng)
        product, scale = pair_products(factors, chosen, lag, convention)
        relative = to_numpy(xp.svdvals(product))  # the spectrum of Φ/‖Φ‖_F
        with np.errstate(under="ignore"):
            values = relative * np.exp(to_numpy(scale))[:, None]
        pairs[lag], spectra[lag], metrics[lag] = chosen, values, spectrum_metrics(relative, r, k)
    return JacobianAnisotropy(lags, pairs, spectra, metrics, convention)
