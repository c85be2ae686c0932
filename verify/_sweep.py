"""Sweeps that outgrow one machine: a quantity over a grid of settings × seeds, on Dask, into a
zarr store that an interrupted sweep resumes from.

    verify.sweep("largest_exponent", {"gain_W_h": [0.5, 1.0, 1.5, 2.0], "b_r": [-1.0, 0.0, 1.0]},
                 seeds=8, settings={"cell": "gru_chung", "n": 128}, out="phase.zarr")

* **What** — ``quantity`` is a name of :data:`verify._sweep_quantities.QUANTITIES` or a
  function ``(point) -> float`` of a :class:`verify._sweep_points.Point`; ``settings`` holds
  what is fixed, ``grid`` what varies (``{setting: values}``; its keys become the dataset's
  dimensions, in order, then ``seed``), ``seeds`` a count (0 … seeds−1) or the seeds.
* **Where** — a LocalCluster of ``workers`` spawned worker processes with
  ``threads_per_worker`` threads each (thread pools limited to match), or the existing cluster
  at ``scheduler`` (an address, or a :class:`verify._sweep_cluster.SharedCluster` that several
  sweeps reuse; :mod:`verify._sweep_cluster`).  The store path must be visible to every
  worker (a shared file system on a cluster).
* **Storage** — :mod:`verify._sweep_store`: the store is cut into chunks of neighbouring
  points (every seed of a grid point, and neighbours along the last grid axes when the seeds
  are few: up to 32 points, :func:`verify._sweep_store.chunk_shape`; ``seeds_per_chunk``
  chooses blocks of seeds instead).  The worker computing a chunk writes it (one region write
  of the values, then one of the done flags) when the chunk is finished, and also whenever
  :data:`WRITE_SECONDS` of its computed points are unstored, so stopping the sweep at any
  moment loses at most about WRITE_SECONDS of work per thread; running the same sweep again
  computes only the points not done (a task that a killed worker had started is retried by
  Dask, and skips the points its first attempt stored).  A write costs about 0.7 ms of zarr
  per array, so a chunk of 10–32 points costs about 0.05–0.15 ms per point.
* **Tasks** — chunks go to the cluster in batches (:func:`batch_size`): one chunk per task
  until a point has been timed, then about :data:`TASK_SECONDS` of work by the measured time
  per point, and never more than half of an even share of what is left, so the tasks shrink
  towards the end and the threads finish within about one chunk of each other.  A task's size
  is free of the loss bound above (a task writes every WRITE_SECONDS whatever its length), so
  tasks are long against Dask's overhead per task (about 4–6 ms of CPU between the scheduler,
  the worker and this client; benchmarks/sweep.py); at most two batches per thread are in
  flight, so a worker never waits for its next task.
* **Progress** — a bar on stderr (one line per update when stderr is not a terminal).

Returns the dataset (``xarray.open_zarr(out)``), every point done.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._progress import Progress
from ._sweep_cluster import connect, limit_threads
from ._sweep_errors import SweepError, require_sweep_libraries
from ._sweep_points import Point
from ._sweep_quantities import quantity_of
from ._sweep_store import SEED, chunk_shape, coordinates, open_dataset, prepare, read_chunk, write_chunk

WRITE_SECONDS = 0.25
"""A task stores its chunk whenever this much of its computed work is unstored: what an
interrupted sweep or a killed worker loses at most, per thread."""

TASK_SECONDS = 1.0
"""The work one task should hold once the time per point is known: long against Dask's
overhead per task (a few ms), short enough that the progress bar moves about every
TASK_SECONDS / threads."""


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to compute points of one sweep (pickled into each task).
    ``quantity`` is a registry name, or a function already pickled by cloudpickle: Dask
    pickles a task with the standard pickle when it can, which would send a function by
    reference to a module the workers may not import (a user's file).  ``chunk`` is the
    store's chunk shape, the unit of work: a chunk is computed by one task, which writes it."""

    quantity: str | bytes
    settings: dict
    coords: dict
    out: str
    variable: str
    chunk: tuple = ()

    @property
    def shape(self) -> tuple:
        return tuple(len(values) for values in self.coords.values())

    @property
    def store(self) -> tuple:
        """What identifies the store's layout: (path, variable, shape, chunk shape)."""
        return (self.out, self.variable, self.shape, self.chunk)

    @property
    def chunk_points(self) -> int:
        """Points in a full chunk."""
        return math.prod(self.chunk)

    def chunks(self) -> list:
        """Every chunk's position in the grid of chunks, in C order."""
        return list(itertools.product(*(range(math.ceil(n / c)) for n, c in zip(self.shape, self.chunk))))

    def region(self, chunk: tuple) -> tuple:
        """The store index of a chunk: a slice per dimension."""
        return tuple(slice(k * c, min((k + 1) * c, n)) for k, c, n in zip(chunk, self.chunk, self.shape))

    def points(self, chunk: tuple) -> list:
        """The point indices of a chunk, in C order."""
        return list(itertools.product(*(range(r.start, r.stop) for r in self.region(chunk))))

    def point(self, index: tuple, known: tuple = ()) -> Point:
        values = {name: _scalar(self.coords[name][i]) for name, i in zip(self.coords, index)}
        seed = values.pop(SEED)
        return Point({**self.settings, **values}, seed, known)


