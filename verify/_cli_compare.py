"""``gatejac compare CELL path.py:IMPL [--mapping SPEC=TARGET ...]``: a user's PyTorch
implementation against a cell spec (``verify.compare``, :mod:`verify._compare`).

``CELL`` is a catalogue name or ``path/to/file.py:NAME`` (as for ``gatejac check``).
``IMPL`` names, in a Python file (imported as ``gatejac check`` imports one):

* a ``torch.nn.Module`` instance, or a step function ``step(x, h, params)``;
* a ``torch.nn.Module`` class: gatejac instantiates it with no arguments, or with the sizes
  when its constructor's parameters are named after them (``n``, ``m``, ``hidden_size``,
  ``input_size``; :mod:`verify._compare_class`), else says what the constructor needs;
* a function of no arguments giving one of those, or an ``(implementation, mapping)`` pair
  (``mapping``: spec parameter → target, a tensor or a row or column block of it,
  :mod:`verify._compare_targets`).

``--mapping`` entries are added to (and override) the file's mapping; ``--intermediate
NODE=PATH`` names the submodule or attribute holding a spec node.  Exit code 0 when the
implementation agrees with the spec, 1 when it does not, 2 for a usage error (a file or name
that cannot be loaded, a call that fails, a mapping that cannot be resolved).
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from . import _cli_output as output
from ._cli_arguments import add_point_options, cell_of, subcommand
from ._compare_errors import CompareError

COMPARE_POINTS = 2
"""Points per comparison on the command line (as ``verify.compare``'s default)."""


def add_compare(commands) -> None:
    """Register ``gatejac compare``."""
    parser = subcommand(commands, "compare", _compare,
                        "check your own PyTorch module or step function against a cell spec, term by term")
    parser.add_argument("cell", metavar="CELL", help="a catalogue name or path/to/file.py:NAME (the spec)")
    parser.add_argument("implementation", metavar="FILE.py:IMPL",
                        help="your torch.nn.Module (an instance, or its class: built with no arguments or from "
                             "the sizes, e.g. MyCell(input_size, hidden_size)) or step function (or a function "
                             "giving it, or (it, mapping))")
    parser.add_argument("--mapping", action="append", default=[], type=_pair, metavar="SPEC=TARGET",
                        help="spec parameter = module parameter, e.g. W_hz=weight_hh[4:8], 'W_z=gate.weight[:, :4]' "
                             "or U=lin.weight.T (repeatable)")
    parser.add_argument("--intermediate", action="append", default=[], type=_pair, metavar="NODE=PATH",
                        help="the submodule or attribute of your module holding spec node NODE (repeatable)")
    add_point_options(parser, points=COMPARE_POINTS, sizes_default=None, sizes_text="n=4, m=3")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the comparison as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the comparison as Markdown")


def _compare(args: argparse.Namespace) -> int:
    """Call your implementation with the spec's values and compare, in this order: the forward
    step (if it is wrong, the Jacobian failures follow from it), the named intermediates you
    expose (the first that diverges is named), every state, input and parameter Jacobian
    (torch.func.jacrev through yours) with the spec's term that accounts for a difference.
    Sizes are read from a module's parameters (--sizes is for a step function, or to check
    them).  Exit code 1 if anything disagrees."""
    from ._compare import compare

    for path, what in ((args.json, "the JSON comparison"), (args.markdown, "the Markdown comparison")):
        if path is not None:
            output.claim(path, what)
    cell = cell_of(args.cell, {})
    implementation, mapping = load_implementation(args.implementation)
    mapping = {**(mapping or {}), **dict(args.mapping)}
    result = compare(cell, implementation, mapping=mapping or None, intermediates=dict(args.intermediate) or None,
                     sizes=args.sizes, seed=args.seed, points=args.points)
    print(result.to_text())
    written = True
    if args.json is not None:
        written &= output.write(args.json, result.to_json(), "the JSON comparison", "verify.compare's result")
    if args.markdown is not None:
        written &= output.write(args.markdown, result.to_markdown(), "the Markdown comparison",
                                "verify.compare's result")
    return 0 if result.passed and written else 1


def load_implementation(target: str):
    """``(implementation, mapping or None)`` from ``path/to/file.py:NAME`` (see the module
    docstring); a class is returned as it is (``verify.compare`` instantiates it)."""
    from ._compare_call import call
    from ._target import import_file

    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name.isidentifier() or not Path(path_text).is_file():
        raise CompareError(f"{target!r}: give path/to/file.py:NAME with NAME your module (or its class), step "
                           "function, or a function giving it (e.g. examples/wrong_gate/mgu_torch.py:wrong)")
    module = import_file(Path(path_text))
    if name not in vars(module):
        raise CompareError(f"{target!r}: {path_text} defines no {name!r}")
    value = getattr(module, name)  # a class is instantiated by compare(), which knows the sizes
    if inspect.isfunction(value) and _takes_no_arguments(value):
        value, error = call(value, f"{name}()")
        if error is not None:
            raise CompareError(f"{target}: {error}")
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        return value
    return value, None


def _takes_no_arguments(function) -> bool:
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in inspect.signature(function).parameters.values())


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=TARGET (e.g. W_hz=weight_hh[4:8])")
    return key.strip(), value.strip()
