"""The subcommands of the ``gatejac`` command line (:mod:`verify._cli` runs them).

    gatejac verify [CELL ...] [options]            the main job: check every Jacobian kernel
                                                   of the catalogue (or of the named cells)
                                                   against the oracles (:mod:`verify._cli_verify`)
    gatejac check path/to/file.py:NAME             a user's cell and their claims about it
    gatejac compare CELL path/to/impl.py:IMPL      a user's torch module or step function against
                                                   the spec, term by term (:mod:`verify._cli_compare`)
    gatejac mutations [CELL ...]                   break every term, show each break is caught
    gatejac list                                   the catalogue, one cell per line
    gatejac derive CELL [--option key=value ...]   a cell's equations and every Jacobian
                        [--latex FILE] [--pdf FILE]  ... also as a LaTeX document / its PDF
    gatejac reproduce expansion [--out DIR] ...    a paper's experiment at its settings: a table,
                                                   summary.json and figures (:mod:`verify._cli_reproduce`)
    gatejac sweep QUANTITY --grid K=... --out S.zarr  a quantity over a grid × seeds on Dask, resumable
                                                   (:mod:`verify._cli_sweep`)
    gatejac report CELL [--impl FILE.py:IMPL] [--out DIR]  a cell's design report: one self-contained
                                                   HTML page, Markdown and JSON (:mod:`verify._cli_report`)

A CELL is a catalogue name or ``path/to/file.py:NAME`` (:mod:`verify._cli_arguments`).
Each subcommand is one small function ``(args) -> exit code`` registered in :func:`_parser`.
Exit codes are listed in :mod:`verify._cli`.  Every file is written atomically (:mod:`verify._cli_output`).

The plain-text derivation prints every structured term on its own line, factors joined by
``@`` and read left to right (numerator layout, ``J[i, j] = ∂out_i/∂in_j``):
``diag(u)``, a column ``(u)``, a row ``(u)^T``, a matrix ``(W - W.T)``, and
``kron(I_n, v^T)`` / ``kron(v^T, I_n)`` for ∂(P v)/∂P and ∂(Pᵀ v)/∂P with the matrix
parameter P flattened row-major (as ``torch.flatten`` does) — see docs/theory.md,
“Conventions”.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import gatejac
from gatejac.symbolic import GatejacError, compile_latex, derivation_text, derive, document_latex
from gatejac.symbolic import cells as catalogue

from . import _cli_output as output
from ._cli_arguments import DeferredParser, add_point_options, subcommand, cell_of, cells_of, defer, option, sizes_for
from ._cli_reproduce import add_reproduce
from ._cli_compare import add_compare
from ._cli_report import add_report
from ._cli_sweep import add_sweep
from ._cli_verify import VERIFY_POINTS, add_verify

_USAGE_ERROR = 2


def run(argv: list[str] | None) -> int:
    """Parse ``argv`` and run the subcommand; a :class:`~symbolic.GatejacError` is a usage error."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error argparse has already reported (2)
        return exc.code if isinstance(exc.code, int) else _USAGE_ERROR
    try:
        return args.run(args)
    except GatejacError as exc:
        print(f"gatejac: error: {exc}", file=sys.stderr)
        return _USAGE_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = DeferredParser(  # each subcommand's options are added when it is used (verify._cli_arguments)
        prog="gatejac",
        description="Exact, structured Jacobians of RNN cells: derive, print, export and verify them.",
    )
    parser.add_argument("--version", action="version", version=f"gatejac {gatejac.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_verify(commands)
    _add_check(commands)
    _add_mutations(commands)
    subcommand(commands, "list", _list, "list the catalogue cells")
    _add_derive(commands)
    add_reproduce(commands)
    add_sweep(commands)
    add_compare(commands)
    add_report(commands)
    return parser


# ---------------------------------------------------------------------- list and derive
def _list(args: argparse.Namespace) -> int:
    """List the catalogue cells, one line each: the name and what the cell is."""
    names = catalogue.names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {catalogue.get(name).description.strip().splitlines()[0]}")
    return 0


def _add_derive(commands) -> None:
    derivation = subcommand(commands, "derive", _derive, "print a cell's equations and Jacobians")
    derivation.add_argument("cell", metavar="CELL",
                            help="a catalogue name (see `gatejac list`) or path/to/file.py:NAME")
    derivation.add_argument(
        "--option", "-o", action="append", default=[], type=option, metavar="KEY=VALUE",
        help="a keyword option of a catalogue cell, e.g. n=8, bias=False, residual=nonlinear (repeatable)",
    )
    derivation.add_argument("--latex", type=Path, metavar="FILE", help="also write a standalone LaTeX document")
    derivation.add_argument("--pdf", type=Path, metavar="FILE", help="also write the document compiled by pdflatex")


def _derive(args: argparse.Namespace) -> int:
    """Print a cell's equations and every Jacobian (state, gate split, input, parameters) as
    structured terms, one per line; optionally write them as a LaTeX document or its PDF."""
    cell = cell_of(args.cell, dict(args.option))
    for path, what in ((args.latex, "the LaTeX file"), (args.pdf, "the PDF")):
        if path is not None:
            output.claim(path, what)
    derivation = derive(cell)
    print(derivation_text(derivation))
    if args.latex is None and args.pdf is None:
        return 0
    print()
    document = document_latex([derivation], title=f"gatejac derivation of {cell.name}")
    written = True
    if args.latex is not None:
        written &= output.write(args.latex, document, "the LaTeX file", f"compile with: pdflatex {args.latex.name}")
    if args.pdf is not None:
        written &= output.write(args.pdf, _pdf(document), "the PDF", "compiled with pdflatex")
    return 0 if written else 1


def _pdf(document: str) -> bytes:
    """``document`` compiled by :func:`symbolic.compile_latex` in a scratch directory (its
    ``.aux``, ``.log`` and ``.toc`` do not land beside the PDF)."""
    with tempfile.TemporaryDirectory(prefix="gatejac-latex-") as scratch:
        source = Path(scratch) / "derivation.tex"
        source.write_text(document)
        return compile_latex(source).read_bytes()


# ---------------------------------------------------------------------- check
def _add_check(commands) -> None:
    checking = subcommand(commands, "check", _check_file,
                          "check a cell from a Python file and the user's claims about it")
    defer(checking, _check_options)


def _check_options(checking: argparse.ArgumentParser) -> None:
    from gatejac.numeric import BACKENDS  # NumPy loads only when `gatejac check` is used

    checking.add_argument("target", metavar="FILE.py:NAME", help="e.g. examples/multigate_claims.py:cell")
    checking.add_argument("--backend", choices=BACKENDS, default="numpy", help="kernels to check (default numpy)")
    add_point_options(checking, points=VERIFY_POINTS, sizes_default=None, sizes_text="n=4, m=3")
    checking.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")


def _check_file(args: argparse.Namespace) -> int:
    """Load path/to/file.py and take NAME: a function (or object) giving a symbolic.Cell, or a
    (cell, claims) pair with claims a verify.Claims (hand-derived Jacobians as labelled terms of
    the cell language, NumPy Jacobian functions, a torch step).  Check the spec and every claim
    against the oracles and name the wrong term.  Exit code 1 if the spec or a claim fails."""
    from ._claims import check_claims  # numeric and the oracles load only for the commands that check
    from ._target import load_target

    if args.json is not None:
        output.claim(args.json, "the JSON report")
    cell, claims, source = load_target(args.target)
    report = check_claims(cell, claims, backend=args.backend, sizes=args.sizes, seed=args.seed, points=args.points,
                          source=source)
    print(report.to_text())
    written = True
    if args.json is not None:
        written = output.write(args.json, report.to_json(), "the JSON report", "the check of every claim")
    return 0 if report.passed and written else 1


# ---------------------------------------------------------------------- mutations
def _add_mutations(commands) -> None:
    mutations = subcommand(commands, "mutations", _mutations,
                           "break every term of every Jacobian and show that the checks catch each one")
    mutations.add_argument("cells", nargs="*", metavar="CELL",
                           help="catalogue names or path/to/file.py:NAME (default: the whole catalogue)")
    add_point_options(mutations, points=None, sizes_default={}, sizes_text="n=3, m=2")


def _mutations(args: argparse.Namespace) -> int:
    """Build deliberately broken Jacobians of the catalogue cells (or the named cells) — every
    term dropped, sign-flipped, transposed, and the updated state put inside gate terms — check
    each with the AD oracle, print the catch rate per cell and kind, and why each mutation that
    was not made was not made.  Exit code 1 unless every mutation is caught."""
    from ._mutations import mutation_suite, mutation_table

    cells = cells_of(args.cells, {})
    reports = []
    for index, (cell, chosen) in enumerate(zip(cells, sizes_for(cells, args.sizes)), 1):
        small = {d.name: 3 if d.name == "n" else 2 for d in cell.dims}  # n = 3, other sizes 2
        reports.append(mutation_suite(cell, sizes={**small, **chosen}, seed=args.seed))
        print(f"[{index}/{len(cells)}] {cell.name}: {len(reports[-1].caught)}/{len(reports[-1].outcomes)} caught",
              file=sys.stderr, flush=True)
    print(mutation_table(reports))
    not_made = _not_made(reports)
    if not_made:
        print("\nnot made (a no-op, or not applicable to the term):\n" + not_made)
    made = sum(len(r.outcomes) for r in reports)
    caught = sum(len(r.caught) for r in reports)
    print(f"\n{caught}/{made} mutations caught ({caught / made:.1%})" if made else "\nno mutations made")
    return 0 if caught == made else 1


def _not_made(reports) -> str:
    """Why mutations were not made: one line per cell, kind and reason, with how many."""
    rows = [(report.cell, kind, f"×{times}", reason)
            for report in reports
            for (kind, reason), times in Counter((s.kind, s.reason) for s in report.skipped).items()]
    widths = [max((len(row[k]) for row in rows), default=0) for k in range(3)]
    return "\n".join("  " + "  ".join(text.ljust(w) for text, w in zip(row, widths)) + "  " + row[3] for row in rows)
