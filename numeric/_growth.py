"""Growth rates along a long product of linear maps without overflow: QR
re-orthonormalisation (the Benettin method for Lyapunov exponents) and the log singular
values of a graded triangular factor by one-sided Jacobi (docs/theory.md: “Lyapunov
exponents”).  Both run quietly: a singular map gives growth −inf (ln 0), as it should, with
no floating-point warning."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable

from ._arrays import arrays_of

SPREAD_BUDGET = math.log(16.0)
"""How far apart (natural log) the frame's columns may grow between two QRs of the Lyapunov
sweep: at most a factor 16, so each QR loses at most 4 bits of the smallest column's growth."""

MAX_INTERVAL = 32
"""The most steps between two QRs of the Lyapunov sweep.  The spread budget sets the interval
wherever the columns' rates differ; this cap bounds it where they barely do, and bounds what a
change of the rates within one interval can cost.  Measured (k = 32, n = 256, T = 2000, GRU and
LSTM of ``benchmarks/lyapunov.py``, one thread): caps of 16, 32 and 64 give the exponents of a
QR at every step to 1.4e-15; 32 took 0.247 / 0.520 s of CPU (GRU / LSTM) against 0.256 / 0.541
with 16 and 0.643 / 1.144 with a QR every step (a QR of the 512×32 frame costs 0.2 ms, as much
as one step of the LSTM's frame action), and 64 gained nothing more."""

GROWTH_RANGE = 200.0
"""The most (natural log) any column may grow or shrink between two QRs: far inside the float
range (e^{±709})."""


def qr_log_growth(apply: Callable, steps: Iterable[int], frame, *, keep_product: bool = False):
    """Carry an orthonormal frame through linear maps: Q_j R_j = qr(apply(j, Q_{j−1})) for
    j in ``steps`` (Benettin et al. 1980; docs/theory.md: “Lyapunov exponents”).

    Without ``keep_product`` the QR is taken every m steps, Q R = qr(apply(j+m, ⋯ apply(j+1, Q))),
    which in exact arithmetic gives the same Q and the product R = R_{j+m} ⋯ R_{j+1} of the
    per-step factors, whose diagonal entries multiply — the same growth.  m (1 to
    :data:`MAX_INTERVAL`, and always 1 after a step whose rates are not finite) is chosen after
    each QR from the per-step rates it found, ρ_i = ln|R_ii| / m: the next m keeps
    m·(max ρ − min ρ) ≤ :data:`SPREAD_BUDGET` (the columns drift apart by at most a factor 16,
    so the smallest R_ii keeps all but 4 bits) and m·max|ρ| ≤ :data:`GROWTH_RANGE`.  The last
    step always ends with a QR.

    ``apply(j, Q)`` returns the j-th map applied to the block ``Q`` (..., S, r); ``frame`` is
    Q_0 with orthonormal columns.  The product of the maps applied to Q_0 equals
    Q_last · U with U = R_last ⋯ R_first upper triangular, whose diagonal entries multiply:
    growth_i = Σ_j ln|(R_j)_ii| = ln|U_ii| exactly, with no overflow.  Returns
    ``(Q_last, growth)``, growth of shape ``(..., r)``.  With ``keep_product`` also the
    row-scaled product Ũ = diag(e^{−ℓ}) U (so U = diag(e^ℓ) Ũ), built as Ũ_j = N_j Ũ_{j−1} with
    (N_j)_ab = (R_j)_ab / |(R_j)_aa| · e^{ℓ_b − ℓ_a} (ℓ the scales before step j), and
    ``(Q_last, ℓ, Ũ)`` is returned: ℓ = growth and |Ũ_ii| = 1 while no (R_j)_aa is zero.  A row
    whose diagonal entry is exactly zero (an exactly singular map) takes the scale of its
    largest entry instead, ℓ_a = max_b (ln|(R_j)_ab| + ℓ_b), and (N_j)_ab = ±e^{ln|(R_j)_ab| + ℓ_b − ℓ_a}
    — so U = diag(e^ℓ) Ũ stays exact and finite at any length, ℓ_a = −inf exactly when row a
    of U is zero (:func:`_scaled_step`).  Ũ's entries stay O(1) while the QR frame keeps the
    growth rates ordered; an entry that would exceed the float range is inf."""
    xp = arrays_of(frame)
    growth = 0 * frame[..., 0, :]
    if not keep_product:
        return _benettin(xp, apply, list(steps), frame, growth)
    scaled = xp.broadcast_to(xp.eye(frame.shape[-1], frame), tuple(frame.shape[:-2]) + (frame.shape[-1],) * 2)
    for step in steps:
        image = apply(step, frame)
        with xp.quietly():  # ln 0 = −inf for a singular map; e^{ℓ_b − ℓ_a} may overflow to inf
            frame, triangular = xp.qr(image)
            growth, scaled = _scaled_step(xp, triangular, xp.abs(xp.diagonal(triangular)), growth, scaled)
    return frame, growth, scaled


