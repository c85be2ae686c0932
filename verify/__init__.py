"""gatejac.verify — check every Jacobian of a cell against independent oracles.

* :func:`check` → :class:`Report` (one :class:`CheckResult` per Jacobian and oracle:
  ``ad`` torch.func through the step, ``fd`` central differences, ``taylor`` the
  remainder slope, ``mp`` a 50-digit reference, ``complex_step``; float32 kernels against
  the float64 ones); :func:`assert_passed` raises :class:`VerificationError` with the report;
* :func:`jacobian_names`, :func:`parse_jacobian` — the one table of Jacobian names
  (``"state"``, ``"input"``, ``"parameter:W"``, ``"gate_split:A"``, ``"gate_split:B"``,
  ``"jvp"``, ``"vjp"``);
* :func:`mutations`, :func:`mutation_suite` — deliberately broken Jacobians (dropped,
  sign-flipped, transposed terms; the updated state inside a gate term) and the proof
  that the checks catch every one;
* :class:`Claims`, :func:`check_claims` — a user's hand-derived Jacobians / own torch step,
  checked against the spec with the wrong term named (``gatejac check``);
* :func:`assert_jacobians`, :func:`assert_claims` — for pytest: they fail with the report's
  text only (the plugin in ``verify._plugin`` adds fixtures and options);
* :func:`tolerance` — the one tolerance table (dtype- and scale-derived);
* :mod:`gatejac.verify.strategies` — Hypothesis strategies for cells and their values.
"""

from ._assertions import assert_jacobians
from ._check import assert_passed, check
from ._claimed_terms import column, diag, eye_kron, identity, kron_eye, outer, row
from ._claims import Claims, assert_claims, check_claims
from ._claims_report import ClaimResult, ClaimsReport
from ._errors import CheckError, ClaimsError, VerificationError
from ._jacobians import JacobianName, jacobian_names, parse_jacobian
from ._mutations import KINDS as MUTATION_KINDS
from ._mutations import (
    Mutation, MutationOutcome, MutationReport, Mutations, Skipped, mutation_suite, mutation_table, mutations,
)
from ._oracles import ORACLES
from ._report import CheckResult, Report
from ._tolerances import TaylorBand, Tolerance, taylor_band, tolerance

__all__ = [
    "MUTATION_KINDS", "ORACLES", "CheckError", "CheckResult", "ClaimResult", "Claims", "ClaimsError", "ClaimsReport",
    "JacobianName", "Mutation", "MutationOutcome", "MutationReport", "Mutations", "Report", "Skipped", "TaylorBand",
    "Tolerance", "VerificationError", "assert_claims", "assert_jacobians", "assert_passed", "check", "check_claims",
    "column", "diag", "eye_kron", "identity", "jacobian_names", "kron_eye", "mutation_suite", "mutation_table",
    "mutations", "outer", "parse_jacobian", "row", "taylor_band", "tolerance",
]
