"""The ``gatejac`` command line (console script ``gatejac = verify._cli:main``).

    gatejac verify [CELL ...] [options]            the main job: check every Jacobian kernel
                                                   of the catalogue against the oracles
    gatejac check path/to/file.py:NAME             a user's cell and their claims about it
    gatejac list                                   the catalogue, one cell per line
    gatejac derive CELL [--option key=value ...]   a cell's equations and every Jacobian
                        [--latex FILE]             ... also as a standalone LaTeX document

Each subcommand is one small function ``_<name>(args) -> exit code`` registered in
:func:`_parser`.  Exit codes: 0 success, 1 the work failed (a check or a claim failed, a
file could not be written), 2 a usage error — argparse's own, or any
:class:`~symbolic.GatejacError` (an unknown cell name, a bad option, a claims file that
cannot be loaded), printed as ``gatejac: error: …`` without a traceback.

``gatejac verify`` runs ``verify.check`` for every selected cell in every selected
backend/dtype configuration: float64 against the oracles (default ``ad``, ``fd`` and
``taylor`` at 2 points), float32 against the float64 kernels (the ``reference``
comparison; float32 runs also consult the oracles only when float64 is not selected).
Progress goes to stderr, one line per cell; the summary table, and the full report of
every failed check, to stdout; the JSON report (every check) and a LaTeX appendix of the
derivations (``symbolic.document_latex``) to files.  ``gatejac check`` loads a user's file
and runs :func:`verify._claims.check_claims` (see that module for the claims format).

The plain-text derivation prints every structured term on its own line, factors joined by
``@`` and read left to right (numerator layout, ``J[i, j] = ∂out_i/∂in_j``):
``diag(u)``, a column ``(u)``, a row ``(u)^T``, a matrix ``(W - W.T)``, and
``kron(I_n, v^T)`` / ``kron(v^T, I_n)`` for ∂(P v)/∂P and ∂(Pᵀ v)/∂P with the matrix
parameter P flattened row-major (as ``torch.flatten`` does).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from gatejac import symbolic
from gatejac.symbolic import GatejacError, derive, document_latex
from gatejac.symbolic import cells as catalogue
from gatejac.symbolic._errors import unknown_name

_USAGE_ERROR = 2
BACKENDS = ("numpy", "torch")
DTYPES = ("float64", "float32")
VERIFY_ORACLES = ("ad", "fd", "taylor")
"""The oracles ``gatejac verify`` runs for float64 unless ``--oracles`` says otherwise."""
VERIFY_POINTS = 2
DEFAULT_REPORT = Path("gatejac-report.json")
DEFAULT_LATEX = Path("gatejac-derivations.tex")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error argparse has already reported (2)
        return exc.code if isinstance(exc.code, int) else _USAGE_ERROR
    try:
        return args.run(args)
    except GatejacError as exc:
        print(f"gatejac: error: {exc}", file=sys.stderr)
        return _USAGE_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatejac",
        description="Exact, structured Jacobians of RNN cells: derive, print and export them.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_verify(commands)
    _add_check(commands)
    _add_mutations(commands)

    listing = commands.add_parser("list", help="list the catalogue cells", description="List the catalogue cells.")
    listing.set_defaults(run=_list)

    derivation = commands.add_parser(
        "derive",
        help="print a catalogue cell's equations and Jacobians",
        description="Print a catalogue cell's equations and every Jacobian (state, gate split, input, "
        "parameters) as structured terms, one per line.",
    )
    derivation.add_argument("cell", metavar="CELL", help="catalogue name (see `gatejac list`)")
    derivation.add_argument(
        "--option", "-o", action="append", default=[], type=_option, metavar="KEY=VALUE",
        help="a keyword option of the cell, e.g. n=8, bias=False, residual=nonlinear (repeatable)",
    )
    derivation.add_argument("--latex", type=Path, metavar="FILE", help="also write a standalone LaTeX document")
    derivation.set_defaults(run=_derive)
    return parser


def _add_verify(commands) -> None:
    verify = commands.add_parser(
        "verify",
        help="check every Jacobian of the catalogue (or of the named cells) against the oracles",
        description="Check every Jacobian kernel (state, input, every parameter, gate split, JVP, VJP) of the "
        "catalogue cells against the oracles, print a summary table, and write a JSON report and a LaTeX "
        "appendix of the derivations.  Exit code 1 if any check fails.",
    )
    verify.add_argument("cells", nargs="*", metavar="CELL", help="catalogue names (default: all; see `gatejac list`)")
    verify.add_argument("--backend", choices=(*BACKENDS, "both"), default="both", help="kernels to check (default both)")
    verify.add_argument("--dtype", choices=(*DTYPES, "both"), default="both",
                        help="float64 against the oracles, float32 against float64 (default both)")
    verify.add_argument("--seed", type=_count(0), default=0, help="seed of the first point (default 0)")
    verify.add_argument("--points", type=_count(1), default=VERIFY_POINTS,
                        help=f"points per check (default {VERIFY_POINTS})")
    verify.add_argument("--oracles", type=_names, default=VERIFY_ORACLES, metavar="NAME,...",
                        help="float64 oracles among ad, fd, taylor, mp, complex_step (default ad,fd,taylor)")
    verify.add_argument("--sizes", type=_sizes, default={}, metavar="n=4,m=3",
                        help="sizes to instantiate the cells at (default n=4, m=3)")
    verify.add_argument("--option", "-o", action="append", default=[], type=_option, metavar="KEY=VALUE",
                        help="a keyword option of the named cells, e.g. bias=False (repeatable)")
    verify.add_argument("--json", type=Path, default=DEFAULT_REPORT, metavar="PATH",
                        help=f"where to write the JSON report (default {DEFAULT_REPORT})")
    verify.add_argument("--latex", type=Path, default=DEFAULT_LATEX, metavar="PATH",
                        help=f"where to write the LaTeX appendix of the derivations (default {DEFAULT_LATEX})")
    verify.set_defaults(run=_verify)


def _add_mutations(commands) -> None:
    mutations = commands.add_parser(
        "mutations",
        help="break every term of every Jacobian and show that the checks catch each one",
        description="Build deliberately broken Jacobians of the catalogue cells (or the named cells) — every term "
        "dropped, sign-flipped, transposed, and the updated state put inside gate terms — check each with the "
        "AD oracle, and print the catch rate per cell and kind.  Exit code 1 unless every mutation is caught.",
    )
    mutations.add_argument("cells", nargs="*", metavar="CELL", help="catalogue names (default: all)")
    mutations.add_argument("--seed", type=_count(0), default=0, help="seed of the point (default 0)")
    mutations.add_argument("--sizes", type=_sizes, default={}, metavar="n=3,m=2",
                           help="sizes to instantiate the cells at (default n=3, m=2)")
    mutations.set_defaults(run=_mutations)


def _mutations(args: argparse.Namespace) -> int:
    from ._mutations import mutation_suite, mutation_table

    cells = [catalogue.get(name) for name in args.cells or catalogue.names()]
    sizes = _sizes_for(cells, args.sizes)
    reports = []
    for index, cell in enumerate(cells, 1):
        small = {d.name: 3 if d.name == "n" else 2 for d in cell.dims}  # n = 3, other sizes 2
        reports.append(mutation_suite(cell, sizes={**small, **sizes[cell.name]}, seed=args.seed))
        print(f"[{index}/{len(cells)}] {cell.name}: {len(reports[-1].caught)}/{len(reports[-1].outcomes)} caught",
              file=sys.stderr, flush=True)
    print(mutation_table(reports))
    made = sum(len(r.outcomes) for r in reports)
    caught = sum(len(r.caught) for r in reports)
    print(f"\n{caught}/{made} mutations caught ({caught / made:.1%})" if made else "\nno mutations made")
    return 0 if caught == made else 1


def _add_check(commands) -> None:
    checking = commands.add_parser(
        "check",
        help="check a cell from a Python file and the user's claims about it",
        description="Load path/to/file.py and take NAME: a function (or object) giving a symbolic.Cell, or a "
        "(cell, claims) pair with claims a verify.Claims (hand-derived Jacobians as labelled terms of the cell "
        "language, NumPy Jacobian functions, a torch step).  Check the spec and every claim against the "
        "oracles and name the wrong term.  Exit code 1 if the spec or a claim fails.",
    )
    checking.add_argument("target", metavar="FILE.py:NAME", help="e.g. examples/multigate_claims.py:cell")
    checking.add_argument("--backend", choices=BACKENDS, default="numpy", help="kernels to check (default numpy)")
    checking.add_argument("--seed", type=_count(0), default=0, help="seed of the first point (default 0)")
    checking.add_argument("--points", type=_count(1), default=VERIFY_POINTS,
                          help=f"points per check (default {VERIFY_POINTS})")
    checking.add_argument("--sizes", type=_sizes, default=None, metavar="n=4,m=3",
                          help="sizes to instantiate the cell at (default n=4, m=3)")
    checking.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    checking.set_defaults(run=_check_file)


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer ≥ {minimum}")
        return value

    return parse


def _names(text: str) -> tuple[str, ...]:
    """``ad,fd`` → ``("ad", "fd")`` (checked by ``verify.check``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> dict[str, int]:
    """``n=4,m=3`` → ``{"n": 4, "m": 3}``."""
    sizes = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier() or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"{part!r} is not SIZE=POSITIVE_INTEGER (e.g. n=4,m=3)")
        sizes[key.strip()] = int(value)
    return sizes


