"""Benchmark: the per-call cost of the compiled kernels at a small size, where the arithmetic is
cheap and what a call costs besides it (argument checks, broadcasting, dispatch) shows.

Run:  .venv/bin/python benchmarks/per_call.py [--n 16] [--calls 2000] [--repeats 5]

For ``leaky``, ``gru_torch`` and ``lstm_torch`` at n = 16, m = 8, one sample (states ``(n,)``),
float64, one thread per pool, on both back-ends, the median over ``--repeats`` of the mean
process CPU time of ``--calls`` calls, in µs (CPU time: on a shared machine the wall time also
counts the waits for a core), of:

* the checked public calls ``step``, ``jvp`` (a tangent of every state) and ``state_jacobian``;
* the raw generated ``step`` kernel on the same values (``CompiledCell.kernel``): the
  arithmetic and the kernel's own Python, with no checking — ``step − raw step`` is the
  per-call overhead of the checked interface;
* one step of ``numeric.rollout`` (T = ``--calls``) and one step of
  ``lyapunov_spectrum(trajectory, 4, method="action")`` (rollout excluded).

The script only uses names that existed before the checks were cached, so the same file
times an older checkout for a before/after comparison.

With ``--jit`` it compares instead, for B = 256 samples, n in ``--sizes`` (16 64 256), m = n/4,
float64 and float32, the dense ``state_jacobian`` written into ``out=`` by the default NumPy
kernel and by the whole-kernel numba one of ``numeric.compile(cell, jit=True)``: the minimum over
``--repeats`` of the mean single-thread process CPU time of a few calls, the two contenders
alternating in every repeat, and their ratio; then each cell's first jit ``state_jacobian`` in a
fresh interpreter, with an empty disk cache (numba compiles) and again with the cache it left
(numba loads), wall seconds including the imports.  The peers (JAX) are in ``peers.py``.

    .venv/bin/python benchmarks/per_call.py --jit [--sizes 16 64 256] [--cells leaky gru_torch ...]

With ``--out`` it compares, for B = 256, n in ``--sizes``, m = n/4, float64 and float32 and the
routes NumPy, torch and jit (``numeric.compile(cell, jit=True)``), ``state_jacobian`` writing into
``out=`` — an array the same route returned earlier, kept and passed back, as the README tells
users to do — against allocating its output: the minimum over ``--repeats`` of the mean
single-thread process CPU time of a few calls, the two alternating in every repeat, in µs, and
their ratio (below 1: ``out=`` is faster).  The ``out=`` call is checked to return the kept array.

    .venv/bin/python benchmarks/per_call.py --out [--sizes 16 64] [--cells leaky multi_gate ...]
"""

from __future__ import annotations

import argparse
import statistics
import time


