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

_LAYERS = ("symbolic", "numeric", "verify")
__all__ = ["__version__", *_LAYERS]


def __getattr__(name: str):
    if name in _LAYERS:
        return _import_module(f"{__name__}.{name}")
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module 'gatejac' has no attribute {name!r}")


def _installed_version() -> str:
    """The installed distribution's version, read on first use of ``__version__``: importing
    ``importlib.metadata`` took 20–25 ms of the 27 ms of ``import gatejac`` (``python -X importtime``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gatejac")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found


def __dir__() -> list[str]:
    return sorted(__all__)
