"""Where a sweep's results live: an xarray Dataset in a zarr store, in chunks of points.

Layout (``xarray.open_zarr(out)`` reads it, finished or not)::

    dimensions   the grid's settings, in the order given, then ``seed``
    coordinates  their values
    <quantity>   float64, NaN until the point is computed
    done         bool, True once the point's value is stored
    attributes   quantity, units, settings (JSON of the fixed settings), gatejac_sweep (format 1)

A chunk of both variables is a block of neighbouring points — by default (:func:`chunk_shape`)
every seed of a grid point and, when the seeds are few, neighbours along the last grid axes,
up to :data:`CHUNK_POINTS` points and at least :data:`MIN_CHUNKS` chunks per sweep.  A chunk is
computed by one task at a time, which writes it (values, then done flags, one file each) when
the chunk is finished or :data:`verify._sweep.TASK_SECONDS` of work since its last write is
unstored: no lock, and zarr's local store writes each file atomically (a temporary file
renamed into place), so a worker killed mid-write leaves either the old chunk or the new one.
The values are written before their ``done`` flags: a point is done only once its value is
stored, and a store is resumed by computing the points whose flag is False.  Writing a chunk
costs about 0.7 ms of zarr per array whatever its size (measured: benchmarks/sweep.py), hence
chunks of many points; the chunks are stored uncompressed (at most CHUNK_POINTS numbers: a
compressor would save nothing and cost a hop to zarr's codec thread per write).  Creating the
store writes only its metadata and coordinates (the data variables are lazy, and chunks never
written read as their fill values).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ._sweep_errors import SweepError

FORMAT = 1
DONE = "done"
SEED = "seed"
CHUNK_POINTS = 32
"""At most this many points per chunk by default: a chunk's two writes (about 1.5 ms) spread
over them."""
MIN_CHUNKS = 32
"""At least this many chunks per sweep by default (when it has that many points), so that a
cluster of up to 8 threads gets several chunks each (tasks are sized in whole chunks, so the
chunk is also the grain with which the last tasks are balanced; docs/sweeps.md: “The store and resuming”)."""


def chunk_shape(shape: tuple, seeds_per_chunk: int | None = None) -> tuple:
    """The store's chunk: ``(1, …, 1, seeds_per_chunk)`` when given, else filled from the last
    dimension backwards (seeds, then the last grid axes) with up to min(CHUNK_POINTS,
    points / MIN_CHUNKS) points, a dimension taken whole before the one in front of it starts."""
    if seeds_per_chunk is not None:
        return (1,) * (len(shape) - 1) + (min(seeds_per_chunk, shape[-1]),)
    room = max(1, min(CHUNK_POINTS, int(np.prod(shape)) // MIN_CHUNKS))
    chunk = [1] * len(shape)
    for axis in reversed(range(len(shape))):
        chunk[axis] = max(1, min(shape[axis], room))
        room //= chunk[axis]
        if chunk[axis] < shape[axis]:
            break
    return tuple(chunk)


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


def prepare(out, variable: str, units: str, settings: dict, coords: dict, chunks: tuple) -> tuple:
    """Create the store at ``out`` in chunks of shape ``chunks`` (or check that the one there
    holds this sweep) and return its ``done`` flags (shape = the grid's shape × seeds) and its
    chunk shape."""
    import xarray as xr

    out = Path(out)
    attrs = {"gatejac_sweep": FORMAT, "quantity": variable, "units": units, "settings": settings_text(settings)}
    if not out.exists():
        import dask.array

        shape = tuple(len(values) for values in coords.values())
        dims = tuple(coords)
        dataset = xr.Dataset(  # one dask chunk each: nothing is computed, and a graph per zarr chunk costs
            {variable: (dims, dask.array.full(shape, np.nan, chunks=shape)),
             DONE: (dims, dask.array.zeros(shape, dtype=bool, chunks=shape))},
            coords=coords, attrs=attrs,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr: string coordinates have no frozen v3 specification yet
            dataset.to_zarr(out, compute=False, mode="w-", consolidated=False, safe_chunks=False,
                            encoding={name: {"chunks": chunks, "compressors": None} for name in (variable, DONE)})
    _check_same(out, open_dataset(out), attrs, coords)
    import zarr

    done = zarr.open_group(str(out), mode="r")[DONE]  # read by zarr directly: a dask graph per chunk costs more
    return np.asarray(done[...], dtype=bool), tuple(int(c) for c in done.chunks)


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


def _arrays(store: tuple) -> tuple:
    """The value and done arrays (zarr) of ``store`` = (path, variable, shape, chunk shape),
    opened once per process: a store re-created at the same path with the same layout has
    the same chunk files."""
    if store not in _OPEN:
        import zarr

        group = zarr.open_group(store[0], mode="r+")
        _OPEN[store] = (group[store[1]], group[DONE])
    return _OPEN[store]


def read_chunk(store: tuple, chunk: tuple, region: tuple) -> tuple:
    """``(done, values)`` of the chunk at chunk position ``chunk`` (store index ``region``, a
    slice per dimension) as stored now, flat in C order.  A chunk that was never written has
    no file (zarr stores no chunk equal to its fill value), so the common case — nothing stored
    yet — costs one ``stat``, no read."""
    values, done = _arrays(store)
    if not os.path.exists(os.path.join(store[0], DONE, done.metadata.encode_chunk_key(chunk))):
        size = int(np.prod([len(range(*r.indices(n))) for r, n in zip(region, done.shape)]))
        return np.zeros(size, dtype=bool), np.full(size, np.nan)
    flags = np.asarray(done[region], dtype=bool).reshape(-1)
    return flags, (np.asarray(values[region], dtype=float).reshape(-1) if flags.any() else np.full(flags.shape, np.nan))


def write_chunk(store: tuple, region: tuple, values, flags) -> None:
    """Store one chunk's ``values``, then its done ``flags`` (flat in C order; one file each,
    written atomically)."""
    value_array, done = _arrays(store)
    shape = tuple(len(range(*r.indices(n))) for r, n in zip(region, done.shape))
    value_array[region] = np.reshape(values, shape)
    done[region] = np.reshape(flags, shape)
