"""gatejac leaves every global setting as the user set it.

Each check runs in a fresh Python process, because the settings at stake are set once per
process: the first launch of numba's threading layer (which the fused block-row writer of the
dense Jacobians starts) reset the thread count of the OpenMP runtime torch runs on, so
``torch.set_num_threads(1)`` followed by a torch-backend dense Jacobian left
``torch.get_num_threads()`` at 2.  The same process also checks the limits of every thread pool
threadpoolctl sees (BLAS, OpenMP), NumPy's floating-point error state, torch's default dtype
and grad mode, before and after dense Jacobians of both back-ends, a trajectory spectrum and
vjp / jvp actions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch
    from threadpoolctl import ThreadpoolController, threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")  # what a user sets to keep BLAS serial

    def settings():
        pools = sorted((p.filepath, p.num_threads) for p in ThreadpoolController().lib_controllers)
        return {"torch_threads": torch.get_num_threads(), "pools": pools, "errstate": np.geterr(),
                "default_dtype": str(torch.get_default_dtype()), "grad": torch.is_grad_enabled()}

    from gatejac import numeric
    from gatejac.symbolic import cells

    before = settings()
    cell = cells.get("gru_torch")
    sizes = {"n": 128, "m": 3}  # a (32, 128, 128) float64 output: the fused writer's size
    for backend in ("torch", "numpy"):
        compiled = numeric.compile(cell, backend)
        values = numeric.random_values(cell, sizes, batch=(32,), backend=backend)
        compiled.state_jacobian(*values)
        compiled.gate_split(*values)
        compiled.vjp(*values, cotangents={"h": values[0]["h"]})
    small = numeric.random_values(cell, {"n": 3, "m": 2}, batch=(2,))
    trajectory = numeric.rollout(numeric.compile(cell), small[0], {"x": np.stack([small[1]["x"]] * 4)}, small[2])
    trajectory.lyapunov()
    trajectory.log_singular_values(4, 0, 1)
    after = settings()
    json.dump({"before": before, "after": after}, sys.stdout)
""")


def _run(script: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "NUMBA_NUM_THREADS"))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="numba starts one thread on one core, so nothing is reset")
def test_dense_jacobians_and_trajectories_leave_thread_and_numeric_settings_as_set():
    seen = _run(_SCRIPT)
    before, after = seen["before"], seen["after"]
    assert before["torch_threads"] == 1
    assert after["torch_threads"] == 1, "a dense Jacobian changed torch's thread count"
    after_pools = dict(map(tuple, after["pools"]))
    for path, threads in before["pools"]:
        assert after_pools[path] == threads, f"the thread limit of {path} went from {threads} to {after_pools[path]}"
    assert after["errstate"] == before["errstate"]
    assert (after["default_dtype"], after["grad"]) == (before["default_dtype"], before["grad"])