def _mean_call(function, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean µs per call of ``function()`` over ``calls`` calls."""
    function()
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            function()
        samples.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(samples)


def _row(numeric, cells, name: str, backend: str, n: int, calls: int, repeats: int) -> dict:
    cell = cells.get(name)
    compiled = numeric.compile(cell, backend)
    states, inputs, params = numeric.random_values(cell, {"n": n, "m": 8}, seed=0, backend=backend)
    values = {**states, **inputs, **params}
    ordered = [values[argument] for argument in compiled.arguments]
    raw = compiled.kernel("step")
    tangents = {s.name: states[s.name] for s in cell.states}
    sequence = numeric.random_values(cell, {"n": n, "m": 8}, batch=(calls,), seed=1, backend=backend)[1]
    times = {
        "step": _mean_call(lambda: compiled.step(states, inputs, params), calls, repeats),
        "raw step": _mean_call(lambda: raw(*ordered), calls, repeats),
        "jvp": _mean_call(lambda: compiled.jvp(states, inputs, params, tangents), calls, repeats),
        "state_jacobian": _mean_call(lambda: compiled.state_jacobian(states, inputs, params), calls, repeats),
    }
    rollouts, spectra = [], []
    for _ in range(repeats):
        start = time.process_time()
        trajectory = numeric.rollout(compiled, states, sequence, params)
        middle = time.process_time()
        numeric.lyapunov_spectrum(trajectory, 4, method="action")
        rollouts.append((middle - start) / calls * 1e6)
        spectra.append((time.process_time() - middle) / calls * 1e6)
    times["rollout step"] = statistics.median(rollouts)
    times["Lyapunov step"] = statistics.median(spectra)
    return times


def _jit_row(numeric, cell, n: int, dtype: str, repeats: int) -> tuple[float, float]:
    """``(default, jit)`` ms of one ``state_jacobian(..., out=)`` call, B = 256 (see the docstring)."""
    values = numeric.random_values(cell, {"n": n, "m": max(1, n // 4)}, batch=(256,), seed=1, dtype=dtype)
    default, jitted = numeric.compile(cell), numeric.compile(cell, jit=True)
    out = default.state_jacobian(*values)
    calls = max(1, int(2e6 // out.size))
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, compiled in enumerate((default, jitted)):
            compiled.state_jacobian(*values, out=out)
            start = time.process_time()
            for _ in range(calls):
                compiled.state_jacobian(*values, out=out)
            best[k] = min(best[k], (time.process_time() - start) / calls * 1e3)
    return best[0], best[1]


def _out_row(numeric, cell, n: int, dtype: str, backend: str, jit: bool, repeats: int) -> tuple[float, float]:
    """``(out=, allocating)`` µs of one ``state_jacobian`` call, B = 256 (see the docstring)."""
    values = numeric.random_values(cell, {"n": n, "m": max(1, n // 4)}, batch=(256,), seed=1, dtype=dtype,
                                   backend=backend)
    compiled = numeric.compile(cell, backend, jit=jit)
    kept = compiled.state_jacobian(*values)
    if compiled.state_jacobian(*values, out=kept) is not kept:
        raise AssertionError(f"{cell.name} {backend}: state_jacobian(out=kept) did not return kept")
    contenders = (lambda: compiled.state_jacobian(*values, out=kept), lambda: compiled.state_jacobian(*values))
    calls = max(5, int(2e6 // kept.numel() if backend == "torch" else 2e6 // kept.size))
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, call in enumerate(contenders):
            call()
            start = time.process_time()
            for _ in range(calls):
                call()
            best[k] = min(best[k], (time.process_time() - start) / calls * 1e6)
    return best[0], best[1]


def out_main(args) -> None:
    """``--out``: ``out=`` into a kept result against allocating (see the module docstring).  The
    numba writer is loaded first: for about a process's first second the NumPy kernels' blocks
    are written by NumPy while it loads on a background thread (10× slower at n = 16)."""
    from gatejac import numeric
    from gatejac.numeric import _fused  # noqa: F401 - loaded now, not by the background loader while timing
    from gatejac.symbolic import cells

    print(f"state_jacobian, B = 256, m = n/4, one thread, CPU minima of {args.repeats} repeats in µs; out=: the "
          f"route's own earlier result passed back; load {open('/proc/loadavg').read().split()[0]} at start\n")
    print("| cell | n | dtype | route | out= | allocating | out=/allocating |\n|---|---|---|---|---|---|---|")
    ratios = []
    for name in args.cells:
        for n in args.sizes:
            for dtype in ("float64", "float32"):
                for route, backend, jit in (("numpy", "numpy", False), ("torch", "torch", False), ("jit", "numpy", True)):
                    out, allocating = _out_row(numeric, cells.get(name), n, dtype, backend, jit, args.repeats)
                    ratios.append(out / allocating)
                    print(f"| {name} | {n} | {dtype} | {route} | {out:.2f} | {allocating:.2f} | {out / allocating:.3f} |",
                          flush=True)
    print(f"\nout=/allocating: {min(ratios):.3f}–{max(ratios):.3f}, above 1 in {sum(r > 1 for r in ratios)} of "
          f"{len(ratios)} rows; load {open('/proc/loadavg').read().split()[0]} at the end")


_FIRST_CALL = """
import time; start = time.perf_counter()
from gatejac import numeric
from gatejac.symbolic import cells
cell = cells.get({name!r})
numeric.compile(cell, jit=True).state_jacobian(*numeric.random_values(cell, {{"n": 16, "m": 4}}, batch=(256,)))
print(time.perf_counter() - start)
"""


def _first_calls(name: str) -> tuple[float, float]:
    """Wall seconds of a fresh interpreter's first jit ``state_jacobian`` (float64), with an empty
    disk cache and then with the cache the first run left."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        environment = dict(os.environ, GATEJAC_CACHE_DIR=directory)
        environment.pop("NUMBA_CACHE_DIR", None)
        return tuple(float(subprocess.run([sys.executable, "-c", _FIRST_CALL.format(name=name)], env=environment,
                                          capture_output=True, text=True, check=True).stdout.split()[-1])
                     for _ in range(2))


def jit_main(args) -> None:
    """``--jit``: the default and the jit dense kernels side by side (see the module docstring)."""
    from gatejac import numeric
    from gatejac.symbolic import cells

    print(f"state_jacobian(out=), B = 256, m = n/4, one thread, CPU minima of {args.repeats} repeats in ms; "
          f"load {open('/proc/loadavg').read().split()[0]} at start\n")
    print("| cell | n | dtype | default | jit | jit/default |\n|---|---|---|---|---|---|")
    for name in args.cells:
        for n in args.sizes:
            for dtype in ("float64", "float32"):
                default, jit = _jit_row(numeric, cells.get(name), n, dtype, args.repeats)
                print(f"| {name} | {n} | {dtype} | {default:.3f} | {jit:.3f} | {jit / default:.2f} |", flush=True)
    print("\n| cell | first jit call, empty cache (s) | first jit call, warm cache (s) |\n|---|---|---|")
    for name in args.cells:
        cold, warm = _first_calls(name)
        print(f"| {name} | {cold:.2f} | {warm:.2f} |", flush=True)
    print(f"\n(fresh interpreters, imports included, float64, n = 16); load {open('/proc/loadavg').read().split()[0]} "
          "at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="state size (default 16)")
    parser.add_argument("--jit", action="store_true", help="compare the default and jit dense kernels instead")
    parser.add_argument("--out", action="store_true",
                        help="compare out= into a kept result with allocating, per route (NumPy, torch, jit) instead")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256],
                        help="n of --jit (default 16 64 256) and --out (default 16 64)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing, and T of the rollout")
    parser.add_argument("--repeats", type=int, default=5, help="timings per entry (median)")
    parser.add_argument("--cells", nargs="+", default=["leaky", "gru_torch", "lstm_torch"])
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    import gatejac
    from gatejac import numeric
    from gatejac.symbolic import cells

    threadpool_limits(1)
    torch.set_num_threads(1)
    if args.jit or args.out:
        if args.cells == parser.get_default("cells"):
            args.cells = ["leaky", "multi_gate", "gru_torch", "lstm_torch"]
        if args.out and args.sizes == parser.get_default("sizes"):
            args.sizes = [16, 64]
        (out_main if args.out else jit_main)(args)
        return
    columns = ["step", "raw step", "jvp", "state_jacobian", "rollout step", "Lyapunov step"]
    print(f"per-call CPU time in µs, n = {args.n}, m = 8, one sample, float64, one thread; gatejac from "
          f"{gatejac.__file__.rsplit('/', 2)[0]}; load {open('/proc/loadavg').read().split()[0]} at start\n")
    print("| cell | backend | " + " | ".join(columns) + " | step − raw step |")
    print("|---|---|" + "---|" * (len(columns) + 1))
    for name in args.cells:
        for backend in ("numpy", "torch"):
            times = _row(numeric, cells, name, backend, args.n, args.calls, args.repeats)
            cells_text = " | ".join(f"{times[c]:.1f}" for c in columns)
            print(f"| {name} | {backend} | {cells_text} | {times['step'] - times['raw step']:.1f} |", flush=True)
    print(f"\nload {open('/proc/loadavg').read().split()[0]} at the end")


if __name__ == "__main__":
    main()
