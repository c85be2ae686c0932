"""What a sweep can evaluate at each point: the registry of named quantities.

A quantity is a function ``(point) -> float`` of a :class:`~verify._sweep_points.Point` (its
``settings``, ``seed``, and on demand its ``cell``, ``params``, ``compiled``, ``trajectory``).
Adding one is one entry in :data:`QUANTITIES`; a sweep also takes any such function directly
(from Python, or ``path/to/file.py:NAME`` on the command line).

=======================  =====================================================================
name                     value at a point
=======================  =====================================================================
``spectral_radius``      max |λ| over the eigenvalues of J at the zero state and zero input —
                         the zero fixed point when there is one (no input, zero candidate
                         bias); for the Chung GRU J_0 = (1 − z̄)I + z̄ r̄ W_h, a disk of centre
                         1 − z̄ and radius z̄ r̄ σ_h (Can, Krishnamurthy & Schwab 2020)
``slow_mode_fraction``   the fraction of those eigenvalues within ``slow_radius`` (default
                         0.05) of 1: the slow modes the update / forget gate piles up
``trajectory_radius``    the mean over the steps after ``burn_in`` of max |λ(J_t)| along the
                         point's trajectory
``largest_exponent``     the largest Lyapunov exponent of the point's trajectory (natural log
                         per step): ``numeric.lyapunov_spectrum`` with count = 1, one column
                         carried by QR (Jacobian actions when the state is large), averaged
                         after ``burn_in`` (Benettin et al. 1980)
``fixed_point_count``    the number of distinct fixed points F(s) = s at zero input that damped
                         Newton (``numeric.fixed_points``, ‖F(s) − s‖ ≤ 10⁻¹²) reaches from
                         ``starts`` (default 16) starts s ~ N(0, state_scale²) seeded by
                         (seed, 3), merged by ``FixedPointSearch.unique``: a lower bound on the
                         number of fixed points, which grows past the stability threshold
                         (Can, Krishnamurthy & Schwab 2020, the fixed-point phase diagram)
=======================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gatejac import numeric
from gatejac.symbolic import unknown_name

from ._sweep_errors import SweepError


@dataclass(frozen=True)
class Quantity:
    """A named quantity: ``function(point) -> float``, its ``units`` and the ``settings`` it
    reads beyond those every point understands (:mod:`verify._sweep_points`)."""

    function: Callable
    units: str
    settings: tuple = ()

    def __call__(self, point) -> float:
        return float(self.function(point))


def _eigenvalues_at_zero(point):
    states, inputs = point.zero_state()
    return numeric.jacobian_eigenvalues(point.compiled, states, inputs, point.params)


def spectral_radius(point) -> float:
    """max |λ(J)| at the zero state and zero input."""
    return float(np.max(np.abs(_eigenvalues_at_zero(point))))


def slow_mode_fraction(point) -> float:
    """The fraction of the eigenvalues of J at the zero state within ``slow_radius`` of 1."""
    return float(numeric.fraction_near(_eigenvalues_at_zero(point), 1.0, float(point.settings.get("slow_radius", 0.05))))


def trajectory_radius(point) -> float:
    """The mean over t > burn_in of max |λ(J_t)| along the trajectory."""
    trajectory = point.trajectory
    steps = range(int(point.get("burn_in")) + 1, trajectory.steps + 1)
    return float(np.mean(np.max(np.abs(numeric.trajectory_eigenvalues(trajectory, steps)), axis=-1)))


def largest_exponent(point) -> float:
    """LE_max of the trajectory after ``burn_in`` steps, in natural log per step (one column
    of QR, carried by Jacobian actions when the state is large)."""
    spectrum = numeric.lyapunov_spectrum(point.trajectory, 1, burn_in=int(point.get("burn_in")))
    return float(numeric.to_numpy(spectrum.exponents)[0])


def fixed_point_count(point) -> float:
    """The distinct fixed points Newton finds at zero input from ``starts`` seeded starts."""
    states, inputs = point.zero_state()
    count = int(point.settings.get("starts", 16))
    rng = np.random.default_rng([point.seed, 3])
    starts = {name: point.get("state_scale") * rng.standard_normal((count, value.shape[-1]))
              for name, value in states.items()}
    search = numeric.fixed_points(point.compiled, starts, inputs, point.params)
    return float(len(search.unique()))


QUANTITIES = {
    "spectral_radius": Quantity(spectral_radius, "modulus"),
    "slow_mode_fraction": Quantity(slow_mode_fraction, "fraction of eigenvalues", ("slow_radius",)),
    "trajectory_radius": Quantity(trajectory_radius, "modulus"),
    "largest_exponent": Quantity(largest_exponent, "natural log per step"),
    "fixed_point_count": Quantity(fixed_point_count, "fixed points", ("starts",)),
}
"""The named quantities; a new one is one entry."""


def quantity_of(quantity) -> tuple[str, Quantity]:
    """``(name, Quantity)`` for a registry name or a function ``(point) -> float`` (which may
    list the settings it reads in an attribute ``settings``, and its units in ``units``)."""
    if isinstance(quantity, str):
        if quantity not in QUANTITIES:
            raise unknown_name("quantity", quantity, sorted(QUANTITIES), "(or pass a function of a point)")
        return quantity, QUANTITIES[quantity]
    if callable(quantity):
        wrapped = Quantity(quantity, str(getattr(quantity, "units", "")), tuple(getattr(quantity, "settings", ())))
        return getattr(quantity, "__name__", type(quantity).__name__), wrapped
    raise SweepError(f"quantity={quantity!r} is neither a name ({', '.join(sorted(QUANTITIES))}) nor a function of a point")
