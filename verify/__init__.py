"""gatejac.verify — check every Jacobian of a cell against independent oracles.

* :func:`check` → :class:`Report` (one :class:`CheckResult` per Jacobian and oracle:
  ``ad`` torch.func through the step, ``fd`` central differences, ``taylor`` the
  remainder slope, ``mp`` a 50-digit reference, ``complex_step``; float32 kernels against
  the float64 ones; ``backend="torch"`` checks the raw torch kernels, not the NumPy route the
  checked dense Jacobians of small plain tensors take); :func:`assert_passed` raises
  :class:`VerificationError` with the report;
* :func:`jacobian_names`, :func:`parse_jacobian` — the one table of Jacobian names
  (``"state"``, ``"input"``, ``"parameter:W"``, ``"gate_split:A"``, ``"gate_split:B"``,
  ``"jvp"``, ``"vjp"``);
* :func:`mutations`, :func:`mutation_suite` — deliberately broken Jacobians (dropped,
  sign-flipped, transposed terms; the updated state inside a gate term) and the proof
  that the checks catch every one;
* :class:`Claims`, :func:`check_claims` — a user's hand-derived Jacobians / own torch step,
  checked against the spec with the wrong term named (``gatejac check``);
* :func:`compare` → :class:`Comparison` — a user's own ``torch.nn.Module`` or step function
  against the spec: forward step, named intermediates (the first that diverges), every
  Jacobian with the spec's term that accounts for a difference (``gatejac compare``);
  :class:`CompareError`;
* :func:`assert_jacobians`, :func:`assert_claims` — for pytest: they fail with the report's
  text only (the plugin in ``verify._plugin`` adds fixtures and options);
* :func:`tolerance` — the one tolerance table (dtype- and scale-derived);
* :func:`reproduce_expansion` → :class:`Reproduction` — the first-order gate expansion check
  of Livi 2025 (arXiv:2508.12121, appendix) at the paper's settings: a table,
  ``summary.json`` and figures (``gatejac reproduce expansion``); :class:`ReproduceError`;
  :func:`reproduce_slow_modes`, :func:`reproduce_residual` → :class:`Reproduction` — ``gatejac
  reproduce slow-modes`` / ``residual-lyapunov`` (Can, Krishnamurthy & Schwab 2020; Dubinin &
  Effenberger 2024);
* :func:`sweep` — a quantity (:data:`QUANTITIES`, or any function of a :class:`SweepPoint`)
  over a grid of settings × seeds on Dask, into a resumable zarr store (``gatejac sweep``;
  docs/sweeps.md); :class:`SweepError`;
* :class:`Task`, :data:`TASKS` — the seeded tasks of Livi 2025 (Section VII); :func:`train` →
  :class:`Training` (SGD or Adam at :data:`OPTIMIZERS`' rates, checkpoints saved to disk, an
  interrupted run resumes);
* :func:`design_report` → :class:`DesignReport` (:class:`ReportSection` each) — one self-contained
  HTML page (plus Markdown and JSON) validating a new gate: equations and Jacobians as MathML,
  checks, the implementation comparison and the analyses at initialisation (``gatejac report``);
  :class:`ReportError`;
* :mod:`gatejac.verify.strategies` — Hypothesis strategies for cells and their values.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use
    from ._assertions import assert_jacobians
    from ._check import assert_passed, check
    from ._claimed_terms import column, diag, eye_kron, identity, kron_eye, outer, row
    from ._claims import Claims, assert_claims, check_claims
    from ._claims_report import ClaimResult, ClaimsReport
    from ._compare import compare
    from ._compare_errors import CompareError
    from ._compare_report import Comparison
    from ._design_report import DesignReport, design_report
    from ._design_report_sections import ReportError, Section as ReportSection
    from ._errors import CheckError, ClaimsError, VerificationError
    from ._jacobians import JacobianName, jacobian_names, parse_jacobian
    from ._mutations import KINDS as MUTATION_KINDS
    from ._mutations import Mutation, MutationOutcome, MutationReport, Mutations, Skipped, mutation_suite, mutation_table, mutations
    from ._oracles import ORACLES
    from ._report import CheckResult, Report
    from ._reproduce import ReproduceError, Reproduction
    from ._reproduce_anisotropy import reproduce_anisotropy
    from ._reproduce_effective_lr import reproduce_effective_lr
    from ._reproduce_expansion import reproduce_expansion
    from ._reproduce_residual import reproduce_residual
    from ._reproduce_slow_modes import reproduce_slow_modes
    from ._sweep import sweep
    from ._sweep_errors import SweepError
    from ._sweep_points import Point as SweepPoint
    from ._sweep_quantities import QUANTITIES, Quantity
    from ._tasks import TASKS, Task
    from ._tolerances import TaylorBand, Tolerance, taylor_band, tolerance
    from ._training import OPTIMIZERS, Training, train

_EXPORTS = {
    'DesignReport': ('._design_report', 'DesignReport'),
    'design_report': ('._design_report', 'design_report'),
    'ReportError': ('._design_report_sections', 'ReportError'),
    'ReportSection': ('._design_report_sections', 'Section'),
    'reproduce_residual': ('._reproduce_residual', 'reproduce_residual'),
    'reproduce_slow_modes': ('._reproduce_slow_modes', 'reproduce_slow_modes'),
    'sweep': ('._sweep', 'sweep'),
    'SweepError': ('._sweep_errors', 'SweepError'),
    'SweepPoint': ('._sweep_points', 'Point'),
    'QUANTITIES': ('._sweep_quantities', 'QUANTITIES'),
    'Quantity': ('._sweep_quantities', 'Quantity'),
    'TASKS': ('._tasks', 'TASKS'),
    'Task': ('._tasks', 'Task'),
    'OPTIMIZERS': ('._training', 'OPTIMIZERS'),
    'Training': ('._training', 'Training'),
    'train': ('._training', 'train'),
    'CheckError': ('._errors', 'CheckError'),
    'CheckResult': ('._report', 'CheckResult'),
    'ClaimResult': ('._claims_report', 'ClaimResult'),
    'Claims': ('._claims', 'Claims'),
    'ClaimsError': ('._errors', 'ClaimsError'),
    'ClaimsReport': ('._claims_report', 'ClaimsReport'),
    'compare': ('._compare', 'compare'),
    'CompareError': ('._compare_errors', 'CompareError'),
    'Comparison': ('._compare_report', 'Comparison'),
    'JacobianName': ('._jacobians', 'JacobianName'),
    'MUTATION_KINDS': ('._mutations', 'KINDS'),
    'Mutation': ('._mutations', 'Mutation'),
    'MutationOutcome': ('._mutations', 'MutationOutcome'),
    'MutationReport': ('._mutations', 'MutationReport'),
    'Mutations': ('._mutations', 'Mutations'),
    'ORACLES': ('._oracles', 'ORACLES'),
    'Report': ('._report', 'Report'),
    'ReproduceError': ('._reproduce', 'ReproduceError'),
    'Reproduction': ('._reproduce', 'Reproduction'),
    'Skipped': ('._mutations', 'Skipped'),
    'TaylorBand': ('._tolerances', 'TaylorBand'),
    'Tolerance': ('._tolerances', 'Tolerance'),
    'VerificationError': ('._errors', 'VerificationError'),
    'assert_claims': ('._claims', 'assert_claims'),
    'assert_jacobians': ('._assertions', 'assert_jacobians'),
    'assert_passed': ('._check', 'assert_passed'),
    'check': ('._check', 'check'),
    'check_claims': ('._claims', 'check_claims'),
    'column': ('._claimed_terms', 'column'),
    'diag': ('._claimed_terms', 'diag'),
    'eye_kron': ('._claimed_terms', 'eye_kron'),
    'identity': ('._claimed_terms', 'identity'),
    'jacobian_names': ('._jacobians', 'jacobian_names'),
    'kron_eye': ('._claimed_terms', 'kron_eye'),
    'mutation_suite': ('._mutations', 'mutation_suite'),
    'mutation_table': ('._mutations', 'mutation_table'),
    'mutations': ('._mutations', 'mutations'),
    'outer': ('._claimed_terms', 'outer'),
    'parse_jacobian': ('._jacobians', 'parse_jacobian'),
    'reproduce_anisotropy': ('._reproduce_anisotropy', 'reproduce_anisotropy'),
    'reproduce_effective_lr': ('._reproduce_effective_lr', 'reproduce_effective_lr'),
    'reproduce_expansion': ('._reproduce_expansion', 'reproduce_expansion'),
    'row': ('._claimed_terms', 'row'),
    'taylor_band': ('._tolerances', 'taylor_band'),
    'tolerance': ('._tolerances', 'tolerance'),
}
"""Public name → (module, name in it): each module is imported on first use, so importing
the pytest plugin (``gatejac.verify._plugin``) or ``gatejac.verify`` itself stays light."""


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(_import_module(module, __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gatejac.verify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted(_EXPORTS)
