"""The one table of comparison tolerances, derived from dtype and scale.

Every numeric comparison in gatejac (tests, ``verify.check``, the command line) asks this
module.  With ``S = max(1, max|reference|)``, a value passes when

    |actual − reference| ≤ atol·S + rtol·|reference|      (entrywise)

================  ===================  ===================  =============================
oracle            float64 (atol, rtol)  float32 (atol, rtol)  why
================  ===================  ===================  =============================
``"ad"``          1e-12, 1e-10          —                     exact AD vs closed form: both
                                                              round-off (DESIGN.md, oracle 1)
``"fd"``          1e-8, 1e-7            —                     central differences, step
                                                              2⁻¹⁷·max(1,|x|): truncation
                                                              ~h² and cancellation ~ε/h
``"mp"``          1e-13, 1e-11          —                     50-digit mpmath reference
``"reference"``   1e-12, 1e-10          1e-6, 1e-5            a kernel against the float64
                                                              kernel (float32: 1e-5 relative,
                                                              issue 3)
================  ===================  ===================  =============================

float32 kernels are never checked by float32 finite differences (they never get below
≈1e-5): they are compared against the float64 reference (``"reference"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from symbolic._errors import unknown_name


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
    ("reference", "float64"): (1e-12, 1e-10),
    ("reference", "float32"): (1e-6, 1e-5),
}


def dtype_name(dtype) -> str:
    """``"float32"`` or ``"float64"`` for a NumPy or torch dtype (or its name)."""
    return str(dtype).replace("torch.", "")


def tolerance(oracle: str, dtype, max_abs_reference: float) -> Tolerance:
    """The tolerance for comparing against ``oracle`` at ``dtype``, scaled by the
    reference's largest magnitude (S = max(1, max|reference|))."""
    name = dtype_name(dtype)
    key = (oracle, name)
    if key not in _TABLE:
        raise unknown_name("oracle/dtype pair", f"{oracle}/{name}", [f"{o}/{d}" for o, d in _TABLE])
    atol, rtol = _TABLE[key]
    return Tolerance(atol, rtol, max(1.0, float(max_abs_reference)))
