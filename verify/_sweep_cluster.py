"""The Dask cluster a sweep runs on, and the thread limits inside its workers.

By default a ``dask.distributed.LocalCluster`` of ``workers`` worker *processes* with
``threads_per_worker`` threads each; with ``scheduler`` an existing cluster's address
(``tcp://host:8786``, e.g. one started on SLURM with dask-jobqueue: docs/sweeps.md).

Worker processes are **spawned**, never forked: numba's OpenMP threading layer (the fused
Jacobian kernels use it) is not fork-safe, and a child forked after a kernel ran could hang.
Dask spawns by default (``distributed.worker.multiprocessing-method = spawn``); the local
cluster sets it explicitly, so a user configuration cannot turn it into fork.

The workers' statistical profiler (a thread sampling every stack every 10 ms, for Dask's
dashboard, which the local cluster does not start) is switched off, and the periodic callbacks
every process of the cluster runs (the scheduler and the nannies live in this process) wake less
often: the event-loop tick from every 20 ms to every second, the memory monitor from every 100 ms
to every second, the system monitor (dashboard statistics) from every 0.5 s to every 5 s
(:data:`QUIET`).  Each wake-up takes the GIL from the computing thread; together they made an
idle two-worker cluster burn about 0.08 CPU-seconds per second, about 0.013 with these settings
(benchmarks/sweep.py), CPU that a sweep on two cores takes from its points.

Memory: Dask's nannies start their workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand freed
memory back to the system).  Setting it switches off glibc's dynamic mmap threshold, so every
array of 128 KiB or more (a 128×128 Jacobian) is mapped and unmapped afresh: measured on the
1,000-point benchmark, about 500 page faults per point and every point about 20 % slower in a
worker than in a plain process.  The local cluster leaves the variable out (:func:`_environment`),
so its workers allocate as this process does; memory of a sweep is small (one point at a time).

Threads: every worker runs ``threads_per_worker`` tasks at once, and each task must not start a
thread pool of its own per core, or two workers on two cores run 2 × 2 × (BLAS + torch + numba)
threads.  The local cluster starts its workers with OMP_NUM_THREADS, MKL_NUM_THREADS,
OPENBLAS_NUM_THREADS and NUMBA_NUM_THREADS = ``threads_per_worker`` (read by each library when
it loads), and :func:`limit_threads`, called by every task, also limits the libraries already
loaded — BLAS and OpenMP pools through threadpoolctl, torch through ``torch.set_num_threads`` —
so the limit holds on clusters whose workers gatejac did not start.
"""

from __future__ import annotations

import copy
import logging
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")

QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
         "distributed.worker.memory.monitor-interval": "1s", "distributed.admin.system-monitor.interval": "5s"}
"""The local cluster's Dask settings beyond its defaults (module docstring)."""

_LIMITS: dict = {}


class SharedCluster:
    """One local cluster for several sweeps (a reproduction's grids): pass it as a sweep's
    ``scheduler``; the first sweep with points to compute starts it, the others reuse it, and
    leaving the ``with`` block closes it (a run whose points are all stored starts none)."""

    def __init__(self, workers: int = 2, threads_per_worker: int = 1):
        self.workers, self.threads_per_worker = workers, threads_per_worker
        self.cluster = None

    @property
    def address(self) -> str:
        if self.cluster is None:
            self.cluster = _local_cluster(self.workers, self.threads_per_worker)
        return self.cluster.scheduler_address

    def __enter__(self) -> SharedCluster:
        return self

    def __exit__(self, *exc) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _environment() -> dict:
    """The environment Dask's nannies set before they spawn a worker, without
    ``MALLOC_TRIM_THRESHOLD_`` (module docstring)."""
    import importlib

    import dask

    importlib.import_module("distributed")  # loads the defaults of the distributed.* settings
    return {name: value for name, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()
            if name != "MALLOC_TRIM_THRESHOLD_"}


def _local_cluster(workers: int, threads_per_worker: int):
    """A LocalCluster of ``workers`` spawned processes, thread pools limited (module docstring)."""
    import dask
    from dask.distributed import LocalCluster

    environment = {name: str(threads_per_worker) for name in THREAD_VARIABLES}
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn", **QUIET,
                          "distributed.nanny.pre-spawn-environ": _environment()}):
        # a deep copy: a nanny keeps the configuration it starts workers with, and a shallow one
        # would share the nested settings that leaving this block restores (a worker restarted
        # after a crash would then run the profiler)
        configuration = copy.deepcopy(dask.config.config)
        return LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                            dashboard_address=None, env=environment, silence_logs=logging.ERROR,
                            config=configuration)


def connect(scheduler, workers: int, threads_per_worker: int):
    """``(client, cluster, threads)``: a client of the cluster at ``scheduler`` (an address or
    a :class:`SharedCluster`), or of a new local cluster (``cluster`` is then the LocalCluster
    to close, else None); ``threads`` is the number of tasks the cluster runs at once."""
    from dask.distributed import Client

    if isinstance(scheduler, SharedCluster):
        scheduler = scheduler.address
    cluster = _local_cluster(workers, threads_per_worker) if scheduler is None else None
    try:
        client = Client(scheduler if cluster is None else cluster)
        if cluster is None:
            client.wait_for_workers(1, timeout=60)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    threads = sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values())
    return client, cluster, max(threads, 1)


def limit_threads(count: int) -> None:
    """At most ``count`` threads for each thread pool of this process: environment variables
    for libraries not loaded yet (numba's only if numba is not loaded: it refuses a change
    after its threads started), threadpoolctl for the loaded BLAS / OpenMP pools (once),
    torch's intra-op threads whenever torch has been loaded."""
    if _LIMITS.get("count") != count:
        for name in THREAD_VARIABLES:
            if name != "NUMBA_NUM_THREADS" or "numba" not in sys.modules:
                os.environ[name] = str(count)
        from threadpoolctl import threadpool_limits

        _LIMITS.update(count=count, pools=threadpool_limits(limits=count))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)
