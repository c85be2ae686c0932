"""Benchmark: gatejac's Newton fixed-point search against Adam on ½‖F(h) − h‖² with autograd
(the approach of Golub & Sussillo's FixedPointFinder, after Sussillo & Barak 2013).

Run:  .venv/bin/python benchmarks/fixed_points.py [--sizes 64 256] [--starts 64] [--cap 60]

For ``torch.nn.GRUCell`` (catalogue cell ``gru_torch``) with hidden size n, Gaussian weights of
gain ``--gain`` and a constant input, the starts are the states of a trajectory driven by that
input (the usual choice: fixed points near the visited states), the same for every method:

* gatejac Newton, dense (exact ``state_jacobian`` + batched LU) and Newton–Krylov (``jvp`` +
  GMRES), NumPy back-end, float64, ``tolerance = 1e-10``;
* Adam (torch, float64) on q(h) = ½ Σ_starts ‖F(h) − h‖² with F the ``torch.nn.GRUCell`` and
  the gradient by autograd, learning rate ``--lr``, until every start has ‖F(h) − h‖₂ ≤ 1e-10 or
  ``--cap`` seconds have passed (then it reports how far it got).

It prints one row per size and method: the time until all starts that converge have reached
1e-10, how many did, the median final residual, and Adam's time over Newton's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gatejac import numeric
from gatejac.numeric._fixed_points import fixed_points
from gatejac.symbolic import cells

TARGET = 1e-10


def _problem(n: int, count: int, gain: float, seed: int):
    cell = cells.get("gru_torch")
    params = numeric.initialise(cell, {"n": n, "m": 4}, scheme="gaussian", gain=gain, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(4)
    trajectory = numeric.rollout(numeric.compile(cell), {"h": rng.uniform(-1, 1, (count, n))},
                                 {"x": np.broadcast_to(x, (30, count, 4))}, params)
    return numeric.compile(cell), params, {"x": x}, np.array(trajectory.states["h"][-1])


def _newton(compiled, params, x, starts, method: str):
    began = time.perf_counter()
    search = fixed_points(compiled, {"h": starts}, x, params, tolerance=TARGET, method=method)
    return time.perf_counter() - began, search.converged.sum(), float(np.median(search.residual))


def _adam(params, x, starts, lr: float, cap: float):
    module = numeric.to_torch("gru_torch", params)
    for p in module.parameters():
        p.requires_grad_(False)
    inputs = torch.as_tensor(x["x"]).expand(starts.shape[0], -1)
    h = torch.tensor(starts, requires_grad=True)
    optimiser = torch.optim.Adam([h], lr=lr)
    began = time.perf_counter()
    reached = torch.full((starts.shape[0],), float("nan"), dtype=torch.float64)
    while True:
        optimiser.zero_grad()
        difference = module(inputs, h) - h
        norms = difference.detach().norm(dim=1)
        elapsed = time.perf_counter() - began
        now = torch.tensor(elapsed, dtype=torch.float64)
        reached = torch.where(torch.isnan(reached) & (norms <= TARGET), now, reached)
        if not torch.isnan(reached).any() or elapsed > cap:
            break
        (0.5 * (difference**2).sum()).backward()
        optimiser.step()
    done = ~torch.isnan(reached)
    last = float(reached[done].max()) if done.any() else float("inf")
    return (last if done.all() else elapsed), int(done.sum()), float(norms.median())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--starts", type=int, default=64)
    parser.add_argument("--gain", type=float, default=1.5)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds before Adam is stopped")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    torch.set_num_threads(1)
    print(f"GRU (torch.nn.GRUCell form), {options.starts} starts from a trajectory, gain {options.gain}, "
          f"constant input, target ‖F(h) − h‖₂ ≤ {TARGET:.0e}, float64")
    print("| n | method | time (s) | starts at target | median residual | Adam / this |")
    print("|---|---|---|---|---|---|")
    for n in options.sizes:
        compiled, params, x, starts = _problem(n, options.starts, options.gain, options.seed)
        for method in ("dense", "krylov"):  # warm-up: the first dense kernel call compiles its numba writer
            _newton(compiled, params, x, starts[:2], method)
        rows = {method: _newton(compiled, params, x, starts, method) for method in ("dense", "krylov")}
        rows["adam"] = _adam(params, x, starts, options.lr, options.cap)
        adam_time = rows["adam"][0]
        for method, (seconds, done, residual) in rows.items():
            capped = "" if rows["adam"][1] == options.starts else " (Adam capped)"
            ratio = "—" if method == "adam" else f"{adam_time / seconds:.0f}×{capped}"
            label = "Adam + autograd" if method == "adam" else f"gatejac Newton ({method})"
            print(f"| {n} | {label} | {seconds:.3f} | {done}/{options.starts} | {residual:.1e} | {ratio} |")


if __name__ == "__main__":
    main()
