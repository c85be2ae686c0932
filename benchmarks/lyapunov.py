"""Benchmark: the k leading Lyapunov exponents by gatejac (QR on an n×k frame carried by the
step Jacobian's factors, stored by the rollout) against two peers: a JAX scan of the same step's
Jacobian–vector products with a per-step QR, and the usual PyTorch route (a dense autograd
Jacobian per step with ``torch.func.jacrev``, then the same per-step QR).

Run:  .venv/bin/python benchmarks/lyapunov.py [--n 256] [--steps 2000] [--count 32] [--cells gru_torch lstm_torch]
          [--repeats 3] [--threads 1] [--jacrev-steps T] [--first-call] [--rollout-routes]

For each cell (``torch.nn.GRUCell`` / ``LSTMCell`` and their catalogue twins ``gru_torch`` /
``lstm_torch`` with the same weights, float64, batch 1, m = 8 inputs drawn N(0, 1)), every route
starts from h_0 = 0 (and c_0 = 0) and the same frame Q_0 (``Trajectory.starting_frame``), and
each time includes its own rollout:

* gatejac (NumPy and torch back-ends): ``numeric.rollout`` then
  ``lyapunov_spectrum(trajectory, k, method="action")`` — the dense J_t is never formed (the
  matrix columns of J_t are formed 64 rows at a time in cache and multiplied at once); the
  split of the NumPy route's fastest repeat into rollout and spectrum is printed after the
  table;
* JAX: ``jax.lax.scan`` over t of the step and ``jax.vmap(jax.jvp)`` of it on the k columns,
  then ``jnp.linalg.qr``, the whole scan ``jax.jit``-compiled (compile time reported apart);
* jacrev: a Python loop over t of ``J_t = jacrev(step)(s_{t−1}, x_t)`` (S×S), the step, and
  ``Q_t R_t = qr(J_t Q_{t−1})``.

Times are the process's CPU time (and wall time): on a shared machine the wall time also
counts the waits for a core, which with other load swamp the differences; with one thread per
pool the two agree on a quiet machine.  Every route first runs on 5 steps (kernels compiled, torch.func traced, buffers touched), then
all routes are checked to give the same exponents on the first 200 steps before they are
timed (the largest difference on the timed sequence, natural log per step, is printed too and
must be round-off): the gatejac routes and JAX ``--repeats`` times each, interleaved (the
minimum of the repeats is reported: on a shared machine the other load only ever adds), jacrev
once.  ``--jacrev-steps N`` times jacrev on the first N steps and scales its time by T / N (its
cost per step is the same at every step: one S×S Jacobian, one product, one QR; the table marks
such a time with ``*``); its exponents are then compared on those N steps.  With
``--threads 1`` (the default) every pool — BLAS, torch, XLA's — has one thread; with
``--threads 2`` two, and the wall time is the measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager

import numpy as np


def _configure_threads(threads: int) -> None:
    """One or more threads for every pool; XLA reads its flags when JAX is first imported."""
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()


INPUTS = 8


class _Clock:
    """Process CPU time and wall time of a ``with clock.timing():`` block, in seconds.  On this
    shared machine the CPU time is the measure (the wall time also counts waiting for a core);
    with one thread per pool the two agree on a quiet machine."""

    def __init__(self):
        self.cpu = self.wall = 0.0

    @contextmanager
    def timing(self):
        cpu, wall = time.process_time(), time.perf_counter()
        yield self
        self.cpu, self.wall = time.process_time() - cpu, time.perf_counter() - wall


def gatejac_route(module, inputs: np.ndarray, count: int, backend: str):
    """Times and exponents of rollout + QR by Jacobian actions; also the starting frame."""
    from gatejac import numeric

    cell, params = numeric.from_torch(module, backend=backend)
    compiled = numeric.compile(cell, backend)
    states = {s.name: np.zeros(module.hidden_size) for s in cell.states}
    sequence = {"x": inputs}
    if backend == "torch":
        states, sequence = numeric.convert(states, "torch", "float64"), numeric.convert(sequence, "torch", "float64")
    with _Clock().timing() as clock:
        with _Clock().timing() as rolled:
            trajectory = numeric.rollout(compiled, states, sequence, params)
        exponents = numeric.lyapunov_spectrum(trajectory, count, method="action").exponents
    clock.rollout, clock.kernel = rolled, trajectory.rollout_kernel
    return clock, numeric.to_numpy(exponents), numeric.to_numpy(trajectory.starting_frame(count))


def _torch_step(module):
    """The module's step on a flat state vector s = h (GRU) or (h, c) (LSTM)."""
    import torch

    hidden = module.hidden_size
    if isinstance(module, torch.nn.LSTMCell):
        def step(state, x):
            h, c = module(x[None], (state[None, :hidden], state[None, hidden:]))
            return torch.cat([h[0], c[0]])
        return step, 2 * hidden
    return (lambda state, x: module(x[None], state[None])[0]), hidden


