"""Benchmark: gatejac's compiled state Jacobians against the usual ways of getting them.

Run:  .venv/bin/python benchmarks/kernels.py [--sizes 16 64 256] [--batch 256] [--quick] [--one-thread-products]
      .venv/bin/python benchmarks/kernels.py --phases [--sizes 256] [--repeats 15]

In one run, for B states per call and hidden sizes n, float64 and float32, for the cells
leaky, multi_gate, gru_torch and lstm_torch, it times (median of repeats, seconds → ms):

* gatejac numpy and gatejac torch ``state_jacobian`` writing into a preallocated output
  (``out=``) and allocating a fresh one;
* ``torch.func.vmap(torch.func.jacrev(step))`` through the compiled torch step;
* a per-sample loop of ``torch.autograd.functional.jacobian`` (1 repeat: it is slow);
* central differences on the numpy step (2·S step evaluations, batched over B);
* the memory floor: filling a preallocated array of the output's size (the faster of NumPy's
  and torch's ``fill``, ordinary stores);
* for reference, not the floor: the same fill with streaming stores (``stream fill``, one
  thread, ``numeric/_streaming.py``), which the fused writer uses for outputs of 32 MiB or more;
* with ``--one-thread-products``, also NumPy ``out=`` with the forward's batch products on the
  calling thread alone (``1-thread products``, the same generated kernel with ``_B.products`` as
  plain ``@``) beside the default, which splits large ones over two threads
  (``numeric/_parallel_products.py``), and the ratio ``split / 1-thread``.

``--phases`` prints instead where NumPy's ``state_jacobian`` spends its CPU time, on one thread
(BLAS, OpenMP and numba at one thread; minima of the repeats, which are what a loaded machine
leaves comparable): the forward (products, gates, coefficients) as the kernel runs it and as
written (the generated expressions, without the rewrite onto owned buffers of
``numeric/_lowering.py``), the write of the output alone, and the fill.

Otherwise it prints a markdown table with ratios (baseline time / gatejac's faster backend) and the
checks of the performance bar in issue 3, plus compile times and the peak memory of a
parameter VJP with respect to an n×n matrix (tracemalloc, NumPy back-end).
"""

from __future__ import annotations

import argparse
import os
import types
import statistics
import time
import tracemalloc

import numpy as np
import torch

from gatejac import numeric
from gatejac.symbolic import cells

CELLS = ("leaky", "multi_gate", "gru_torch", "lstm_torch")


def median_ms(function, repeats: int) -> float:
    return interleaved_medians_ms({"f": function}, repeats)["f"]


def interleaved_medians_ms(functions: dict, repeats: int) -> dict:
    """Median time of each function, timed in turn within every repeat: on a shared machine
    the memory bandwidth drifts by ±25% over minutes, and timing the functions side by side
    lets the drift fall on all of them alike, so their ratios are stable.

    Each timed call follows an untimed call of the same function, so it finds the caches as a
    loop calling that function would (its output buffer, its inputs), not as the function timed
    before it left them.  Timing single calls in turn penalised ``out=``: at n = 64 the six
    contenders' buffers of both dtypes (36 MB) exceed the 32 MB third-level cache, so a
    preallocated output was always evicted between its calls while a freshly allocated one
    reused memory the allocator had just freed — multi_gate float64 1.41 against 1.21 ms timed
    in turn, 0.96 against 0.85 ms (NumPy) and 1.06 against 1.08 ms (torch) timed in runs of ten
    calls, and equal to 0.01 ms in runs of one function alone (``out=`` into an array the kernel
    had itself returned, into zeros, into a page-aligned array: 0.68–0.71 ms, allocating 0.71 ms).
    """
    for function in functions.values():
        function()  # warm-up (first-touch of buffers, lazy initialisation)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            function()
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def flat_step(compiled, states, inputs, params):
    names = [s.name for s in compiled.cell.states]

    def step(*values):
        new = compiled.step(dict(zip(names, values)), inputs, params)
        return torch.cat([new[k] for k in names], dim=-1)

    return step, [states[k] for k in names]


