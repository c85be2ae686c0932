"""Checks for the keyword options of catalogue builders, shared by every cell module."""

from __future__ import annotations

from collections.abc import Sequence

from .._errors import SpecError, unknown_name


def not_one_of(kind: str, value: object, known: Sequence[str], hint: str) -> SpecError:
    """A :class:`SpecError` saying ``value`` is not among ``known``, with close-match suggestions."""
    return SpecError(str(unknown_name(kind, value, list(known), hint)))


def flag(cell: str, option: str, value: object) -> bool:
    """``value`` if it is a bool, otherwise a clear :class:`SpecError`."""
    if not isinstance(value, bool):
        raise SpecError(f"cell {cell!r}: option {option}={value!r} must be True or False")
    return value


def choice(cell: str, option: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, otherwise a clear :class:`SpecError`."""
    if not isinstance(value, str) or value not in choices:
        raise not_one_of(f"{option}= value", value, choices, f"(option of cell {cell!r})")
    return value
