"""The error of the sweep engine, and the check that its optional libraries are installed."""

from importlib.util import find_spec

from gatejac.symbolic import GatejacError

SWEEP_LIBRARIES = ("dask", "distributed", "xarray", "zarr", "cloudpickle")
"""What sweeps need beyond gatejac's own dependencies: the ``sweeps`` extra."""


class SweepError(GatejacError, ValueError):
    """A sweep that cannot run as asked: unknown settings or quantity, a store holding a
    different sweep, a point whose quantity failed, the sweep libraries missing.  The message
    names the piece and what to do."""


SweepError.__module__ = "gatejac.verify"


def require_sweep_libraries() -> None:
    """Raise :class:`SweepError` naming the missing libraries and the install command unless
    every library of :data:`SWEEP_LIBRARIES` can be imported."""
    missing = [name for name in SWEEP_LIBRARIES if find_spec(name) is None]
    if missing:
        raise SweepError(f"sweeps need {', '.join(missing)} (not installed): "
                         "install them with  pip install 'gatejac[sweeps]'")
