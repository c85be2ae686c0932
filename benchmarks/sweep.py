"""Benchmark: the throughput of a sweep on a local Dask cluster of two worker processes
against the same points evaluated in one process, divided by two (issue 12: within 1.5×),
and Dask's overhead per task.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep.py [--points-per-axis 10] [--seeds 10] [--n 128]
(about a minute on a quiet 2-core machine)

The quantity is the cheapest of the registry, ``spectral_radius`` of the Chung GRU at n = 128
(build the point's parameters, one 128×128 Jacobian, its eigenvalues: about 6 ms), over a
10 × 10 grid of (gain_W_h, b_r) × 10 seeds = 1,000 points.  Everything runs with one thread
per thread pool (the workers' limit, applied here too), so the comparison is core for core.

What is measured (wall and CPU seconds; CPU = this process, which holds the client, the
scheduler and the nannies, plus the worker processes):

* one process: every point evaluated in a loop (kernels compiled beforehand), time t₁ — the
  smaller of a run before and a run after the cluster's (the machine's load drifts);
* two plain processes: the same points split between two spawned processes that run at once,
  a loop each, no Dask and no store — how far two cores are from twice one (memory, caches,
  the host), the floor of any two-worker sweep; the sweep's ratio against it is what Dask and
  the store add;
* sweep on a running cluster — **the throughput the issue bounds**: the whole
  ``verify.sweep(...)`` call with its defaults (store creation, the client's connection,
  scheduling, every chunk written, the dataset opened at the end) on a LocalCluster of 2
  spawned workers × 1 thread that is already up, its kernels compiled (every worker evaluates
  a point first, and a warm-up sweep loads the sweep's own modules); time t₂, ratio
  t₂ / (t₁ / 2).  Its CPU is split into the workers' task threads (the points, their storage
  and bookkeeping), the workers' other threads (event loop, zarr's I/O thread) and this
  process;
* the same sweep as ``gatejac sweep`` runs it: ``verify.sweep`` with no scheduler, so the
  call starts its own cluster (spawning two interpreters that import gatejac, and compiling
  the kernels in each) and closes it — what a user pays for one sweep, start-up included;
* the sweep with ``seeds_per_chunk=1`` (a chunk per point, written on its own), time t₂';
* per task: the same points sent as one-point tasks of one-point chunks, time t₃:
  (CPU of t₃ − CPU of t₂') / points is Dask's overhead per task.

An idle cluster burns CPU too (event-loop ticks, heartbeats, monitors; measured over 5 s of
sleep), which grows with the wall time a loaded machine stretches; the last column subtracts
it, leaving the overhead of the work itself per point, whatever the load.  On a loaded machine
only the CPU columns mean anything; the wall ratios need a quiet one.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import xarray as xr

from gatejac.verify._sweep import Job, run_batch, sweep
from gatejac.verify._sweep_cluster import connect, limit_threads
from gatejac.verify._sweep_points import Point
from gatejac.verify._sweep_quantities import QUANTITIES
from gatejac.verify._sweep_store import coordinates, prepare

QUANTITY = "spectral_radius"


def one_process(grid: dict, seeds: int, settings: dict, part: int = 0, parts: int = 1, barrier=None):
    """Wall and CPU seconds of every ``parts``-th point from the ``part``-th evaluated in a
    loop here (after ``barrier``, when given, lets every part start together)."""
    limit_threads(1)
    quantity = QUANTITIES[QUANTITY]
    quantity(Point({**settings, **{k: v[0] for k, v in grid.items()}}, 0))  # compile the kernels
    every = [(dict(zip(grid, values)), seed) for values in itertools.product(*grid.values()) for seed in range(seeds)]
    if barrier is not None:
        barrier.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for values, seed in every[part::parts]:
        quantity(Point({**settings, **values}, seed))
    return time.perf_counter() - start, time.process_time() - cpu


def _half(arguments: tuple, barrier, results) -> None:
    results.put(one_process(*arguments, barrier))


def two_processes(grid: dict, seeds: int, settings: dict) -> tuple[float, float]:
    """Wall and CPU seconds of the points split between two plain spawned processes that run
    at once (no Dask, no store): the two cores' own scaling, the floor of any two-worker sweep."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_half, args=((grid, seeds, settings, part, 2), barrier, results))
                 for part in range(2)]
    for process in processes:
        process.start()
    halves = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return max(wall for wall, _ in halves), sum(cpu for _, cpu in halves)


def _warm_up(settings: dict) -> None:
    """One point evaluated in this worker (its kernels compiled)."""
    limit_threads(1)
    QUANTITIES[QUANTITY](Point({**settings, "gain_W_h": 1.0, "b_r": 0.0}, 0))


def _thread_cpu() -> dict:
    """CPU seconds of this worker's threads: ``{"tasks": …, "other": …}`` (Dask's task threads
    are named ``…-Dask-Default-Threads-…``)."""
    import threading

    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    split = {"tasks": 0.0, "other": 0.0}
    for thread in psutil.Process().threads():
        kind = "tasks" if "Dask-Default-Threads" in names.get(thread.id, "") else "other"
        split[kind] += thread.user_time + thread.system_time
    return split


