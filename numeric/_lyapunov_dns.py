"""The largest Lyapunov exponent by direct numerical simulation (DNS): two nearby
trajectories of the full non-linear cell, their separation renormalised every few steps — the
cross-check of the QR spectrum that uses no Jacobian at all (Benettin et al. 1980, the
two-trajectory method).

From s'_0 = s_0 + δ_0 v (‖v‖ = 1), the perturbed copy is stepped with the same inputs,
s'_t = F(s'_{t−1}, x_t), next to the reference s_t of the trajectory.  At every renormalisation
step t (each ``every`` steps, and at T_b and T) the separation d_t = ‖s'_t − s_t‖ is measured
and the copy pulled back to distance δ_0 along the same direction,

    s'_t ← s_t + (δ_0 / d_t)(s'_t − s_t),      LE_max ≈ (1/(T − T_b)) Σ_{renormalisations t > T_b} ln(d_t / δ_0),

in natural log per step.  To first order in δ_0 this telescopes to (1/(T − T_b)) ln‖Φ(T, T_b) v'‖
for the aligned direction v', exactly what the one-column QR sweep from the same direction
computes; the differences are O(δ_0) (the curvature of the cell over a separation of δ_0 e^{LE·every})
and O(ε/δ_0) (round-off in s'_t − s_t), balanced by the default δ_0 = √ε of the dtype.
"""

from __future__ import annotations

from ._arrays import arrays
from ._errors import ArgumentError, check_integer, is_real


def lyapunov_dns(trajectory, *, separation: float | None = None, every: int = 1, burn_in: int = 0, direction=None):
    """LE_max of ``trajectory`` (shape ``(...)``, natural log per step) from a perturbed copy
    of it: start at s_0 + ``separation``·v, step the cell with the same inputs and
    parameters, renormalise the separation back to ``separation`` every ``every`` steps, and
    average ln(d_t/δ_0) over the steps after ``burn_in`` (see the module docstring).

    ``direction`` v ``(..., S)`` (normalised here) defaults to the first column of
    ``trajectory.starting_frame(1)``, the direction the one-exponent QR sweep starts from, so
    the two agree to O(δ_0) at any T.  ``separation`` δ_0 defaults to √ε of the dtype."""
    xp = arrays(trajectory.compiled.backend)
    steps = trajectory.steps
    check_integer("every", every, 1, None)
    check_integer("burn_in", burn_in, 0, steps - 1)
    reference = trajectory.states_at(0)
    like = next(iter(reference.values()))
    if separation is None:
        separation = xp.eps(like) ** 0.5
    if not is_real(separation) or not 0 < separation < 1:
        raise ArgumentError(f"separation={separation!r} must be a number in (0, 1), e.g. 1e-8 in float64")
    vector = trajectory.starting_frame(1)[..., 0] if direction is None else _unit(trajectory, direction)
    perturbed = _add(trajectory, reference, vector, separation)
    log_growth = 0.0
    for t in range(1, steps + 1):
        perturbed = trajectory.compiled.step(perturbed, trajectory.inputs_at(t), trajectory.params)
        after = t > burn_in
        if t == steps or t == burn_in or (t - (burn_in if after else 0)) % every == 0:
            current = trajectory.states_at(t)
            difference = {name: perturbed[name] - current[name] for name in current}
            distance = xp.sqrt(sum(xp.dot(d, d) for d in difference.values()))
            if after:
                log_growth = log_growth + xp.log(distance / separation)
            perturbed = {name: current[name] + difference[name] * (separation / distance) for name in current}
    return log_growth[..., 0] / (steps - burn_in)


def _unit(trajectory, direction):
    """``direction`` checked as an ``(..., S)`` array of the trajectory's kind, normalised."""
    xp = arrays(trajectory.compiled.backend)
    if not xp.is_array(direction) or direction.ndim < 1 or int(direction.shape[-1]) != trajectory.state_size:
        raise ArgumentError(
            f"direction has shape {tuple(getattr(direction, 'shape', ()))} ({type(direction).__name__}); it needs "
            f"a {trajectory.compiled.backend} array (..., S) with S = {trajectory.state_size}"
        )
    norm = xp.sqrt(xp.dot(direction, direction))
    if not xp.all_finite(norm) or not bool((norm > 0).all()):
        raise ArgumentError("direction has a zero (or non-finite) vector; give a non-zero direction")
    return direction / norm


def _add(trajectory, states: dict, vector, scale: float) -> dict:
    """s + scale·v with the S-vector v split over the states in declaration order."""
    pieces, start = {}, 0
    for name, size in trajectory.state_sizes.items():
        pieces[name] = states[name] + scale * vector[..., start:start + size]
        start += size
    return pieces