def _benettin(xp, apply, steps: list, frame, growth):
    """The sweep of :func:`qr_log_growth` without ``keep_product``: a QR every m steps.  An
    ``apply`` with an ``advance(t, m, Q)`` method (``_tangent_formed.FormedAction``) takes the m
    consecutive steps between two QRs in one call, all of them inside its ``sweep()``."""
    consecutive = bool(steps) and steps == list(range(steps[0], steps[0] + len(steps)))
    advance = getattr(apply, "advance", None) if consecutive else None
    with apply.sweep() if advance is not None else contextlib.nullcontext():
        return _runs(xp, apply, advance, steps, frame, growth)


def _runs(xp, apply, advance, steps: list, frame, growth):
    """The loop of :func:`_benettin`."""
    position, interval = 0, 1
    while position < len(steps):
        count = min(interval, len(steps) - position)
        if advance is not None:
            frame = advance(steps[position], count, frame)
        else:
            for step in steps[position:position + count]:
                frame = apply(step, frame)
        position += count
        with xp.quietly():  # ln 0 = −inf for a singular map
            frame, triangular = xp.qr(frame)
            logs = xp.log(xp.abs(xp.diagonal(triangular)))
        growth = growth + logs
        interval = _interval(xp, logs / count)
    return frame, growth


def _interval(xp, rates) -> int:
    """Steps to the next QR for per-step growth rates ``rates`` (see :func:`qr_log_growth`)."""
    with xp.quietly():
        spread = xp.max_abs(xp.max_last(rates) + xp.max_last(-rates))
        level = xp.max_abs(rates)
    if not (math.isfinite(spread) and math.isfinite(level)):
        return 1
    return max(1, min(MAX_INTERVAL, int(SPREAD_BUDGET / max(spread, 1e-300)), int(GROWTH_RANGE / max(level, 1e-300))))


def _scaled_step(xp, triangular, diagonal, scales, scaled):
    """The row scales ℓ and Ũ after one step of :func:`qr_log_growth` (``keep_product``)."""
    exponent = scales[..., None, :] - scales[..., :, None]
    exponent = xp.where(triangular == 0, 0 * triangular, exponent)
    factor = triangular * xp.exp(exponent) / diagonal[..., :, None]
    new = scales + xp.log(diagonal)
    lost = new == -float("inf")
    if bool(lost.any()):  # rows without a diagonal entry: scaled by their largest entry instead
        candidates = xp.log(xp.abs(triangular)) + scales[..., None, :]
        largest = xp.max_last(candidates)
        exponent = candidates - largest[..., :, None]
        exponent = xp.where(exponent == exponent, exponent, candidates)  # −inf − (−inf) in a zero row: −inf
        factor = xp.where(lost[..., :, None], xp.sign(triangular) * xp.exp(exponent), factor)
        new = xp.where(lost, largest, new)
    return new, factor @ scaled