def _option(text: str) -> tuple[str, object]:
    """``key=value`` with ``value`` read as a Python literal (``8``, ``False``) or else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. n=8 or residual=nonlinear)")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


# ---------------------------------------------------------------------- subcommands
def _list(args: argparse.Namespace) -> int:
    names = catalogue.names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {catalogue.get(name).description.strip().splitlines()[0]}")
    return 0


def _derive(args: argparse.Namespace) -> int:
    derivation = derive(catalogue.get(args.cell, **dict(args.option)))
    print(symbolic.derivation_text(derivation))
    if args.latex is None:
        return 0
    print()
    written = _write(args.latex, document_latex([derivation], title=f"gatejac derivation of {args.cell}"),
                     "the LaTeX file", f"compile with: pdflatex {args.latex.name}")
    return 0 if written else 1


def _verify(args: argparse.Namespace) -> int:
    from ._check import check  # numeric and the oracles load only for the commands that check

    cells = [catalogue.get(name, **dict(args.option)) for name in args.cells or catalogue.names()]
    sizes = _sizes_for(cells, args.sizes)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    configurations = [(backend, dtype) for backend in backends for dtype in dtypes]
    runs = []
    for index, cell in enumerate(cells, 1):
        start = time.perf_counter()
        reports = [
            check(cell, backend=backend, dtype=dtype, sizes=sizes[cell.name], seed=args.seed, points=args.points,
                  oracles=args.oracles if dtype == "float64" or "float64" not in dtypes else ())
            for backend, dtype in configurations
        ]
        runs.append(_CellRun(cell.name, reports, time.perf_counter() - start))
        print(runs[-1].progress(index, len(cells)), file=sys.stderr, flush=True)
    print(_summary_table(runs, configurations))
    for report in (r for run in runs for r in run.reports if not r.passed):
        print("\n" + report.to_text())
    passed = all(run.passed for run in runs)
    payload = _verify_payload(args, runs, configurations)
    written = _write(args.json, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False),
                     "the JSON report", "every check")
    written &= _write(args.latex, document_latex(cells, title="gatejac derivations"), "the LaTeX appendix",
                      f"the derivations; compile with: pdflatex {args.latex.name}")
    return 0 if passed and written else 1


def _sizes_for(cells, sizes: dict[str, int]) -> dict[str, dict[str, int]]:
    """``--sizes`` restricted to each cell's own sizes; a size no selected cell has is an error."""
    known = sorted({d.name for cell in cells for d in cell.dims})
    for name in sizes:
        if name not in known:
            raise unknown_name("size", name, known, "(--sizes names sizes of the selected cells)")
    return {cell.name: {d.name: sizes[d.name] for d in cell.dims if d.name in sizes} for cell in cells}


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


def _verify_payload(args: argparse.Namespace, runs: list[_CellRun], configurations) -> dict:
    return {
        "tool": "gatejac verify",
        "version": metadata.version("gatejac"),
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


def _write(path: Path, text: str, what: str, note: str) -> bool:
    """Write ``what`` to ``path`` and say so; on failure print an error and return False."""
    try:
        path.write_text(text)
    except OSError as exc:
        print(f"gatejac: error: cannot write {what} {str(path)!r}: {exc.strerror}", file=sys.stderr)
        return False
    print(f"wrote {path} ({note})")
    return True


def _check_file(args: argparse.Namespace) -> int:
    from ._claims import check_claims, load_target  # numeric and the oracles load only for the commands that check

    cell, claims, source = load_target(args.target)
    report = check_claims(cell, claims, backend=args.backend, sizes=args.sizes, seed=args.seed, points=args.points,
                          source=source)
    print(report.to_text())
    written = True
    if args.json is not None:
        written = _write(args.json, report.to_json(), "the JSON report", "the check of every claim")
    return 0 if report.passed and written else 1


if __name__ == "__main__":
    sys.exit(main())
