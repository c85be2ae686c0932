"""numba's threads started with libgomp's spin cut short (``numeric/_numba_threads.py:
thread_count``), so that the next kernel call's split products find the second core free.

Each case runs in a fresh interpreter (libgomp reads its environment once, when numba's threads
start): a parallel fused write, then the CPU time the process burns while its main thread sleeps
(libgomp's idle worker spinning).  The default spin (``GOMP_SPINCOUNT`` = 300 000, which a user
may set) is the check's positive control: it must burn several times as much.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
