"""The command line's argument types and how it finds the cells it is given.

A cell on the command line is a catalogue name (``gru_torch``, with ``--option key=value``
for its keyword options) or ``path/to/file.py:NAME``: the file is imported with its
directory on ``sys.path`` and ``NAME`` — a :class:`symbolic.Cell`, a function giving one, or
a ``(cell, claims)`` pair — is taken, exactly as ``gatejac check`` reads it
(``verify._target.load_target``).

Options whose choices or defaults live in heavy modules (the back-ends and dtypes of
:mod:`numeric`, a reproduction's seeds and output directory) are added by a
:class:`DeferredParser` only when their subcommand is used, so that ``gatejac --version``,
``gatejac list`` and ``gatejac --help`` import neither NumPy nor torch nor a reproduction.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Callable

from gatejac.symbolic import Cell, GatejacError
from gatejac.symbolic import cells as catalogue
from gatejac.symbolic import unknown_name


class DeferredParser(argparse.ArgumentParser):
    """An argument parser (and, through ``add_subparsers``, each of its subcommands' parsers)
    that adds the options given to :func:`defer` only when it is used: before it parses its
    arguments or formats its usage or help."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[argparse.ArgumentParser], None]] = []

    def _add_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._add_deferred()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_deferred()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_deferred()
        return super().format_help()


def defer(parser: argparse.ArgumentParser, add_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Call ``add_options(parser)`` when ``parser`` is first used if it is a
    :class:`DeferredParser` (``gatejac``'s own), else now (a plain parser, e.g. a test's)."""
    if isinstance(parser, DeferredParser):
        parser._deferred.append(add_options)
    else:
        add_options(parser)


class CommandLineError(GatejacError):
    """A command-line argument that names no cell, or options that do not apply to it."""


def is_file_target(text: str) -> bool:
    """``path/to/file.py:NAME`` (or a ``.py`` path missing its ``:NAME``), not a catalogue name."""
    return ":" in text or text.endswith(".py")


def cell_of(text: str, options: dict) -> Cell:
    """The cell ``text`` names: a catalogue name with ``options``, or ``path/to/file.py:NAME``."""
    if not is_file_target(text):
        return catalogue.get(text, **options)
    if options:
        raise CommandLineError(f"--option {', '.join(f'{k}={v!r}' for k, v in options.items())} applies to "
                               f"catalogue cells, not to {text!r}; build the cell with those options in the file")
    from ._target import load_target  # numeric loads only when a user's file is read

    return load_target(text)[0]


def cells_of(texts: list[str], options: dict) -> list[Cell]:
    """The cells ``texts`` name (default: the whole catalogue); ``options`` go to the
    catalogue cells among them, and are an error if there is none."""
    texts = texts or catalogue.names()
    if all(is_file_target(text) for text in texts):
        return [cell_of(text, options) for text in texts]  # options without a catalogue cell: an error
    return [cell_of(text, {} if is_file_target(text) else options) for text in texts]


def sizes_for(cells: list[Cell], sizes: dict[str, int]) -> list[dict[str, int]]:
    """``--sizes`` restricted to each cell's own sizes; a size no selected cell has is an error."""
    known = sorted({d.name for cell in cells for d in cell.dims})
    for name in sizes:
        if name not in known:
            raise unknown_name("size", name, known, "(--sizes names sizes of the selected cells)")
    return [{d.name: sizes[d.name] for d in cell.dims if d.name in sizes} for cell in cells]


# ---------------------------------------------------------------------- argument types
def count(minimum: int):
    """An argparse type: an integer ≥ ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer ≥ {minimum}")
        return value

    return parse


def names(text: str) -> tuple[str, ...]:
    """``ad,fd`` → ``("ad", "fd")`` (checked by ``verify.check``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def sizes(text: str) -> dict[str, int]:
    """``n=4,m=3`` → ``{"n": 4, "m": 3}``."""
    chosen = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier() or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"{part!r} is not SIZE=POSITIVE_INTEGER (e.g. n=4,m=3)")
        chosen[key.strip()] = int(value)
    return chosen


def option(text: str) -> tuple[str, object]:
    """``key=value`` with ``value`` read as a Python literal (``8``, ``False``) or else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. n=8 or residual=nonlinear)")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def add_point_options(parser: argparse.ArgumentParser, *, points: int | None, sizes_default, sizes_text: str) -> None:
    """The options that choose where a cell is checked: ``--seed``, ``--points`` (unless
    ``points`` is None: the command checks one point) and ``--sizes``."""
    parser.add_argument("--seed", type=count(0), default=0, help="seed of the first point (default 0)")
    if points is not None:
        parser.add_argument("--points", type=count(1), default=points, help=f"points per check (default {points})")
    parser.add_argument("--sizes", type=sizes, default=sizes_default, metavar=sizes_text.replace(", ", ","),
                        help=f"sizes to instantiate the cells at (default {sizes_text})")


def subcommand(commands, name: str, run, summary: str) -> argparse.ArgumentParser:
    """A ``gatejac NAME`` command: ``summary`` in ``gatejac --help``, ``run``'s docstring as its
    own ``--help`` text, and ``run(args)`` as what it does."""
    parser = commands.add_parser(name, help=summary, description=run.__doc__)
    parser.set_defaults(run=run)
    return parser
