"""``gatejac report CELL [--impl FILE.py:IMPL] [--out DIR]``: the design report of a cell
(``verify.design_report``, :mod:`verify._design_report`) as ``report.html``, ``report.md`` and
``report.json`` in ``DIR`` (default ``report``).

``CELL`` is a catalogue name (with ``--option key=value``) or ``path/to/file.py:NAME``, read as
``gatejac check`` reads it.  ``--impl`` names the user's implementation exactly as
``gatejac compare`` does (:func:`verify._cli_compare.load_implementation`: a ``torch.nn.Module``
instance or class — built with no arguments, or from the sizes its constructor's parameters are
named after, :mod:`verify._compare_class` —, a step function, a function of no arguments giving
one, or an ``(implementation, mapping)`` pair).  Exit code 0 when every check passes (the oracles, the mutations, the
comparison), 1 when one fails or a file cannot be written, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ._cli_arguments import add_point_options, cell_of, option, subcommand


def add_report(commands) -> None:
    """Register ``gatejac report``."""
    parser = subcommand(commands, "report", _report,
                        "a design report of a cell: equations, Jacobians, checks, your implementation, analyses")
    parser.add_argument("cell", metavar="CELL", help="a catalogue name (see `gatejac list`) or path/to/file.py:NAME")
    parser.add_argument("--option", "-o", action="append", default=[], type=option, metavar="KEY=VALUE",
                        help="a keyword option of a catalogue cell, e.g. n=8 (repeatable)")
    parser.add_argument("--impl", metavar="FILE.py:IMPL",
                        help="your torch.nn.Module (an instance, or its class: built with no arguments or from the "
                             "sizes, e.g. MyCell(input_size, hidden_size)) or step function (or a function giving "
                             "it), compared with the spec term by term (as `gatejac compare`)")
    parser.add_argument("--out", type=Path, default=Path("report"), metavar="DIR",
                        help="directory for report.html, report.md and report.json (default ./report)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_point_options(parser, points=None, sizes_default=None, sizes_text="n=64, m=8")


def _report(args: argparse.Namespace) -> int:
    """Write the design report of CELL: the equations and every Jacobian rendered as math, the
    gate split, every oracle's verdict, the mutation catch rate, the comparison with your
    implementation (--impl), and the analyses at initialisation (Jacobian spectrum, Lyapunov
    spectrum, effective learning rate over lags, expansion validity, slow modes), each with a
    figure and one sentence.  report.html is self-contained (no network).  Exit code 1 if a
    check fails."""
    from ._cli_compare import load_implementation
    from ._design_report import design_report

    cell = cell_of(args.cell, dict(args.option))
    implementation, mapping = load_implementation(args.impl) if args.impl else (None, None)
    command = "gatejac " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["report"] else ""
    report = design_report(cell, implementation=implementation, mapping=mapping, out=args.out, sizes=args.sizes,
                           seed=args.seed, progress=not args.quiet, command=command)
    for section in report.sections:
        mark = {True: "PASS", False: "FAIL", None: "    "}[section.passed]
        print(f"{mark}  {section.title}: {section.sentence}")
    return 0 if report.passed else 1
