"""Benchmark: gatejac's dense state Jacobians against the transforms a performance-minded user picks.

Run:  .venv/bin/python benchmarks/peers.py [--sizes 16 64 256 1024] [--cells leaky gru_torch ...]
          [--peers jax torch compile] [--no-jit] [--quick]
Quick gatejac-against-JAX run at every size:  .venv/bin/python benchmarks/peers.py --peers jax

Needs JAX (the optional extra ``bench``: ``pip install -e '.[bench]'``); JAX is imported here only.

For B = 256 states per call, hidden sizes n = 16, 64, 256 and 1024 and float64 and float32, it
times the Jacobian ∂s'/∂s of the whole batch, shape (B, S, S), by

* gatejac ``state_jacobian`` (NumPy and torch back-ends — below ``numeric.TORCH_THROUGH_NUMPY_BELOW``,
  n < 256 here, the torch back-end runs the NumPy kernels on the tensors' memory — and the NumPy
  kernels compiled whole by numba, ``numeric.compile(cell, "numpy", jit=True)``, unless
  ``--no-jit``) allocating its output, and writing into a preallocated one (``out=``); the table
  shows the fastest route of each kind, names the faster of the two, and the jit kernel's first
  call (numba's compile, or its load from numba's disk cache) beside the peers' first calls;
* ``jax.jit(jax.vmap(jax.jacfwd(step)))`` and ``jax.jit(jax.vmap(jax.jacrev(step)))`` (group ``jax``);
* ``torch.func.vmap(torch.func.jacrev(step))`` and ``torch.func.vmap(torch.func.jacfwd(step))``
  (group ``torch``);
* ``torch.compile`` of the latter (group ``compile``; omitted with ``--quick``; reported as failed
  where it fails).

``--peers`` picks the groups (default all).  The torch groups are left out above
``--torch-func-max-n`` (256; at n = 256 the LSTM's already take minutes), which the notes under
the table say.

Every peer differentiates the same step: the JAX step is the cell's generated step kernel run on
``jax.numpy`` (the source ``numeric.compile(cell).source``, so the two compute the same
expressions), the torch ones the compiled torch step.  Before any timing each peer's result is
compared with gatejac's to the dtype-derived ``"reference"`` tolerance of ``verify.tolerance``; a peer
(or the jit kernel) that disagrees is reported and not timed.  The first call of each peer (tracing, jit or
torch.compile) is timed apart (column ``first calls``, seconds).  The table's times are medians in
ms over rounds in which every contender of one row runs a block of calls as a loop calling it
would (a warm-up call, then five times an untimed and a timed call; the block's median is the
round's sample), the blocks in a shuffled order per round (:func:`block_samples_ms`);
``peer/gatejac`` is the fastest peer's time over gatejac's best.  To bound the run: a contender
whose call takes more than ``--time-cap`` seconds (1) is timed by one call, marked "(1 call)"
(JAX at n = 1024 takes seconds a call), and a row's blocks and rounds (at most ``--repeats``, at
least three) are cut so that they take about ``--row-budget`` seconds (20).  The run ends by
counting the rows in which gatejac's fastest ``out=`` route is faster than, equal to, equal within
noise to (no more than twice the two medians' standard error longer), or slower than its fastest
allocating one; the notes give the times of every row but the first kind.

Each ``out=`` route writes into an array an earlier call of gatejac returned — what the README
tells users to do ("keep a result and pass it back as ``out=``"), not an array made by the
script: the jit route into its own first (checked) result, the NumPy and torch routes into the
NumPy kernel's result (the reference; the torch kernel allocates its CPU outputs through the
same ``aligned_empty``, so a torch user keeping a result has the same placement, and at
n = 1024 one 2 GiB array fewer is held).  A jit kernel's new output starts on a cache line at
every size: its 32-byte stores ran 2–5 % slower into an array 16 bytes past a 32-byte boundary
(n = 16), where ``malloc`` puts every other one, and that placement of the kept array against
the allocating call's was why ``out=`` came out 1.8–2.2 % slower than allocating in two jit rows
at n = 16 of an earlier run (leaky float32, multi_gate float64); ``out=`` now also skips the
allocation's 2 µs of Python (``benchmarks/per_call.py --out``).

The default cells leaky, multi_gate, gru_torch and lstm_torch are representative of the
catalogue (an elementwise update, two gates, the GRU's reset gate inside the candidate, and the
LSTM's two states); ``--cells`` takes any catalogue names.  Rows whose Jacobian is larger than
``--max-output-mib`` (2048) are skipped and listed: at n = 1024, B = 256 the float64 GRU's is
2 GiB, the LSTM's (S = 2n) 8 GiB in float64 and 4 GiB in float32.  One row is built, timed and
freed before the next; a row holds about four Jacobians (the reference, the jit route's
kept result, one being allocated, a peer's) besides what a peer needs.  Progress goes to stderr.

The numba writer is imported before anything is timed: a process's first dense Jacobians are
otherwise written by NumPy while numba loads on a background thread (``_fused_loading``), for
about the first second, and whichever contender was timed then looked 1.5× slower (leaky,
n = 16: 123 against 85 µs).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
import types

import numpy as np
import torch

from gatejac import numeric, verify
from gatejac.numeric import _fused  # noqa: F401 - the numba writer loaded now, not by a background loader while timing
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


def peer_functions(cell, n, batch, dtype, groups, jaxm, torch_max_n, jit=True):
    """``{name: function}`` of gatejac's routes (:data:`GATEJAC_ROUTES`; the two jit ones when
    ``jit`` and the jit kernel agrees with the default one) and of the peers of ``groups`` (keys
    of :data:`PEER_GROUPS`) that agree with gatejac, ``{name: first call seconds}`` (the peers'
    and the jit kernel's), and ``{name: reason}`` of the contenders left out (failed,
    disagreeing, or torch peers above ``torch_max_n``)."""
    sizes = {"n": n, "m": max(1, n // 4)}
    values = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype)
    values_t = numeric.random_values(cell, sizes, batch=(batch,), seed=1, dtype=dtype, backend="torch")
    np_kernel, torch_kernel = numeric.compile(cell, "numpy"), numeric.compile(cell, "torch")
    reference = np_kernel.state_jacobian(*values)
    # out=: an earlier result kept and passed back (the module docstring); the NumPy and torch routes
    # share the reference's memory (at n = 1024 each array is 2 GiB), which the peers are checked
    # against before any out= call is timed
    out_np, out_t = reference, torch.from_numpy(reference)
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
    candidates, skipped = {}, {}
    if jit:  # checked and first-timed (numba's compile, or its disk cache's load) like a peer
        jit_kernel = numeric.compile(cell, "numpy", jit=True)
        candidates["gatejac jit"] = lambda: jit_kernel.state_jacobian(*values)

    torch_groups = [g for g in ("torch", "compile") if g in groups]
    if torch_groups and n > torch_max_n:
        skipped.update({name: f"skipped: n = {n} > --torch-func-max-n {torch_max_n}"
                        for g in torch_groups for name in PEER_GROUPS[g]})
    elif torch_groups:
        step_t = torch_kernel.kernel("step")
        f_t = flat_step(step_t, state_sizes, lambda parts: torch.cat(parts, -1),
                        lambda flat, cut: torch.split(flat, cut, -1))
        flat_t = torch.cat([states_t[s.name] for s in cell.states], -1)
        args_t = (flat_t, [inputs_t[k] for k in order_inputs], [params_t[k] for k in order_params])
        in_dims = (0, [0] * len(order_inputs), None)
        if "torch" in groups:
            for name, transform in (("torch vmap(jacrev)", torch.func.jacrev), ("torch vmap(jacfwd)", torch.func.jacfwd)):
                mapped = torch.func.vmap(transform(f_t), in_dims=in_dims)
                candidates[name] = lambda mapped=mapped: mapped(*args_t)
        if "compile" in groups:
            compiled = torch.compile(torch.func.vmap(torch.func.jacfwd(f_t), in_dims=in_dims))
            candidates["torch.compile(vmap(jacfwd))"] = lambda: compiled(*args_t)

    if jaxm is not None and "jax" in groups:
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

    first, kept = {}, {}
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
        if name == "gatejac jit" and not mismatch:
            kept[name] = result  # the jit route's out=: its own first result
        del result  # at n = 1024 a result is gigabytes
        if mismatch:
            skipped[name] = mismatch
        else:
            functions[name] = function
    if "gatejac jit" in functions:
        out_jit = kept["gatejac jit"]
        functions["gatejac jit out="] = lambda: jit_kernel.state_jacobian(*values, out=out_jit)
    return functions, first, skipped


def disagreement(actual, reference, dtype) -> str | None:
    """None when ``actual`` matches gatejac's ``reference`` to the dtype's reference tolerance,
    else what is wrong (compared a few samples at a time, so no float64 copy of a 2 GiB
    Jacobian is made)."""
    if actual.shape != reference.shape:
        return f"shape {actual.shape}, gatejac {reference.shape}"
    tol = verify.tolerance("reference", dtype, numeric.arrays("numpy").max_abs(reference))
    worst = 0.0
    step = max(1, 2**24 // max(1, reference[:1].size))
    for lo in range(0, len(reference), step):
        part = reference[lo:lo + step]
        excess = np.abs(actual[lo:lo + step].astype(np.float64) - part) - tol.bound(np.abs(part))
        worst = max(worst, float(np.max(excess, initial=0.0)))
    if worst > 0:
        return f"differs from gatejac by {worst:.2e} beyond the {dtype} reference tolerance"
    return None


def timed_ms(functions: dict, repeats: int, time_cap: float, budget: float) -> tuple[dict, set, dict]:
    """Each function's median ms over rounds of blocks (:func:`block_samples_ms`), the names
    timed by one call, and the standard error in ms of each median over rounds
    (:func:`median_error`; none for a single call): a function whose call takes more than
    ``time_cap`` seconds is timed by that call alone.  The others get blocks of :data:`BLOCK_CALLS` timed calls,
    fewer (at least one) when three rounds of such blocks would exceed ``budget`` seconds, and
    at most ``repeats`` rounds, at least three, fewer when they would exceed ``budget``."""
    single = {}
    for name, function in functions.items():
        start = time.perf_counter()
        function()
        single[name] = time.perf_counter() - start
    once = {name for name, seconds in single.items() if seconds > time_cap}
    rest = {name: f for name, f in functions.items() if name not in once}
    alone = {name: 1e3 * single[name] for name in once}
    if not rest:
        return alone, once, {}
    call_all = sum(single[name] for name in rest)  # one call of every contender timed in blocks
    calls = max(1, min(BLOCK_CALLS, int((budget / (3 * call_all) - 1) / 2) if call_all else BLOCK_CALLS))
    per_round = (1 + 2 * calls) * call_all
    rounds = max(3, min(repeats, int(budget / per_round) if per_round else repeats))
    samples = block_samples_ms(rest, rounds, calls)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {**medians, **alone}, once, {name: median_error(values) for name, values in samples.items()}


BLOCK_CALLS = 5
"""Timed calls in one contender's block (:func:`block_samples_ms`), at most."""


