"""``gatejac verify``: check every Jacobian kernel of the catalogue (or of the named cells).

For every selected cell and every selected backend/dtype configuration it runs
``verify.check``: float64 against the oracles (default ``ad``, ``fd`` and ``taylor`` at 2
points), float32 against the float64 kernels (the ``reference`` comparison; float32 runs
also consult the oracles only when float64 is not selected).  Progress goes to stderr, one
line per cell; the summary table, and the full report of every failed check, to stdout; the
JSON report (every check) and a LaTeX appendix of the derivations
(``symbolic.document_latex``) to files, both checked for writability before the first check
and written atomically (:mod:`verify._cli_output`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gatejac
from gatejac.symbolic import document_latex

from . import _cli_output as output
from ._cli_arguments import add_point_options, subcommand, cells_of, defer, names, option, sizes_for

VERIFY_ORACLES = ("ad", "fd", "taylor")
"""The oracles ``gatejac verify`` runs for float64 unless ``--oracles`` says otherwise."""
VERIFY_POINTS = 2
DEFAULT_REPORT = Path("gatejac-report.json")
DEFAULT_LATEX = Path("gatejac-derivations.tex")


def add_verify(commands) -> None:
    verify = subcommand(commands, "verify", run_verify,
                        "check every Jacobian of the catalogue (or of the named cells) against the oracles")
    defer(verify, _verify_options)


def _verify_options(verify: argparse.ArgumentParser) -> None:
    from gatejac.numeric import BACKENDS, DTYPES  # NumPy loads only when `gatejac verify` is used

    verify.add_argument("cells", nargs="*", metavar="CELL",
                        help="catalogue names or path/to/file.py:NAME (default: the whole catalogue)")
    verify.add_argument("--backend", choices=(*BACKENDS, "both"), default="both",
                        help="kernels to check (default both)")
    verify.add_argument("--dtype", choices=(*DTYPES, "both"), default="both",
                        help="float64 against the oracles, float32 against float64 (default both)")
    add_point_options(verify, points=VERIFY_POINTS, sizes_default={}, sizes_text="n=4, m=3")
    verify.add_argument("--oracles", type=names, default=VERIFY_ORACLES, metavar="NAME,...",
                        help="float64 oracles among ad, fd, taylor, mp, complex_step (default ad,fd,taylor)")
    verify.add_argument("--option", "-o", action="append", default=[], type=option, metavar="KEY=VALUE",
                        help="a keyword option of the named catalogue cells, e.g. bias=False (repeatable)")
    verify.add_argument("--json", type=Path, default=DEFAULT_REPORT, metavar="PATH",
                        help=f"where to write the JSON report (default {DEFAULT_REPORT})")
    verify.add_argument("--latex", type=Path, default=DEFAULT_LATEX, metavar="PATH",
                        help=f"where to write the LaTeX appendix of the derivations (default {DEFAULT_LATEX})")


def run_verify(args: argparse.Namespace) -> int:
    """Check every Jacobian kernel (state, input, every parameter, gate split, JVP, VJP) of the
    catalogue cells, or of the named ones, against the oracles, print a summary table, and write
    a JSON report and a LaTeX appendix of the derivations.  Exit code 1 if any check fails."""
    from gatejac.numeric import BACKENDS, DTYPES

    from ._check import check  # numeric's kernels and the oracles load only for the commands that check

    cells = cells_of(args.cells, dict(args.option))
    cell_sizes = sizes_for(cells, args.sizes)
    output.claim(args.json, "the JSON report")
    output.claim(args.latex, "the LaTeX appendix")
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    configurations = [(backend, dtype) for backend in backends for dtype in dtypes]
    runs = []
    for index, (cell, chosen) in enumerate(zip(cells, cell_sizes), 1):
        start = time.perf_counter()
        reports = [
            check(cell, backend=backend, dtype=dtype, sizes=chosen, seed=args.seed, points=args.points,
                  oracles=args.oracles if dtype == "float64" or "float64" not in dtypes else ())
            for backend, dtype in configurations
        ]
        runs.append(_CellRun(cell.name, reports, time.perf_counter() - start))
        print(runs[-1].progress(index, len(cells)), file=sys.stderr, flush=True)
    print(_summary_table(runs, configurations))
    for report in (r for run in runs for r in run.reports if not r.passed):
        print("\n" + report.to_text())
    passed = all(run.passed for run in runs)
    payload = _payload(args, runs, configurations)
    written = output.write(args.json, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False),
                           "the JSON report", "every check")
    written &= output.write(args.latex, document_latex(cells, title="gatejac derivations"), "the LaTeX appendix",
                            f"the derivations; compile with: pdflatex {args.latex.name}")
    return 0 if passed and written else 1


@dataclass
class _CellRun:
    """The reports of one cell, one per (backend, dtype) configuration, and the time taken."""

    cell: str
    reports: list
    seconds: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports)

    @property
    def checks(self) -> int:
        return sum(len(r.results) for r in self.reports)

    @property
    def failures(self) -> int:
        return sum(len(r.failures) for r in self.reports)

    def progress(self, index: int, total: int) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        failed = "" if self.passed else f", {self.failures} failed"
        return f"[{index:>{len(str(total))}}/{total}] {verdict} {self.cell:<12} {self.checks} checks{failed} " \
               f"({self.seconds:.1f} s)"


def _summary_table(runs: list[_CellRun], configurations) -> str:
    """Cells × configurations: ``passed/checks`` (``FAIL`` marks a failure), then the time."""
    header = ["cell", *(f"{b}/{d}" for b, d in configurations), "time"]
    rows = []
    for run in runs:
        rows.append([run.cell, *(_count_text(len(r.results) - len(r.failures), len(r.results)) for r in run.reports),
                     f"{run.seconds:.1f} s"])
    totals = [_count_text(sum(len(run.reports[k].results) - len(run.reports[k].failures) for run in runs),
                          sum(len(run.reports[k].results) for run in runs)) for k in range(len(configurations))]
    rows.append(["total", *totals, f"{sum(run.seconds for run in runs):.1f} s"])
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(text.ljust(w) if k == 0 else text.rjust(w) for k, (text, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, lines[1])
    checks = sum(run.checks for run in runs)
    failures = sum(run.failures for run in runs)
    verdict = (f"all {checks} checks passed" if not failures else
               f"FAILED: {failures} of {checks} checks, in {', '.join(run.cell for run in runs if not run.passed)}")
    return "\n".join(lines + ["", f"{verdict} ({len(runs)} cells × {len(configurations)} configurations)"])


def _count_text(passed: int, total: int) -> str:
    return f"{passed}/{total}" + ("" if passed == total else " FAIL")


def _payload(args: argparse.Namespace, runs: list[_CellRun], configurations) -> dict:
    return {
        "tool": "gatejac verify",
        "version": gatejac.__version__,
        "passed": all(run.passed for run in runs),
        "checks": sum(run.checks for run in runs),
        "failures": sum(run.failures for run in runs),
        "seconds": round(sum(run.seconds for run in runs), 3),
        "seed": args.seed,
        "points": args.points,
        "oracles": list(args.oracles),
        "configurations": [{"backend": b, "dtype": d} for b, d in configurations],
        "cells": [{"cell": run.cell, "passed": run.passed, "seconds": round(run.seconds, 3),
                   "reports": [r.to_dict() for r in run.reports]} for run in runs],
    }
