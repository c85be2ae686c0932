"""Benchmark: what a new process pays for its first dense Jacobian, with a cold and a warm cache.

Run:  .venv/bin/python benchmarks/cold_start.py [--cell gru_torch] [--n 256] [--batch 256] [--warm-runs 5]

Each measurement is a fresh interpreter (``python -c``) that imports ``gatejac.numeric``,
compiles the cell, and computes ``state_jacobian`` of B states twice in float64 and once in
float32 (the fused numba writer serves outputs of 2 MB or more: B = n = 256 is 128 MiB in
float64).  It reports, in seconds: the import, ``numeric.compile``, the first float64 Jacobian
(which loads or compiles the numba writer), the second (the steady cost), the first float32 one,
and the sum of import, compile and first Jacobian (``import → 1st``).  Each stage is given as
wall time and, in parentheses, the CPU time of all the process's threads: on a loaded machine
the wall time stretches with the load while the CPU time does not (it includes numba's second
thread inside the parallel writer).

The cold run uses a new, empty numba cache directory (``GATEJAC_CACHE_DIR``, see
``numeric/_numba_cache.py``): what the first process on a new machine pays.  The warm runs reuse
it; their medians are reported.  The import of ``gatejac.numeric`` alone and of numba alone are
measured in fresh interpreters too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, time
marks = [("start", time.perf_counter(), time.process_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
from gatejac import numeric
from gatejac.symbolic import cells
mark("import")
cell = cells.get({cell!r})
kernel = numeric.compile(cell)
mark("compile")
values = numeric.random_values(cell, {{"n": {n}, "m": {n} // 4}}, batch=({batch},), seed=0)
values32 = numeric.random_values(cell, {{"n": {n}, "m": {n} // 4}}, batch=({batch},), seed=0, dtype="float32")
mark("values")
kernel.state_jacobian(*values)
mark("1st float64")
kernel.state_jacobian(*values)
mark("2nd float64")
kernel.state_jacobian(*values32)
mark("1st float32")
stages = {{name: (wall - marks[i][1], cpu - marks[i][2]) for i, (name, wall, cpu) in enumerate(marks[1:])}}
del stages["values"]
stages["import → 1st"] = tuple(a + b + c for a, b, c in zip(stages["import"], stages["compile"], stages["1st float64"]))
print(json.dumps(stages))
"""

IMPORT = "import time; start = time.process_time(); import {module}; print(time.process_time() - start)"


def child(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the child interpreter failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru_torch")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args(argv)
    code = CHILD.format(cell=args.cell, n=args.n, batch=args.batch)
    with tempfile.TemporaryDirectory(prefix="gatejac-cold-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"GATEJAC_CACHE_DIR": cache}
        print(f"{args.cell}, n = {args.n}, B = {args.batch}; each row a fresh interpreter; seconds", file=sys.stderr)
        cold = json.loads(child(code, env))
        warm = []
        for run in range(args.warm_runs):
            print(f"warm run {run + 1}/{args.warm_runs}", file=sys.stderr)
            warm.append(json.loads(child(code, env)))
        imports = {module: statistics.median(float(child(IMPORT.format(module=module), env)) for _ in range(3))
                   for module in ("gatejac.numeric", "numba")}
    keys = list(cold)
    print(f"{args.cell}, n = {args.n}, B = {args.batch}, fresh interpreter per row, seconds: wall (CPU of all threads)\n")
    print("| cache | " + " | ".join(keys) + " |")
    print("|" + "---|" * (len(keys) + 1))

    def entry(wall, cpu):
        return f"{wall:.2f} ({cpu:.2f})"

    print("| cold (empty) | " + " | ".join(entry(*cold[k]) for k in keys) + " |")
    print(f"| warm (median of {len(warm)}) | "
          + " | ".join(entry(*(statistics.median(w[k][i] for w in warm) for i in (0, 1))) for k in keys) + " |")
    print("\nImport alone, CPU seconds, median of 3 fresh interpreters: "
          + ", ".join(f"{module} {seconds:.2f} s" for module, seconds in imports.items()))


if __name__ == "__main__":
    main()