def block_samples_ms(functions: dict, rounds: int, calls: int = BLOCK_CALLS) -> dict:
    """``{name: [ms, one per round]}``: in each of ``rounds`` rounds each function runs one
    block — ``kernels.interleaved_medians_ms`` of it alone: a warm-up call, then ``calls``
    times an untimed and a timed call — whose median is the round's sample, the blocks in an
    order shuffled per round (seeded), so that no contender always follows the same one.

    Each timed call thus runs as in a loop calling that one function, whatever ran before
    the block.  Rounds of single calls in turn (each function's untimed then timed call, the
    order rotated per round; this script until now) charged every contender for its
    predecessor, and since a rotation keeps the cyclic order, always the same one: gatejac's
    NumPy ``out=`` always ran after JAX's jacrev and was 5–29% slower than allocating at n = 16
    and 64.  The predecessor's cost is not threads spinning after it returns (the timed call's
    thread CPU time equals its wall time, and the process's CPU time equals the thread's): the
    main thread itself runs slower for a few calls after a different function — after jacrev
    0.422 ms for the LSTM at n = 16 (float64, allocating; after itself 0.373 ms), after
    overwriting 64 MB 0.406 ms, after sleeping 2 ms 0.392 ms (one untimed call between,
    medians of 80 samples in a random order).

    Both methods on the same functions in one process (B = 256, load 3 on 2 cores, each twice),
    ``out=`` / allocating (the faster back-end of each), rotated → blocks: LSTM n = 16 float64
    1.17, 1.11 → 0.99, 1.00; multi_gate n = 16 float32 1.11, 1.12 → 0.99, 0.98; leaky n = 64
    float64 1.18, 1.24 → 0.99, 0.98.  The allocating route was not slowed (NumPy, ms: 0.449,
    0.451 → 0.378, 0.384; 0.111, 0.109 → 0.153, 0.106; 0.528, 0.463 → 0.358, 0.413), and the
    ratios among the rest moved within their own repeat-to-repeat spread: jacrev / jacfwd 2.52,
    2.60 → 2.45, 2.01; 1.64, 1.87 → 1.88, 1.93; 3.55, 4.00 → 4.63, 4.28; jacfwd / gatejac's
    best 1.24, 0.86 → 1.40, 0.99; 1.39, 1.33 → 0.92, 1.38; 1.75, 1.76 → 1.83, 1.69."""
    names = list(functions)
    samples = {name: [] for name in names}
    for round_ in range(rounds):
        for name in random.Random(round_).sample(names, len(names)):
            samples[name].append(interleaved_medians_ms({name: functions[name]}, calls)[name])
    return samples


