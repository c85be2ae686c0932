"""The ``gatejac`` command line (console script ``gatejac = verify._cli:main``).

    gatejac list                                   the catalogue, one cell per line
    gatejac derive CELL [--option key=value ...]   a cell's equations and every Jacobian
                        [--latex FILE]             ... also as a standalone LaTeX document

Each subcommand is one small function ``_<name>(args) -> exit code`` registered in
:func:`_parser`.  Exit codes: 0 success, 1 the work failed (a file could not be written),
2 a usage error — argparse's own, or any :class:`~symbolic.GatejacError` (an unknown cell
name, a bad option), printed as ``gatejac: error: …`` without a traceback.

The plain-text derivation prints every structured term on its own line, factors joined by
``@`` and read left to right (numerator layout, ``J[i, j] = ∂out_i/∂in_j``):
``diag(u)``, a column ``(u)``, a row ``(u)^T``, a matrix ``(W - W.T)``, and
``kron(I_n, v^T)`` / ``kron(v^T, I_n)`` for ∂(P v)/∂P and ∂(Pᵀ v)/∂P with the matrix
parameter P flattened row-major (as ``torch.flatten`` does).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import sympy

from symbolic import Column, Derivation, Diag, GatejacError, Kron, Mat, Row, Scale, Term, derive
from symbolic import cells as catalogue
from symbolic._latex import document_latex

_USAGE_ERROR = 2


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
        print(f"{name:<{width}}  {_first_line(catalogue.get(name).description)}")
    return 0


def _derive(args: argparse.Namespace) -> int:
    derivation = derive(catalogue.get(args.cell, **dict(args.option)))
    print(derivation_text(derivation))
    if args.latex is not None:
        try:
            args.latex.write_text(document_latex([derivation], title=f"gatejac derivation of {args.cell}"))
        except OSError as exc:
            print(f"gatejac: error: cannot write the LaTeX file {str(args.latex)!r}: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"\nwrote {args.latex} (compile with: pdflatex {args.latex.name})")
    return 0


# ---------------------------------------------------------------------- plain-text derivations
def derivation_text(derivation: Derivation) -> str:
    """A readable plain-text derivation: the cell's equations, then every block of every
    Jacobian as its structured terms, one per line, in the cell's names."""
    cell = derivation.cell
    lines = [f"{cell.name}: {_first_line(cell.description)}" if cell.description else cell.name]
    lines += [f"  {label}: {value}" for label, value in (("convention", cell.convention),
                                                       ("reference", cell.reference)) if value]
    lines += ["", "equations"]
    lines += [f"  {n.name} = {cell.text(n.expr)}" + ("    (gate)" if n.is_gate else "") for n in cell.named]
    lines += [f"  {s.name}' = {cell.text(cell.updates[s.name])}" for s in cell.states]
    lines += ["", "state Jacobian"] + _blocks_text(derivation, derivation.state.blocks)
    if cell.gates:
        split = derivation.gate_split()
        lines += ["", "gate split J = A + B, A: gates frozen"] + _blocks_text(derivation, split.A.blocks)
        lines += ["", "gate split J = A + B, B: terms through a gate"] + _blocks_text(derivation, split.B.blocks)
    if cell.inputs:
        lines += ["", "input Jacobian"] + _blocks_text(derivation, derivation.input.blocks)
    lines += ["", "parameter Jacobians (matrix parameters flattened row-major)"]
    for blocks in derivation.parameters.values():
        lines += _blocks_text(derivation, blocks.blocks)
    return "\n".join(lines)


def _blocks_text(derivation: Derivation, blocks: dict) -> list[str]:
    lines = []
    for (out, wrt), block in blocks.items():
        count = f"{len(block.terms)} term{'s' if len(block.terms) != 1 else ''}"
        lines.append(f"  d{out}'/d{wrt}: " + ("0" if block.is_zero else count))
        lines += [f"    {'+' if i else ' '} {_term_text(derivation, t)}" for i, t in enumerate(block.terms)]
    return lines


def _term_text(derivation: Derivation, term: Term) -> str:
    text = " @ ".join(_factor_text(derivation, f) for f in term.structure) or "I"
    coefficient = term.coefficient
    if coefficient == 1:
        return text
    scale = derivation.cell.text(coefficient)
    return f"({scale}) * {text}" if isinstance(coefficient, sympy.Add) else f"{scale} * {text}"


def _factor_text(derivation: Derivation, factor) -> str:
    text = derivation.cell.text
    if isinstance(factor, Diag):
        return f"diag({text(factor.value)})"
    if isinstance(factor, Column):
        return f"({text(factor.value)})" + ("" if derivation.cell.size_of(factor.value) else f"*ones({factor.size})")
    if isinstance(factor, Row):
        return f"({text(factor.value)})^T"
    if isinstance(factor, Mat):
        return f"({factor.matrix})"
    if isinstance(factor, Kron):
        pair = [f"I_{factor.dim}", f"({text(factor.value)})^T"]
        return f"kron({', '.join(reversed(pair) if factor.transposed else pair)})"
    if isinstance(factor, Scale):
        return f"({text(factor.value)})"
    raise TypeError(f"{factor!r} is not a factor of a structured term (see symbolic._linear)")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


if __name__ == "__main__":
    sys.exit(main())
