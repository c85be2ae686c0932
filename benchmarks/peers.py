"""Benchmark: gatejac's dense state Jacobians against the transforms a performance-minded user picks.

Run:  .venv/bin/python benchmarks/peers.py [--sizes 16 64 256] [--cells leaky gru_torch ...] [--quick]

Needs JAX (the optional extra ``bench``: ``pip install -e '.[bench]'``); JAX is imported here only.

For B = 256 states per call, hidden sizes n and float64 and float32, it times the Jacobian
∂s'/∂s of the whole batch, shape (B, S, S), by

* gatejac ``state_jacobian`` (NumPy and torch back-ends) allocating its output, and writing into
  a preallocated one (``out=``); the table shows the faster back-end of each;
* ``jax.jit(jax.vmap(jax.jacfwd(step)))`` and ``jax.jit(jax.vmap(jax.jacrev(step)))``;
* ``torch.func.vmap(torch.func.jacrev(step))`` and ``torch.func.vmap(torch.func.jacfwd(step))``;
* ``torch.compile`` of the latter (omitted with ``--quick``; reported as failed where it fails).

Every peer differentiates the same step: the JAX step is the cell's generated step kernel run on
``jax.numpy`` (the source ``numeric.compile(cell).source``, so the two compute the same
expressions), the torch ones the compiled torch step.  Before any timing each peer's result is
compared with gatejac's to the dtype-derived ``"reference"`` tolerance of ``verify.tolerance``; a peer
that disagrees is reported and not timed.  The first call of each peer (tracing, jit or
torch.compile) is timed apart (column ``first calls``, seconds); the table's times are medians in ms
of repeats in which every contender of both dtypes runs in turn (``kernels.interleaved_medians_ms``:
each timed call follows an untimed one of the same function, as in a loop).  ``peer/gatejac`` is
the fastest peer's time over gatejac's best.

The default cells leaky, multi_gate, gru_torch and lstm_torch are representative of the
catalogue (an elementwise update, two gates, the GRU's reset gate inside the candidate, and the
LSTM's two states); ``--cells`` takes any catalogue names.  Outputs larger than
``--max-output-mib`` (a peer holds several of them) are skipped and listed: at n = 1024,
B = 256 one float64 GRU Jacobian is 2 GiB.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types

import numpy as np
import torch

from gatejac import numeric, verify
from gatejac.symbolic import cells

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernels import interleaved_medians_ms  # noqa: E402 - the one timing loop of the benchmarks

CELLS = ("leaky", "multi_gate", "gru_torch", "lstm_torch")
DTYPES = ("float64", "float32")


def jax_modules():
    """``(jax, jax.numpy)`` with float64 enabled, or None when JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


def jax_namespace(jnp) -> types.SimpleNamespace:
    """The part of the array namespace (``numeric.arrays``) a step kernel uses, on ``jax.numpy``."""
    import jax

    return types.SimpleNamespace(
        tanh=jnp.tanh, exp=jnp.exp, log=jnp.log, sqrt=jnp.sqrt, abs=jnp.abs, sign=jnp.sign, sin=jnp.sin,
        cos=jnp.cos, sinh=jnp.sinh, sigmoid=jax.nn.sigmoid, softplus=lambda x: jnp.logaddexp(0.0, x),
        where=jnp.where, clip=jnp.clip,
        scalar=lambda value, like: jnp.reshape(jnp.asarray(value, like.dtype), (1,)) if jnp.ndim(value) == 0 else value,
        batch_shape=lambda *arrays: jnp.broadcast_shapes(*(a.shape[:-1] for a in arrays)),
        expand=lambda v, batch: jnp.broadcast_to(v, tuple(batch) + v.shape[-1:]),
        transpose=lambda m: jnp.swapaxes(m, -1, -2),
        dot=lambda u, v: jnp.sum(u * v, axis=-1, keepdims=True),
        ones=lambda n, like: jnp.ones(n, like.dtype),
        eye=lambda n, like: jnp.eye(n, dtype=like.dtype),
    )


def flat_step(step, sizes: list[int], concat, split):
    """``f(flat_state, inputs, params)`` → the new states concatenated, for one sample."""

    def f(flat, inputs, params):
        return concat(step(*split(flat, sizes), *inputs, *params))

    return f