def run_batch(job: Job, chunks: list, threads: int = 1) -> list:
    """Compute and store the points of ``chunks`` (worker side, at most ``threads`` threads per
    thread pool), each chunk written when its points are computed and whenever WRITE_SECONDS
    of computed points are unstored; ``[(index, seconds)]``, seconds None for a point already
    stored (by an earlier attempt of this task)."""
    limit_threads(threads)
    import cloudpickle

    name, quantity = quantity_of(job.quantity if isinstance(job.quantity, str) else cloudpickle.loads(job.quantity))
    results = []
    for chunk in chunks:
        region = job.region(chunk)
        done, values = read_chunk(job.store, chunk, region)
        unstored, seconds = 0, 0.0  # points computed and not written yet, and their time
        for position, index in enumerate(job.points(chunk)):
            if done[position]:
                results.append((index, None))
                continue
            start = time.perf_counter()
            values[position] = _evaluate(name, quantity, job.point(index, quantity.settings))
            done[position] = True
            results.append((index, time.perf_counter() - start))
            unstored, seconds = unstored + 1, seconds + results[-1][1]
            if seconds >= WRITE_SECONDS:
                write_chunk(job.store, region, values, done)
                unstored, seconds = 0, 0.0
        if unstored:
            write_chunk(job.store, region, values, done)
    return results


def _evaluate(name: str, quantity, point) -> float:
    """The quantity at a point; its failure is a SweepError naming the point."""
    from gatejac.symbolic import GatejacError

    try:
        return quantity(point)
    except (GatejacError, ArithmeticError, ValueError, TypeError, KeyError, np.linalg.LinAlgError) as exc:
        raise SweepError(f"{name} failed at {point!r}: {type(exc).__name__}: {exc}") from None


def sweep(quantity, grid, seeds=1, *, settings=None, out, scheduler=None, workers: int = 2,
          threads_per_worker: int = 1, seeds_per_chunk: int | None = None, progress: bool = True):
    """Evaluate ``quantity`` at every point of ``grid`` × ``seeds`` (see the module docstring)
    and return the xarray Dataset stored at ``out``."""
    require_sweep_libraries()
    import cloudpickle

    name, evaluated = quantity_of(quantity)
    settings, grid = dict(settings or {}), dict(grid)
    _check_arguments(settings, grid, workers, threads_per_worker, seeds_per_chunk)
    seeds = _seeds(seeds)
    coords = coordinates(grid, seeds)
    shipped = quantity if isinstance(quantity, str) else cloudpickle.dumps(quantity)
    job = Job(shipped, settings, coords, str(Path(out).resolve()), name)
    job = dataclasses.replace(job, chunk=chunk_shape(job.shape, seeds_per_chunk))
    if isinstance(quantity, str):
        _check_points(job, evaluated.settings)
    done, chunk = prepare(job.out, name, evaluated.units, settings, coords, job.chunk)
    job = dataclasses.replace(job, chunk=chunk)  # a resumed store keeps its own chunks
    remaining = [chunk for chunk in job.chunks() if not done[job.region(chunk)].all()]
    with Progress(done.size, f"sweep {name}", enabled=progress) as bar:
        if done.any():
            bar.skip(int(done.sum()), f"stored in {out}")
        if remaining:
            client, cluster, threads = connect(scheduler, workers, threads_per_worker)
            try:
                _compute(client, job, remaining, threads, threads_per_worker, bar, done)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    return open_dataset(job.out)


