"""Which writer a fused-size block row takes while numba starts: the first dense Jacobian of a
process does not wait for numba.

numba's start-up costs about 0.5 CPU-seconds even when the fused kernel's machine code is cached
(``benchmarks/cold_start.py``): importing numba, then its typing and lowering registries (which
import ``scipy.linalg``), then the cached code.  So the first fused-size block row of a process
(``_blockrow.write_fused``: 64 KiB or more), when nothing has imported ``_fused`` yet, asks
``loader.ready(dtype, parallel)``, which starts one background thread that imports ``_fused`` and
loads the kernel that block row needs (serial or parallel, for its dtype), and answers ``False``:
the block row is written by ``_fused_numpy`` instead, whose result is the same, bit for bit.  The
rule:

* every block row written before the loader has finished takes ``_fused_numpy``; a kernel first
  needed meanwhile is added to the loader's list;
* once it has finished, every block row takes the numba kernel; a kernel not loaded yet is loaded
  on the calling thread, as it always was;
* loading the parallel kernel starts numba's threads (``_numba_threads.thread_count``, which
  shortens libgomp's spin and keeps
  torch's and the thread pools' settings); started from the loader's thread, the OpenMP settings
  it changes are that thread's own (``tests/test_side_effects.py`` checks that torch's thread
  count and the pools' limits seen by the user stay as set);
* a process that imported ``_fused`` before its first dense write (e.g. a test of the kernel)
  never starts the loader: the numba kernel from the first call;
* the loader is not a daemon: a process that ends while it runs waits for it (on a warm cache a
  fraction of a second), so the machine code it compiled on a cold cache is stored, and numba's
  compiler is never cut off inside LLVM at exit;
* if the loader fails (e.g. numba cannot be imported), it stops and the next block row takes the
  numba kernel on the calling thread, which raises the error there;
* a process forked while the loader runs starts its own loader in the child (forking while
  another thread imports can leave the child waiting on an import lock: as with numba's threads,
  fork worker processes before the first dense Jacobian, or use the spawn start method).

Measured (``benchmarks/cold_start.py --warm-runs 5``, GRU, n = B = 256, warm cache, load 1.35 on
2 cores): import → first Jacobian 0.59 s of wall time, against 1.00 s when numba starts on the
calling thread; numba is ready about 1.0 s after the import began.  The NumPy route costs more per
block row than the kernel (five array passes instead of one: 0.07 against 0.026 CPU-seconds for
the GRU's, one thread), so calls made while the loader runs are slower than later ones; the
process as a whole took the same wall time and about 0.25 CPU-seconds more.  On a machine whose
cache is cold the first Jacobian still came after 0.69 s, while the loader compiled the kernels
(about 9 CPU-seconds each; the parallel kernel 16 since it streams, see ``_fused``) and the
process waited for it at exit.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading

FUSED_MODULE = __package__ + "._fused"


class _Loader:
    """The background start of numba and the fused kernel (one per process)."""

    def __init__(self):
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._thread = None
        self._pending: list = []  # (dtype, parallel) kernels the loader still has to load
        self.finished = False
        self.numpy_block_rows = 0
        """Block rows this process wrote with ``_fused_numpy`` while the loader ran."""

    def ready(self, dtype, parallel: bool) -> bool:
        """Whether a block row of ``dtype`` takes the numba kernel now (see the module docstring);
        when it does not, starts the loader, or adds the kernel (``parallel`` or serial) to its list."""
        if self.finished:  # the steady state: no lock
            return True
        with self._lock:
            if self.finished:
                return True
            if self._thread is None:
                if FUSED_MODULE in sys.modules:
                    self.finished = True
                    return True
                self._thread = threading.Thread(target=self._load, name="gatejac-numba-loader")
                self._pending.append((dtype, parallel))
                self._thread.start()
            elif (dtype, parallel) not in self._pending:
                self._pending.append((dtype, parallel))
            self.numpy_block_rows += 1
            return False

    def restart_in_child(self) -> None:
        """After ``fork``: a child forked while the loader ran has no loader thread, so it starts
        its own on its first fused-size block row (instead of writing with NumPy for ever)."""
        if not self.finished:
            self._reset()

    def wait(self) -> None:
        """Until the loader has finished (at once if it never started)."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def _load(self) -> None:
        try:
            fused = importlib.import_module(FUSED_MODULE)
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    dtype, parallel = self._pending[0]
                _load_kernel(fused, dtype, parallel)
                with self._lock:
                    self._pending.pop(0)
        except Exception:  # noqa: BLE001 - the calling thread meets the same error on its next block row
            return
        finally:
            with self._lock:
                self._pending.clear()
                self.finished = True


def _load_kernel(fused, dtype, parallel: bool) -> None:
    """Load ``fused``'s parallel kernel, or its two serial ones, for C-contiguous arrays of
    ``dtype`` (compile them on a cold cache) without running them, and with them numba's
    registries: the argument types of ``_fused.write_block_row``'s calls, from a one-row block row
    packed as it packs one."""
    import numba
    import numpy as np

    from . import _numba_threads

    out = np.zeros((fused.SAMPLE_GROUP, 1, 1), dtype)
    packed = fused._pack(out, slice(0, 1), [fused.Segment(slice(0, 1), [np.ones(1, dtype)], [np.ones((1, 1), dtype)], [])])
    arguments = tuple(numba.typeof(a) for a in (out, 0, *packed, 1, fused.SAMPLE_GROUP))
    if parallel:  # its last argument: whether it streams (``_fused.write_block_row``)
        _numba_threads.thread_count()  # starts numba's threads, libgomp's spin cut short (see _blockrow)
        fused._write_rows.compile(arguments + (numba.typeof(True),))
    else:  # both serial kernels: the narrow one takes the same arguments but the last two
        fused._write_rows_serial.compile(arguments)
        fused._write_narrow.compile(arguments[:-2])


loader = _Loader()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=loader.restart_in_child)