def split_at(sizes: list[int]) -> list[int]:
    """The indices at which ``jax.numpy.split`` cuts a vector into pieces of ``sizes``."""
    return np.cumsum(sizes)[:-1].tolist()


def peer_functions(cell, n, batch, dtype, quick, jaxm):
    """``{name: (function, first_call_seconds)}`` of the peers and the gatejac reference result,
    every peer checked against it; ``{name: reason}`` of the peers left out."""
    sizes = {"n": n, "m": max(1, n // 4)}
    values = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype)
    values_t = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype, backend="torch")
    np_kernel, torch_kernel = numeric.compile(cell, "numpy"), numeric.compile(cell, "torch")
    reference = np_kernel.state_jacobian(*values)
    out_np, out_t = np.empty_like(reference), torch.empty(reference.shape, dtype=getattr(torch, dtype))
    functions = {
        "gatejac numpy out=": lambda: np_kernel.state_jacobian(*values, out=out_np),
        "gatejac numpy": lambda: np_kernel.state_jacobian(*values),
        "gatejac torch out=": lambda: torch_kernel.state_jacobian(*values_t, out=out_t),
        "gatejac torch": lambda: torch_kernel.state_jacobian(*values_t),
    }
    state_sizes = [numeric.shapes(cell, sizes)[s.name][0] for s in cell.states]
    (states, inputs, params), (states_t, inputs_t, params_t) = values, values_t
    order_inputs = [c.name for c in cell.inputs]
    order_params = [p.name for p in cell.parameters]
    candidates = {}

    step_t = torch_kernel.kernel("step")
    f_t = flat_step(step_t, state_sizes, lambda parts: torch.cat(parts, -1),
                    lambda flat, cut: torch.split(flat, cut, -1))
    flat_t = torch.cat([states_t[s.name] for s in cell.states], -1)
    args_t = (flat_t, [inputs_t[k] for k in order_inputs], [params_t[k] for k in order_params])
    in_dims = (0, [0] * len(order_inputs), None)
    for name, transform in (("torch vmap(jacrev)", torch.func.jacrev), ("torch vmap(jacfwd)", torch.func.jacfwd)):
        mapped = torch.func.vmap(transform(f_t), in_dims=in_dims)
        candidates[name] = lambda mapped=mapped: mapped(*args_t)
    if not quick:
        compiled = torch.compile(torch.func.vmap(torch.func.jacfwd(f_t), in_dims=in_dims))
        candidates["torch.compile(vmap(jacfwd))"] = lambda: compiled(*args_t)

    if jaxm is not None:
        jax, jnp = jaxm
        namespace = {"_B": jax_namespace(jnp)}
        exec(np_kernel.source, namespace)  # noqa: S102 - gatejac's own generated step, on jax.numpy
        f_j = flat_step(namespace["step"], state_sizes, lambda parts: jnp.concatenate(parts, -1),
                        lambda flat, cut: jnp.split(flat, split_at(cut), -1))
        flat_j = jnp.asarray(np.concatenate([states[s.name] for s in cell.states], -1))
        args_j = (flat_j, [jnp.asarray(inputs[k]) for k in order_inputs], [jnp.asarray(params[k]) for k in order_params])
        j_axes = (0, [0] * len(order_inputs), None)
        for name, transform in (("jax jacfwd", jax.jacfwd), ("jax jacrev", jax.jacrev)):
            jitted = jax.jit(jax.vmap(transform(f_j), in_axes=j_axes))
            candidates[name] = lambda jitted=jitted: jitted(*args_j).block_until_ready()

    first, skipped = {}, {}
    for name, function in candidates.items():
        start = time.perf_counter()
        try:
            result = function()
        except Exception as error:  # noqa: BLE001 - a peer that fails is reported, the run goes on
            skipped[name] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:80]}"
            continue
        first[name] = time.perf_counter() - start
        mismatch = disagreement(numeric.to_numpy(result) if isinstance(result, torch.Tensor) else np.asarray(result),
                                reference, dtype)
        if mismatch:
            skipped[name] = mismatch
        else:
            functions[name] = function
    return functions, first, skipped