def _compute(client, job: Job, remaining: list, threads: int, threads_per_worker: int, bar, done) -> None:
    """Submit the chunks in batches, at most two per thread in flight, and count their points
    done (those stored before the run were counted already)."""
    from dask.distributed import as_completed

    pending, timings, in_flight = deque(remaining), [], as_completed()
    limit = 2 * threads

    def submit():
        size = batch_size(timings, len(pending), threads, job.chunk_points)
        batch = [pending.popleft() for _ in range(size)]
        in_flight.add(client.submit(run_batch, job, batch, threads_per_worker, pure=False))

    while pending and in_flight.count() < limit:
        submit()
    for future in in_flight:
        for index, seconds in future.result():
            if seconds is not None:
                timings.append(seconds)
                bar.advance(_label(job, index))
            elif not done[index]:
                bar.skip(1)
        future.release()
        while pending and in_flight.count() < limit:
            submit()


def batch_size(timings: list, left: int, threads: int, points: int = 1) -> int:
    """Chunks (of ``points`` points) per task: one until a point has been timed, then about
    TASK_SECONDS of work (by the median of the last 64 points' seconds), at most half an even
    share of the ``left`` chunks among ``threads`` threads (guided self-scheduling: the tasks
    shrink as the sweep ends, down to one chunk)."""
    if not timings:
        return 1
    per_chunk = statistics.median(timings[-64:]) * points
    wanted = int(TASK_SECONDS / per_chunk) if per_chunk > 0 else left
    return max(1, min(wanted, math.ceil(left / (2 * threads)), left))


def _label(job: Job, index: tuple) -> str:
    """``gain_W_h=1.5 b_r=0.0 seed 3``: the point's grid values."""
    parts = [f"{name}={_scalar(job.coords[name][i])}" for name, i in zip(job.coords, index) if name != SEED]
    return " ".join([*parts, f"seed {_scalar(job.coords[SEED][index[-1]])}"])


def _scalar(value):
    """A coordinate's entry as a Python number or string."""
    return value.item() if isinstance(value, np.generic) else value


def _is_integer(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _seeds(seeds) -> tuple:
    if _is_integer(seeds) and seeds >= 1:
        return tuple(range(int(seeds)))
    if isinstance(seeds, (list, tuple, range, np.ndarray)) and len(seeds) and all(_is_integer(s) and s >= 0 for s in seeds):
        if len(set(seeds)) == len(seeds):
            return tuple(int(s) for s in seeds)
    raise SweepError(f"seeds={seeds!r} must be a count ≥ 1 or a list of distinct seeds ≥ 0, e.g. 8 or [0, 3, 7]")


def _check_arguments(settings: dict, grid: dict, workers, threads_per_worker, seeds_per_chunk) -> None:
    both = sorted(set(settings) & set(grid))
    if both:
        raise SweepError(f"{', '.join(both)} both fixed (settings) and swept (grid); give each setting in one place")
    if SEED in grid or SEED in settings:
        raise SweepError("'seed' is the sweep's own last dimension; give the seeds with seeds=")
    if not grid:
        raise SweepError("grid is empty; give at least one swept setting, e.g. {'gain_W_h': [0.5, 1.0, 1.5]}")
    checked = {"workers": workers, "threads_per_worker": threads_per_worker}
    if seeds_per_chunk is not None:  # None: chosen by chunk_shape
        checked["seeds_per_chunk"] = seeds_per_chunk
    for what, value in checked.items():
        if not _is_integer(value) or value < 1:
            raise SweepError(f"{what}={value!r} must be an integer ≥ 1")


def _check_points(job: Job, known: tuple) -> None:
    """Every grid combination's settings name a cell and only settings it understands (before
    any cluster starts)."""
    for index in itertools.product(*(range(len(v)) for v in list(job.coords.values())[:-1])):
        job.point((*index, 0), known).cell