def median_error(values: list) -> float:
    """The standard error of the median of ``values``, from their median absolute deviation
    (1.4826 MAD estimates σ of a normal sample, and the median's error is 1.2533 σ/√k)."""
    middle = statistics.median(values)
    mad = statistics.median(abs(v - middle) for v in values)
    return 1.2533 * 1.4826 * mad / len(values) ** 0.5


def out_against_allocating(times: dict, errors: dict) -> str:
    """"faster" or "equal" when gatejac's fastest ``out=`` route takes no longer than its fastest
    allocating one, "equal within noise" when longer by at most twice the two medians' combined
    standard error, else "slower"."""
    best_out, best_alloc = gatejac_best(times)
    excess = times[best_out] - times[best_alloc]
    if excess < 0:
        return "faster"
    if excess == 0:
        return "equal"
    noise = 2 * (errors.get(best_out, 0.0) ** 2 + errors.get(best_alloc, 0.0) ** 2) ** 0.5
    return "equal within noise" if excess <= noise else "slower"


def measure(cell_name, n, dtype, args, jaxm):
    """One row: every contender's time in ms, the names timed once, the first calls, and the
    peers left out; or a string saying why the row was skipped."""
    cell = cells.get(cell_name)
    state_total = sum(numeric.shapes(cell, {"n": n, "m": max(1, n // 4)})[s.name][0] for s in cell.states)
    mib = args.batch * state_total**2 * np.dtype(dtype).itemsize / 2**20
    if mib > args.max_output_mib:
        return f"output {mib:.0f} MiB > --max-output-mib {args.max_output_mib:.0f}"
    functions, first, skipped = peer_functions(cell, n, args.batch, dtype, args.peers, jaxm, args.torch_func_max_n,
                                               jit=not args.no_jit)
    times, once, errors = timed_ms(functions, args.repeats, args.time_cap, args.row_budget)
    del functions
    gc.collect()  # the previous row's arrays (gigabytes at n = 1024) before the next row's
    return times, once, errors, first, skipped


PEER_GROUPS = {
    "jax": ("jax jacfwd", "jax jacrev"),
    "torch": ("torch vmap(jacrev)", "torch vmap(jacfwd)"),
    "compile": ("torch.compile(vmap(jacfwd))",),
}
"""The peers ``--peers`` selects by group."""

PEERS = tuple(name for group in PEER_GROUPS.values() for name in group)


GATEJAC_ROUTES = ("gatejac numpy out=", "gatejac numpy", "gatejac torch out=", "gatejac torch",
                  "gatejac jit out=", "gatejac jit")
"""gatejac's contenders: each back-end writing into a preallocated output and allocating it."""


def gatejac_best(times: dict) -> tuple[str, str]:
    """The fastest ``out=`` route and the fastest allocating route of gatejac in ``times``."""
    routes = [r for r in GATEJAC_ROUTES if r in times]
    return (min((r for r in routes if r.endswith("out=")), key=times.get),
            min((r for r in routes if not r.endswith("out=")), key=times.get))


def table_row(cell_name, n, dtype, times, once, first, skipped, columns=PEERS) -> str:
    """One markdown row; ``columns``: the peers shown (those of the groups run)."""
    best_out, best_alloc = gatejac_best(times)
    best = min(best_out, best_alloc, key=times.get)
    peers = [p for p in columns if p in times]
    fastest = min(peers, key=times.get) if peers else None

    def shown(name):
        if name in times:
            return f"{times[name]:.2f}" + (" (1 call)" if name in once else "")
        return "failed" if skipped.get(name, "").startswith(("failed", "differs")) else "—"

    cells_out = [cell_name, str(n), dtype, shown(best_out), shown(best_alloc), best.removeprefix("gatejac ")]
    cells_out += [shown(p) for p in columns]
    cells_out.append(f"{times[fastest] / times[best]:.1f}× ({fastest})" if fastest else "—")
    cells_out.append(" / ".join(f"{first[p]:.2f}" if p in first else "—" for p in ("gatejac jit", *columns)))
    return "| " + " | ".join(cells_out) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=cells.names(), metavar="CELL")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=11, help="interleaved repeats per row, at most (default 11)")
    parser.add_argument("--peers", nargs="+", default=list(PEER_GROUPS), choices=list(PEER_GROUPS),
                        help="peer groups to time: jax (jit(vmap(jacfwd/jacrev))), torch (torch.func "
                             "vmap(jacrev/jacfwd)), compile (torch.compile); default all")
    parser.add_argument("--max-output-mib", type=float, default=2048.0,
                        help="rows whose Jacobian is larger are skipped (default 2048: the float64 GRU at n = 1024)")
    parser.add_argument("--torch-func-max-n", type=int, default=256,
                        help="torch.func and torch.compile peers are left out above this n (default 256)")
    parser.add_argument("--time-cap", type=float, default=1.0,
                        help="a contender whose call takes longer (s) is timed by one call (default 1)")
    parser.add_argument("--row-budget", type=float, default=20.0,
                        help="seconds one row's repeats may take; fewer repeats (at least 3) beyond (default 20)")
    parser.add_argument("--no-jit", action="store_true", help="leave out gatejac's jit kernels (numeric.compile(..., jit=True))")
    parser.add_argument("--quick", action="store_true", help="one cell (gru_torch), 3 repeats, no torch.compile")
    args = parser.parse_args(argv)
    if args.quick:
        args.cells, args.repeats = ["gru_torch"] if args.cells == list(CELLS) else args.cells, 3
        args.peers = [g for g in args.peers if g != "compile"]
    jaxm = jax_modules()
    versions = f"jax {jaxm[0].__version__}" if jaxm else "jax not installed (pip install -e '.[bench]'): JAX peers left out"
    print(f"B = {args.batch}, torch threads = {torch.get_num_threads()}, cores = {os.cpu_count()}, "
          f"numpy {np.__version__}, torch {torch.__version__}, {versions}; load {_load()}\n")
    columns = [p for p in PEERS if any(p in PEER_GROUPS[g] for g in args.peers)]
    header = ["cell", "n", "dtype", "gatejac out=", "gatejac", "fastest route", *columns, "peer/gatejac",
              "first calls (s)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    notes, started, verdicts = [], time.perf_counter(), {}
    for n in args.sizes:
        for name in args.cells:
            for dtype in DTYPES:
                row = measure(name, n, dtype, args, jaxm)
                if isinstance(row, str):
                    notes.append(f"{name} n = {n} {dtype}: skipped, {row}")
                    continue
                times, once, errors, first, skipped = row
                notes.extend(f"{name} n = {n} {dtype}: {peer} {why}" for peer, why in skipped.items()
                             if not why.startswith("skipped: n ="))
                print(table_row(name, n, dtype, times, once, first, skipped, columns), flush=True)
                best_out, best_alloc = gatejac_best(times)
                verdict = out_against_allocating(times, errors)
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
                if verdict != "faster":
                    notes.append(f"{name} n = {n} {dtype}: out= {verdict}: {best_out} {times[best_out]:.4f} ± "
                                 f"{errors.get(best_out, 0):.4f} ms, {best_alloc} {times[best_alloc]:.4f} ± "
                                 f"{errors.get(best_alloc, 0):.4f} ms")
                print(f"  {name} n = {n} {dtype} done, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print("\nTimes are medians in ms of B Jacobians per call (\"1 call\": a call longer than --time-cap, timed "
          "once).  gatejac out= / gatejac: gatejac's fastest route (NumPy, torch, or the jit kernels of "
          "numeric.compile(..., jit=True)) writing into a preallocated output / allocating it; fastest route: the "
          "faster of the two.  peer/gatejac: the fastest peer over gatejac's fastest route.  first calls: the first "
          "call in seconds of gatejac's jit kernel (numba's compile, or its load from numba's disk cache), then of "
          "each peer (trace, jit, torch.compile), in the order of the peer columns.")
    print("\nout= against allocating (fastest route of each; ± the standard error of a median over rounds): "
          + ", ".join(f"{verdict} in {verdicts.get(verdict, 0)}" for verdict in ("faster", "equal", "equal within noise", "slower"))
          + f" of {sum(verdicts.values())} rows")
    if any(n > args.torch_func_max_n for n in args.sizes) and {"torch", "compile"} & set(args.peers):
        notes.append(f"torch.func and torch.compile peers: skipped above n = {args.torch_func_max_n} "
                     "(--torch-func-max-n)")
    for note in notes:
        print(f"- {note}")
    print(f"\n{time.perf_counter() - started:.0f} s in all; load {_load()} at the end")


def _load() -> str:
    """The one-minute load average (``/proc/loadavg``), or "?" where there is none."""
    try:
        with open("/proc/loadavg") as handle:
            return handle.read().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
