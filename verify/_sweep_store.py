"""Where a sweep's results live: an xarray Dataset in a zarr store, one chunk per point.

Layout (``xarray.open_zarr(out)`` reads it, finished or not)::

    dimensions   the grid's settings, in the order given, then ``seed``
    coordinates  their values
    <quantity>   float64, NaN until the point is computed
    done         bool, True once the point's value is stored
    attributes   quantity, units, settings (JSON of the fixed settings), gatejac_sweep (format 1)

Every point is its own chunk of both variables, so writing a point touches two small files
that no other point shares: the workers write their own points as they finish them, with no
lock, and zarr's local store writes each file atomically (a temporary file renamed into
place), so a worker killed mid-write leaves either the old chunk or the new one.  The value is
written before its ``done`` flag: a point is done only once its value is stored, and a store
is resumed by computing the points whose flag is False.  Creating the store writes only its
metadata and coordinates (the data variables are lazy, and chunks never written read as
their fill values).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ._sweep_errors import SweepError

FORMAT = 1
DONE = "done"
SEED = "seed"


def settings_text(settings: dict) -> str:
    """The fixed settings as the JSON a store records (arrays by their repr)."""
    return json.dumps(settings, sort_keys=True, default=repr)


def coordinates(grid: dict, seeds: tuple) -> dict:
    """``{dimension: values}`` of the grid and the seeds, each values one NumPy dtype."""
    coords = {}
    for name, values in grid.items():
        array = np.asarray(list(values))
        if array.dtype == object or array.ndim != 1 or len(array) == 0:
            raise SweepError(f"grid[{name!r}] = {values!r}: give a non-empty list of numbers, or of strings")
        if len(set(array.tolist())) != len(array):
            raise SweepError(f"grid[{name!r}] = {values!r} repeats a value; give each value once")
        coords[name] = array.astype(object) if array.dtype.kind == "U" else array
    coords[SEED] = np.asarray(seeds, dtype=np.int64)
    return coords


def prepare(out, variable: str, units: str, settings: dict, coords: dict) -> np.ndarray:
    """Create the store at ``out`` (or check that the one there holds this sweep) and return
    its ``done`` flags, shape = the grid's shape × seeds."""
    import xarray as xr

    out = Path(out)
    attrs = {"gatejac_sweep": FORMAT, "quantity": variable, "units": units, "settings": settings_text(settings)}
    if not out.exists():
        import dask.array

        shape = tuple(len(values) for values in coords.values())
        dims = tuple(coords)
        dataset = xr.Dataset(
            {variable: (dims, dask.array.full(shape, np.nan, chunks=1)),
             DONE: (dims, dask.array.zeros(shape, dtype=bool, chunks=1))},
            coords=coords, attrs=attrs,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr: string coordinates have no frozen v3 specification yet
            dataset.to_zarr(out, compute=False, mode="w-", consolidated=False)
    existing = open_dataset(out)
    _check_same(out, existing, attrs, coords)
    return np.asarray(existing[DONE].values, dtype=bool)


def open_dataset(out):
    """The sweep at ``out`` as an xarray Dataset (lazy)."""
    import xarray as xr

    try:
        return xr.open_zarr(out, consolidated=False)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise SweepError(f"{out} is not a sweep's zarr store ({exc}); choose a new --out path") from None


def _check_same(out, existing, attrs: dict, coords: dict) -> None:
    """A store that holds another sweep is refused, naming what differs."""
    found = {key: existing.attrs.get(key) for key in attrs}
    differences = [f"{key}: {found[key]!r} there, {attrs[key]!r} here" for key in attrs if found[key] != attrs[key]]
    dims = tuple(existing[DONE].dims) if DONE in existing else ()
    if dims != tuple(coords):
        differences.append(f"dimensions: {dims} there, {tuple(coords)} here")
    else:
        differences += [f"{name} values: {existing[name].values.tolist()} there, {np.asarray(values).tolist()} here"
                        for name, values in coords.items()
                        if existing[name].values.tolist() != np.asarray(values).tolist()]
    if differences:
        raise SweepError(f"{out} holds a different sweep ({'; '.join(differences)}); resume it with the same "
                         "quantity, settings, grid and seeds, or choose another --out")


_OPEN: dict = {}


def _arrays(out: str, variable: str, shape: tuple) -> tuple:
    """The store's value and done arrays (zarr), opened once per process.  The key holds the
    shape: a store re-created at the same path with the same shape has the same chunk files."""
    key = (out, variable, shape)
    if key not in _OPEN:
        import zarr

        group = zarr.open_group(out, mode="r+")
        _OPEN[key] = (group[variable], group[DONE])
    return _OPEN[key]


def write_point(out: str, variable: str, shape: tuple, index: tuple, value: float) -> None:
    """Store one point's value, then its done flag (one chunk file each, written atomically)."""
    values, done = _arrays(out, variable, shape)
    values[index] = value
    done[index] = True


def done_flags(out: str, variable: str, shape: tuple, indices: list[tuple]) -> list[bool]:
    """The done flags of the points ``indices`` as stored now."""
    done = _arrays(out, variable, shape)[1]
    return [bool(done[index]) for index in indices]