def disagreement(actual, reference, dtype) -> str | None:
    """None when ``actual`` matches gatejac's ``reference`` to the dtype's reference tolerance,
    else what is wrong."""
    if actual.shape != reference.shape:
        return f"shape {actual.shape}, gatejac {reference.shape}"
    tol = verify.tolerance("reference", dtype, numeric.arrays("numpy").max_abs(reference))
    excess = np.abs(actual.astype(np.float64) - reference) - tol.bound(np.abs(reference))
    if not np.all(excess <= 0):
        return f"differs from gatejac by {float(np.max(excess)):.2e} beyond the {dtype} reference tolerance"
    return None


def measure(cell_name, n, batch, repeats, quick, jaxm, max_output_mib):
    """Rows per dtype: every contender's median ms, its first call, and the peers left out."""
    cell = cells.get(cell_name)
    functions, firsts, skipped = {}, {}, {}
    for dtype in DTYPES:
        state_total = sum(numeric.shapes(cell, {"n": n, "m": max(1, n // 4)})[s.name][0] for s in cell.states)
        mib = batch * state_total**2 * np.dtype(dtype).itemsize / 2**20
        if mib > max_output_mib:
            skipped[dtype] = f"output {mib:.0f} MiB > --max-output-mib {max_output_mib}"
            continue
        fs, first, left_out = peer_functions(cell, n, batch, dtype, quick, jaxm)
        functions.update({(dtype, name): f for name, f in fs.items()})
        firsts[dtype], skipped[dtype] = first, left_out
    medians = interleaved_medians_ms(functions, repeats) if functions else {}
    rows = {}
    for dtype in DTYPES:
        if isinstance(skipped.get(dtype), str):
            rows[dtype] = ({}, {}, skipped[dtype])
            continue
        rows[dtype] = ({name: t for (d, name), t in medians.items() if d == dtype}, firsts[dtype], skipped[dtype])
    return rows


PEERS = ("jax jacfwd", "jax jacrev", "torch vmap(jacrev)", "torch vmap(jacfwd)", "torch.compile(vmap(jacfwd))")


def table_row(cell_name, n, dtype, times, first, skipped) -> str:
    best_out = min(times["gatejac numpy out="], times["gatejac torch out="])
    best_alloc = min(times["gatejac numpy"], times["gatejac torch"])
    best = min(best_out, best_alloc)
    peers = [p for p in PEERS if p in times]
    fastest = min(peers, key=times.get) if peers else None
    cells_out = [cell_name, str(n), dtype, f"{best_out:.2f}", f"{best_alloc:.2f}"]
    cells_out += [f"{times[p]:.2f}" if p in times else ("—" if p not in skipped else "failed") for p in PEERS]
    cells_out.append(f"{times[fastest] / best:.1f}× ({fastest})" if fastest else "—")
    cells_out.append(" / ".join(f"{first[p]:.1f}" if p in first else "—" for p in PEERS))
    return "| " + " | ".join(cells_out) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=cells.names(), metavar="CELL")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--max-output-mib", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true", help="one cell (gru_torch), 3 repeats, no torch.compile")
    args = parser.parse_args(argv)
    if args.quick:
        args.cells, args.repeats = ["gru_torch"] if args.cells == list(CELLS) else args.cells, 3
    jaxm = jax_modules()
    versions = f"jax {jaxm[0].__version__}" if jaxm else "jax not installed (pip install -e '.[bench]'): JAX peers left out"
    print(f"B = {args.batch}, torch threads = {torch.get_num_threads()}, cores = {os.cpu_count()}, "
          f"numpy {np.__version__}, torch {torch.__version__}, {versions}\n")
    header = ["cell", "n", "dtype", "gatejac out=", "gatejac", *PEERS, "peer/gatejac", "first calls (s)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    notes = []
    for n in args.sizes:
        for name in args.cells:
            for dtype, (times, first, skipped) in measure(name, n, args.batch, args.repeats, args.quick, jaxm,
                                                          args.max_output_mib).items():
                if isinstance(skipped, str):
                    notes.append(f"{name} n = {n} {dtype}: skipped, {skipped}")
                    continue
                notes.extend(f"{name} n = {n} {dtype}: {peer} {why}" for peer, why in skipped.items())
                print(table_row(name, n, dtype, times, first, skipped), flush=True)
    print("\nTimes are medians in ms of B Jacobians per call.  gatejac out= / gatejac: the faster back-end "
          "writing into a preallocated output / allocating it.  peer/gatejac: the fastest peer over gatejac's "
          "faster route.  first calls: each peer's first call (trace, jit, torch.compile) in seconds, in the "
          "order of the peer columns.")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