def jacrev_route(module, inputs: np.ndarray, frame: np.ndarray):
    """Times and exponents of the loop jacrev + step + QR, from the same frame."""
    import torch

    step, size = _torch_step(module)
    jacobian = torch.func.jacrev(step)
    sequence = torch.as_tensor(inputs)
    with _Clock().timing() as clock, torch.no_grad():
        state = torch.zeros(size, dtype=torch.float64)
        basis, growth = torch.tensor(frame), torch.zeros(frame.shape[-1], dtype=torch.float64)
        for x in sequence:
            step_jacobian = jacobian(state, x)
            state = step(state, x)
            basis, triangular = torch.linalg.qr(step_jacobian @ basis)
            growth += torch.log(torch.abs(torch.diagonal(triangular)))
    return clock, np.sort(growth.numpy() / len(sequence))[::-1]


def jax_route(module):
    """``run(inputs, frame)`` → exponents: the jit-compiled scan of step + vmap(jvp) + QR, with
    the module's weights (torch's gate order: GRU r, z, n; LSTM i, f, g, o)."""
    import jax
    import jax.numpy as jnp
    import torch

    jax.config.update("jax_enable_x64", True)
    hidden = module.hidden_size
    w_ih, w_hh = (jnp.asarray(p.detach().numpy()) for p in (module.weight_ih, module.weight_hh))
    b_ih, b_hh = (jnp.asarray(p.detach().numpy()) for p in (module.bias_ih, module.bias_hh))
    lstm = isinstance(module, torch.nn.LSTMCell)

    def gru(state, x):
        gi, gh = w_ih @ x + b_ih, w_hh @ state + b_hh
        r = jax.nn.sigmoid(gi[:hidden] + gh[:hidden])
        z = jax.nn.sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
        new = jnp.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
        return (1 - z) * new + z * state

    def lstm_step(state, x):
        h, c = state[:hidden], state[hidden:]
        gates = w_ih @ x + b_ih + w_hh @ h + b_hh
        i, f, o = (jax.nn.sigmoid(gates[k * hidden:(k + 1) * hidden]) for k in (0, 1, 3))
        c = f * c + i * jnp.tanh(gates[2 * hidden:3 * hidden])
        return jnp.concatenate([o * jnp.tanh(c), c])

    step = lstm_step if lstm else gru

    def body(carry, x):
        state, basis, growth = carry
        tangent = jax.vmap(lambda v: jax.jvp(lambda s: step(s, x), (state,), (v,)), in_axes=1, out_axes=(None, 1))
        new, image = tangent(basis)
        basis, triangular = jnp.linalg.qr(image)
        return (new, basis, growth + jnp.log(jnp.abs(jnp.diagonal(triangular)))), None

    @jax.jit
    def run(inputs, frame):
        start = (jnp.zeros(frame.shape[0]), frame, jnp.zeros(frame.shape[1]))
        (_, _, growth), _ = jax.lax.scan(body, start, inputs)
        return jnp.sort(growth / inputs.shape[0])[::-1]

    return run


def timed_jax(run, inputs: np.ndarray, frame: np.ndarray):
    """Times and exponents of one call (inputs and frame moved to JAX outside the timing)."""
    import jax.numpy as jnp

    inputs, frame = jnp.asarray(inputs), jnp.asarray(frame)
    with _Clock().timing() as clock:
        exponents = run(inputs, frame).block_until_ready()
    return clock, np.asarray(exponents)


CHECK_STEPS = 200
AGREEMENT = 1e-10
"""The routes must agree on the exponents of the first CHECK_STEPS steps to this (natural log
per step) before any is timed: each is an average of logs of O(1) numbers, equal to round-off."""


def _check_agreement(module, run, inputs: np.ndarray, frame: np.ndarray, count: int) -> None:
    results = {backend: gatejac_route(module, inputs, count, backend)[1] for backend in ("numpy", "torch")}
    results["jax"] = timed_jax(run, inputs, frame)[1]
    results["jacrev"] = jacrev_route(module, inputs, frame)[1]
    spread = {key: float(np.max(np.abs(value - results["numpy"]))) for key, value in results.items()}
    if max(spread.values()) > AGREEMENT:
        raise SystemExit(f"the routes disagree on the exponents of {len(inputs)} steps: {spread}")


