"""Benchmark: what a new process pays for its first dense Jacobian, with a cold and a warm cache.

Run:  .venv/bin/python benchmarks/cold_start.py [--cell gru_torch] [--n 256] [--batch 256] [--warm-runs 5]

Each measurement is a fresh interpreter (``python -c``) that imports ``gatejac.numeric``,
compiles the cell, and computes ``state_jacobian`` of B states twice in float64 and once in
float32 (B = n = 256 is a 128 MiB float64 output, written by the fused writer).  It reports, in
seconds: the import, ``numeric.compile``, the first float64 Jacobian, the second, the first
float32 one, the sum of import, compile and first Jacobian (``import → 1st``), when numba had
started (``numba ready``: from the start of the import until the background loader of
``numeric/_fused_loading.py`` finished, waited for after the three calls), and the whole
interpreter, start-up and exit included (``process``).  ``import → 1st, caller's CPU`` is the
CPU time of the calling thread alone up to the first Jacobian (what the wall time of
``import → 1st`` comes to on an idle machine with a core for the loader).  ``NumPy rows`` counts
the block rows written by ``_fused_numpy`` while numba started.  Each stage is given as wall time and, in
parentheses, the CPU time of all the process's threads (the loader's included).

Two ways of starting are measured, each in its own fresh interpreters:

* ``background`` — what a user gets: the first fused-size block row starts numba on a background
  thread and is written with NumPy meanwhile (the same bits);
* ``numba first`` — the first Jacobian imports ``gatejac.numeric._fused`` before it computes, so
  numba starts on the calling thread, as before issue 13 (a process that imported ``_fused``
  never starts the loader).

The cold run uses a new, empty numba cache directory (``GATEJAC_CACHE_DIR``, see
``numeric/_numba_cache.py``): what the first process on a new machine pays (its loader compiles
the kernels its calls needed while they went on with NumPy; the process waits for it at exit).
The second process, on the same cache, shows whether anything was left to compile.  The warm
runs follow, alternating the two ways; their medians are reported, with the ratio of the medians of
``import → 1st``.  The import of ``gatejac.numeric`` alone and of numba alone are measured in
fresh interpreters too.  On a shared machine compare the CPU times; wall times stretch with the
load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, time
marks = [("start", time.perf_counter(), time.process_time(), time.thread_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time(), time.thread_time()))
from gatejac import numeric
from gatejac.numeric import _fused_loading
from gatejac.symbolic import cells
mark("import")
cell = cells.get({cell!r})
kernel = numeric.compile(cell)
mark("compile")
values = numeric.random_values(cell, {{"n": {n}, "m": {n} // 4}}, batch=({batch},), seed=0)
values32 = numeric.random_values(cell, {{"n": {n}, "m": {n} // 4}}, batch=({batch},), seed=0, dtype="float32")
mark("values")
if {numba_first}:
    from gatejac.numeric import _fused
kernel.state_jacobian(*values)
mark("1st float64")
kernel.state_jacobian(*values)
mark("2nd float64")
kernel.state_jacobian(*values32)
mark("1st float32")
_fused_loading.loader.wait()
stages = {{name: (wall - marks[i][1], cpu - marks[i][2]) for i, (name, wall, cpu, _) in enumerate(marks[1:])}}
caller = {{name: own - marks[i][3] for i, (name, _, _, own) in enumerate(marks[1:])}}
caller = caller["import"] + caller["compile"] + caller["1st float64"]
del stages["values"]
stages["import → 1st"] = tuple(a + b + c for a, b, c in zip(stages["import"], stages["compile"], stages["1st float64"]))
stages["numba ready"] = (time.perf_counter() - marks[0][1], time.process_time() - marks[0][2])
print(json.dumps({{"stages": stages, "numpy rows": _fused_loading.loader.numpy_block_rows, "caller": caller}}))
"""

IMPORT = "import time; start = time.process_time(); import {module}; print(time.process_time() - start)"

WAYS = {"background": False, "numba first": True}


def child_output(code: str, env: dict) -> tuple[str, float, float]:
    """The last line a fresh interpreter running ``code`` prints, and the interpreter's wall and
    CPU time."""
    before, times = time.perf_counter(), os.times()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    wall, after = time.perf_counter() - before, os.times()
    if done.returncode != 0:
        raise SystemExit(f"the child interpreter failed:\n{done.stderr[-3000:]}")
    cpu = (after.children_user - times.children_user) + (after.children_system - times.children_system)
    return done.stdout.strip().splitlines()[-1], wall, cpu


def child(code: str, env: dict) -> dict:
    """The stages a fresh interpreter running ``code`` prints, plus the whole process (``process``)."""
    line, wall, cpu = child_output(code, env)
    result = json.loads(line)
    result["stages"]["process"] = (wall, cpu)
    return result


def _entry(wall: float, cpu: float) -> str:
    return f"{wall:.2f} ({cpu:.2f})"


def _median(results: list[dict], key: str) -> tuple[float, float]:
    return tuple(statistics.median(r["stages"][key][i] for r in results) for i in (0, 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru_torch")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args(argv)
    codes = {way: CHILD.format(cell=args.cell, n=args.n, batch=args.batch, numba_first=first)
             for way, first in WAYS.items()}
    with tempfile.TemporaryDirectory(prefix="gatejac-cold-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"GATEJAC_CACHE_DIR": cache}
        print(f"{args.cell}, n = {args.n}, B = {args.batch}; each row a fresh interpreter; seconds", file=sys.stderr)
        print("cold cache (background)", file=sys.stderr)
        cold = child(codes["background"], env)
        print("second process (background)", file=sys.stderr)
        second = child(codes["background"], env)
        warm = {way: [] for way in WAYS}
        for run in range(args.warm_runs):
            for way, code in codes.items():
                print(f"warm run {run + 1}/{args.warm_runs}: {way}", file=sys.stderr)
                warm[way].append(child(code, env))
        imports = {module: statistics.median(float(child_output(IMPORT.format(module=module), env)[0]) for _ in range(3))
                   for module in ("gatejac.numeric", "numba")}
    keys = list(cold["stages"])
    print(f"{args.cell}, n = {args.n}, B = {args.batch}, fresh interpreter per row, seconds: wall (CPU of all threads)"
          f"; load average {os.getloadavg()[0]:.2f}\n")
    print("| cache, start | " + " | ".join(keys) + " | import → 1st, caller's CPU | NumPy rows |")
    print("|" + "---|" * (len(keys) + 3))
    print("| cold (empty), background | " + " | ".join(_entry(*cold["stages"][k]) for k in keys)
          + f" | {cold['caller']:.2f} | {cold['numpy rows']} |")
    print("| second process, background | " + " | ".join(_entry(*second["stages"][k]) for k in keys)
          + f" | {second['caller']:.2f} | {second['numpy rows']} |")
    for way, results in warm.items():
        rows = sorted({r["numpy rows"] for r in results})
        print(f"| warm (median of {len(results)}), {way} | " + " | ".join(_entry(*_median(results, k)) for k in keys)
              + f" | {statistics.median(r['caller'] for r in results):.2f} | {'–'.join(map(str, rows))} |")
    ratio = [_median(warm["numba first"], "import → 1st")[i] / _median(warm["background"], "import → 1st")[i]
             for i in (0, 1)]
    print(f"\nimport → 1st, numba first / background: {ratio[0]:.2f}× wall, {ratio[1]:.2f}× CPU")
    print("Import alone, CPU seconds, median of 3 fresh interpreters: "
          + ", ".join(f"{module} {seconds:.2f} s" for module, seconds in imports.items()))


if __name__ == "__main__":
    main()
