"""Benchmark: the throughput of a sweep on a local Dask cluster of two worker processes
against the same points evaluated in one process, divided by two (issue 12: within 1.5×),
and Dask's overhead per task.

Run:  .venv/bin/python benchmarks/sweep.py [--points-per-axis 10] [--seeds 10] [--n 128]

The quantity is the cheapest of the registry, ``spectral_radius`` of the Chung GRU at n = 128
(build the point's parameters, one 128×128 Jacobian, its eigenvalues: about 10 ms), over a
10 × 10 grid of (gain_W_h, b_r) × 10 seeds = 1,000 points.  Everything runs with one thread
per thread pool (the workers' limit, applied here too), so the comparison is core for core.

* one process: every point evaluated in a loop (kernels compiled beforehand), time t₁ — the
  smaller of a run before and a run after the cluster's (the machine's load drifts);
* sweep: ``verify.sweep`` with its defaults on a running LocalCluster (2 spawned workers × 1
  thread, its start-up reported separately; every worker evaluates a point first, so that its
  kernels are compiled before any timed run — a warm-up sweep alone may leave a worker idle,
  and that worker then compiles inside the first timed run — and a warm-up sweep loads the
  sweep's own modules),
  chunks of the ten seeds of a grid point, tasks of about 0.25 s, time t₂; the ratio
  t₂ / (t₁ / 2) is the one issue 12 bounds by 1.5;
* the same sweep with ``seeds_per_chunk=1`` (every point its own chunk, written on its own:
  the layout before chunks of many points), time t₂';
* per task: the same 1,000 points sent as 1,000 one-point tasks of one-point chunks, time t₃:
  (CPU of t₃ − CPU of t₂') / 1,000 is Dask's overhead per task.

Wall times on a shared machine depend on what else runs, so each run also reports the CPU
seconds it cost (workers + this process, which holds the client and the scheduler) against the
one-process loop's.  An idle cluster burns CPU too (heartbeats, event loops: measured over 5 s
of sleep, about 0.08 CPU-s per second here), which grows with the wall time a loaded machine
stretches; the last column subtracts it, leaving the overhead of the work itself (scheduling,
messages, the zarr writes) per point, whatever the load.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from gatejac.verify._sweep import Job, run_batch, sweep
from gatejac.verify._sweep_cluster import connect, limit_threads
from gatejac.verify._sweep_points import Point
from gatejac.verify._sweep_quantities import QUANTITIES
from gatejac.verify._sweep_store import coordinates, prepare

QUANTITY = "spectral_radius"


def one_process(grid: dict, seeds: int, settings: dict) -> tuple[float, float]:
    """Wall and CPU seconds of every point evaluated in a loop here."""
    quantity = QUANTITIES[QUANTITY]
    quantity(Point({**settings, **{k: v[0] for k, v in grid.items()}}, 0))  # compile the kernels
    start, cpu = time.perf_counter(), time.process_time()
    for values in itertools.product(*grid.values()):
        for seed in range(seeds):
            quantity(Point({**settings, **dict(zip(grid, values))}, seed))
    return time.perf_counter() - start, time.process_time() - cpu


def _warm_up(settings: dict) -> None:
    """One point evaluated in this worker (its kernels compiled)."""
    limit_threads(1)
    QUANTITIES[QUANTITY](Point({**settings, "gain_W_h": 1.0, "b_r": 0.0}, 0))


def _worker_cpu() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def timed(client, run) -> tuple[float, float]:
    """Wall seconds of ``run()`` and the CPU seconds it took in the workers and in this process
    (the client and the scheduler): what the machine spent, whatever else loads it."""
    before, cpu, start = sum(client.run(_worker_cpu).values()), time.process_time(), time.perf_counter()
    run()
    wall = time.perf_counter() - start
    return wall, sum(client.run(_worker_cpu).values()) - before + time.process_time() - cpu


def one_point_tasks(client, grid: dict, seeds: int, settings: dict, out: Path) -> float:
    """Every point as its own task (run_batch on one one-point chunk), all submitted at once."""
    from dask.distributed import wait

    coords = coordinates(grid, tuple(range(seeds)))
    chunk = (1,) * len(coords)
    prepare(out, QUANTITY, "modulus", settings, coords, chunk)
    job = Job(QUANTITY, settings, coords, str(out), QUANTITY, chunk)
    start = time.perf_counter()
    futures = [client.submit(run_batch, job, [index], 1, pure=False)
               for index in itertools.product(*(range(len(v)) for v in coords.values()))]
    wait(futures)
    seconds = time.perf_counter() - start
    assert all(f.status == "finished" for f in futures)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-axis", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n", type=int, default=128)
    args = parser.parse_args()
    axis = args.points_per_axis
    grid = {"gain_W_h": [float(v) for v in np.linspace(0.5, 2.5, axis)],
            "b_r": [float(v) for v in np.linspace(-2, 2, axis)]}
    settings = {"cell": "gru_chung", "n": args.n}
    points = axis * axis * args.seeds
    limit_threads(1)
    single, single_cpu = one_process(grid, args.seeds, settings)
    start = time.perf_counter()
    client, cluster, threads = connect(None, 2, 1)
    started = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="gatejac-sweep-bench-") as scratch:
        client.run(_warm_up, settings)
        sweep(QUANTITY, {"b_r": [0.0, 1.0]}, 2, settings=settings, out=Path(scratch) / "warm.zarr",
              scheduler=cluster.scheduler_address, progress=False)  # each worker compiles its kernels
        idle_wall, idle_cpu = timed(client, lambda: time.sleep(5))
        idle = idle_cpu / idle_wall
        results = {}
        for label, block in (("sweep (defaults: chunks of many points, tasks of ~0.25 s)", None),
                             ("sweep, seeds_per_chunk=1 (a chunk per point)", 1)):
            out = Path(scratch) / f"sweep-{block}.zarr"
            results[label] = timed(client, lambda: sweep(QUANTITY, grid, args.seeds, settings=settings, out=out,
                                                         scheduler=cluster.scheduler_address, seeds_per_chunk=block,
                                                         progress=False))
            assert bool(xr.open_zarr(out, consolidated=False)["done"].all())
        results["one task per point"] = timed(client, lambda: one_point_tasks(client, grid, args.seeds, settings,
                                                                              Path(scratch) / "tasks.zarr"))
    client.close()
    cluster.close()
    again, again_cpu = one_process(grid, args.seeds, settings)
    single, single_cpu = min(single, again), min(single_cpu, again_cpu)
    ideal = single / 2
    print(f"{points} points of {QUANTITY} (gru_chung, n = {args.n}); 2 workers × 1 thread (cluster start-up "
          f"{started:.1f} s, not counted)\n")
    print(f"idle cluster: {idle:.3f} CPU-s per wall second\n")
    print("| run | wall (s) | wall / (one process / 2) | CPU (s) | CPU / one process's | CPU overhead per point (ms) "
          "| the same net of idle (ms) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| one process | {single:.2f} | | {single_cpu:.2f} | | | |")
    for label, (wall, cpu) in results.items():
        print(f"| {label} | {wall:.2f} | {wall / ideal:.2f}× | {cpu:.2f} | {cpu / single_cpu:.2f}× "
              f"| {1e3 * (cpu - single_cpu) / points:.1f} | {1e3 * (cpu - idle * wall - single_cpu) / points:.1f} |")
    (tasks_wall, tasks_cpu), (batched_wall, batched_cpu) = (results["one task per point"],
                                                            results["sweep, seeds_per_chunk=1 (a chunk per point)"])
    per_task = tasks_cpu - idle * tasks_wall - (batched_cpu - idle * batched_wall)
    print(f"\nDask's overhead per task (CPU net of idle, one-point tasks against batched ones, same chunks): "
          f"{1e3 * per_task / points:.1f} ms")


if __name__ == "__main__":
    main()
