"""numba's threads started with libgomp's spin cut short (``numeric/_numba_threads.py:
thread_count``), so that the next kernel call's split products find the second core free; and
the one serial-BLAS scope (``numeric/_blockrow.py: serial_blas``) that the dense kernels, the
Lyapunov sweep and the numba rollout share.

Each spin case runs in a fresh interpreter (libgomp reads its environment once, when numba's threads
start): a parallel fused write, then the CPU time the process burns while its main thread sleeps
(libgomp's idle worker spinning).  The default spin (``GOMP_SPINCOUNT`` = 300 000, which a user
may set) is the check's positive control: it must burn several times as much.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

_PROBE = r"""
import json, os, time
from gatejac import numeric
from gatejac.numeric import _blockrow
from gatejac.symbolic import cells
cell = cells.get("gru_torch")
compiled = numeric.compile(cell, "numpy")
values = numeric.random_values(cell, {"n": 128, "m": 8}, batch=(64,), seed=0)
out = compiled.state_jacobian(*values)  # an 8 MiB block row: numba's threads
from gatejac.numeric import _fused_loading
_fused_loading.loader.wait()
spins = []
for _ in range(4):
    compiled.state_jacobian(*values, out=out)
    start = time.process_time()
    time.sleep(0.1)
    spins.append(time.process_time() - start)
print(json.dumps({"spin_ms": 1e3 * min(spins[1:]), "started": _blockrow.numba_threads_started(),
                  "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}))
"""


def _probe(**env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", _PROBE], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def default_spin() -> dict:
    return _probe(GOMP_SPINCOUNT="300000")


def test_numba_threads_spin_briefly_after_a_parallel_write(default_spin):
    ours = _probe()
    assert ours["started"] and ours["GOMP_SPINCOUNT"] is None  # the variable was removed again
    assert default_spin["spin_ms"] > 3 * max(ours["spin_ms"], 0.3), (ours, default_spin)


def test_a_wait_policy_the_user_set_is_left_alone(default_spin, monkeypatch):
    """The user's GOMP_SPINCOUNT (the control above) stays as set, and so does libgomp's spin;
    with OMP_WAIT_POLICY set, numba's threads start without gatejac's GOMP_SPINCOUNT, which they
    start with otherwise."""
    from gatejac.numeric import _numba_threads

    assert default_spin["GOMP_SPINCOUNT"] == "300000"
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with _numba_threads.short_spin():
        assert os.environ["GOMP_SPINCOUNT"] == str(_numba_threads.SPIN_COUNT)
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    with _numba_threads.short_spin():
        assert "GOMP_SPINCOUNT" not in os.environ
    assert os.environ["OMP_WAIT_POLICY"] == "passive"


# ------------------------------------------------------------ the one serial-BLAS scope
def _blas_threads() -> set:
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_the_serial_blas_scope_holds_blas_at_one_thread_until_the_last_entrant_leaves():
    """Entered twice (as by a sweep and a rollout inside it, or by two threads: the scope counts
    entrants, not threads): BLAS at one thread until the last leaves, the user's limit (2) back
    then; every entrant reads the limit the user allowed, not the scope's own 1.  A scope that
    restored on every exit is caught.  (The main thread enters here: OpenBLAS 0.3.31 ignored
    limits set from another thread once the main thread had set one.)"""
    from threadpoolctl import threadpool_limits

    from gatejac.numeric._blockrow import _SerialBlas

    def run(scope):
        seen = []
        with threadpool_limits(2, user_api="blas"):
            with scope:
                with scope:
                    seen.append((scope.threads, _blas_threads()))
                seen.append((scope.threads, _blas_threads()))
            seen.append((scope.threads, _blas_threads()))
        return seen

    assert _blas_threads(), "threadpoolctl sees no BLAS library, so this test would check nothing"
    assert run(_SerialBlas()) == [(2, {1}), (2, {1}), (None, {2})]

    class RestoresOnEveryExit(_SerialBlas):
        def __exit__(self, *exc_info):
            with self._lock:
                self._inside -= 1
                self._limits[-1].restore_original_limits()

    assert run(RestoresOnEveryExit())[1] == (2, {2})  # the check above would fail


def test_the_scope_makes_its_view_of_the_blas_libraries_once_and_again_for_scipys(monkeypatch):
    """threadpoolctl's view is made on the first entry, kept after an unrelated import, made
    again once SciPy's BLAS (the one numba's np.dot calls; a stand-in module name here) has been
    imported, and then kept."""
    from gatejac.numeric._blockrow import _SerialBlas

    scope = _SerialBlas()
    monkeypatch.setattr(scope, "_SCIPY_BLAS", "gatejac_test_scipy_blas")
    with scope:
        first = scope._controller
    monkeypatch.setitem(sys.modules, "gatejac_test_new_module", types.ModuleType("gatejac_test_new_module"))
    with scope:
        assert scope._controller is first
    monkeypatch.setitem(sys.modules, "gatejac_test_scipy_blas", types.ModuleType("gatejac_test_scipy_blas"))
    with scope:
        second = scope._controller
        assert second is not first and _blas_threads() == {1}
    with scope:
        assert scope._controller is second


def test_numba_blas_loads_scipys_blas_before_the_scope_limits_it():
    """In a fresh interpreter (no SciPy yet), ``serial_blas(numba_blas=True)`` imports SciPy's
    BLAS first and holds it, with NumPy's, at one thread; the plain scope does not import it."""
    script = """
import json, sys
from threadpoolctl import threadpool_info
from gatejac.numeric._blockrow import serial_blas
with serial_blas():
    plain = "scipy.linalg.cython_blas" in sys.modules
with serial_blas(numba_blas=True):
    pools = {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
print(json.dumps([plain, pools]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plain, pools = json.loads(done.stdout.strip().splitlines()[-1])
    assert not plain
    assert any("scipy" in path and "numpy" not in path for path in pools), pools
    assert set(pools.values()) == {1}, pools


def test_a_view_made_while_the_scope_is_held_is_limited_and_restored_in_order(monkeypatch):
    """SciPy's BLAS (a stand-in name) appearing while an entrant is inside: the next entrant's
    new view is limited at once, and when the last leaves the limits are undone last one first,
    which leaves the user's 2 (undone first one first, the new view's record of the pools, made
    while they were at 1, would be put back last: caught)."""
    from threadpoolctl import threadpool_limits

    from gatejac.numeric._blockrow import _SerialBlas

    class FirstFirst(_SerialBlas):
        def __exit__(self, *exc_info):
            if self._inside == 1:
                self._limits.reverse()
            super().__exit__(*exc_info)

    def run(scope):
        monkeypatch.setattr(scope, "_SCIPY_BLAS", "gatejac_test_scipy_blas")
        monkeypatch.delitem(sys.modules, "gatejac_test_scipy_blas", raising=False)
        with threadpool_limits(2, user_api="blas"):
            with scope:
                monkeypatch.setitem(sys.modules, "gatejac_test_scipy_blas", types.ModuleType("gatejac_test_scipy_blas"))
                with scope:
                    inside = (len(scope._limits), _blas_threads())
            return inside, _blas_threads()

    assert run(_SerialBlas()) == ((2, {1}), {2})
    assert run(FirstFirst()) == ((2, {1}), {1})
