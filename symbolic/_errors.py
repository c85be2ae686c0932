"""The one exception hierarchy of gatejac.

Every mistake a user can make raises a subclass of :class:`GatejacError`, with a message
that names the offending piece, the value given and what to do instead.  ``numeric`` and
``verify`` raise the same classes (they import them from here), so one ``except
GatejacError`` catches everything gatejac raises on purpose.
"""

from __future__ import annotations

from sympy import SympifyError


class GatejacError(Exception):
    """Root of every error gatejac raises on purpose."""


class SpecError(GatejacError, ValueError):
    """A cell specification is invalid (raised while the cell is being built)."""


class ShapeError(SpecError):
    """Sizes of vectors or matrices in a cell specification do not agree."""


class UndeclaredSymbolError(SpecError):
    """An expression uses a symbol the cell never declared."""


class UnusedSymbolError(SpecError):
    """A declared state, input or parameter is never used by any update."""


class MissingUpdateError(SpecError):
    """A declared state has no update equation."""


class DuplicateNameError(SpecError):
    """Two pieces of a cell were given the same name."""


class NotElementwiseError(SpecError):
    """A matrix-valued or otherwise non-elementwise object was used where an elementwise
    expression of vectors is required."""


class VecInSymPyError(NotElementwiseError, SympifyError):
    """A cell vector was handed to SymPy directly (``sympy.tanh(h)``, ``f(h)``).

    It is also a ``SympifyError`` because SymPy's binary operators catch that class and
    return ``NotImplemented``, which lets Python fall back to the vector's own operators.
    """

    def __str__(self) -> str:  # SympifyError would otherwise print its own wording
        return str(self.args[0]) if self.args else ""


class FrozenCellError(SpecError):
    """A validated (frozen) cell was modified."""


class UnknownNameError(GatejacError, LookupError):
    """A name (of a catalogue cell, state, parameter, backend ...) is not known.

    The message lists close matches when there are any.
    """

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def unknown_name(kind: str, name: object, known: list[str], hint: str = "") -> UnknownNameError:
    """Build an :class:`UnknownNameError` for ``name`` with close-match suggestions."""
    import difflib

    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    message = f"unknown {kind} {name!r}"
    if close:
        message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    else:
        message += "."
    message += f" Known {kind}s: {', '.join(sorted(known)) or '(none)'}."
    if hint:
        message += f" {hint}"
    return UnknownNameError(message)
