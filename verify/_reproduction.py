"""The reproduction line of a report: the call (and shell command) that repeats a check, naming
what was actually passed.

A cell passed by name is named by its catalogue call; a cell object whose
``Cell.fingerprint`` equals that of a catalogue variant (``symbolic.cells.variants()``) is
named by that variant's call with its options, e.g. ``symbolic.cells.get('wcrnn',
residual_matrix='homogeneous')`` — derived or not, since deriving leaves the fingerprint
unchanged.  Any other cell is "your cell"; a derivation or claims the user passed are named
as such.
"""

from __future__ import annotations

import shlex

from gatejac.symbolic import Cell, cells


def catalogue_options(cell: Cell) -> dict | None:
    """The options of the catalogue variant equal to ``cell`` (same fingerprint), or None."""
    if cell.name not in cells.names():
        return None
    for name, options in cells.variants():
        if name == cell.name and cells.get(name, **options).fingerprint == cell.fingerprint:
            return options
    return None


def _catalogue_call(name: str, options: dict) -> str:
    return f"symbolic.cells.get({name!r}{''.join(f', {k}={v!r}' for k, v in options.items())})"


def _shell_flags(options: dict) -> str:
    """The ``gatejac verify`` flags of ``verify.check`` options."""
    flags = [f"--backend {options['backend']}", f"--dtype {options['dtype']}"]
    flags.append("--sizes " + ",".join(f"{k}={v}" for k, v in options["sizes"].items()))
    oracles = shlex.quote(",".join(options["oracles"]))  # '' for a float32 check: no oracle, not the default ones
    flags += [f"--seed {options['seed']}", f"--points {options['points']}", f"--oracles {oracles}"]
    return " ".join(flags)


def check_call(given, cell: Cell, derivation, options: dict) -> str:
    """The Python call (and, for a catalogue cell checked in full, the shell command) that
    repeats ``verify.check(given, derivation=derivation, **options)``."""
    if isinstance(given, str):
        catalogue = {}
    else:
        catalogue = catalogue_options(cell)
    arguments = ["cell" if catalogue is None else _catalogue_call(cell.name, catalogue)]
    arguments += [f"{key}={value!r}" for key, value in options.items()]
    if derivation is not None:
        arguments.append("derivation=derivation")
    lines = [f"python: from gatejac import symbolic, verify; print(verify.check({', '.join(arguments)}).to_text())"]
    if catalogue is None:
        lines.append(f"        with cell = your cell {cell.name!r}")
    if derivation is not None:
        lines.append("        with derivation = the derivation you passed to verify.check")
    elif catalogue is not None and "jacobians" not in options:
        cell_options = "".join(f" -o {k}={v}" for k, v in catalogue.items())
        lines.append(f"shell:  gatejac verify {cell.name}{cell_options} {_shell_flags(options)}")
    return "\n".join(lines)


def claims_call(cell: Cell, source: str, options: dict) -> str:
    """The call that repeats ``verify.check_claims(cell, claims, **options)`` (or
    ``verify.assert_claims``), or with a ``source`` (``path/file.py:NAME``) the ``gatejac check``
    command."""
    if source:
        sizes = ",".join(f"{k}={v}" for k, v in options["sizes"].items())
        return (f"shell:  gatejac check {source} --backend {options['backend']} --sizes {sizes} "
                f"--seed {options['seed']} --points {options['points']}")
    arguments = ", ".join(f"{key}={value!r}" for key, value in options.items())
    return (f"python: from gatejac import verify; print(verify.check_claims(cell, claims, {arguments}).to_text())\n"
            f"        with cell = your cell {cell.name!r} and claims = the claims you passed")
