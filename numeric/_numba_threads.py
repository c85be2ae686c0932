"""Starting numba's threads once, with libgomp's spin cut short and every other thread setting kept.

The dense writer (``_fused``) and its loader (``_fused_loading``) and the Lyapunov tiles
(``_tangent_formed``) start numba's threading layer through :func:`thread_count`, so it happens
once and in one way:

* libgomp's threads keep spinning after a parallel region (``GOMP_SPINCOUNT``, by default
  300 000 iterations, 7.5 ms of CPU here), which left no core to the two-thread products of the
  next kernel call (``_parallel_products``; ``_blockrow``'s docstring has the measurements).  The
  first start sets :data:`SPIN_COUNT` for the threads it creates, unless the user chose a policy;
* numba's OpenMP layer resets the thread count of the OpenMP runtime torch runs on, and may
  change the limits of the BLAS pools threadpoolctl sees: the first start notes them and puts
  back whatever changed.

``import gatejac.numeric`` does not import this module (it imports numba):
``_blockrow.numba_threads_started`` asks whether it has started without importing it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numba

SPIN_COUNT = 10_000
"""libgomp's ``GOMP_SPINCOUNT`` for numba's threads: 3 000 and 10 000 gave the same times, the
default 300 000 left the split products no core."""

_LAUNCH = threading.Lock()
_launched = False


def thread_count() -> int:
    """numba's thread count; the first call starts numba's threading layer (module docstring)."""
    global _launched
    with _LAUNCH:
        if not _launched:
            with _thread_settings_kept(), short_spin():
                numba.get_num_threads()
            _launched = True
    return numba.get_num_threads()


def threads_started() -> bool:
    """Whether :func:`thread_count` has started numba's threads in this process."""
    return _launched


@contextlib.contextmanager
def short_spin():
    """``GOMP_SPINCOUNT`` = :data:`SPIN_COUNT` in the environment for the block (libgomp reads it
    when numba's threads start), unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set (then
    nothing changes); removed afterwards, so OpenMP libraries loaded later keep their defaults."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        yield
        return
    os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    try:
        yield
    finally:
        os.environ.pop("GOMP_SPINCOUNT", None)


@contextlib.contextmanager
def _thread_settings_kept():
    """Restore torch's thread count (if torch is loaded) and the limits of every thread pool
    loaded before the block, where the block changed them."""
    from threadpoolctl import ThreadpoolController

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    before = {pool.filepath: pool.num_threads for pool in ThreadpoolController().lib_controllers}
    yield
    for pool in ThreadpoolController().lib_controllers:
        if before.get(pool.filepath, pool.num_threads) != pool.num_threads:
            pool.set_num_threads(before[pool.filepath])
    if torch_threads is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