def graded_log_singular_values(scaled, log_scales, *, max_sweeps: int = 40):
    """ln σ_i of A = M · diag(e^ℓ) (``scaled`` M ``(..., r, r)``, ``log_scales`` ℓ ``(..., r)``),
    sorted descending, without forming A — so columns may differ in scale by e^{±1000}.
    (A row-graded diag(e^ℓ) Ũ has the same singular values as its transpose: pass Ũᵀ.)

    One-sided Jacobi (Hestenes 1958; Demmel & Veselić 1992 for its relative accuracy on
    graded matrices): rotate pairs of columns a_p = e^{ℓ_p} m_p, a_q = e^{ℓ_q} m_q (kept as
    unit vectors m and log norms ℓ) until all are orthogonal; the singular values are then
    the column norms.  For the pair, with μ = m_pᵀ m_q and Δ = ℓ_p − ℓ_q:
    ζ = (‖a_q‖² − ‖a_p‖²)/(2 a_pᵀa_q) = −sinh(Δ)/μ, t = sign(ζ)/(|ζ| + √(1+ζ²)),
    c = 1/√(1+t²), s = c t, a_p ← c a_p − s a_q, a_q ← s a_p + c a_q.  In units of the
    columns' own scales that is m_p ← c m_p − (s e^{−Δ}) m_q, m_q ← (s e^{Δ}) m_p + c m_q;
    for |Δ| > 30 (e^{−2Δ} below round-off) the rotation is exactly Gram–Schmidt of the
    weaker column against the stronger one.  Pairs are visited in parallel round-robin order.
    A zero column (a singular A) has ln σ = −inf; the arithmetic on it runs without warnings."""
    xp = arrays_of(scaled)
    with xp.quietly():
        return _jacobi_sweeps(xp, scaled, log_scales, max_sweeps)


def _jacobi_sweeps(xp, scaled, log_scales, max_sweeps: int):
    """The sweeps of :func:`graded_log_singular_values`."""
    norms = xp.sqrt(xp.sum_rows(scaled * scaled))
    columns, logs = scaled / _nonzero(xp, norms)[..., None, :], log_scales + xp.log(norms)
    size = int(scaled.shape[-1])
    tolerance = size * xp.eps(scaled)
    for _ in range(max_sweeps):
        worst = 0.0
        for first, second in _round_robin(size):
            m_p, m_q = columns[..., :, first], columns[..., :, second]
            cosine = xp.sum_rows(m_p * m_q)
            worst = max(worst, xp.max_abs(cosine))
            c, s_up, s_down = _jacobi_rotation(xp, logs[..., first] - logs[..., second], cosine)
            new_p = c[..., None, :] * m_p - s_down[..., None, :] * m_q
            new_q = s_up[..., None, :] * m_p + c[..., None, :] * m_q
            for index, new in ((first, new_p), (second, new_q)):
                length = xp.sqrt(xp.sum_rows(new * new))
                columns[..., :, index] = new / _nonzero(xp, length)[..., None, :]
                logs[..., index] = logs[..., index] + xp.log(length)
        if worst <= tolerance:
            break
    return xp.sort_descending(logs)


def _jacobi_rotation(xp, delta, cosine):
    """(c, s·e^{Δ}, s·e^{−Δ}) of the one-sided Jacobi rotation (see
    :func:`graded_log_singular_values`); no rotation where the cosine is 0 (a zero column,
    whose log norm −inf makes Δ inf or nan)."""
    delta = xp.where(cosine == 0, 0 * cosine, delta)
    graded = xp.abs(delta) > 30.0
    near = xp.clip(delta, -30.0, 30.0)
    safe = xp.where(cosine == 0, xp.ones_like(cosine), cosine)
    zeta = -xp.sinh(near) / safe
    t = xp.where(zeta >= 0, xp.ones_like(zeta), -xp.ones_like(zeta)) / (xp.abs(zeta) + xp.sqrt(1 + zeta * zeta))
    t = xp.where(cosine == 0, 0 * cosine, t)
    c = 1 / xp.sqrt(1 + t * t)
    s = c * t
    zero = 0 * cosine
    s_up = xp.where(graded, xp.where(delta > 0, -cosine, zero), s * xp.exp(near))
    s_down = xp.where(graded, xp.where(delta < 0, cosine, zero), s * xp.exp(-near))
    return xp.where(graded, xp.ones_like(c), c), s_up, s_down


def _nonzero(xp, norms):
    """``norms`` with 1 for 0: a zero column divided by it stays zero (its log norm is −inf)."""
    return xp.where(norms == 0, xp.ones_like(norms), norms)


def _round_robin(size: int) -> list[tuple[list[int], list[int]]]:
    """Rounds of disjoint column pairs covering every pair once (the circle method)."""
    players = list(range(size)) + ([None] if size % 2 else [])
    rounds = []
    for _ in range(len(players) - 1):
        half = len(players) // 2
        pairs = [(a, b) for a, b in zip(players[:half], reversed(players[half:])) if a is not None and b is not None]
        if pairs:
            rounds.append(([a for a, _ in pairs], [b for _, b in pairs]))
        players = [players[0], players[-1], *players[1:-1]]
    return rounds
