"""Products of a stack of per-step factors in chain-rule order (later factors on the left):
prefix products F_i ⋯ F_1, suffix products F_L ⋯ F_{i+1} and lag products F_{i+ℓ} ⋯ F_{i+1},
each by one sweep of batched matrix products (docs/theory.md: “Transports and
backpropagation”).  :class:`Trajectory` applies them to its step Jacobians; they work on any
stack, e.g. the frozen-gate parts A_t of the gate split."""

from __future__ import annotations

from collections.abc import Iterable

from ._arrays import arrays_of
from ._errors import ArgumentError, check_integer


def _identity_like(factors):
    """I broadcast to one factor's shape ``(..., S, S)`` of a stack ``(L, ..., S, S)``."""
    xp = arrays_of(factors)
    return xp.broadcast_to(xp.eye(factors.shape[-1], factors), tuple(factors.shape[1:]))


def prefix_products(factors):
    """P[i] = F_i ⋯ F_1 for i = 0..L (P[0] = I), from a stack ``factors[j−1] = F_j`` of shape
    ``(L, ..., S, S)``; returns ``(L+1, ..., S, S)``.  One left-multiplication sweep
    P[i] = F_i P[i−1]: L products, O(L·S³) per batch element."""
    xp = arrays_of(factors)
    products = [_identity_like(factors)]
    for factor in factors:
        products.append(factor @ products[-1])
    return xp.stack(products)


def suffix_products(factors):
    """P[i] = F_L ⋯ F_{i+1} for i = 0..L (P[L] = I), from ``factors[j−1] = F_j``; returns
    ``(L+1, ..., S, S)``.  One right-multiplication sweep P[i−1] = P[i] F_i: O(L·S³)."""
    xp = arrays_of(factors)
    products = [_identity_like(factors)]
    for factor in reversed(list(factors)):
        products.append(products[-1] @ factor)
    return xp.stack(products[::-1])


def lag_products(factors, lags: Iterable[int]) -> dict:
    """``{ℓ: P_ℓ}`` with P_ℓ[i] = F_{i+ℓ} ⋯ F_{i+1} for i = 0..L−ℓ, shape ``(L+1−ℓ, ..., S, S)``,
    for each requested lag 0 ≤ ℓ ≤ L.  Recursion P_ℓ[i] = F_{i+ℓ} P_{ℓ−1}[i]: one batched
    product per lag up to max ℓ, O(max ℓ · L·S³) time, O(L·S²) working memory."""
    length = factors.shape[0]
    wanted = sorted(set(_check_lags(lags, length)))
    xp = arrays_of(factors)
    current = xp.stack([_identity_like(factors)] * (length + 1))
    result = {0: current} if 0 in wanted else {}
    for lag in range(1, max(wanted) + 1):
        current = factors[lag - 1:] @ current[: length - lag + 1]
        if lag in wanted:
            result[lag] = current
    return result


def _check_lags(lags, length: int) -> list[int]:
    if isinstance(lags, (str, bytes)) or not isinstance(lags, Iterable):
        raise ArgumentError(f"lags={lags!r} must be a sequence of integers, e.g. [1, 5, 10]")
    lags = list(lags)
    if not lags:
        raise ArgumentError("lags is empty; ask for at least one lag, e.g. [1, 5, 10]")
    for lag in lags:
        check_integer("lag", lag, 0, length)
    return lags
