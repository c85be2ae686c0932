"""gatejac — exact Jacobians of recurrent cells, derived once and checked every time.

The package has three layers, each importable on its own:

* :mod:`gatejac.symbolic` — the cell language, structured derivation, LaTeX (no NumPy, no torch);
* :mod:`gatejac.numeric` — NumPy and torch kernels compiled from a derivation, trajectories;
* :mod:`gatejac.verify` — oracles, checks, reports, mutations, strategies, the command line.

``import gatejac`` makes the three available as attributes; ``gatejac.numeric`` and
``gatejac.verify`` are imported on first access, so ``import gatejac`` stays as light as
``import gatejac.symbolic``.
"""

from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("gatejac")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_LAYERS = ("symbolic", "numeric", "verify")
__all__ = ["__version__", *_LAYERS]


def __getattr__(name: str):
    if name in _LAYERS:
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gatejac' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
