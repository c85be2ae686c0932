"""What the dynamics reproductions (``gatejac reproduce slow-modes`` and ``residual-lyapunov``)
share: their grids run through the sweep engine (:func:`verify._sweep.sweep`) into a zarr
store inside the output directory.

The store is named by the sweep's quantity and a checksum of everything that defines it (the
fixed settings, the grid and the seeds): a re-run with the same settings finds its store and
computes only the points an interruption left undone (the sweep engine resumes point by
point), while a run at other settings (``--quick``, another ``--seeds``) gets a store of its
own instead of a refusal to mix two sweeps.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ._sweep import sweep

SWEEPS_DIRECTORY = "sweeps"


def store_path(directory: Path, name: str, settings: Mapping, grid: Mapping, seeds: int) -> Path:
    """``directory/sweeps/NAME-CHECKSUM.zarr``: the CRC-32 of the sweep's definition as JSON."""
    definition = json.dumps({"settings": settings, "grid": {k: list(v) for k, v in grid.items()}, "seeds": seeds},
                            sort_keys=True, default=repr)
    return Path(directory) / SWEEPS_DIRECTORY / f"{name}-{zlib.crc32(definition.encode()):08x}.zarr"


def run_grid(directory: Path, quantity: str | Callable, grid: Mapping, seeds: int, settings: Mapping, *,
             progress: bool, cluster=None) -> np.ndarray:
    """Evaluate ``quantity`` (a name of the sweep's quantity registry, or a module-level
    function of a sweep point, so that the spawned workers can import it) over ``grid`` ×
    seeds 0..seeds−1 with the fixed ``settings``, through the sweep engine into
    :func:`store_path`, on ``cluster`` (a :class:`verify._sweep_cluster.SharedCluster` the
    reproduction's grids share; a local cluster of its own when None); the values as an array
    of shape ``grid's lengths + (seeds,)``, in the grid's order."""
    name = quantity if isinstance(quantity, str) else quantity.__name__
    out = store_path(directory, name, settings, grid, seeds)
    out.parent.mkdir(parents=True, exist_ok=True)
    dataset = sweep(quantity, dict(grid), seeds, settings=dict(settings), out=out, scheduler=cluster, progress=progress)
    return np.asarray(dataset[name].transpose(*grid, "seed").values, dtype=float)