def timed(client, run) -> tuple[float, float, dict]:
    """Wall seconds of ``run()``, the CPU seconds it took in this process and the workers, and
    that CPU split into the workers' task threads, their other threads and this process."""
    before, start = client.run(_thread_cpu), time.perf_counter()
    cpu = time.process_time()
    run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = client.run(_thread_cpu)
    split = {kind: sum(after[w][kind] - before[w][kind] for w in after if w in before) for kind in ("tasks", "other")}
    split["this process"] = cpu
    return wall, sum(split.values()), split


def started_and_closed(run) -> tuple[float, float]:
    """Wall and CPU seconds of ``run()`` where run starts and closes its own cluster: this
    process's CPU plus that of its children once they have exited."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, cpu + after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime


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


def _load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    load_before = _load()
    limit_threads(1)
    single, single_cpu = one_process(grid, args.seeds, settings)
    plain = two_processes(grid, args.seeds, settings)
    with tempfile.TemporaryDirectory(prefix="gatejac-sweep-bench-") as scratch:
        cold = started_and_closed(lambda: sweep(QUANTITY, grid, args.seeds, settings=settings,
                                                out=Path(scratch) / "cold.zarr", progress=False))
        start = time.perf_counter()
        client, cluster, threads = connect(None, 2, 1)
        started = time.perf_counter() - start
        client.run(_warm_up, settings)
        sweep(QUANTITY, {"b_r": [0.0, 1.0]}, 2, settings=settings, out=Path(scratch) / "warm.zarr",
              scheduler=cluster.scheduler_address, progress=False)  # each worker compiles its kernels
        idle_wall, idle_cpu, _ = timed(client, lambda: time.sleep(5))
        idle = idle_cpu / idle_wall
        results, splits = {}, {}
        for label, block in (("sweep on a running cluster (defaults)", None),
                             ("the same, seeds_per_chunk=1 (a chunk per point)", 1)):
            out = Path(scratch) / f"sweep-{block}.zarr"
            *results[label], splits[label] = timed(client, lambda: sweep(
                QUANTITY, grid, args.seeds, settings=settings, out=out, scheduler=cluster.scheduler_address,
                seeds_per_chunk=block, progress=False))
            assert bool(xr.open_zarr(out, consolidated=False)["done"].all())
        *results["one task per point"], _ = timed(client, lambda: one_point_tasks(
            client, grid, args.seeds, settings, Path(scratch) / "tasks.zarr"))
        client.close()
        cluster.close()
    again, again_cpu = one_process(grid, args.seeds, settings)
    single, single_cpu = min(single, again), min(single_cpu, again_cpu)
    ideal = single / 2
    print(f"{points} points of {QUANTITY} (gru_chung, n = {args.n}); 2 workers × 1 thread; "
          f"load average before {load_before}, after {_load()}\n")
    print(f"cluster start-up (connect, 2 spawned workers): {started:.2f} s wall; "
          f"idle cluster: {idle:.3f} CPU-s per wall second\n")
    print("| run | wall (s) | wall / (one process / 2) | CPU (s) | CPU / one process's | CPU overhead per point (ms) "
          "| the same net of idle (ms) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| one process | {single:.2f} | | {single_cpu:.2f} | | | |")
    rows = {"two plain processes at once, half the points each (no Dask, no store)": plain, **results,
            "gatejac sweep: the call starts and closes its own cluster": cold}
    for label, (wall, cpu) in rows.items():
        net = "" if label.startswith(("gatejac", "two")) else f"{1e3 * (cpu - idle * wall - single_cpu) / points:.1f}"
        print(f"| {label} | {wall:.2f} | {wall / ideal:.2f}× | {cpu:.2f} | {cpu / single_cpu:.2f}× "
              f"| {1e3 * (cpu - single_cpu) / points:.1f} | {net} |")
    label = "sweep on a running cluster (defaults)"
    split = splits[label]
    print(f"\n{label}, CPU by place: workers' task threads {split['tasks']:.2f} s "
          f"({1e3 * (split['tasks'] - single_cpu) / points:+.2f} ms per point against the loop), workers' other "
          f"threads {split['other']:.2f} s, this process (scheduler, nannies, client, store) "
          f"{split['this process']:.2f} s")
    wall, cpu = results[label]
    print(f"the sweep against the two plain processes: wall {wall / plain[0]:.2f}×, CPU {cpu / plain[1]:.2f}× "
          f"(what Dask and the store add; the rest of the ratio is the two cores' own scaling)")
    (tasks_wall, tasks_cpu), (batched_wall, batched_cpu) = (results["one task per point"],
                                                            results["the same, seeds_per_chunk=1 (a chunk per point)"])
    per_task = tasks_cpu - idle * tasks_wall - (batched_cpu - idle * batched_wall)
    print(f"Dask's overhead per task (CPU net of idle, one-point tasks against batched ones, same chunks): "
          f"{1e3 * per_task / points:.1f} ms")


if __name__ == "__main__":
    main()
