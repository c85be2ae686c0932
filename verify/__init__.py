"""gatejac.verify — check every Jacobian of a cell against independent oracles.

* :func:`check` → :class:`Report` (one :class:`CheckResult` per Jacobian and oracle:
  ``ad`` torch.func through the step, ``fd`` central differences, ``taylor`` the
  remainder slope, ``mp`` a 50-digit reference, ``complex_step``; float32 kernels against
  the float64 ones); :func:`assert_passed` raises :class:`VerificationError` with the report;
* :func:`mutations`, :func:`mutation_suite` — deliberately broken Jacobians (dropped,
  sign-flipped, transposed terms; the updated state inside a gate term) and the proof
  that the checks catch every one;
* :class:`Claims`, :func:`check_claims` — a user's hand-derived Jacobians / own torch step,
  checked against the spec with the wrong term named (``gatejac check``);
* :func:`assert_jacobians` — for pytest (the plugin in ``verify._plugin`` adds fixtures and options);
* :func:`tolerance` — the one tolerance table (dtype- and scale-derived);
* :mod:`verify.strategies` — Hypothesis strategies for cells and their values.
"""

from ._assertions import assert_jacobians
from ._check import CheckError, VerificationError, assert_passed, check, jacobian_names
from ._mutations import KINDS as MUTATION_KINDS
from ._mutations import Mutation, MutationOutcome, MutationReport, Mutations, Skipped, mutation_suite, mutation_table, mutations
from ._claims import Claims, ClaimsError, ClaimsReport, check_claims, column, diag, eye_kron, identity, kron_eye, outer, row
from ._oracles import ORACLES
from ._report import CheckResult, Report
from ._tolerances import TaylorBand, Tolerance, taylor_band, tolerance

__all__ = [
    "MUTATION_KINDS", "ORACLES", "CheckError", "CheckResult", "Mutation", "MutationOutcome", "MutationReport",
    "Mutations", "Report", "Skipped", "TaylorBand", "Tolerance", "VerificationError", "assert_passed", "check",
    "jacobian_names", "mutation_suite", "mutation_table", "mutations", "taylor_band", "tolerance",
    "Claims", "ClaimsError", "ClaimsReport", "assert_jacobians", "check_claims", "column", "diag", "eye_kron",
    "identity", "kron_eye", "outer", "row",
]