def first_call(args) -> None:
    """A new process's first rollout and spectrum of the LSTM (numba functions compiled, or
    loaded from the disk cache), then the same again: import, load and compile times."""
    import torch

    start = time.perf_counter()
    from gatejac import numeric

    imported = time.perf_counter() - start
    torch.manual_seed(0)
    module = torch.nn.LSTMCell(INPUTS, args.n, dtype=torch.float64)
    inputs = np.random.default_rng(0).standard_normal((args.steps, INPUTS))
    cell, params = numeric.from_torch(module, backend="numpy")
    compiled = numeric.compile(cell, "numpy")
    states = {s.name: np.zeros(args.n) for s in cell.states}
    print(f"lstm_torch, n = {args.n}, T = {args.steps}, k = {args.count}; import gatejac.numeric {imported:.2f} s "
          f"(wall); load {open('/proc/loadavg').read().split()[0]}")
    for call in ("first", "second"):
        with _Clock().timing() as rolled:
            trajectory = numeric.rollout(compiled, states, {"x": inputs}, params)
        with _Clock().timing() as spectrum:
            numeric.lyapunov_spectrum(trajectory, args.count, method="action")
        print(f"{call} call: rollout ({trajectory.rollout_kernel}) {rolled.wall:.2f} s wall ({rolled.cpu:.2f} s CPU), "
              f"spectrum {spectrum.wall:.2f} s wall ({spectrum.cpu:.2f} s CPU)")