def baselines(cell, states_t, inputs_t, params_t, repeats):
    compiled = numeric.compile(cell, "torch")
    step, values = flat_step(compiled, states_t, inputs_t, params_t)
    in_dims = {k: 0 for k in inputs_t}

    def vmap_jacrev():
        def per_sample(inputs, *vals):
            inner, _ = flat_step(compiled, dict(zip([s.name for s in cell.states], vals)), inputs, params_t)
            return inner(*vals)

        return torch.func.vmap(torch.func.jacrev(per_sample, argnums=tuple(range(1, len(values) + 1))),
                               in_dims=(in_dims,) + (0,) * len(values))(inputs_t, *values)

    def autograd_loop():
        batch = values[0].shape[0]
        for b in range(batch):
            sample_inputs = {k: v[b] for k, v in inputs_t.items()}
            inner, _ = flat_step(compiled, {s.name: v[b] for s, v in zip(cell.states, values)}, sample_inputs, params_t)
            torch.autograd.functional.jacobian(inner, tuple(v[b] for v in values))

    return {
        "vmap(jacrev)": median_ms(vmap_jacrev, max(1, repeats // 3)),
        "autograd loop": median_ms(autograd_loop, 1),
    }


def central_differences_ms(cell, states, inputs, params, repeats):
    compiled = numeric.compile(cell, "numpy")
    names = [s.name for s in cell.states]

    def fd():
        columns = []
        for name in names:
            base = states[name]
            for j in range(base.shape[-1]):
                h = 2.0**-17 * np.maximum(1.0, np.abs(base[..., j]))
                plus, minus = dict(states), dict(states)
                plus[name] = base.copy()
                minus[name] = base.copy()
                plus[name][..., j] += h
                minus[name][..., j] -= h
                up, down = compiled.step(plus, inputs, params), compiled.step(minus, inputs, params)
                columns.append(np.concatenate([(up[k] - down[k]) / (2 * h[..., None]) for k in names], -1))
        return np.stack(columns, -1)

    return median_ms(fd, 1)


def fast_functions(cell, n, batch, dtype, one_thread_products=False):
    """gatejac's four ways to get the state Jacobian and the two fills of the floor (and NumPy
    ``out=`` with one-thread products, see the module docstring)."""
    sizes = {"n": n, "m": max(1, n // 4)}
    states, inputs, params = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype)
    states_t, inputs_t, params_t = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype,
                                                         backend="torch")
    np_kernel, torch_kernel = numeric.compile(cell, "numpy"), numeric.compile(cell, "torch")
    total = sum(numeric.shapes(cell, sizes)[s.name][0] for s in cell.states)
    out_np = np.empty((batch, total, total), dtype=dtype)
    out_t = torch.empty((batch, total, total), dtype=getattr(torch, dtype))
    functions = {
        "numpy out=": lambda: np_kernel.state_jacobian(states, inputs, params, out=out_np),
        "numpy": lambda: np_kernel.state_jacobian(states, inputs, params),
        "torch out=": lambda: torch_kernel.state_jacobian(states_t, inputs_t, params_t, out=out_t),
        "torch": lambda: torch_kernel.state_jacobian(states_t, inputs_t, params_t),
        "numpy fill": lambda: out_np.fill(1.0),
        "torch fill": lambda: out_t.fill_(1.0),
        "stream fill": lambda: stream_fill(out_np),
    }
    if one_thread_products:
        functions["1-thread products"] = one_thread_products_kernel(np_kernel, states, inputs, params, out_np)
    return functions, (states, inputs, params), (states_t, inputs_t, params_t)


def one_thread_products_kernel(compiled, states, inputs, params, out):
    """NumPy ``state_jacobian(out=)`` of ``compiled``'s generated source run with products as
    plain ``@`` (one BLAS thread inside the dense scope, as before the split)."""
    real = numeric.arrays("numpy")
    namespace = {"_B": types.SimpleNamespace(**{**vars(real), "products": lambda *pairs: [a @ b for a, b in pairs]})}
    exec(compile(compiled.source, "<one-thread products>", "exec"), namespace)  # noqa: S102 - gatejac's own code
    kernel, arguments = namespace["state_jacobian"], compiled.arguments_of(states, inputs, params)

    def run():
        with real.dense_scope():
            kernel(*arguments, out=out)
    return run


_STREAM_FILL = []


def stream_fill(array: np.ndarray) -> None:
    """``array.fill(1.0)`` with streaming stores on the calling thread (a C-contiguous array)."""
    if not _STREAM_FILL:
        import numba
        from gatejac.numeric._streaming import store_fence, stream_copy

        @numba.njit
        def fill(flat, row):
            for start in range(0, flat.shape[0], row.shape[0]):
                stream_copy(flat, start, row[:min(row.shape[0], flat.shape[0] - start)])
            store_fence()

        _STREAM_FILL.append(fill)
    _STREAM_FILL[0](array.reshape(-1), np.ones(256, array.dtype))


def measure(cell_name, n, batch, dtypes, repeats, slow, one_thread_products=False):
    """One row per dtype; the fast functions of every dtype are timed side by side, so that
    best/floor and the float64/float32 ratio compare times taken under the same load."""
    cell = cells.get(cell_name)
    functions, values = {}, {}
    for dtype in dtypes:
        fast, values[dtype], values[dtype, "torch"] = fast_functions(cell, n, batch, dtype, one_thread_products)
        functions.update({(dtype, name): function for name, function in fast.items()})
    medians = interleaved_medians_ms(functions, repeats)
    rows = {}
    for dtype in dtypes:
        row = {name: medians[dtype, name] for name in ("numpy out=", "numpy", "torch out=", "torch")}
        row["floor"] = min(medians[dtype, "numpy fill"], medians[dtype, "torch fill"])
        row["numpy fill"], row["torch fill"] = medians[dtype, "numpy fill"], medians[dtype, "torch fill"]
        row["stream fill"] = medians[dtype, "stream fill"]
        if one_thread_products:
            row["1-thread products"] = medians[dtype, "1-thread products"]
        if slow:
            row.update(baselines(cell, *values[dtype, "torch"], repeats))
            row["central diff"] = central_differences_ms(cell, *values[dtype], repeats)
        rows[dtype] = row
    return rows


def cpu_minimum_ms(function, repeats: int) -> float:
    """The least CPU time (all threads of the process) of ``repeats`` calls, after one untimed call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return 1e3 * min(times)


def phases(cell_name, n, batch, dtype, repeats) -> dict:
    """CPU minima (ms) of the parts of NumPy's ``state_jacobian(out=)``: the forward (the
    generated kernel run with a ``write_block_row`` that only records its arguments), the
    recorded block rows written, and the fill of the output."""
    cell = cells.get(cell_name)
    states, inputs, params = numeric.random_values(cell, {"n": n, "m": max(1, n // 4)}, batch=(batch,), seed=1,
                                                   dtype=dtype)
    compiled = numeric.compile(cell, "numpy")
    arguments = compiled.arguments_of(states, inputs, params)
    real = numeric.arrays("numpy")
    block_rows = []
    recording = types.SimpleNamespace(**vars(real))
    recording.write_block_row = lambda out, rows, *segments: block_rows.append((out, rows, segments))
    namespace = {"_B": recording}
    exec(compile(compiled.source, f"<{cell_name} kernels, write recorded>", "exec"), namespace)  # noqa: S102
    out = compiled.state_jacobian(states, inputs, params)
    rows_per_call = len(cell.states)

    def forward():
        block_rows.clear()
        with real.dense_scope():
            namespace["state_jacobian"](*arguments, out=out)

    def write():
        for block_out, rows, segments in block_rows[-rows_per_call:]:
            real.write_block_row(block_out, rows, *segments)

    from gatejac.numeric import _fused  # after main's thread settings

    def fused_write(stream):
        def write_rows():
            for block_out, rows, segments in block_rows[-rows_per_call:]:
                _fused.write_block_row(block_out, rows, [_fused.Segment(*segment) for segment in segments],
                                       stream=stream)
        return write_rows

    forward()
    # the recorded block rows' coefficients live in the forward's buffers, which the forwards timed
    # below overwrite: the write's time does not depend on their values
    times = {"write": cpu_minimum_ms(write, repeats)}
    from gatejac.numeric import _workspace

    rewritten = _workspace.MIN_BYTES
    try:
        for _ in range(2):  # interleaved: the forward rewritten onto owned buffers (numeric/_lowering.py) and as written
            for name, least in (("forward", rewritten), ("as written", 2**62)):
                _workspace.MIN_BYTES = least
                times[name] = min(times.get(name, np.inf), cpu_minimum_ms(forward, repeats))
    finally:
        _workspace.MIN_BYTES = rewritten
    for _ in range(2):  # interleaved: the two writers and the fill, twice, the least of each
        for name, function in (("ordinary", fused_write(False)), ("streamed", fused_write(True)),
                               ("fill", lambda: out.fill(1.0))):
            times[name] = min(times.get(name, np.inf), cpu_minimum_ms(function, repeats))
    return times


def print_phases(sizes, batch, repeats):
    header = ["cell", "n", "dtype", "forward", "as written", "write", "ordinary", "streamed", "fill"]
    print(f"CPU ms on one thread, minima of {repeats}; load average {open('/proc/loadavg').read().split()[:3]}\n"
          "write: as state_jacobian writes (streaming stores from 32 MiB, numeric/_fused.py); ordinary, streamed:\n"
          "the fused writer forced to ordinary or streaming stores; fill: NumPy's fill of the output;\n"
          "forward: as the kernel runs it, in owned buffers where it rewrites it (numeric/_lowering.py);\n"
          "as written: the generated expressions, fresh arrays every operation\n")
    print("| " + " | ".join(header + ["forward / fill", "forward / as written", "write / fill",
                                      "streamed / ordinary"]) + " |")
    print("|" + "---|" * (len(header) + 4))
    for n in sizes:
        for name in CELLS:
            for dtype in ("float64", "float32"):
                row = phases(name, n, batch, dtype, repeats)
                ratios = [f"{row['forward'] / row['fill']:.2f}", f"{row['forward'] / row['as written']:.2f}",
                          f"{row['write'] / row['fill']:.2f}",
                          f"{row['streamed'] / row['ordinary']:.2f}"]
                print("| " + " | ".join([name, str(n), dtype] + [f"{row[k]:.2f}" for k in header[3:]] + ratios) + " |",
                      flush=True)


def compile_times():
    rows = []
    for name in cells.names():
        numeric._compiled._CACHE.clear()
        cell = cells.get(name)
        start = time.perf_counter()
        numeric.compile(cell, "numpy")
        first = time.perf_counter() - start
        start = time.perf_counter()
        numeric.compile(cell, "numpy")
        second = time.perf_counter() - start
        rows.append((name, 1e3 * first, 1e3 * second))
    return rows


def vjp_peak_mb(n, batch):
    cell = cells.get("multi_gate")
    states, inputs, params = numeric.random_values(cell, {"n": n, "m": n // 4}, batch=(batch,), seed=2)
    kernel = numeric.compile(cell, "numpy")
    cotangent = {"h": np.ones_like(states["h"])}
    kernel.vjp(states, inputs, params, cotangent)
    tracemalloc.start()
    kernel.vjp(states, inputs, params, cotangent)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="skip the slow baselines")
    parser.add_argument("--one-thread-products", action="store_true",
                        help="also time NumPy out= with the forward's products on one thread")
    parser.add_argument("--phases", action="store_true",
                        help="instead: the CPU time of the forward, the write and the fill on one thread")
    args = parser.parse_args()
    if args.phases:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[variable] = "1"  # before numba and the BLAS pools start (numba starts on a first write)
        torch.set_num_threads(1)
    # the numba writer loaded now: a process's first dense Jacobians are otherwise written by
    # NumPy while numba loads on a background thread (``_fused_loading``)
    from gatejac.numeric import _fused  # noqa: F401
    if args.phases:
        # numba may have been imported with ``import gatejac.numeric`` (its jit kernels), before
        # the variables above were set: its parallel regions then still ran on every core, and
        # the CPU time counted the second thread's waiting
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(1)
        with threadpool_limits(1):
            print_phases(args.sizes, args.batch, args.repeats)
        return
    print(f"B = {args.batch}, torch threads = {torch.get_num_threads()}, cores = {os.cpu_count()}, "
          f"numpy {np.__version__}, torch {torch.__version__}\n")
    header = ["cell", "n", "dtype", "floor", "numpy fill", "torch fill", "stream fill",
              "numpy out=", "numpy", "torch out=", "torch"]
    header += ["1-thread products"] if args.one_thread_products else []
    if not args.quick:
        header += ["vmap(jacrev)", "autograd loop", "central diff"]
    header += ["best/floor"] + ([] if args.quick else ["vmap/best"])
    header += ["split / 1-thread"] if args.one_thread_products else []
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    results = {}
    for n in args.sizes:
        for name in CELLS:
            rows = measure(name, n, args.batch, ("float64", "float32"), args.repeats, not args.quick,
                           args.one_thread_products)
            for dtype, row in rows.items():
                best = min(row["numpy out="], row["torch out="])
                results[(name, n, dtype)] = (row, best)
                cells_out = [name, str(n), dtype] + [f"{row[k]:.2f}" for k in header[3:header.index("best/floor")]]
                cells_out.append(f"{best / row['floor']:.2f}")
                if not args.quick:
                    cells_out.append(f"{row['vmap(jacrev)'] / best:.0f}x")
                if args.one_thread_products:
                    cells_out.append(f"{row['numpy out='] / row['1-thread products']:.2f}")
                print("| " + " | ".join(cells_out) + " |", flush=True)
    print("\nAll times are medians in ms.  best = faster of gatejac numpy/torch writing into a preallocated output.\n"
          "floor: the faster of NumPy's fill (one thread, into the numpy out= array) and torch's (torch's threads,\n"
          "into the torch out= array), both ordinary stores; stream fill: a fill with streaming\n"
          "stores on one thread, for reference (the writer streams outputs of 32 MiB or more).")
    n_max = max(args.sizes)
    print(f"\nPerformance bar at n = {n_max}, B = {args.batch}:")
    for name in CELLS:
        row64, best64 = results[(name, n_max, "float64")]
        _, best32 = results[(name, n_max, "float32")]
        speedup = "" if args.quick else f"vmap(jacrev)/best = {row64['vmap(jacrev)'] / best64:.0f}x (bar >= 20x); "
        print(f"- {name}: {speedup}best/floor = {best64 / row64['floor']:.2f} (bar <= 2); "
              f"float64/float32 = {best64 / best32:.2f} (bar >= 1.5)")
    print("\nCompile times (numpy back-end; bar: first < 1000 ms, second < 10 ms):")
    for name, first, second in compile_times():
        print(f"- {name}: first {first:.0f} ms, second {second:.3f} ms")
    print(f"\nParameter VJP wrt a {n_max}x{n_max} matrix at B = {args.batch} (multi_gate, numpy): "
          f"peak traced allocation {vjp_peak_mb(n_max, args.batch):.1f} MiB "
          f"(B*n^2 float64 = {args.batch * n_max**2 * 8 / 2**20:.0f} MiB; B*n^3 = {args.batch * n_max**3 * 8 / 2**30:.0f} GiB)")


if __name__ == "__main__":
    main()
