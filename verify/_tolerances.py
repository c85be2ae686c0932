"""The one table of comparison tolerances, derived from dtype and scale.

Every numeric comparison in gatejac (tests, ``verify.check``, the command line) asks this
module.  With ``S = max(1, max|reference|)``, a value passes when

    |actual − reference| ≤ atol·S + rtol·|reference|      (entrywise)

====================  ====================  ====================  ===========================
oracle                float64 (atol, rtol)  float32 (atol, rtol)  why
====================  ====================  ====================  ===========================
``"ad"``              1e-12, 1e-10          —                     exact AD vs closed form:
                                                                  both round-off (docs/verification.md: “Oracles and tolerances”,
                                                                  oracle 1)
``"fd"``              1e-8, 1e-7            —                     central differences, step
                                                                  2⁻¹⁷·max(1,|x|): truncation
                                                                  ~h² and cancellation ~ε/h
``"mp"``              1e-13, 1e-11          —                     50-digit mpmath reference
``"complex_step"``    1e-12, 1e-10          —                     Im F(x + i·h·e_j)/h with
                                                                  h = 1e-30: no cancellation,
                                                                  round-off only
``"reference"``       1e-12, 1e-10          1e-6, 1e-5            a kernel against the
                                                                  float64 kernel (float32:
                                                                  1e-5 relative, issue 3)
====================  ====================  ====================  ===========================

float32 kernels are never checked by float32 finite differences (they never get below
≈1e-5): they are compared against the float64 reference (``"reference"``).

The Taylor test has no entrywise tolerance.  Its remainder ``r(ε) = ‖F(x+εd) − F(x) − εJd‖``
is O(ε²) for the right ``J`` and O(ε) for a wrong one, so its log-log slope at small ε is
≈ 2 or ≈ 1.  The slope is the least-squares fit over the three smallest ε of the grid
``10^-1, 10^-1.5, …, 10^-4`` whose remainder stands above the round-off floor
``1e4 · ε_dtype · (max(1, ‖F(x)‖) + ε‖Jd‖)`` (at ε = 10⁻⁴ a second-order remainder
~10⁻⁸·‖F''‖ is far above it), and the test passes when it is at least 1.8
(:func:`taylor_band`), or when the remainder at the smallest fitted ε bounds the
first-order error of ``J·d`` by 1e-7 relative (the fd tolerance).  There is no upper limit: a slope above 2 never signals a wrong
``J`` (it is 3 where F'' vanishes along d).  The fit is not taken over the whole grid
because where the second-order term is small the large-ε remainders follow ε³ and pull
the slope up (2.28 was seen on a WCRNN VJP).  If fewer than three remainders stand above
the floor, ``J·d`` matches F's derivative to round-off along d (F is linear in v) and the
test passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gatejac.symbolic import unknown_name


@dataclass(frozen=True)
class Tolerance:
    """``|actual − reference| ≤ atol·scale + rtol·|reference|``."""

    atol: float
    rtol: float
    scale: float

    def bound(self, reference_magnitude):
        """The allowed error for entries of magnitude ``reference_magnitude``."""
        return self.atol * self.scale + self.rtol * reference_magnitude


_TABLE = {
    ("ad", "float64"): (1e-12, 1e-10),
    ("fd", "float64"): (1e-8, 1e-7),
    ("mp", "float64"): (1e-13, 1e-11),
    ("complex_step", "float64"): (1e-12, 1e-10),
    ("reference", "float64"): (1e-12, 1e-10),
    ("reference", "float32"): (1e-6, 1e-5),
}


def dtype_name(dtype) -> str:
    """``"float32"`` or ``"float64"`` for a NumPy or torch dtype, a NumPy scalar type
    (``np.float64``) or a name."""
    text = str(dtype)
    if text.startswith("torch."):
        return text.removeprefix("torch.")
    try:
        return np.dtype(dtype).name
    except TypeError:
        return text


def tolerance(oracle: str, dtype, max_abs_reference: float) -> Tolerance:
    """The tolerance for comparing against ``oracle`` at ``dtype``, scaled by the
    reference's largest magnitude (S = max(1, max|reference|))."""
    name = dtype_name(dtype)
    key = (oracle, name)
    if key not in _TABLE:
        raise unknown_name("oracle/dtype pair", f"{oracle}/{name}", [f"{o}/{d}" for o, d in _TABLE])
    atol, rtol = _TABLE[key]
    return Tolerance(atol, rtol, max(1.0, float(max_abs_reference)))


@dataclass(frozen=True)
class TaylorBand:
    """Acceptance rule and grid of the Taylor test (see the module docstring).

    The slope fitted over the ``fit_points`` smallest ``epsilons`` whose remainder exceeds
    ``floor_factor · machine-ε · (max(1, ‖F(x)‖) + ε‖Jd‖)`` passes when it is ``≥ low``, or
    when the remainder at the smallest fitted ε bounds the first-order error of ``J·d`` below
    ``first_order_tolerance`` (relative to max(1, ‖Jd‖)) — the fd oracle's resolution.  The
    second rule keeps a near-zero second-order term (whose cancellation against the ε³ term
    bends the slope, e.g. 1.59 on a WCRNN VJP with a correct J) from raising a false alarm; a
    wrong term gives a first-order error many orders larger.
    """

    low: float
    epsilons: tuple[float, ...]
    floor_factor: float
    fit_points: int
    first_order_tolerance: float

    def passes(self, slope: float) -> bool:
        return slope >= self.low


_TAYLOR = {
    "float64": TaylorBand(1.8, tuple(10.0 ** (-1 - k / 2) for k in range(7)), 1e4, 3, 1e-7),
}


def taylor_band(dtype="float64") -> TaylorBand:
    """The Taylor test's acceptance rule and ε grid for functions evaluated in ``dtype``."""
    name = dtype_name(dtype)
    if name not in _TAYLOR:
        raise unknown_name("Taylor-test dtype", name, list(_TAYLOR))
    return _TAYLOR[name]