def rollout_routes(args) -> None:
    """The rollout alone by its two NumPy routes, interleaved: the numba function of all the steps
    (``numeric/_jit_factors.py``) and the generated ``factors`` kernel once a step (forced by
    raising ``JIT_MIN_STEPS``); CPU µs a step, minima of ``--repeats``."""
    import torch

    from gatejac import numeric
    from gatejac.numeric import _jit_factors

    modules = {"gru_torch": torch.nn.GRUCell, "lstm_torch": torch.nn.LSTMCell}
    inputs = np.random.default_rng(0).standard_normal((args.steps, INPUTS))
    print(f"rollout alone, n = {args.n}, T = {args.steps}, float64, batch 1, threads {args.threads}; "
          f"CPU µs a step, minima of {args.repeats}; load {open('/proc/loadavg').read().split()[0]}\n")
    print("| cell | numba function | factors kernel | factors / numba |\n|---|---|---|---|")
    for name in args.cells:
        torch.manual_seed(0)
        cell, params = numeric.from_torch(modules[name](INPUTS, args.n, dtype=torch.float64), backend="numpy")
        compiled = numeric.compile(cell, "numpy")
        states = {s.name: np.zeros(args.n) for s in cell.states}
        best = {"numba": float("inf"), "factors": float("inf")}
        for repeat in range(args.repeats + 1):  # round 0 loads the numba function, untimed
            for route, minimum in (("numba", 1), ("factors", args.steps + 1)):
                _jit_factors.JIT_MIN_STEPS = minimum
                with _Clock().timing() as clock:
                    trajectory = numeric.rollout(compiled, states, {"x": inputs}, params)
                assert trajectory.rollout_kernel == route, trajectory.rollout_kernel
                if repeat:
                    best[route] = min(best[route], clock.cpu)
        numba, factors = (1e6 * best[key] / args.steps for key in ("numba", "factors"))
        print(f"| {name} | {numba:.1f} | {factors:.1f} | {factors / numba:.2f}× |")
    print(f"\nload {open('/proc/loadavg').read().split()[0]} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="hidden size (default 256)")
    parser.add_argument("--steps", type=int, default=2000, help="T (default 2000)")
    parser.add_argument("--count", type=int, default=32, help="k, the number of exponents (default 32)")
    parser.add_argument("--cells", nargs="+", default=["gru_torch", "lstm_torch"], choices=["gru_torch", "lstm_torch"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of gatejac and JAX, interleaved (minimum)")
    parser.add_argument("--jacrev-steps", type=int, default=None,
                        help="time jacrev + QR on this many steps and scale to T (default: all T steps)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every pool (BLAS, torch, XLA) for every route (default 1: on a shared "
                             "machine more threads only fight other load)")
    parser.add_argument("--first-call", action="store_true",
                        help="time a new process's first LSTM rollout and spectrum (numba functions loaded from the "
                             "disk cache, or compiled: run with GATEJAC_CACHE_DIR set to an empty directory) and exit")
    parser.add_argument("--rollout-routes", action="store_true",
                        help="time the rollout alone by the numba function and by the factors kernel, and exit")
    args = parser.parse_args()
    _configure_threads(args.threads)
    if args.first_call or args.rollout_routes:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        return first_call(args) if args.first_call else rollout_routes(args)
    import jax
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    modules = {"gru_torch": torch.nn.GRUCell, "lstm_torch": torch.nn.LSTMCell}
    inputs = np.random.default_rng(0).standard_normal((args.steps, INPUTS))
    print(f"k = {args.count} exponents, n = {args.n}, T = {args.steps}, float64, batch 1, rollout included; "
          f"threads per pool (BLAS, torch, XLA): {args.threads}; jax {jax.__version__}, torch {torch.__version__}; "
          f"load {open('/proc/loadavg').read().split()[0]} at start\n")
    print("CPU seconds of the process (wall seconds in brackets), minima of the repeats:\n")
    print("| cell | gatejac numpy | gatejac torch | JAX scan | JAX compile (wall) | jacrev + QR "
          "| JAX / gatejac (wall) | jacrev / gatejac | max |ΔLE| |")
    print("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for name in args.cells:
        torch.manual_seed(0)
        module = modules[name](INPUTS, args.n, dtype=torch.float64)
        run = jax_route(module)
        frame = gatejac_route(module, inputs[:5], args.count, "numpy")[2]
        compile_start = time.perf_counter()
        run.lower(jax.numpy.asarray(inputs), jax.numpy.asarray(frame)).compile()
        compile_seconds = time.perf_counter() - compile_start
        for backend in ("numpy", "torch"):  # warm-up: kernels compiled or loaded (the numba rollout of T steps too)
            gatejac_route(module, inputs, args.count, backend)
        jacrev_route(module, inputs[:5], frame)
        _check_agreement(module, run, inputs[:CHECK_STEPS], frame, args.count)
        clocks = {"numpy": [], "torch": [], "jax": []}
        results = {}
        for _ in range(args.repeats):
            for backend in ("numpy", "torch"):
                clock, results[backend], _ = gatejac_route(module, inputs, args.count, backend)
                clocks[backend].append(clock)
            clock, results["jax"] = timed_jax(run, inputs, frame)
            clocks["jax"].append(clock)
        jacrev_steps = args.jacrev_steps or args.steps
        baseline, by_jacrev = jacrev_route(module, inputs[:jacrev_steps], frame)
        scale, mark = args.steps / jacrev_steps, "*" if jacrev_steps < args.steps else ""
        reference = gatejac_route(module, inputs[:jacrev_steps], args.count, "numpy")[1] if mark else results["numpy"]
        spread = max(np.max(np.abs(by_jacrev - reference)),
                     *(np.max(np.abs(value - results["numpy"])) for value in results.values()))
        cpu = {key: min(c.cpu for c in value) for key, value in clocks.items()}
        wall = {key: min(c.wall for c in value) for key, value in clocks.items()}
        best = min(cpu["numpy"], cpu["torch"])
        print(f"| {name} | {cpu['numpy']:.2f} ({wall['numpy']:.2f}) | {cpu['torch']:.2f} ({wall['torch']:.2f}) "
              f"| {cpu['jax']:.2f} ({wall['jax']:.2f}) | {compile_seconds:.2f} "
              f"| {baseline.cpu * scale:.1f}{mark} ({baseline.wall * scale:.1f}{mark}) "
              f"| {cpu['jax'] / best:.2f}× ({wall['jax'] / min(wall['numpy'], wall['torch']):.2f}×) "
              f"| {baseline.cpu * scale / best:.0f}× | {spread:.1e} |", flush=True)
        fastest = min(clocks["numpy"], key=lambda c: c.wall)
        notes.append(f"{name}, gatejac numpy, its fastest repeat: rollout ({fastest.kernel}) "
                     f"{fastest.rollout.cpu:.3f} s CPU ({fastest.rollout.wall:.3f} s wall, "
                     f"{1e6 * fastest.rollout.cpu / args.steps:.1f} µs CPU a step), "
                     f"spectrum {fastest.cpu - fastest.rollout.cpu:.3f} s CPU "
                     f"({fastest.wall - fastest.rollout.wall:.3f} s wall)")
    print("", *notes, sep="\n")
    print(f"\nload {open('/proc/loadavg').read().split()[0]} at the end", file=sys.stdout)


if __name__ == "__main__":
    main()
