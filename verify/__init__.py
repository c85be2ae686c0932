"""gatejac.verify — check every Jacobian of a cell against independent oracles.

* :func:`check` → :class:`Report` (one :class:`CheckResult` per Jacobian and oracle:
  ``ad`` torch.func through the step, ``fd`` central differences, ``taylor`` the
  remainder slope, ``mp`` a 50-digit reference, ``complex_step``; float32 kernels against
  the float64 ones); :func:`assert_passed` raises :class:`VerificationError` with the report;
* :func:`mutations`, :func:`mutation_suite` — deliberately broken Jacobians (dropped,
  sign-flipped, transposed terms; the updated state inside a gate term) and the proof
  that the checks catch every one;
* :func:`tolerance` — the one tolerance table (dtype- and scale-derived);
* :mod:`verify.strategies` — Hypothesis strategies for cells and their values.
"""

from ._check import CheckError, VerificationError, assert_passed, check, jacobian_names
from ._mutations import KINDS as MUTATION_KINDS
from ._mutations import Mutation, MutationOutcome, MutationReport, Mutations, Skipped, mutation_suite, mutation_table, mutations
from ._oracles import ORACLES
from ._report import CheckResult, Report
from ._tolerances import TaylorBand, Tolerance, taylor_band, tolerance

__all__ = [
    "MUTATION_KINDS", "ORACLES", "CheckError", "CheckResult", "Mutation", "MutationOutcome", "MutationReport",
    "Mutations", "Report", "Skipped", "TaylorBand", "Tolerance", "VerificationError", "assert_passed", "check",
    "jacobian_names", "mutation_suite", "mutation_table", "mutations", "taylor_band", "tolerance",
]
