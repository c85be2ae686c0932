"""Benchmark: the k leading Lyapunov exponents by gatejac (QR on an n×k frame carried by the
cell's Jacobian–vector products) against the usual route (a dense autograd Jacobian per step
with ``torch.func.jacrev``, then the same per-step QR).

Run:  .venv/bin/python benchmarks/lyapunov.py [--n 256] [--steps 2000] [--count 32] [--cells gru_torch lstm_torch]

For each cell (``torch.nn.GRUCell`` / ``LSTMCell`` and their catalogue twins ``gru_torch`` /
``lstm_torch`` with the same weights, float64, m = 8 inputs drawn N(0, 1)), both routes start
from h_0 = 0 (and c_0 = 0) and the same frame Q_0, and each time includes its own rollout:

* gatejac (NumPy and torch back-ends): ``numeric.rollout`` then
  ``lyapunov_spectrum(trajectory, k, method="action")`` — J_t is never formed;
* baseline: a Python loop over t of ``J_t = jacrev(step)(s_{t−1}, x_t)`` (S×S), the step
  itself, and ``Q_t R_t = qr(J_t Q_{t−1})``.

Each route runs once on 5 steps first (compilation, tracing, first touch of buffers are not
timed).  It prints one markdown row per cell with the times, the ratio baseline / gatejac's faster
back-end (issue 12 asks for ≥ 20×), and the largest difference between the two routes'
exponents (natural log per step), which must be round-off.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from gatejac import numeric

MODULES = {"gru_torch": torch.nn.GRUCell, "lstm_torch": torch.nn.LSTMCell}
INPUTS = 8


def gatejac_route(module, inputs: np.ndarray, count: int, backend: str):
    """Seconds and exponents of rollout + QR by Jacobian actions; also the starting frame."""
    cell, params = numeric.from_torch(module, backend=backend)
    compiled = numeric.compile(cell, backend)
    states = {s.name: np.zeros(module.hidden_size) for s in cell.states}
    sequence = {"x": inputs}
    if backend == "torch":
        states, sequence = numeric.convert(states, "torch", "float64"), numeric.convert(sequence, "torch", "float64")
    start = time.perf_counter()
    trajectory = numeric.rollout(compiled, states, sequence, params)
    exponents = numeric.lyapunov_spectrum(trajectory, count, method="action").exponents
    seconds = time.perf_counter() - start
    return seconds, numeric.to_numpy(exponents), numeric.to_numpy(trajectory.starting_frame(count))


def autograd_route(module, inputs: np.ndarray, frame: np.ndarray):
    """Seconds and exponents of the loop jacrev + step + QR, from the same frame."""
    hidden = module.hidden_size
    lstm = isinstance(module, torch.nn.LSTMCell)

    def step(state, x):
        if lstm:
            h, c = module(x[None], (state[None, :hidden], state[None, hidden:]))
            return torch.cat([h[0], c[0]])
        return module(x[None], state[None])[0]

    jacobian = torch.func.jacrev(step)
    sequence = torch.as_tensor(inputs)
    start = time.perf_counter()
    with torch.no_grad():
        state = torch.zeros(2 * hidden if lstm else hidden, dtype=torch.float64)
        basis, growth = torch.tensor(frame), torch.zeros(frame.shape[-1], dtype=torch.float64)
        for x in sequence:
            step_jacobian = jacobian(state, x)
            state = step(state, x)
            basis, triangular = torch.linalg.qr(step_jacobian @ basis)
            growth += torch.log(torch.abs(torch.diagonal(triangular)))
    seconds = time.perf_counter() - start
    exponents = torch.sort(growth / len(sequence), descending=True).values
    return seconds, exponents.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="hidden size (default 256)")
    parser.add_argument("--steps", type=int, default=2000, help="T (default 2000)")
    parser.add_argument("--count", type=int, default=32, help="k, the number of exponents (default 32)")
    parser.add_argument("--cells", nargs="+", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every pool (BLAS, OpenMP, torch) for both routes (default 1: on a shared "
                             "machine more threads only fight other load)")
    args = parser.parse_args()
    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    inputs = np.random.default_rng(0).standard_normal((args.steps, INPUTS))
    print(f"k = {args.count} exponents, n = {args.n}, T = {args.steps}, float64, rollout included; "
          f"threads per pool (BLAS, torch): {args.threads}\n")
    print("| cell | gatejac numpy (s) | gatejac torch (s) | jacrev + QR (s) | ratio | max |ΔLE| |")
    print("|---|---|---|---|---|---|")
    for name in args.cells:
        module = MODULES[name](INPUTS, args.n, dtype=torch.float64)
        for backend in ("numpy", "torch"):  # warm-up: kernels compiled, torch.func traced, buffers touched
            autograd_route(module, inputs[:5], gatejac_route(module, inputs[:5], args.count, backend)[2])
        by_numpy, exponents, frame = gatejac_route(module, inputs, args.count, "numpy")
        by_torch, _, _ = gatejac_route(module, inputs, args.count, "torch")
        baseline, reference = autograd_route(module, inputs, frame)
        ratio = baseline / min(by_numpy, by_torch)
        print(f"| {name} | {by_numpy:.2f} | {by_torch:.2f} | {baseline:.1f} | {ratio:.0f}× "
              f"| {np.max(np.abs(exponents - reference)):.1e} |", flush=True)


if __name__ == "__main__":
    main()
