"""The errors of the numeric layer, and the checks of plain arguments that every part of it
shares (sizes, integers, numbers)."""

from __future__ import annotations

import numbers

from gatejac.symbolic import GatejacError


class ArgumentError(GatejacError, ValueError):
    """Values passed to a compiled kernel or a numeric function are missing, misshapen, of
    mixed dtype/backend, or out of range."""


class CompileError(GatejacError):
    """A cell cannot be turned into a kernel (e.g. a function with no array counterpart)."""


def is_real(value) -> bool:
    """A Python or NumPy real number that is not a bool (NumPy's bool is not a number)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value) -> bool:
    """A Python or NumPy integer that is not a bool."""
    return is_real(value) and isinstance(value, numbers.Integral)


def check_integer(name: str, value, low: int, high: int | None) -> int:
    """``value`` as an int in ``low..high`` (``high`` None: no upper bound), or an error
    naming the argument."""
    if not is_integer(value) or value < low or (high is not None and value > high):
        allowed = f"≥ {low}" if high is None else f"in {low}..{high}"
        raise ArgumentError(f"{name}={value!r} must be an integer {allowed}")
    return int(value)


def check_size(name: str, value) -> int:
    """A cell size (``n``, ``m`` ...) as a positive int: a Python or NumPy integer, or a
    float with an integral value (3.0); a bool, a fraction, zero, a negative number or
    anything else is an error naming the size."""
    if is_real(value) and float(value).is_integer() and value >= 1:
        return int(value)
    raise ArgumentError(f"size {name}={value!r} must be a positive integer (1, 2, 3, ...)")
